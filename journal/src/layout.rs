//! How a journal sits in sled: tree names, key encodings and the database
//! configuration. Only [`crate::store`] reads or writes these.
//!
//! ```text
//! meta       "version"  -> JSON u32      read first, before anything else is decoded
//!            "started"  -> JSON Started
//!            "finished" -> JSON Finished (absent until the run ends)
//! issued     index (u32 big-endian) -> JSON Issued
//! order      seq   (u64 big-endian) -> JSON Completed   the completion, in one insert
//!                                     or JSON {"copied":[{"issued":Issued,"completed":Completed},…]}
//!                                        calls copied from another journal, seqs seq, seq+1, …
//! ```
//!
//! A resumed run copies every call it serves from the recorded journal into
//! its own, so that it can be resumed in turn. Written as two inserts each
//! (the issued record, the completion), the copies were most of a resume's
//! cost past a few hundred calls: sled's work per insert grows with the tree
//! (1000 copies 3.8 ms, 10 000 copies 44 ms, written alone in a test). So
//! copied calls are written together, their issued records with their
//! completions, as one record per [`COPIED_CHUNK_BYTES`] of them (0.7 and
//! 9 ms), under the seq of the first: a copied call's issued record is read
//! from there, not from `issued`. That is the layout's version 2
//! ([`STORAGE_VERSION`]); a version 1 journal has no such records and reads
//! the same way.
//!
//! Journals written before December 2026 also have a `completed` tree (index
//! -> seq), derived from `order`; it is no longer written nor read (see
//! `store::Writes::completed`), and its presence changes nothing.
//!
//! Integers are big-endian so that sled's byte order is numeric order:
//! iterating `issued` gives index order and iterating `order` gives
//! completion order without sorting. Values are JSON so that a damaged
//! record can be read by eye, and because the records already have a serde
//! shape for the export.

use std::path::Path;

/// The layout a journal is written with, in `meta`'s "version"; see the
/// module docs. (The records' own shape, which exports share, has a version
/// of its own: [`crate::FORMAT_VERSION`].)
pub(crate) const STORAGE_VERSION: u32 = 2;

/// The layouts this odw reads: version 1 is version 2 without copied calls.
pub(crate) const READABLE_VERSIONS: std::ops::RangeInclusive<u32> = 1..=STORAGE_VERSION;

/// How a record of copied calls in `order` starts, which tells it from a
/// completion's (`{"index":…`, serde writes a struct's fields in order).
pub(crate) const COPIED_PREFIX: &[u8] = br#"{"copied":["#;

/// A record of copied calls is closed once it holds this many bytes (so it
/// holds at most this and one call more). sled keeps up to 16 records in a
/// leaf before splitting it, and writes a leaf larger than a quarter of its
/// 512 KiB log segment to a file of its own (`blobs/`, made and never
/// synced); 16 records of ~4.5 KB stay well inside the log. Measured with
/// 1000 and 10 000 small copies: 2 KB records wrote in 1.1 and 14 ms, 4 KB
/// in 0.7 and 9, 6 KB in 0.6 and 7, and 8 KB records already made blobs
/// (1.9 and 20 ms).
pub(crate) const COPIED_CHUNK_BYTES: usize = 4096;

/// The tree names.
pub(crate) const META: &str = "meta";
pub(crate) const ISSUED: &str = "issued";
pub(crate) const ORDER: &str = "order";

/// The keys of the `meta` tree.
pub(crate) const VERSION_KEY: &[u8] = b"version";
pub(crate) const STARTED_KEY: &[u8] = b"started";
pub(crate) const FINISHED_KEY: &[u8] = b"finished";

/// The file sled keeps its log in. Its presence is how `open` tells a
/// database directory from anything else without creating files there
/// (opening sled on a directory creates a database in it).
pub(crate) const DATA_FILE: &str = "db";

/// A journal holds a few hundred small records; sled's default 1 GiB cache
/// bound is for databases, not run logs, and many runs may be open at once.
const CACHE_BYTES: u64 = 8 * 1024 * 1024;

/// A flush hands the log to the OS and does not wait for the disk
/// (`sync_writes`, a change of odw's to sled): what the journal promises a
/// completion is that it survives the process, `kill -9` included, and that
/// takes the write alone. The disk is reached by `Journal::sync` (a run's
/// end), by sled's flusher, which `fsync`s the file every half second, and
/// by the kernel. A wait for the disk on every completion was a fifth of a
/// fan-out's host time, and was never a power-loss guarantee either: sled
/// waited with `sync_file_range`, which writes the data pages but not the
/// size and blocks that make them part of a growing file.
///
/// No `conf` file (`persist_config`, another change of odw's): sled writes
/// its storage parameters there to refuse a reopen with different ones, but
/// odw opens every journal with these same ones, and checks its own format
/// version first (`meta`'s "version"). Each file made in a run is an inode
/// allocated, and on an ext4 without a journal every allocation scans past
/// the inodes freed in the last minutes: after runs were deleted it was a
/// third of a run's CPU. A journal written with `conf` reads the same.
pub(crate) fn config(path: &Path) -> sled::Config {
    sled::Config::new().path(path).cache_capacity(CACHE_BYTES).sync_writes(false).persist_config(false)
}

pub(crate) fn index_key(index: u32) -> [u8; 4] {
    index.to_be_bytes()
}

pub(crate) fn seq_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

pub(crate) fn decode_index(bytes: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

pub(crate) fn decode_seq(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_numerically_as_bytes() {
        assert!(index_key(2) < index_key(10));
        assert!(index_key(255) < index_key(256));
        assert!(seq_key(9) < seq_key(1 << 40));
    }

    #[test]
    fn keys_round_trip_and_wrong_lengths_are_refused() {
        assert_eq!(decode_index(&index_key(70_000)), Some(70_000));
        assert_eq!(decode_seq(&seq_key(u64::MAX - 1)), Some(u64::MAX - 1));
        assert_eq!(decode_index(b"abc"), None);
        assert_eq!(decode_seq(&index_key(1)), None);
    }
}
