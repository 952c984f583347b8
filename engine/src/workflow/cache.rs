//! The compile cache: the module each script compiled into, so that running
//! the same script again starts from it instead of compiling.

use std::path::{Path, PathBuf};

use crate::fsio::{atomic_write, private_dir};
use crate::loader::Script;
use crate::sandbox::guest_hash;

/// How many compiled scripts the cache keeps (about 1 MiB each); the
/// least recently written go first.
pub(super) const KEEP: usize = 64;

/// Where the module compiled from `script` is cached. The key names all
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
    cache_dir.join("scripts").join(format!("{}.wasm", &key.finalize().to_hex()[..32]))
}

/// Stores a compiled module (atomically: readers see all or nothing)
/// and trims the cache to its [`KEEP`] newest entries.
pub fn store(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    private_dir(dir)?;
    atomic_write(path, bytes, false)?;
    let mut entries: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)?
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "wasm"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
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
            store(&scripts.join(format!("{i:03}.wasm")), b"\0asm").unwrap();
            // Distinct modification times, oldest first.
            let time = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000 + i as u64);
            std::fs::File::options()
                .write(true)
                .open(scripts.join(format!("{i:03}.wasm")))
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
        assert_eq!(left[0], "003.wasm", "the three oldest went: {left:?}");
    }
}
