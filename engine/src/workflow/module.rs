//! Workflow modules: a workflow compiled ahead of time (`odw build`).
//!
//! A workflow module is the guest pre-initialised with one script (see
//! `sandbox/snapshot.rs`): QuickJS, the prelude and the script's compiled
//! bytecode are in its initial memory, so a run skips starting QuickJS and
//! compiling. It is an ordinary WebAssembly module with exactly the guest's
//! imports — which is why `odw inspect` can list its capabilities from the
//! module itself — plus one custom section, [`SECTION`], with a [`Manifest`]:
//! what was built, from which text, by which odw.
//!
//! The manifest carries the script's text so that a run of the module is
//! recorded like a run of the script (same script hash in the journal, so
//! `--resume-from` and `replay --check` work across the two) and so that meta
//! is evaluated in the sandbox exactly as for a script. The manifest is what
//! the builder wrote: the import list is checked from the code, the manifest
//! is a claim. Running a module never trusts more than running a script:
//! it is linked against the same imports, under the same limits.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::validate::{Problem, validate_script};
use crate::config::Config;
use crate::loader::{LoadError, Script};
use crate::sandbox::{Image, Sandbox, SandboxError};
use crate::wasm::{custom_section, imports};

/// The custom section that holds the [`Manifest`] (JSON).
pub const SECTION: &str = "odw-workflow";

/// The manifest format this odw writes and reads.
pub const FORMAT: u32 = 1;

/// What a workflow module was built from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub format: u32,
    pub odw_version: String,
    /// The script's file as it was named when built (positions name it).
    pub file: String,
    /// blake3 of the script's text, as a run of the script records it.
    pub script_hash: String,
    /// `meta`, as evaluated when built.
    pub meta: Value,
    /// The script's text.
    pub source: String,
}

/// A workflow module read from disk.
#[derive(Debug, Clone)]
pub struct WorkflowModule {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub manifest: Manifest,
}

/// Why a module could not be built or read.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("{}", invalid_message(.path, .problems))]
    Invalid { path: PathBuf, problems: Vec<Problem> },
    #[error("{}: {source}", .path.display())]
    Sandbox { path: PathBuf, source: SandboxError },
    #[error("{}: {message}", .path.display())]
    Format { path: PathBuf, message: String },
    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

fn invalid_message(path: &Path, problems: &[Problem]) -> String {
    let lines: Vec<String> = problems
        .iter()
        .map(|p| match p.line {
            0 => format!("{}: {}", path.display(), p.message),
            line => format!("{}:{line}:{}: {}", path.display(), p.column, p.message),
        })
        .collect();
    lines.join("\n")
}

/// Whether `path` names a WebAssembly module rather than a script: by its
/// first bytes, so the extension does not matter.
pub fn is_module(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && magic == *b"\0asm"
}

/// Compiles `script` into a workflow module: checks it as `odw validate`
/// does (every refusal with its position), then pre-initialises the guest
/// with it and adds the manifest.
pub async fn build(sandbox: &Sandbox, config: &Config, script: &Script) -> Result<Vec<u8>, ModuleError> {
    let validation = validate_script(sandbox, config, script).await;
    let meta = match validation.meta {
        Some(meta) if validation.ok => meta,
        _ => return Err(ModuleError::Invalid { path: script.path.clone(), problems: validation.errors }),
    };
    let failed = |source| ModuleError::Sandbox { path: script.path.clone(), source };
    let image = sandbox.image(&script.compile_activation(), config.sandbox_limits()).await.map_err(failed)?;
    let bytes = assemble(image, &Manifest::new(script, meta)).map_err(failed)?;
    // A marker that cannot be written only costs the module's fast start.
    let _ = trust(sandbox, &bytes);
    Ok(bytes)
}

/// Where the marker of a module this odw built is kept.
fn trust_marker(sandbox: &Sandbox, bytes: &[u8]) -> Option<std::path::PathBuf> {
    Some(sandbox.cache_dir()?.join("built").join(blake3::hash(bytes).to_hex().as_str()))
}

/// Records that this odw built exactly `bytes`: its code is what its
/// manifest says. Only odw writes the cache directory (0700).
fn trust(sandbox: &Sandbox, bytes: &[u8]) -> std::io::Result<()> {
    let Some(marker) = trust_marker(sandbox, bytes) else { return Ok(()) };
    crate::fsio::private_dir(marker.parent().unwrap_or(Path::new(".")))?;
    crate::fsio::atomic_write(&marker, b"", false)
}

/// Whether this odw built exactly `bytes` ([`build`] recorded it). A module
/// from anywhere else may carry any code beside any manifest — a benign
/// manifest spliced onto other code — so it is not run as code: the run
/// starts from the script its manifest carries, which is what `odw inspect`
/// shows.
pub fn built_here(sandbox: &Sandbox, bytes: &[u8]) -> bool {
    trust_marker(sandbox, bytes).is_some_and(|m| m.is_file())
}

/// The guest rewritten to start in `image`, labelled with `manifest`.
fn assemble(image: Image, manifest: &Manifest) -> Result<Vec<u8>, SandboxError> {
    let mut bytes = image.into_module()?;
    let json = serde_json::to_vec(manifest).map_err(|e| SandboxError::Protocol(e.to_string()))?;
    // A custom section may follow the last one; appending keeps every byte
    // wizer wrote where it was.
    use wasm_encoder::Section;
    wasm_encoder::CustomSection { name: SECTION.into(), data: json.into() }.append_to(&mut bytes);
    Ok(bytes)
}

impl Manifest {
    /// The manifest of a module built from `script`, whose meta is `meta`.
    pub fn new(script: &Script, meta: Value) -> Manifest {
        Manifest {
            format: FORMAT,
            odw_version: env!("CARGO_PKG_VERSION").into(),
            file: script.display_name(),
            script_hash: script.hash.clone(),
            meta,
            source: script.source.clone(),
        }
    }
}

impl WorkflowModule {
    /// Reads a module and its manifest.
    pub fn read(path: &Path) -> Result<WorkflowModule, ModuleError> {
        let bytes =
            std::fs::read(path).map_err(|source| ModuleError::Io { path: path.to_path_buf(), source })?;
        let format = |message: String| ModuleError::Format { path: path.to_path_buf(), message };
        let section = custom_section(&bytes, SECTION)
            .map_err(|e| format(format!("not a valid WebAssembly module: {e}")))?
            .ok_or_else(|| format(format!("not a workflow module: it has no `{SECTION}` section")))?;
        let manifest: Manifest = serde_json::from_slice(section)
            .map_err(|e| format(format!("the `{SECTION}` section is not a manifest odw can read: {e}")))?;
        if manifest.format != FORMAT {
            return Err(format(format!(
                "built by odw {} in module format {}; this odw {} reads format {FORMAT}: rebuild it with `odw build`",
                manifest.odw_version,
                manifest.format,
                env!("CARGO_PKG_VERSION"),
            )));
        }
        Ok(WorkflowModule { path: path.to_path_buf(), bytes, manifest })
    }

    /// The script the module was built from, loaded as the loader loads a
    /// file (positions name the original file).
    pub fn script(&self) -> Result<Script, LoadError> {
        Script::parse(Path::new(&self.manifest.file), self.manifest.source.clone())
    }

    /// The module's imports as `module::name`, read from the module itself.
    pub fn imports(&self) -> Result<Vec<String>, ModuleError> {
        imports(&self.bytes)
            .map_err(|e| ModuleError::Format { path: self.path.clone(), message: e.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_section_is_found_after_the_module() {
        let mut bytes = crate::sandbox::GUEST_WASM.to_vec();
        let guest_imports = imports(&bytes).unwrap().len();
        assert_eq!(custom_section(&bytes, SECTION).unwrap(), None);
        use wasm_encoder::Section;
        wasm_encoder::CustomSection { name: SECTION.into(), data: b"{}".as_slice().into() }
            .append_to(&mut bytes);
        assert_eq!(custom_section(&bytes, SECTION).unwrap(), Some(b"{}".as_slice()));
        assert_eq!(imports(&bytes).unwrap().len(), guest_imports, "still a valid module");
    }

    #[test]
    fn a_module_is_told_from_a_script_by_its_first_bytes() {
        let dir = tempfile::tempdir().unwrap();
        // Named against type on purpose: the extension does not decide.
        let (module, script) = (dir.path().join("wf.js"), dir.path().join("wf.wasm"));
        std::fs::write(&module, b"\0asm\x01\0\0\0").unwrap();
        std::fs::write(&script, "export const meta = {};").unwrap();
        assert!(is_module(&module));
        assert!(!is_module(&script));
        assert!(!is_module(&dir.path().join("missing.wasm")));
    }
}
