//! The compile cache: the guest's state right after each script compiled,
//! so that running the same script again starts from it instead of
//! compiling.
//!
//! An entry is not a workflow module (`odw build` makes those) but only
//! what a run of this odw needs: the [`Manifest`] and the [`Preset`] in its
//! compact form. A module would repeat the guest's megabyte of code, which
//! a run must then read and compare with its own before trusting the state;
//! the cache key already names the guest, so an entry holds only where the
//! compiled state differs from a fresh guest's memory (about 225 KB) and is
//! read without parsing any WebAssembly.
//!
//! It also keeps where the script's `meta` lies (its [`MetaSpan`]): with
//! it, a hit is put together without parsing the script again (the loader
//! checked exactly this text when the entry was written), which keeps the
//! JavaScript parser off a cached run's path.
//!
//! ```text
//! MAGIC (8 bytes, the format's version last) · manifest length u32 LE · manifest JSON
//!   · meta span: export, open, close, end, each u64 LE · preset
//! ```

use std::path::{Path, PathBuf};

use super::module::Manifest;
use crate::fsio::{atomic_write, private_dir};
use crate::loader::{LINE_ONE_SHIFT, MetaSpan, display_name};
use crate::sandbox::{Preset, guest_hash};

/// How many compiled scripts the cache keeps (about 225 KB each); the
/// least recently written go first.
pub(super) const KEEP: usize = 64;

/// The first bytes of an entry; an entry of another format is a miss.
const MAGIC: &[u8; 8] = b"odw-cc\0\x03";

/// What an entry's file name ends with. Entries of the previous format
/// (whole modules, `.wasm`) are removed when the cache is next written.
const EXTENSION: &str = "preset";
const OLD_EXTENSION: &str = "wasm";

/// A cache entry: the script it was compiled from, where its meta lies,
/// and the state.
pub struct Entry {
    pub manifest: Manifest,
    pub meta_span: MetaSpan,
    pub preset: Preset,
}

/// An entry's bytes.
pub fn encode(manifest: &Manifest, meta_span: MetaSpan, preset: &Preset) -> std::io::Result<Vec<u8>> {
    let json = serde_json::to_vec(manifest).unwrap_or_default();
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + json.len() + SPAN_BYTES);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
    let MetaSpan { export, open, close, end } = meta_span;
    for offset in [export, open, close, end] {
        out.extend_from_slice(&(offset as u64).to_le_bytes());
    }
    preset.encode(&mut out)?;
    Ok(out)
}

/// The meta span's four offsets.
const SPAN_BYTES: usize = 4 * 8;

/// The entry at `path`. Anything wrong with it — missing, another format,
/// truncated, damaged — is a miss, which only costs a compile: entries are
/// written by odw alone, into its own directory. The state's bytes are read
/// when it is applied (`Preset::decode_file`), straight into the guest.
pub fn read(path: &Path) -> Option<Entry> {
    use std::io::Read;
    let file = std::fs::File::open(path).ok()?;
    let size = file.metadata().ok()?.len();
    let mut input = std::io::BufReader::with_capacity(16 << 10, &file);
    let mut magic = [0; 8];
    input.read_exact(&mut magic).ok()?;
    if magic != *MAGIC {
        return None;
    }
    let mut len = [0; 4];
    input.read_exact(&mut len).ok()?;
    let len = u32::from_le_bytes(len);
    if u64::from(len) > size {
        return None;
    }
    let mut json = vec![0; len as usize];
    input.read_exact(&mut json).ok()?;
    let manifest: Manifest = serde_json::from_slice(&json).ok()?;
    let mut span = [0; SPAN_BYTES];
    input.read_exact(&mut span).ok()?;
    let offset = |i: usize| -> Option<usize> {
        usize::try_from(u64::from_le_bytes(span[i * 8..i * 8 + 8].try_into().ok()?)).ok()
    };
    let meta_span = MetaSpan { export: offset(0)?, open: offset(1)?, close: offset(2)?, end: offset(3)? };
    drop(input);
    let at = (MAGIC.len() + 4 + SPAN_BYTES) as u64 + u64::from(len);
    let preset = Preset::decode_file(file, at).ok()?;
    Some(Entry { manifest, meta_span, preset })
}

/// Where the state compiled from `script` is cached. The key names all
/// that the compiled code depends on: the guest, this odw, the script's
/// text and the name its positions and stack traces show.
pub fn path(cache_dir: &Path, file: &Path, script_hash: &str) -> PathBuf {
    let mut key = blake3::Hasher::new();
    key.update(guest_hash().as_bytes());
    for part in [env!("CARGO_PKG_VERSION"), &display_name(file), script_hash] {
        key.update(&(part.len() as u64).to_le_bytes());
        key.update(part.as_bytes());
    }
    key.update(&LINE_ONE_SHIFT.to_le_bytes());
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
    fn an_entry_keeps_its_manifest_meta_span_and_state_and_a_damaged_one_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let script = crate::loader::Script::parse(
            Path::new("wf.js"),
            "export const meta = { name: 'n', description: 'd' };\nreturn 1;".into(),
        )
        .unwrap();
        let manifest = Manifest::new(&script, serde_json::json!({"name": "n", "description": "d"}));
        let preset = Preset::of(std::sync::Arc::new(crate::sandbox::GUEST_WASM.to_vec())).unwrap().unwrap();
        let bytes = encode(&manifest, script.meta_span, &preset).unwrap();
        let path = dir.path().join("e.preset");
        std::fs::write(&path, &bytes).unwrap();
        let entry = read(&path).expect("a hit");
        assert_eq!(entry.meta_span, script.meta_span);
        assert_eq!(entry.manifest.source, script.source);
        let mut again = Vec::new();
        entry.preset.encode(&mut again).unwrap();
        let mut expected = Vec::new();
        preset.encode(&mut expected).unwrap();
        assert_eq!(again, expected);
        // Cut short, or of another format: a miss, never a panic.
        for cut in [MAGIC.len() + 2, bytes.len() - preset_len(&preset) - 3, bytes.len() - 1] {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            assert!(read(&path).is_none(), "cut at {cut}");
        }
        let mut old = bytes.clone();
        old[7] = 2;
        std::fs::write(&path, &old).unwrap();
        assert!(read(&path).is_none(), "the previous format");
    }

    fn preset_len(preset: &Preset) -> usize {
        let mut out = Vec::new();
        preset.encode(&mut out).unwrap();
        out.len()
    }

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
