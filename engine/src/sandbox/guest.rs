//! The guest module: embedded in the binary, and precompiled for the
//! machine that built it.
//!
//! Compiling the guest with Cranelift takes about a second; loading a
//! precompiled artifact takes milliseconds. The build script ships one
//! (`engine/build.rs`); the artifact in use is cached under a key made of the
//! guest's hash, the wasmtime version and the engine's settings, because a
//! precompiled module only loads into an identical engine.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use wasmtime::{Engine, Module};
use wasmtime_wizer::{ModuleContext, Wizer};

use super::SandboxError;

/// The guest, built by `guest/build.sh` and committed.
pub static GUEST_WASM: &[u8] = include_bytes!("../../../guest/odw_guest.wasm");

/// Which wasmtime the cache keys name. Kept in step with Cargo.toml by the
/// `cache_key_names_the_wasmtime_version` test.
const WASMTIME_VERSION: &str = "48.0.8";

/// blake3 of [`GUEST_WASM`], computed by the build script.
pub fn guest_hash() -> &'static blake3::Hash {
    static HASH: blake3::Hash =
        blake3::Hash::from_bytes(*include_bytes!(concat!(env!("OUT_DIR"), "/guest.blake3")));
    &HASH
}

/// The name of a precompiled artifact: what was compiled (`kind` and the
/// hash of its bytes), by which wasmtime, with which engine settings.
fn cache_key(engine: &Engine, kind: &str, hash: &blake3::Hash) -> String {
    let mut settings = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut settings);
    let hash = hash.to_hex();
    format!("{kind}-{}-wasmtime{WASMTIME_VERSION}-{:016x}.cwasm", &hash[..16], settings.finish())
}

/// The guest as the sandbox runs it: instrumented by wizer so that its
/// memory and globals are exported, which is what lets the host snapshot an
/// instance after `wizer-initialize` (see `snapshot.rs`). Instrumenting
/// only adds exports; the code and the imports are the guest's own.
pub(super) fn instrumented() -> Result<(ModuleContext<'static>, Vec<u8>), SandboxError> {
    Wizer::new()
        .instrument(GUEST_WASM)
        .map_err(|e| SandboxError::Setup(format!("cannot instrument the guest: {e:#}")))
}

/// The guest precompiled by the build script for the machine odw was built
/// on (`engine/build.rs`); empty when it could not be (cross builds).
static PRECOMPILED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/guest.cwasm"));

/// The guest, ready to instantiate: from the cache in `cache_dir` when an
/// earlier run put it there, else the artifact shipped in the binary when
/// this CPU and engine take it (copied into the cache), else compiled now
/// (and cached).
///
/// The cache comes first although the binary holds the same bytes: a cached
/// file is mapped, and only the pages a run touches are read, where
/// deserialising the shipped bytes copies all 3 MB on every start.
///
/// The copy of the shipped artifact into the cache is made on a thread of
/// its own, returned with the module, for the caller to wait for before
/// the process ends ([`super::Sandbox::settle`]).
pub(super) fn load_guest(
    engine: &Engine,
    cache_dir: Option<&Path>,
) -> Result<(Module, Option<JoinHandle<()>>), SandboxError> {
    let mut copying = None;
    let module = load_module(engine, cache_dir, "guest", guest_hash(), |cached| {
        if let Some(module) = shipped(engine) {
            if let Some(path) = cached {
                copying = copy_shipped(path.to_owned());
            }
            return Ok(ModuleSource::Ready(module));
        }
        // Compiling: cranelift's threads may have every CPU, which a
        // helper thread (the load) would keep from them; the guest's
        // thread waits for this anyway.
        crate::helpers::widen();
        Ok(ModuleSource::Wasm(instrumented()?.1))
    })?;
    Ok((module, copying))
}

/// Copies the shipped artifact to `path` in the cache, on a thread of its
/// own when one starts. The run that makes the copy needs only the module
/// it already deserialised, and writing 3 MB of new file was on its path:
/// 4 ms of a first run on a quiet machine, 40 ms on this VM right after
/// much was deleted (memory the kernel frees is handed back to the host,
/// and fresh page cache is then slow to come by).
fn copy_shipped(path: PathBuf) -> Option<JoinHandle<()>> {
    // A cache that cannot be written only costs the next start a copy.
    let target = path.clone();
    let thread = std::thread::Builder::new().name("odw-cache".into());
    match thread.spawn(move || drop(store_bytes(&target, PRECOMPILED))) {
        Ok(copying) => Some(copying),
        Err(_) => {
            let _ = store_bytes(&path, PRECOMPILED);
            None
        }
    }
}

/// The shipped artifact, if it loads into `engine`.
fn shipped(engine: &Engine) -> Option<Module> {
    if PRECOMPILED.is_empty() {
        return None;
    }
    // SAFETY: the bytes are part of this binary, written by its own build
    // script from the committed guest with the settings `engine` was made
    // with (one `wasmtime_config`). wasmtime checks the artifact's version,
    // settings and the CPU features its code needs, and refuses a mismatch
    // (a binary copied to an older CPU); that refusal is the fallback above.
    unsafe { Module::deserialize(engine, PRECOMPILED) }.ok()
}

/// What [`load_module`] gets when nothing usable is cached.
pub(super) enum ModuleSource {
    /// Bytes to compile (and cache).
    Wasm(Vec<u8>),
    /// A module already loaded some other way (and cached by the caller).
    Ready(Module),
}

/// Loads the artifact cached for the bytes whose blake3 is `hash`, or makes
/// the module with `source` (given the cache path, if any) and caches what
/// it compiled.
pub(super) fn load_module(
    engine: &Engine,
    cache_dir: Option<&Path>,
    kind: &str,
    hash: &blake3::Hash,
    source: impl FnOnce(Option<&Path>) -> Result<ModuleSource, SandboxError>,
) -> Result<Module, SandboxError> {
    let cached = cache_dir.map(|dir| dir.join(cache_key(engine, kind, hash)));
    if let Some(path) = cached.as_deref().filter(|p| p.is_file()) {
        // SAFETY: the file is one odw wrote into its own cache directory
        // (created 0700) for exactly these bytes and this engine
        // configuration; wasmtime also checks the version and settings
        // recorded in the artifact. A file that fails those checks is
        // recompiled below.
        if let Ok(module) = unsafe { Module::deserialize_file(engine, path) } {
            return Ok(module);
        }
    }
    let bytes = match source(cached.as_deref())? {
        ModuleSource::Ready(module) => return Ok(module),
        ModuleSource::Wasm(bytes) => bytes,
    };
    let module = Module::new(engine, bytes)
        .map_err(|e| SandboxError::Setup(format!("cannot compile the {kind} module: {e:#}")))?;
    if let Some(path) = cached {
        // A cache that cannot be written only costs the next run a compile.
        if let Ok(bytes) = module.serialize() {
            let _ = store_bytes(&path, &bytes);
        }
    }
    Ok(module)
}

fn store_bytes(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    crate::fsio::private_dir(path.parent().unwrap_or(Path::new(".")))?;
    crate::fsio::atomic_write(path, bytes, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guest_hash_the_build_script_computed_is_the_guests() {
        assert_eq!(*guest_hash(), blake3::hash(GUEST_WASM));
    }

    /// The build script and the sandbox must agree on every engine setting,
    /// or each start silently falls back to compiling the guest.
    #[test]
    #[cfg(feature = "precompiled-guest")]
    fn the_shipped_guest_loads_into_the_sandbox_engine() {
        let engine = Engine::new(&super::super::wasmtime_config::wasmtime_config()).unwrap();
        assert!(!PRECOMPILED.is_empty(), "engine/build.rs shipped no precompiled guest");
        assert!(shipped(&engine).is_some(), "the shipped guest does not load into the sandbox's engine");
    }

    #[test]
    fn cache_key_names_the_wasmtime_version() {
        let manifest = include_str!("../../../Cargo.toml");
        let pinned = format!("version = \"{WASMTIME_VERSION}\"");
        // The guest key names only wasmtime: wizer's instrumentation is part of
        // what is cached, so it must move in step with wasmtime.
        for krate in ["wasmtime =", "wasmtime-wizer ="] {
            assert!(manifest.lines().any(|l| l.starts_with(krate) && l.contains(&pinned)), "{krate}");
        }
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
