//! Writing files so that a reader never sees half of one.
//!
//! Everything odw writes for another process to read — run files, compiled
//! modules, cache entries — goes through [`atomic_write`]: the bytes go to a
//! temporary file beside the target, which is then renamed over it. The
//! temporary name is unique (not merely per process), so two writers of the
//! same target in one process, or a writer that crashed mid-way, never
//! clobber each other's half-written file.

use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

/// Writes `bytes` to `path` atomically, readable only by the user (0600).
/// With `durable`, the data is on disk before this returns: for files that
/// record an outcome, which must survive a crash once reported.
pub fn atomic_write(path: &Path, bytes: &[u8], durable: bool) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // tempfile makes the file 0600 with a random name (O_EXCL), and removes
    // it if anything below fails.
    let mut tmp = tempfile::Builder::new().prefix(&format!(".{name}.")).suffix(".tmp").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    if durable {
        tmp.as_file().sync_data()?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Makes `dir` and its parents, new ones readable only by the user (0700).
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_replace_the_target_whole_and_leave_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status.json");
        atomic_write(&path, b"first", false).unwrap();
        atomic_write(&path, b"second", true).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["status.json"]);
    }

    #[test]
    fn a_write_into_a_missing_directory_fails_without_creating_it() {
        let dir = tempfile::tempdir().unwrap();
        assert!(atomic_write(&dir.path().join("no/such/file"), b"x", false).is_err());
        assert!(!dir.path().join("no").exists());
    }
}
