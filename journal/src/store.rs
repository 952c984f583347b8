//! [`Journal`]: the records of one run, kept in a sled database.
//!
//! sled is single-process: the database directory is locked by the process
//! that opened it, and a second open — from another process or from this one
//! — fails with [`JournalError::Locked`] (after [`LOCK_WAIT`], because sled
//! releases the lock of a dropped database a moment late). Read-only handles
//! take a shared lock: any number of them can be open at once, and none
//! while the journal is open to write. A `Journal` is
//! `Send + Sync`; share one handle (e.g. in an `Arc`) between the tasks of a
//! run.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::{DeserializeOwned, IgnoredAny};

use crate::layout::{
    self, COPIED_CHUNK_BYTES, COPIED_PREFIX, FINISHED_KEY, ISSUED, META, ORDER, READABLE_VERSIONS,
    STARTED_KEY, STORAGE_VERSION, VERSION_KEY,
};
use crate::{Completed, FORMAT_VERSION, Finished, Issued, JournalError, Started};

type Result<T> = std::result::Result<T, JournalError>;

/// The journal of one run. See the crate docs for what it is for.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    db: sled::Db,
    meta: sled::Tree,
    issued: sled::Tree,
    order: sled::Tree,
    started: Started,
    /// The database file, for [`Journal::sync`]'s `fsync` (sled keeps its
    /// own handle to itself; an `fsync` of any handle syncs the file).
    file: std::fs::File,
    /// What writing a completion needs to know. A mutex because it is held
    /// across the duplicate check and the write: a seq is only consumed by
    /// a completion that was written, so the stored seqs stay gap-free even
    /// when a write fails. Completions are rare (one per agent call), so
    /// serialising their writes costs nothing that matters; the flush
    /// happens after the lock is released.
    writes: Mutex<Writes>,
    /// Whether something was written since the last [`Journal::sync`]: a
    /// journal dropped with unsynced writes is synced then (see `Drop`).
    unsynced: AtomicBool,
    /// Opened with [`Journal::open_read_only`]: every write is refused.
    read_only: bool,
}

/// The state [`Journal::record_completion`] keeps between completions.
#[derive(Debug)]
struct Writes {
    /// The next completion's seq.
    next_seq: u64,
    /// The calls completed so far, for the duplicate check: known from the
    /// start for a journal this handle created, read from `order` before
    /// the first completion written to one it opened (odw never does: a run
    /// writes only the journal it made). Kept here rather than in a sled
    /// tree by index: one more insert per completion cost a resume serving
    /// a thousand calls a tenth of its time.
    completed: Option<HashSet<u32>>,
}

impl Journal {
    /// Creates the journal of a new run at `path`, which must not exist or be
    /// an empty directory, and records `started` on disk.
    pub fn create(path: &Path, started: Started) -> Result<Journal> {
        let journal = Journal::begin(path, started)?;
        journal.sync()?;
        Ok(journal)
    }

    /// [`Journal::create`] without waiting for the disk: `started` survives
    /// the process once [`Journal::flush`], or the first completion or the
    /// end written after it, returns. A run creates its journal this way and
    /// flushes it beside its first calls: nothing is lost by deferring it (a
    /// run killed before then had completed no call).
    pub fn begin(path: &Path, started: Started) -> Result<Journal> {
        if started.version != FORMAT_VERSION {
            return Err(JournalError::Version {
                path: path.to_owned(),
                found: started.version,
                supported: FORMAT_VERSION,
            });
        }
        check_clock(path, "the started record", started.clock)?;
        ensure_fresh(path)?;
        // create_new: if a database appeared since the check, fail rather than adopt it.
        let db = open_db(path, true, false)?;
        let meta = open_tree(path, &db, META)?;
        // Two inserts, the version last, not a batch: a journal is one once
        // both are there (`open` wants the version, then the start), so
        // either order of a crash between them leaves "not a journal", as
        // a crash before them would. sled makes a batch atomic by sealing
        // its log buffer under it, which sent the buffer's write to sled's
        // I/O pool and started the pool's two threads in every run.
        let started_bytes = encode(path, "started", &started)?;
        meta.insert(STARTED_KEY, started_bytes).map_err(|e| storage(path, e))?;
        meta.insert(VERSION_KEY, encode(path, "version", &STORAGE_VERSION)?).map_err(|e| storage(path, e))?;
        Journal::assemble(path, db, meta, started, 0, Some(HashSet::new()))
    }

    /// Opens an existing journal, checking its format version before
    /// decoding anything else.
    pub fn open(path: &Path) -> Result<Journal> {
        Journal::opened(path, false)
    }

    /// [`Journal::open`] for reading only, which is how odw reads every
    /// journal but the one its run writes (a resume's recorded run, a
    /// replay, `odw journal`, the dashboards): the database file is opened
    /// read-only, nothing in it is changed, and every write is refused
    /// ([`JournalError::ReadOnly`]). Opened to write, sled's recovery
    /// rewrites the end of the log's last segment and every unused segment
    /// with zeros (640 KB for a run of 1000 calls, at every open), may
    /// write a snapshot file beside it and delete blob files, so that later
    /// writes cannot be mistaken for older ones; a reader writes nothing, so
    /// it needs none of that. It also reads a journal it cannot write (a
    /// runs directory on a read-only mount, or someone else's).
    pub fn open_read_only(path: &Path) -> Result<Journal> {
        Journal::opened(path, true)
    }

    fn opened(path: &Path, read_only: bool) -> Result<Journal> {
        let not_a_journal = || JournalError::NotAJournal { path: path.to_owned() };
        // Check before opening: sled would create a database in any directory.
        if !path.join(layout::DATA_FILE).is_file() {
            return Err(not_a_journal());
        }
        let db = open_db(path, false, read_only)?;
        // Opening a tree creates it; do not write into someone else's database.
        if !db.tree_names().iter().any(|name| name == META.as_bytes()) {
            return Err(not_a_journal());
        }
        let meta = open_tree(path, &db, META)?;
        let version_bytes = meta.get(VERSION_KEY).map_err(|e| storage(path, e))?.ok_or_else(not_a_journal)?;
        let found: u32 = decode(path, "the format version", &version_bytes)?;
        if !READABLE_VERSIONS.contains(&found) {
            return Err(JournalError::Version { path: path.to_owned(), found, supported: STORAGE_VERSION });
        }
        let started_bytes = meta.get(STARTED_KEY).map_err(|e| storage(path, e))?.ok_or_else(not_a_journal)?;
        let started: Started = decode(path, "the started record", &started_bytes)?;
        let order = open_tree(path, &db, ORDER)?;
        let next_seq = match order.last().map_err(|e| storage(path, e))? {
            None => 0,
            Some((key, value)) => {
                let last = layout::decode_seq(&key).ok_or_else(|| corrupt(path, "a completion seq key"))?;
                last + calls_in(path, last, &value)?
            }
        };
        // Gaps in the order are found where the completions are read
        // ([`Journal::completions`]): counting them here read every record.
        let mut journal = Journal::assemble(path, db, meta, started, next_seq, None)?;
        journal.read_only = read_only;
        Ok(journal)
    }

    fn assemble(
        path: &Path,
        db: sled::Db,
        meta: sled::Tree,
        started: Started,
        next_seq: u64,
        completed: Option<HashSet<u32>>,
    ) -> Result<Journal> {
        // A journal this handle began has its start to sync.
        let began = next_seq == 0 && completed.is_some();
        let data = path.join(layout::DATA_FILE);
        let file = std::fs::File::open(&data).map_err(|source| JournalError::Io { path: data, source })?;
        Ok(Journal {
            file,
            path: path.to_owned(),
            issued: open_tree(path, &db, ISSUED)?,
            order: open_tree(path, &db, ORDER)?,
            db,
            meta,
            started,
            writes: Mutex::new(Writes { next_seq, completed }),
            unsynced: AtomicBool::new(began),
            read_only: false,
        })
    }

    fn writable(&self) -> Result<()> {
        if self.read_only { Err(JournalError::ReadOnly { path: self.path.clone() }) } else { Ok(()) }
    }

    /// The directory the journal lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn started(&self) -> &Started {
        &self.started
    }

    /// Records that the script issued a call. Not flushed by itself: the
    /// next completion's flush persists it (sled's log is ordered), and an
    /// issued-but-not-completed call is re-run on resume anyway.
    pub fn issue(&self, issued: &Issued) -> Result<()> {
        self.writable()?;
        let value = encode(&self.path, "issued", issued)?;
        let key = layout::index_key(issued.index);
        self.unsynced.store(true, Ordering::Relaxed);
        self.issued
            .compare_and_swap(key, None as Option<&[u8]>, Some(value))
            .map_err(|e| storage(&self.path, e))?
            .map_err(|_| JournalError::Duplicate {
                path: self.path.clone(),
                index: issued.index,
                what: "issued",
            })
    }

    /// Records that a call finished and returns its seq (0, 1, 2 … in the
    /// order of these calls). Flushed when it returns ([`Journal::flush`]):
    /// that is what lets a resumed run trust every completion it finds, even
    /// after the previous run was killed with SIGKILL. Safe to call from
    /// many threads.
    pub fn complete(&self, completed: &Completed) -> Result<u64> {
        self.record_completion(completed, true)
    }

    /// Records a completion without flushing it: it survives the process
    /// once [`Journal::flush`], or a later [`Journal::complete`] or
    /// [`Journal::finish`], returns (sled's log is ordered, so a flush
    /// persists everything written before it). For a completion already
    /// durable elsewhere — a resumed run's copy of a recorded call, where a
    /// thousand flushes would be most of a resume's time — and for
    /// completions that end together and share one flush before any of them
    /// is reported.
    pub fn complete_unflushed(&self, completed: &Completed) -> Result<u64> {
        self.record_completion(completed, false)
    }

    /// Records calls served from another run's journal, in this order: each
    /// call's issued record and its completion, written together as few
    /// records as they fit in (see the layout), unflushed, as
    /// [`Journal::complete_unflushed`] records a completion (their source
    /// has them on disk already). Read back, each call is issued and
    /// completed like any other, its seq the next in turn. A call already
    /// completed here (or twice in `calls`) is refused before anything is
    /// written; should a write fail, the calls before the record it was
    /// writing are recorded and the rest are not.
    pub fn copy(&self, calls: &[(Issued, Completed)]) -> Result<()> {
        self.writable()?;
        for (issued, completed) in calls {
            if issued.index != completed.index {
                return Err(JournalError::InvalidRecord {
                    path: self.path.clone(),
                    what: format!(
                        "a copy of call #{} with the completion of #{}",
                        issued.index, completed.index
                    ),
                });
            }
            check_clock(&self.path, "the completed record", completed.clock)?;
        }
        let mut writes = self.writes.lock().unwrap_or_else(PoisonError::into_inner);
        let done = match &mut writes.completed {
            Some(done) => done,
            unknown @ None => unknown.insert(self.completed_indices()?),
        };
        for (n, (issued, _)) in calls.iter().enumerate() {
            if !done.insert(issued.index) {
                for (earlier, _) in &calls[..n] {
                    done.remove(&earlier.index);
                }
                return Err(JournalError::Duplicate {
                    path: self.path.clone(),
                    index: issued.index,
                    what: "completed",
                });
            }
        }
        let mut record = Vec::with_capacity(2 * COPIED_CHUNK_BYTES);
        let mut first = 0;
        for (n, (issued, completed)) in calls.iter().enumerate() {
            record.extend_from_slice(if n == first { COPIED_PREFIX } else { b"," });
            let call = CopiedCall { issued, completed };
            let encoded = serde_json::to_writer(&mut record, &call).map_err(|source| JournalError::Encode {
                path: self.path.clone(),
                what: "copied",
                source,
            });
            let last = n + 1 == calls.len();
            let written = encoded.and_then(|()| {
                if record.len() < COPIED_CHUNK_BYTES && !last {
                    return Ok(());
                }
                record.extend_from_slice(b"]}");
                let seq = writes.next_seq;
                self.unsynced.store(true, Ordering::Relaxed);
                self.order
                    .insert(layout::seq_key(seq), std::mem::take(&mut record))
                    .map_err(|e| storage(&self.path, e))?;
                writes.next_seq = seq + (n + 1 - first) as u64;
                first = n + 1;
                Ok(())
            });
            if let Err(e) = written {
                // What was not written is not completed here.
                if let Some(done) = &mut writes.completed {
                    for (unwritten, _) in &calls[first..] {
                        done.remove(&unwritten.index);
                    }
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// [`Journal::complete`], with the flush optional so that `import` can
    /// write many completions and flush once.
    pub(crate) fn record_completion(&self, completed: &Completed, flush: bool) -> Result<u64> {
        self.writable()?;
        check_clock(&self.path, "the completed record", completed.clock)?;
        let value = encode(&self.path, "completed", completed)?;
        let mut writes = self.writes.lock().unwrap_or_else(PoisonError::into_inner);
        // Under the lock, and this is the only writer of `order`.
        let done = match &mut writes.completed {
            Some(done) => done,
            unknown @ None => unknown.insert(self.completed_indices()?),
        };
        if done.contains(&completed.index) {
            return Err(JournalError::Duplicate {
                path: self.path.clone(),
                index: completed.index,
                what: "completed",
            });
        }
        let seq = writes.next_seq;
        self.unsynced.store(true, Ordering::Relaxed);
        // The record goes in one insert, under its seq: that insert is the
        // completion (atomic, and cheap: a sled transaction would write and
        // sync its log buffer twice per call).
        self.order.insert(layout::seq_key(seq), value).map_err(|e| storage(&self.path, e))?;
        // Written: the seq is taken, whether or not the flush below succeeds.
        writes.next_seq = seq + 1;
        if let Some(done) = &mut writes.completed {
            done.insert(completed.index);
        }
        // Flush outside the lock so concurrent completions can share a flush.
        // sled's log is ordered, so a later seq never reaches the disk
        // without the earlier ones: the stored seqs stay gap-free.
        drop(writes);
        if flush {
            self.flush()?;
        }
        Ok(seq)
    }

    /// Records how the run ended. On disk when it returns ([`Journal::sync`]):
    /// a run that has ended has all of its journal there. Once per journal.
    /// It is [`Journal::end`], then the [`Journal::sync`] it asks for.
    pub fn finish(&self, finished: &Finished) -> Result<()> {
        match self.end(finished)? {
            Ending::Sync => self.sync(),
            Ending::Flushed => Ok(()),
        }
    }

    /// Records how the run ended, flushed ([`Journal::flush`]: it survives
    /// the process), and says whether the journal still needs a
    /// [`Journal::sync`] to survive the machine. Once per journal.
    ///
    /// A journal that holds no completion needs none: what a sync protects
    /// is agents' work, which costs time and tokens to redo, and a run that
    /// called no agent has none. Should the machine lose it, the run reads
    /// as interrupted and its resume redoes nothing. (The sync was a tenth
    /// of such a run's time.)
    pub fn end(&self, finished: &Finished) -> Result<Ending> {
        self.writable()?;
        let value = encode(&self.path, "finished", finished)?;
        self.unsynced.store(true, Ordering::Relaxed);
        self.meta
            .compare_and_swap(FINISHED_KEY, None as Option<&[u8]>, Some(value))
            .map_err(|e| storage(&self.path, e))?
            .map_err(|_| JournalError::AlreadyFinished { path: self.path.clone() })?;
        let completed_any = self.writes.lock().unwrap_or_else(PoisonError::into_inner).next_seq > 0;
        self.flush()?;
        if completed_any {
            return Ok(Ending::Sync);
        }
        self.unsynced.store(false, Ordering::Relaxed);
        Ok(Ending::Flushed)
    }

    /// Every issued call, by index: the `issued` tree's records and the
    /// copied calls' (see [`Journal::copy`]).
    pub fn issued(&self) -> Result<Vec<Issued>> {
        let mut copied = Vec::new();
        self.each_call(|_, issued: Option<Issued>, IgnoredAny| {
            copied.extend(issued);
            Ok(())
        })?;
        self.merge_issued(copied)
    }

    /// [`Journal::issued`] and [`Journal::completions`] together, each
    /// record read once: what a resume or a replay plans from.
    pub fn calls(&self) -> Result<Calls> {
        let (mut copied, mut completions) = (Vec::new(), Vec::new());
        self.each_call(|seq, issued, completed| {
            self.check_seq(seq, completions.len())?;
            copied.extend(issued);
            completions.push((seq, completed));
            Ok(())
        })?;
        Ok(Calls { issued: self.merge_issued(copied)?, completions })
    }

    /// The `issued` tree's records and the copied calls' `copied`, by index;
    /// a call issued twice is a damaged journal.
    fn merge_issued(&self, copied: Vec<Issued>) -> Result<Vec<Issued>> {
        let mut out = Vec::new();
        for item in self.issued.iter() {
            let (key, value) = item.map_err(|e| storage(&self.path, e))?;
            let index = layout::decode_index(&key).ok_or_else(|| corrupt(&self.path, "an issued key"))?;
            let issued: Issued = decode(&self.path, format_args!("issued record #{index}"), &value)?;
            if issued.index != index {
                return Err(corrupt(&self.path, format!("issued record #{index} names #{}", issued.index)));
            }
            out.push(issued);
        }
        if copied.is_empty() {
            return Ok(out);
        }
        out.extend(copied);
        out.sort_by_key(|issued| issued.index);
        if let Some(twice) = out.windows(2).find(|pair| pair[0].index == pair[1].index) {
            return Err(corrupt(&self.path, format!("call #{} is issued twice", twice[0].index)));
        }
        Ok(out)
    }

    /// Every completion with its seq, in seq (completion) order: the order
    /// replay must deliver them in.
    pub fn completions(&self) -> Result<Vec<(u64, Completed)>> {
        let mut out = Vec::new();
        self.each_call(|seq, _: Option<IgnoredAny>, completed| {
            self.check_seq(seq, out.len())?;
            out.push((seq, completed));
            Ok(())
        })?;
        Ok(out)
    }

    /// The completion of call `index`, if it completed. The journal keeps
    /// no index by call (see `Writes::completed`): this reads every
    /// completion and picks out `index`'s, so it is for a look at one call
    /// (tests, tools); resume and replay read them all at once
    /// ([`Journal::calls`]).
    pub fn completed(&self, index: u32) -> Result<Option<Completed>> {
        Ok(self.completions()?.into_iter().map(|(_, c)| c).find(|c| c.index == index))
    }

    /// The call numbers of every completion, for the duplicate check.
    fn completed_indices(&self) -> Result<HashSet<u32>> {
        #[derive(serde::Deserialize)]
        struct Indexed {
            index: u32,
        }
        let mut out = HashSet::new();
        self.each_call(|_, _: Option<IgnoredAny>, Indexed { index }| {
            out.insert(index);
            Ok(())
        })?;
        Ok(out)
    }

    /// Calls `visit` with every call of `order`, in seq order: its seq, its
    /// issued record if it is a copied call (one of a record of them, see
    /// [`Journal::copy`]; the others' are in `issued`), and its completion,
    /// each decoded as the caller asks (`IgnoredAny` skips one).
    fn each_call<I, C>(&self, mut visit: impl FnMut(u64, Option<I>, C) -> Result<()>) -> Result<()>
    where
        I: DeserializeOwned,
        C: DeserializeOwned,
    {
        for item in self.records() {
            let (seq, value) = item?;
            let what = || format!("the completed record of seq {seq}");
            if !value.starts_with(COPIED_PREFIX) {
                visit(seq, None, decode(&self.path, what(), &value)?)?;
                continue;
            }
            let Copied { copied } = decode::<Copied<I, C>>(&self.path, what(), &value)?;
            if copied.is_empty() {
                return Err(corrupt(&self.path, format!("{} holds no call", what())));
            }
            for (n, CopiedCall { issued, completed }) in (0..).zip(copied) {
                visit(seq + n, Some(issued), completed)?;
            }
        }
        Ok(())
    }

    fn check_seq(&self, seq: u64, expected: usize) -> Result<()> {
        if seq == expected as u64 {
            Ok(())
        } else {
            Err(corrupt(&self.path, "the completion order has gaps"))
        }
    }

    /// The completion records in seq order, each with its seq, undecoded.
    fn records(&self) -> impl Iterator<Item = Result<(u64, sled::IVec)>> + '_ {
        self.order.iter().map(|item| {
            let (key, value) = item.map_err(|e| storage(&self.path, e))?;
            let seq = layout::decode_seq(&key).ok_or_else(|| corrupt(&self.path, "a completion seq key"))?;
            Ok((seq, value))
        })
    }

    /// How the run ended, or `None` if it has not (or was killed).
    pub fn finished(&self) -> Result<Option<Finished>> {
        match self.meta.get(FINISHED_KEY).map_err(|e| storage(&self.path, e))? {
            None => Ok(None),
            Some(value) => Ok(Some(decode(&self.path, "the finished record", &value)?)),
        }
    }

    /// Hands everything written so far to the operating system: from here
    /// on it survives the process however it ends (`kill -9`, an abort, the
    /// OOM killer), and a later open reads it. It reaches the disk with the
    /// next [`Journal::sync`], within half a second by sled's periodic flush,
    /// or by the kernel's own writeback.
    pub fn flush(&self) -> Result<()> {
        self.db.flush().map(drop).map_err(|e| storage(&self.path, e))
    }

    /// The file a [`Journal::sync`] of the journal at `path` puts on the
    /// disk: an `fsync` of it, by any process, syncs everything flushed
    /// before ([`Journal::flush`]). Known before the journal exists.
    pub fn data_file(path: &Path) -> PathBuf {
        path.join(layout::DATA_FILE)
    }

    /// Leaves the sync of what is written so far to someone else, who
    /// `fsync`s the [`Journal::data_file`] after this process is gone (odw's
    /// guardian): flushes it, and no longer syncs it when dropped. For a
    /// process that ends with its run, whose exit would otherwise wait for
    /// the disk. A later write is synced as usual.
    pub fn hand_off_sync(&self) -> Result<()> {
        self.unsynced.store(false, Ordering::Relaxed);
        let flushed = self.flush();
        if flushed.is_err() {
            self.unsynced.store(true, Ordering::Relaxed);
        }
        flushed
    }

    /// Puts everything written so far on the disk: [`Journal::flush`], then
    /// an `fsync` of the database file (its data and the size and blocks
    /// that hold it), so it survives the machine too.
    pub fn sync(&self) -> Result<()> {
        // Cleared before the flush: a write that races this sync sets it
        // again, and is synced by the next one (or the drop).
        self.unsynced.store(false, Ordering::Relaxed);
        let synced = self
            .flush()
            .and_then(|()| self.file.sync_all().map_err(|e| storage(&self.path, sled::Error::Io(e))));
        if synced.is_err() {
            self.unsynced.store(true, Ordering::Relaxed);
        }
        synced
    }
}

/// Every record of a journal's calls ([`Journal::calls`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Calls {
    /// Every issued call, by index.
    pub issued: Vec<Issued>,
    /// Every completion with its seq, in seq order.
    pub completions: Vec<(u64, Completed)>,
}

/// A record of copied calls in `order` ([`Journal::copy`]); its first field
/// is what [`COPIED_PREFIX`] recognises.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Copied<I, C> {
    copied: Vec<CopiedCall<I, C>>,
}

/// One call of a [`Copied`] record, read with either part ignored where
/// only the other is wanted.
#[derive(Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CopiedCall<I, C> {
    issued: I,
    completed: C,
}

/// How many calls the record `value` under `seq` holds: a completion one, a
/// record of copied calls as many as it lists.
fn calls_in(path: &Path, seq: u64, value: &[u8]) -> Result<u64> {
    if !value.starts_with(COPIED_PREFIX) {
        return Ok(1);
    }
    let Copied { copied } = decode::<Copied<IgnoredAny, IgnoredAny>>(
        path,
        format_args!("the completed record of seq {seq}"),
        value,
    )?;
    Ok(copied.len() as u64)
}

/// What a journal whose end is recorded ([`Journal::end`]) still needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a journal that asks for a sync is not on the disk until it has one"]
pub enum Ending {
    /// A [`Journal::sync`] (or [`Journal::hand_off_sync`]): it holds
    /// completions, agents' work.
    Sync,
    /// Nothing: flushed, it holds no completion (see [`Journal::end`]).
    Flushed,
}

/// A journal is closed on the disk: what was written since its last
/// [`Journal::sync`] is synced now (a run that ended has nothing left; an
/// import that stopped early, or a run that failed before its end was
/// written, has). sled's own close no longer syncs with `sync_writes` off
/// (vendor/sled/ODW-PATCH.md): it synced every journal, one that only read
/// or one just synced by `finish` too, and a process's exit waited for that
/// `fsync` when the close ran beside it.
impl Drop for Journal {
    fn drop(&mut self) {
        if self.unsynced.load(Ordering::Relaxed) {
            let _ = self.sync();
        }
    }
}

/// `path` must not exist, or be an empty directory: everything in a journal
/// directory is the journal's, so `create` refuses to share one.
fn ensure_fresh(path: &Path) -> Result<()> {
    match std::fs::read_dir(path) {
        Ok(mut entries) => match entries.next() {
            None => Ok(()),
            Some(_) => Err(JournalError::AlreadyExists { path: path.to_owned() }),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        // Exists but is not a directory (or cannot be listed).
        Err(_) if path.exists() => Err(JournalError::AlreadyExists { path: path.to_owned() }),
        Err(source) => Err(JournalError::Io { path: path.to_owned(), source }),
    }
}

/// serde_json writes a non-finite f64 as `null`, which then fails to decode:
/// refuse it up front rather than write a journal that cannot be read back.
fn check_clock(path: &Path, record: &str, clock: f64) -> Result<()> {
    if clock.is_finite() {
        Ok(())
    } else {
        Err(JournalError::InvalidRecord {
            path: path.to_owned(),
            what: format!("{record} with clock {clock}"),
        })
    }
}

/// How long `open` waits for a held lock before reporting [`JournalError::Locked`].
///
/// sled releases a database's file lock from its background I/O threads a
/// moment after the last handle is dropped (tens of milliseconds under load),
/// not when `drop` returns. A journal closed a moment ago in this process —
/// read at prepare time, then opened again to run — must still open.
pub(crate) const LOCK_WAIT: Duration = Duration::from_secs(1);

fn open_db(path: &Path, create_new: bool, read_only: bool) -> Result<sled::Db> {
    let deadline = Instant::now() + LOCK_WAIT;
    let mut pause = Duration::from_millis(2);
    loop {
        // A fresh Config per attempt: sled marks a config as used once opened.
        match layout::config(path).create_new(create_new).read_only(read_only).open() {
            Ok(db) => return Ok(db),
            Err(e) => match open_error(path, e) {
                JournalError::Locked { .. } if Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                other => return Err(other),
            },
        }
    }
}

fn open_tree(path: &Path, db: &sled::Db, name: &str) -> Result<sled::Tree> {
    db.open_tree(name).map_err(|e| storage(path, e))
}

/// sled reports a held lock only as an I/O error of kind `Other` whose text
/// says so; recognise it, because "another process has it open" is the one
/// open failure users can fix themselves.
fn open_error(path: &Path, e: sled::Error) -> JournalError {
    match &e {
        sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
            JournalError::Locked { path: path.to_owned() }
        }
        sled::Error::Io(io) if io.kind() == std::io::ErrorKind::AlreadyExists => {
            JournalError::AlreadyExists { path: path.to_owned() }
        }
        // A damaged log, or a database written by another sled version.
        sled::Error::Corruption { .. } | sled::Error::Unsupported(_) => {
            corrupt(path, format!("the database cannot be read: {e}"))
        }
        _ => storage(path, e),
    }
}

fn storage(path: &Path, source: sled::Error) -> JournalError {
    JournalError::Storage { path: path.to_owned(), source }
}

fn corrupt(path: &Path, what: impl Into<String>) -> JournalError {
    JournalError::Corrupt { path: path.to_owned(), what: what.into() }
}

fn encode(path: &Path, what: &'static str, value: &impl Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|source| JournalError::Encode { path: path.to_owned(), what, source })
}

fn decode<T: DeserializeOwned>(path: &Path, what: impl std::fmt::Display, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| corrupt(path, format!("{what} does not decode: {e}")))
}

#[cfg(test)]
mod tests;
