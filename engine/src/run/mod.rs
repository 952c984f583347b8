//! One workflow run, start to end.
//!
//! [`prepare`] does what must happen before the command returns: load the
//! script (a host-side scan; nothing is evaluated on the host), evaluate its
//! meta in the sandbox, make the run directory and write `meta.json`, which
//! holds everything needed to run it. [`execute`] then runs it — in the same
//! process with `--wait`, or in a detached worker that reads `meta.json` back
//! ([`Prepared::load`]). [`check`] replays a recorded run with no agents.

mod check;
mod meta;

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use odw_journal::{Finished, Journal, Started};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use crate::adapters;
use crate::config::Config;
use crate::loader::{self, LoadError, Script};
use crate::module::{self, ModuleError, WorkflowModule};
use crate::progress::Progress;
use crate::protocol::{Activation, Outcome, ScriptError};
use crate::replay::{Mode, Plan, ReuseRule, ReuseSummary};
use crate::runs::{AgentCounts, RunDir, RunState};
use crate::sandbox::{Boot, Compiled, FindWorkflow, GuestIo, Preset, Sandbox, SandboxError, WorkflowRef};
use crate::scheduler::{Control, RunContext, Scheduler, Setup, now_ms};

pub use check::{CheckReport, check};
pub use meta::{Meta, evaluate_alone, read_meta};

/// The journal's directory inside a run directory.
pub const JOURNAL_DIR: &str = "journal";

/// What to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub script: PathBuf,
    /// The workflow's `args` (`Value::Null` when none were given).
    pub args: Value,
    /// `--adapter`: overrides `defaultAdapter`.
    pub adapter: Option<String>,
    /// `--budget`: total tokens, or none.
    pub budget: Option<u64>,
    /// `--runs-root`: overrides `runsRoot`.
    pub runs_root: Option<PathBuf>,
    /// Where agents work: the current directory.
    pub workspace: PathBuf,
    /// `--resume-from`: a run whose recorded calls may be reused.
    pub resume_from: Option<String>,
    /// `--reuse`: what may be reused after the first changed call.
    pub reuse: ReuseRule,
    /// The configuration file in use, so a worker reads the same one.
    pub config_path: Option<PathBuf>,
}

/// `meta.json`: what ran, and everything a worker needs to run it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunMeta {
    pub run_id: String,
    pub workflow: String,
    pub description: String,
    pub meta: Value,
    pub script: PathBuf,
    pub script_hash: String,
    pub args: Value,
    /// The adapter for calls that name none.
    pub adapter: String,
    /// `--adapter` was given: `adapter` serves every call, even those that
    /// name another one.
    #[serde(default)]
    pub adapter_forced: bool,
    pub budget: Option<u64>,
    pub workspace: PathBuf,
    pub config: Option<PathBuf>,
    pub seed: [u32; 2],
    pub clock: f64,
    pub resumed_from: Option<String>,
    pub reuse: String,
    pub created_at: String,
    pub odw_version: String,
}

/// A run whose directory exists and that is ready to execute.
#[derive(Clone)]
pub struct Prepared {
    pub run: RunDir,
    pub meta: RunMeta,
    pub workflow: Workflow,
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

impl Start {
    /// How the run started, as its `run_started` event says: `compiled`
    /// (from source), `cached` (from the compile cache) or `module`.
    fn origin(&self) -> &'static str {
        match self {
            Start::Source { .. } => "compiled",
            Start::Preset { cached: true, .. } => "cached",
            Start::Preset { cached: false, .. } | Start::Module(_) => "module",
        }
    }
}

impl Workflow {
    /// Loads a script, or a workflow module (told apart by its first bytes).
    /// A script already in the compile cache starts from its module.
    pub fn load(sandbox: &Sandbox, path: &Path) -> Result<Workflow, RunError> {
        if module::is_module(path) {
            return Workflow::from_module(sandbox, WorkflowModule::read(path)?);
        }
        let script = Script::read(path)?;
        let Some(cached) = sandbox.cache_dir().map(|dir| module::cache::path(dir, &script)) else {
            return Ok(Workflow { script, start: Start::Source { cache: None }, recorded_meta: None });
        };
        // Anything wrong with a cache entry only costs a compile.
        if let Ok(hit) = WorkflowModule::read(&cached)
            && hit.manifest.source == script.source
            && let Ok(workflow) = Workflow::from_module(sandbox, hit)
            && let Start::Preset { preset, .. } = workflow.start
        {
            let start = Start::Preset { preset, cached: true };
            return Ok(Workflow { script, start, ..workflow });
        }
        Ok(Workflow { script, start: Start::Source { cache: Some(cached) }, recorded_meta: None })
    }

    fn from_module(sandbox: &Sandbox, built: WorkflowModule) -> Result<Workflow, RunError> {
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

    /// The workflow's `meta`: as a module recorded it, else evaluated.
    pub async fn meta(&self, sandbox: &Sandbox, config: &Config) -> Result<Meta, RunError> {
        match &self.recorded_meta {
            Some(raw) => Meta::check(&self.script.display_name(), raw.clone()),
            None => read_meta(sandbox, config, &self.script).await,
        }
    }

    /// Evaluates `activation` in a fresh instance of this workflow. A
    /// script compiled now is stored in the compile cache, by a task that
    /// must be awaited before the process ends.
    async fn run(
        &self,
        sandbox: &Sandbox,
        meta: &Value,
        activation: &Activation,
        limits: crate::sandbox::SandboxLimits,
        io: GuestIo,
    ) -> (Result<Outcome, SandboxError>, Option<tokio::task::JoinHandle<()>>) {
        let boot = match &self.start {
            Start::Source { cache: None } => Boot::Source,
            Start::Preset { preset, .. } => Boot::Preset(preset),
            Start::Module(module) => Boot::Module(module),
            Start::Source { cache: Some(path) } => {
                let (image, captured) = tokio::sync::oneshot::channel();
                let manifest = module::Manifest::new(&self.script, meta.clone());
                let path = path.clone();
                let saving = tokio::spawn(async move {
                    let Ok(image) = captured.await else { return };
                    // A cache that cannot be written only costs the next run a compile.
                    let _ = tokio::task::spawn_blocking(move || {
                        let bytes = module::assemble(image, &manifest).ok()?;
                        module::cache::store(&path, &bytes).ok()
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

/// How a run ended.
#[derive(Debug)]
pub struct RunReport {
    pub run: RunDir,
    pub state: RunState,
    pub result: Result<Value, ScriptError>,
    pub agents: AgentCounts,
    pub elapsed_ms: u64,
    /// When resuming: what was reused.
    pub reuse: Option<ReuseSummary>,
    /// When checking: the first call the journal could not serve.
    pub divergence: Option<crate::replay::Divergence>,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("{path}: {message}")]
    Meta { path: String, message: String },
    #[error(transparent)]
    Adapter(#[from] adapters::ChoiceError),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error(transparent)]
    Module(#[from] ModuleError),
    #[error("{0}")]
    Journal(#[from] odw_journal::JournalError),
    #[error("no run `{id}` under {}", root.display())]
    UnknownRun { id: String, root: PathBuf },
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> RunError {
    let context = context.into();
    move |source| RunError::Io { context, source }
}

/// Picks the adapter for calls that name none: `--adapter`, `defaultAdapter`,
/// the only configured adapter, the only agent CLI on PATH, else the built-in
/// `echo` (the rules and their reasons are in [`adapters::select_default`]).
pub fn default_adapter(
    config: &Config,
    flag: Option<&str>,
) -> Result<adapters::Selected, adapters::ChoiceError> {
    adapters::select_default(config, flag)
}

/// Loads the script, evaluates meta and makes the run directory.
pub async fn prepare(sandbox: &Sandbox, config: &Config, opts: RunOptions) -> Result<Prepared, RunError> {
    let workflow = Workflow::load(sandbox, &opts.script)?;
    let script = &workflow.script;
    let selected = default_adapter(config, opts.adapter.as_deref())?;
    let meta = workflow.meta(sandbox, config).await?;
    let root = opts.runs_root.clone().unwrap_or_else(|| config.runs_root());

    // A resumed run replays the recorded clock and seed, so the script sees
    // the same `Date.now()` and `Math.random()` values.
    let (seed, clock) = match &opts.resume_from {
        Some(id) => {
            let old = RunDir::find(&root, id)
                .ok_or_else(|| RunError::UnknownRun { id: id.clone(), root: root.clone() })?;
            // From meta.json: `execute` opens the journal itself, and sled
            // holds its lock for a while after a handle is dropped.
            if !old.path.join(JOURNAL_DIR).is_dir() {
                return Err(RunError::Journal(odw_journal::JournalError::NotAJournal {
                    path: old.path.join(JOURNAL_DIR),
                }));
            }
            let recorded = RunMeta::read(&old)?;
            (recorded.seed, recorded.clock)
        }
        None => (new_seed(), now_ms()),
    };
    let run = RunDir::create(&root, &meta.name)
        .map_err(io(format!("cannot create a run directory in {}", root.display())))?;
    let record = RunMeta {
        run_id: run.id.clone(),
        workflow: meta.name.clone(),
        description: meta.description.clone(),
        meta: meta.raw.clone(),
        script: absolute(&opts.script),
        script_hash: script.hash.clone(),
        args: opts.args.clone(),
        adapter: selected.name,
        adapter_forced: selected.forced,
        budget: opts.budget,
        workspace: opts.workspace.clone(),
        config: opts.config_path.as_deref().map(absolute),
        seed,
        clock,
        resumed_from: opts.resume_from.clone(),
        reuse: match opts.reuse {
            ReuseRule::Prefix => "prefix".into(),
            ReuseRule::Content => "content".into(),
        },
        created_at: crate::runs::timestamp(),
        odw_version: env!("CARGO_PKG_VERSION").into(),
    };
    run.write_json("meta.json", &record).map_err(io("cannot write meta.json"))?;
    let status = crate::runs::Status::new(&run.id, &meta.name, RunState::Pending, 0);
    run.write_json("status.json", &status).map_err(io("cannot write status.json"))?;
    Ok(Prepared { run, meta: record, workflow })
}

impl RunMeta {
    /// Reads `meta.json` of a run.
    pub fn read(run: &RunDir) -> Result<RunMeta, RunError> {
        let path = run.path.join("meta.json");
        let text = std::fs::read(&path).map_err(io(format!("cannot read {}", path.display())))?;
        serde_json::from_slice(&text).map_err(|e| RunError::Io {
            context: format!("{} is not the meta.json of this version of odw", path.display()),
            source: std::io::Error::other(e),
        })
    }
}

impl Prepared {
    /// Reads a prepared run back from its directory (in the worker).
    pub fn load(sandbox: &Sandbox, run_path: &Path) -> Result<Prepared, RunError> {
        let id = run_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let run = RunDir { id, path: run_path.to_path_buf() };
        let meta = RunMeta::read(&run)?;
        let workflow = Workflow::load(sandbox, &meta.script)?;
        Ok(Prepared { run, meta, workflow })
    }
}

/// What `execute` needs besides the prepared run.
pub struct Controls {
    /// Pause and resume.
    pub control: watch::Receiver<Control>,
    /// Resolves when the run must stop.
    pub stop: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl Default for Controls {
    fn default() -> Self {
        // Nobody holds the sender: the run is never paused.
        let (_, control) = watch::channel(Control::default());
        Controls { control, stop: None }
    }
}

/// Runs a prepared workflow to its end.
pub async fn execute(
    sandbox: &Sandbox,
    config: &Config,
    prepared: Prepared,
    controls: Controls,
) -> Result<RunReport, RunError> {
    let Prepared { run, meta, workflow } = prepared;
    let root = run.path.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_default();
    let plan = match &meta.resumed_from {
        Some(id) => {
            let old = RunDir::find(&root, id)
                .ok_or_else(|| RunError::UnknownRun { id: id.clone(), root: root.clone() })?;
            let rule = if meta.reuse == "content" { ReuseRule::Content } else { ReuseRule::Prefix };
            Some(Plan::load(&Journal::open(&old.path.join(JOURNAL_DIR))?, Mode::Resume(rule))?)
        }
        None => None,
    };
    let started = Started {
        version: odw_journal::FORMAT_VERSION,
        seed: meta.seed,
        clock: meta.clock,
        script_hash: workflow.script.hash.clone(),
        args_hash: blake3::hash(odw_journal::canonical_json(&meta.args).as_bytes()).to_hex().to_string(),
        resumed_from: meta.resumed_from.clone(),
        odw_version: env!("CARGO_PKG_VERSION").into(),
        context: serde_json::to_value(&meta).unwrap_or(Value::Null),
    };
    let journal = Arc::new(Journal::create(&run.path.join(JOURNAL_DIR), started)?);
    let session = Session { sandbox, config, run, meta, workflow, journal: Some(journal), plan };
    session.drive(controls).await
}

/// One evaluation of a workflow body with its scheduler.
struct Session<'a> {
    sandbox: &'a Sandbox,
    config: &'a Config,
    run: RunDir,
    meta: RunMeta,
    workflow: Workflow,
    journal: Option<Arc<Journal>>,
    plan: Option<Plan>,
}

impl Session<'_> {
    async fn drive(self, controls: Controls) -> Result<RunReport, RunError> {
        let Session { sandbox, config, run, meta, workflow, journal, plan } = self;
        let script = &workflow.script;
        let begun = Instant::now();
        let progress =
            Arc::new(Progress::new(run.clone(), &meta.workflow).map_err(io("cannot start the event log"))?);
        progress.event(
            "run_started",
            json!({
                "runId": run.id, "workflow": meta.workflow, "args": meta.args, "adapter": meta.adapter,
                "phases": meta.meta.get("phases"), "resumedFrom": meta.resumed_from,
                "start": workflow.start.origin(),
            }),
        );
        let resuming = plan.is_some();
        let pauses = tokio::spawn({
            let progress = progress.clone();
            let mut control = controls.control.clone();
            async move {
                while control.changed().await.is_ok() {
                    let paused = control.borrow_and_update().paused;
                    progress.paused(paused);
                }
            }
        });
        let scheduler = Arc::new(Scheduler::new(
            config.clone(),
            Setup {
                run: RunContext {
                    default_adapter: meta.adapter.clone(),
                    adapter_forced: meta.adapter_forced,
                    workspace: meta.workspace.clone(),
                    run_path: run.path.clone(),
                    progress: progress.clone(),
                    journal: journal.clone(),
                },
                plan,
                control: controls.control,
            },
        ));
        let (to_host, from_guest) = mpsc::unbounded_channel();
        let (to_guest, completions) = mpsc::unbounded_channel();
        let serving = tokio::spawn(scheduler.clone().serve(from_guest, to_guest));
        let flusher = tokio::spawn({
            let progress = progress.clone();
            async move {
                let mut tick = tokio::time::interval(crate::progress::STATUS_INTERVAL);
                loop {
                    tick.tick().await;
                    progress.flush();
                }
            }
        });
        let activation = Activation {
            source: script.body.clone(),
            filename: script.display_name(),
            line_one_shift: script.line_one_shift,
            args: meta.args.clone(),
            seed: meta.seed,
            clock: meta.clock,
            budget: meta.budget,
        };
        let workflows = Arc::new(Nested {
            config: config.clone(),
            workspace: meta.workspace.clone(),
            base: meta.script.parent().map(Path::to_path_buf).unwrap_or_default(),
        });
        let guest_io = GuestIo { to_host, completions, workflows: Some(workflows) };
        let guest = workflow.run(sandbox, &meta.meta, &activation, config.sandbox_limits(), guest_io);
        let (outcome, saving) = match controls.stop {
            Some(stop) => tokio::select! {
                (outcome, saving) = guest => (Some(outcome), saving),
                _ = stop => (None, None),
            },
            None => {
                let (outcome, saving) = guest.await;
                (Some(outcome), saving)
            }
        };
        // The guest is gone; the scheduler cancels what is still running
        // (killing each agent's process group).
        let _ = serving.await;
        flusher.abort();
        pauses.abort();

        let (state, result) = match outcome {
            None => (RunState::Stopped, Err(script_error("Stopped", "the run was stopped".into()))),
            Some(outcome) => {
                let result = conclude(script, outcome);
                (if result.is_ok() { RunState::Done } else { RunState::Failed }, result)
            }
        };
        let elapsed_ms = begun.elapsed().as_millis() as u64;
        let agents = progress.status().agents;
        if let Some(journal) = &journal {
            let finished = match &result {
                Ok(value) => Finished { ok: true, result: value.clone() },
                Err(e) => Finished { ok: false, result: json!(e) },
            };
            journal.finish(&finished)?;
        }
        match (&result, state) {
            (Ok(value), _) => {
                run.write_json_durable("result.json", &json!({ "value": value }))
                    .map_err(io("cannot write result.json"))?;
                progress.finish(state, "run_finished", json!({ "ms": elapsed_ms, "agents": agents }));
            }
            (Err(error), RunState::Stopped) => {
                run.write_json_durable("error.json", &json!({ "error": error }))
                    .map_err(io("cannot write error.json"))?;
                progress.finish(state, "run_stopped", json!({ "ms": elapsed_ms, "agents": agents }));
            }
            (Err(error), _) => {
                run.write_json_durable("error.json", &json!({ "error": error }))
                    .map_err(io("cannot write error.json"))?;
                progress.finish(state, "run_failed", json!({ "ms": elapsed_ms, "error": error }));
            }
        }
        if let Some(saving) = saving {
            let _ = saving.await;
        }
        let reuse = scheduler.reuse_summary().filter(|_| resuming);
        let divergence = scheduler.divergence();
        Ok(RunReport { run, state, result, agents, elapsed_ms, reuse, divergence })
    }
}

/// Where `workflow(ref)` may look: saved workflows by name, and `.js`
/// files relative to the calling script.
struct Nested {
    config: Config,
    workspace: PathBuf,
    base: PathBuf,
}

impl FindWorkflow for Nested {
    fn find(&self, reference: &WorkflowRef) -> Result<(String, String), String> {
        let path = match reference {
            WorkflowRef::Name(name) => crate::library::find(&self.config, &self.workspace, name)
                .map(|saved| saved.path)
                .ok_or_else(|| format!("no saved workflow named `{name}`"))?,
            WorkflowRef::ScriptPath(p) if !p.ends_with(".js") => {
                return Err(format!("`{p}` is not a .js workflow file"));
            }
            // A script may reach workflows beside it or below it, not the
            // rest of the disk.
            WorkflowRef::ScriptPath(p)
                if Path::new(p)
                    .components()
                    .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir)) =>
            {
                return Err(format!("`{p}` must be a relative path below the calling script's folder"));
            }
            WorkflowRef::ScriptPath(p) => self.base.join(p),
        };
        // Only the fact that the file cannot be read is reported, never its
        // contents: a reference must not become a way to read files.
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Ok((path.display().to_string(), text))
    }
}

/// The script's value, or the error it ended with, positions in the file.
#[allow(clippy::result_large_err)] // built once per run, never on a hot path
fn conclude(script: &Script, outcome: Result<Outcome, SandboxError>) -> Result<Value, ScriptError> {
    match outcome {
        Ok(Outcome { ok: true, value, .. }) => Ok(value.unwrap_or(Value::Null)),
        Ok(Outcome { error: Some(mut error), .. }) => {
            loader::refine_syntax_location(&script.source, &mut error);
            Err(error)
        }
        Ok(Outcome { error: None, .. }) => {
            Err(script_error("Error", "the workflow failed without an error".into()))
        }
        Err(SandboxError::Limit(hit)) => Err(ScriptError {
            limit: hit.key().map(str::to_string),
            fatal: true,
            ..script_error("LimitError", hit.to_string())
        }),
        Err(other) => Err(script_error("InternalError", other.to_string())),
    }
}

fn script_error(name: &str, message: String) -> ScriptError {
    ScriptError { name: name.into(), message, stack: None, location: None, fatal: false, limit: None }
}

/// Recreates a run directory from a journal export (`odw journal import`):
/// the journal, and `meta.json` from the run record the journal carries.
pub fn import(root: &Path, input: impl std::io::BufRead) -> Result<RunDir, RunError> {
    let scratch = tempfile::tempdir_in(root_parent(root)).map_err(io("cannot make a scratch directory"))?;
    let staged = scratch.path().join(JOURNAL_DIR);
    let journal = Journal::import(&staged, input)?;
    let meta: RunMeta =
        serde_json::from_value(journal.started().context.clone()).map_err(|e| RunError::Io {
            context: "the export carries no odw run record".into(),
            source: std::io::Error::other(e),
        })?;
    drop(journal);
    let run = RunDir::create(root, &meta.workflow)
        .map_err(io(format!("cannot create a run directory in {}", root.display())))?;
    std::fs::rename(&staged, run.path.join(JOURNAL_DIR)).map_err(io("cannot move the imported journal"))?;
    let meta = RunMeta { run_id: run.id.clone(), ..meta };
    run.write_json("meta.json", &meta).map_err(io("cannot write meta.json"))?;
    let journal = Journal::open(&run.path.join(JOURNAL_DIR))?;
    let finished = journal.finished()?;
    let state = match &finished {
        Some(f) if f.ok => RunState::Done,
        Some(_) => RunState::Failed,
        None => RunState::Interrupted,
    };
    let status = crate::runs::Status::new(&run.id, &meta.workflow, state, 0);
    run.write_json("status.json", &status).map_err(io("cannot write status.json"))?;
    if let Some(f) = finished.filter(|f| f.ok) {
        run.write_json("result.json", &json!({ "value": f.result }))
            .map_err(io("cannot write result.json"))?;
    }
    Ok(run)
}

/// Where scratch space on the same filesystem as `root` can go.
fn root_parent(root: &Path) -> PathBuf {
    let _ = std::fs::create_dir_all(root);
    root.to_path_buf()
}

/// Runs a workflow to its end in this process (`odw run --wait`).
pub async fn run_workflow(
    sandbox: &Sandbox,
    config: &Config,
    opts: RunOptions,
) -> Result<RunReport, RunError> {
    let prepared = prepare(sandbox, config, opts).await?;
    execute(sandbox, config, prepared, Controls::default()).await
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// A fresh seed for `Math.random`, recorded in `meta.json` and the journal.
fn new_seed() -> [u32; 2] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&now_ms().to_le_bytes());
    hasher.update(&std::process::id().to_le_bytes());
    hasher.update(&(std::ptr::from_ref(&hasher) as usize).to_le_bytes());
    let bytes = hasher.finalize();
    let b = bytes.as_bytes();
    [u32::from_le_bytes([b[0], b[1], b[2], b[3]]), u32::from_le_bytes([b[4], b[5], b[6], b[7]])]
}
