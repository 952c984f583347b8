//! The guest module: embedded in the binary, compiled once per machine.
//!
//! Compiling the guest with Cranelift takes about a second; loading a
//! precompiled artifact takes milliseconds. The artifact is cached under a key
//! made of the guest's hash, the wasmtime version and the engine's settings,
//! because a precompiled module only loads into an identical engine.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::{Engine, Module};

use super::SandboxError;

/// The guest, built by `guest/build.sh` and committed.
pub static GUEST_WASM: &[u8] = include_bytes!("../../../guest/odw_guest.wasm");

fn cache_key(engine: &Engine) -> String {
    let mut settings = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut settings);
    let guest = blake3::hash(GUEST_WASM).to_hex();
    format!("guest-{}-wasmtime{}-{:016x}.cwasm", &guest[..16], wasmtime_version(), settings.finish())
}

fn wasmtime_version() -> &'static str {
    // Kept in step with Cargo.toml by the `cache_key_names_the_wasmtime_version` test.
    "48.0.8"
}

pub(super) fn load_module(engine: &Engine, cache_dir: Option<&Path>) -> Result<Module, SandboxError> {
    let cached = cache_dir.map(|dir| dir.join(cache_key(engine)));
    if let Some(path) = cached.as_deref().filter(|p| p.is_file()) {
        // SAFETY: the file is one odw wrote into its own cache directory
        // (created 0700) for exactly this engine configuration; wasmtime also
        // checks the version and settings recorded in the artifact. A file
        // that fails those checks is recompiled below.
        if let Ok(module) = unsafe { Module::deserialize_file(engine, path) } {
            return Ok(module);
        }
    }
    let module = Module::new(engine, GUEST_WASM)
        .map_err(|e| SandboxError::Setup(format!("cannot compile the guest: {e:#}")))?;
    if let Some(path) = cached {
        // A cache that cannot be written only costs the next run a compile.
        let _ = store_artifact(&module, &path);
    }
    Ok(module)
}

fn store_artifact(module: &Module, path: &Path) -> std::io::Result<()> {
    let bytes = module.serialize().map_err(std::io::Error::other)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let tmp: PathBuf = dir.join(format!(".{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_key_names_the_wasmtime_version() {
        let manifest = include_str!("../../../Cargo.toml");
        let pinned = format!("version = \"{}\"", wasmtime_version());
        assert!(manifest.lines().any(|l| l.starts_with("wasmtime =") && l.contains(&pinned)));
    }

    /// The committed guest must be built from the committed sources: the same
    /// listing `guest/build.sh` hashes (sha256sum of each file, sorted).
    #[test]
    fn committed_guest_matches_its_sources() {
        use sha2::{Digest, Sha256};
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest");
        let mut files: Vec<String> =
            vec!["Cargo.toml".into(), "Cargo.lock".into(), ".cargo/config.toml".into()];
        for entry in std::fs::read_dir(root.join("src")).unwrap() {
            files.push(format!("src/{}", entry.unwrap().file_name().to_string_lossy()));
        }
        files.sort();
        let listing: String = files
            .iter()
            .map(|f| {
                let bytes = std::fs::read(root.join(f)).unwrap();
                format!("{:x}  {f}\n", Sha256::digest(&bytes))
            })
            .collect();
        let actual = format!("{:x}", Sha256::digest(listing.as_bytes()));
        let recorded = std::fs::read_to_string(root.join("odw_guest.wasm.source")).unwrap();
        assert_eq!(
            recorded.trim(),
            actual,
            "guest/odw_guest.wasm is stale: run guest/build.sh and commit the result"
        );
    }
}
