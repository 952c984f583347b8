//! The compile cache: the guest's state right after each script compiled,
//! so that running the same script again starts from it instead of
//! compiling.
//!
//! An entry is not a workflow module (`odw build` makes those) but only
//! what a run of this odw needs: the [`Manifest`] and the [`Preset`] in its
//! compact form. A module would repeat the guest's megabyte of code, which
//! a run must then read and compare with its own before trusting the state;
//! the cache key already names the guest, so an entry is a third of the size
//! (about 350 KB) and is read without parsing any WebAssembly.
//!
//! ```text
//! MAGIC (8 bytes, the format's version last) · manifest length u32 LE · manifest JSON · preset
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::module::Manifest;
use crate::fsio::{atomic_write, private_dir};
use crate::loader::Script;
use crate::sandbox::{Preset, guest_hash};

/// How many compiled scripts the cache keeps (about 350 KB each); the
/// least recently written go first.
pub(super) const KEEP: usize = 64;

/// The first bytes of an entry; an entry of another format is a miss.
const MAGIC: &[u8; 8] = b"odw-cc\0\x01";

/// What an entry's file name ends with. Entries of the previous format
/// (whole modules, `.wasm`) are removed when the cache is next written.
const EXTENSION: &str = "preset";
const OLD_EXTENSION: &str = "wasm";

/// A cache entry: the script it was compiled from, and the state.
pub struct Entry {
    pub manifest: Manifest,
    pub preset: Preset,
}

/// An entry's bytes.
pub fn encode(manifest: &Manifest, preset: &Preset) -> Vec<u8> {
    let json = serde_json::to_vec(manifest).unwrap_or_default();
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + json.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
    preset.encode(&mut out);
    out
}

/// The entry at `path`. Anything wrong with it — missing, another format,
/// truncated, damaged — is a miss, which only costs a compile: entries are
/// written by odw alone, into its own directory.
pub fn read(path: &Path) -> Option<Entry> {
    let bytes = std::fs::read(path).ok()?;
    let rest = bytes.strip_prefix(MAGIC)?;
    let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let json = rest.get(4..4usize.checked_add(len)?)?;
    let manifest: Manifest = serde_json::from_slice(json).ok()?;
    let at = MAGIC.len() + 4 + len;
    let preset = Preset::decode(Arc::new(bytes), at).ok()?;
    Some(Entry { manifest, preset })
}

/// Where the state compiled from `script` is cached. The key names all
/// that the compiled code depends on: the guest, this odw, the script's
/// text and the name its positions and stack traces show.
pub fn path(cache_dir: &Path, script: &Script) -> PathBuf {
    let mut key = blake3::Hasher::new();
    key.update(guest_hash().as_bytes());
    for part in [env!("CARGO_PKG_VERSION"), &script.display_name(), &script.hash] {
        key.update(&(part.len() as u64).to_le_bytes());
        key.update(part.as_bytes());
    }
    key.update(&script.line_one_shift.to_le_bytes());
    cache_dir.join("scripts").join(format!("{}.{EXTENSION}", &key.finalize().to_hex()[..32]))
}

/// Stores an entry (atomically: readers see all or nothing) and trims the
/// cache to its [`KEEP`] newest entries.
pub fn store(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    private_dir(dir)?;
    atomic_write(path, bytes, false)?;
    let mut entries: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir)?.flatten() {
        let path = entry.path();
        match path.extension().and_then(|x| x.to_str()) {
            Some(EXTENSION) => {
                if let Ok(modified) = entry.metadata().and_then(|m| m.modified()) {
                    entries.push((modified, path));
                }
            }
            Some(OLD_EXTENSION) => {
                let _ = std::fs::remove_file(path);
            }
            _ => {}
        }
    }
    entries.sort();
    let excess = entries.len().saturating_sub(KEEP);
    for (_, old) in entries.into_iter().take(excess) {
        let _ = std::fs::remove_file(old);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compile_cache_keeps_its_newest_entries() {
        let dir = tempfile::tempdir().unwrap();
        let scripts = dir.path().join("scripts");
        for i in 0..KEEP + 3 {
            store(&scripts.join(format!("{i:03}.{EXTENSION}")), b"entry").unwrap();
            // Distinct modification times, oldest first.
            let time = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000 + i as u64);
            std::fs::File::options()
                .write(true)
                .open(scripts.join(format!("{i:03}.{EXTENSION}")))
                .unwrap()
                .set_modified(time)
                .unwrap();
        }
        let mut left: Vec<String> = std::fs::read_dir(&scripts)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left.len(), KEEP);
        assert_eq!(left[0], format!("003.{EXTENSION}"), "the three oldest went: {left:?}");
    }
}
