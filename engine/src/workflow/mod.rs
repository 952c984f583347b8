//! A workflow, before and apart from any run: how its instance starts (from
//! source, the compile cache or a module), its `meta`, validating it,
//! building it into a module, finding saved workflows by name, and where
//! nested `workflow(ref)` calls may reach.
//!
//! Below `run` and above the sandbox: this module knows scripts and the
//! sandbox, and nothing of run directories, journals or adapters.

mod cache;
#[cfg(test)]
mod differential;
pub mod library;
mod meta;
mod module;
mod nested;
mod validate;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::config::Config;
use crate::loader::{self, LoadError, Script};
use crate::protocol::{Activation, Outcome};
use crate::rundir::StartOrigin;
use crate::sandbox::{Boot, Compiled, GuestIo, Preset, Sandbox, SandboxError, SandboxLimits};

pub use meta::{Meta, evaluate_alone, read_meta};
pub use module::{Manifest, ModuleError, WorkflowModule, build, built_here, is_module};
pub use nested::Nested;
pub use validate::{Problem, Validation, validate_file};

/// Why a workflow could not be loaded or its meta read.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("{path}: {message}")]
    Meta { path: String, message: String },
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error(transparent)]
    Module(#[from] ModuleError),
}

/// What a run evaluates: a script, and how its instance starts.
#[derive(Clone)]
pub struct Workflow {
    pub script: Script,
    start: Start,
    /// `meta` as a workflow module recorded it (modules and cache hits).
    recorded_meta: Option<Value>,
}

#[derive(Clone)]
enum Start {
    /// Compile the script; put the result in the compile cache at `cache`.
    Source { cache: Option<PathBuf> },
    /// From a module with the guest's code: `odw build`, or a cache hit.
    Preset { preset: Arc<Preset>, cached: bool },
    /// From a module compiled on its own.
    Module(Arc<Compiled>),
}

/// A compile-cache entry being written; await it before the process ends.
pub type CacheWrite = tokio::task::JoinHandle<()>;

impl Workflow {
    /// Loads a script, or a workflow module (told apart by its first bytes).
    /// A script already in the compile cache starts from its module.
    pub fn load(sandbox: &Sandbox, path: &Path) -> Result<Workflow, WorkflowError> {
        if is_module(path) {
            let module = WorkflowModule::read(path)?;
            if built_here(sandbox, &module.bytes) {
                return Workflow::from_module(sandbox, module);
            }
            // Not built by this odw: run the script the manifest carries.
            let script = module.script()?;
            return Workflow::from_source(sandbox, &script.path, script.source);
        }
        Workflow::from_source(sandbox, path, loader::read_source(path)?)
    }

    /// A script's text: from the compile cache when it holds it (not even
    /// parsed then: see `cache.rs`), else loaded and compiled.
    fn from_source(sandbox: &Sandbox, path: &Path, mut source: String) -> Result<Workflow, WorkflowError> {
        let Some(dir) = sandbox.cache_dir() else {
            let script = Script::parse(path, source)?;
            return Ok(Workflow { script, start: Start::Source { cache: None }, recorded_meta: None });
        };
        let hash = loader::source_hash(&source);
        let cached = cache::path(dir, path, &hash);
        if let Some(hit) = cache::read(&cached)
            && hit.manifest.source == source
            && hit.manifest.script_hash == hash
        {
            match Script::analysed(path, source, hit.meta_span, hash) {
                Ok(script) => {
                    let start = Start::Preset { preset: Arc::new(hit.preset), cached: true };
                    return Ok(Workflow { script, start, recorded_meta: Some(hit.manifest.meta) });
                }
                Err(text) => source = text,
            }
        }
        let script = Script::parse(path, source)?;
        Ok(Workflow { script, start: Start::Source { cache: Some(cached) }, recorded_meta: None })
    }

    fn from_module(sandbox: &Sandbox, built: WorkflowModule) -> Result<Workflow, WorkflowError> {
        let script = built.script()?;
        let invalid = |message: String| ModuleError::Format { path: built.path.clone(), message };
        if script.hash != built.manifest.script_hash {
            return Err(invalid("the manifest's script hash does not match its script".into()).into());
        }
        let recorded_meta = Some(built.manifest.meta);
        let bytes = Arc::new(built.bytes);
        let start = match Preset::of(bytes.clone()).map_err(invalid)? {
            Some(preset) => Start::Preset { preset: Arc::new(preset), cached: false },
            None => Start::Module(Arc::new(
                sandbox
                    .compile(&bytes)
                    .map_err(|source| ModuleError::Sandbox { path: built.path.clone(), source })?,
            )),
        };
        Ok(Workflow { script, start, recorded_meta })
    }

    /// How the instance starts, as the run's `run_started` event records it.
    pub fn origin(&self) -> StartOrigin {
        match self.start {
            Start::Source { .. } => StartOrigin::Compiled,
            Start::Preset { cached: true, .. } => StartOrigin::Cached,
            Start::Preset { cached: false, .. } | Start::Module(_) => StartOrigin::Module,
        }
    }

    /// The workflow's `meta`: as a module recorded it, else evaluated.
    pub async fn meta(&self, sandbox: &Sandbox, config: &Config) -> Result<Meta, WorkflowError> {
        match &self.recorded_meta {
            Some(raw) => Meta::check(&self.script.display_name(), raw.clone()),
            None => read_meta(sandbox, config, &self.script).await,
        }
    }

    /// Evaluates `activation` in a fresh instance of this workflow. A
    /// script compiled now is stored in the compile cache, by a task that
    /// must be awaited before the process ends.
    pub async fn evaluate(
        &self,
        sandbox: &Sandbox,
        meta: &Value,
        activation: &Activation,
        limits: SandboxLimits,
        io: GuestIo,
    ) -> (Result<Outcome, SandboxError>, Option<CacheWrite>) {
        let boot = match &self.start {
            Start::Source { cache: None } => Boot::Source,
            Start::Preset { preset, .. } => Boot::Preset(preset),
            Start::Module(module) => Boot::Module(module),
            Start::Source { cache: Some(path) } => {
                let (image, captured) = tokio::sync::oneshot::channel();
                let manifest = Manifest::new(&self.script, meta.clone());
                let meta_span = self.script.meta_span;
                let path = path.clone();
                let saving = tokio::spawn(async move {
                    let Ok(image) = captured.await else { return };
                    // A cache that cannot be written only costs the next run a compile.
                    let _ = tokio::task::spawn_blocking(move || {
                        let preset = Preset::of_image(&image).ok()?;
                        cache::store(&path, &cache::encode(&manifest, meta_span, &preset).ok()?).ok()
                    })
                    .await;
                });
                let compile = self.script.compile_activation();
                let outcome = sandbox
                    .evaluate(Boot::Compile { compile: &compile, image }, activation, limits, io)
                    .await;
                return (outcome, Some(saving));
            }
        };
        (sandbox.evaluate(boot, activation, limits, io).await, None)
    }
}
