//! One workflow run, start to end.
//!
//! [`prepare`] does what must happen before the command returns: load the
//! workflow, evaluate its meta in the sandbox, make the run directory and
//! write `meta.json`, which holds everything needed to run it. [`execute`]
//! then runs it — in the same process with `--wait`, or in a detached worker
//! that reads `meta.json` back ([`Prepared::load`]) — as one [`session`]:
//! the guest and its scheduler. [`check`] replays a recorded run with no
//! agents; [`import`] recreates a run from a journal export.

mod check;
pub mod claude;
mod import;
mod recorded;
mod session;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use odw_journal::{Journal, Started};
use serde_json::Value;
use tokio::sync::{oneshot, watch};

use crate::adapters;
use crate::config::Config;
use crate::protocol::ScriptError;
use crate::replay::{Divergence, Plan, ReuseRule, ReuseSummary};
use crate::rundir::{AgentCounts, RunDir, RunDirError, RunMeta, RunState, Status, timestamp};
use crate::sandbox::Sandbox;
use crate::scheduler::{Control, now_ms};
use crate::workflow::{Workflow, WorkflowError};

pub use check::{CheckReport, check};
pub use import::import;
pub use recorded::Recorded;
use session::{Books, Session};

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

/// A run whose directory exists and that is ready to execute.
pub struct Prepared {
    pub run: RunDir,
    pub meta: RunMeta,
    pub workflow: Workflow,
    /// The resumed run's journal, if its reading has already begun
    /// ([`Prepared::reading`]); else [`execute`] reads it.
    recorded: Option<Recorded>,
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
    pub divergence: Option<Divergence>,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Workflow(#[from] WorkflowError),
    #[error(transparent)]
    Adapter(#[from] adapters::ChoiceError),
    #[error(transparent)]
    Journal(#[from] odw_journal::JournalError),
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    #[error("no run `{id}` under {}", root.display())]
    UnknownRun { id: String, root: PathBuf },
    #[error(
        "run `{id}` was imported from a journal export; its recorded script is a path on the exporter's \
         machine, so name the script to check with --script"
    )]
    ImportedScript { id: String },
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

impl From<crate::loader::LoadError> for RunError {
    fn from(e: crate::loader::LoadError) -> Self {
        RunError::Workflow(e.into())
    }
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> RunError {
    let context = context.into();
    move |source| RunError::Io { context, source }
}

/// Finds run `id` under `root`.
fn find(root: &Path, id: &str) -> Result<RunDir, RunError> {
    RunDir::find(root, id).ok_or_else(|| RunError::UnknownRun { id: id.into(), root: root.into() })
}

/// Loads the workflow, evaluates meta and makes the run directory with its
/// `meta.json`; its status is written by whatever runs it (see
/// [`Prepared::mark_pending`]).
pub async fn prepare(sandbox: &Sandbox, config: &Config, opts: RunOptions) -> Result<Prepared, RunError> {
    let workflow = Workflow::load(sandbox, &opts.script)?;
    let selected = adapters::select_default(config, opts.adapter.as_deref())?;
    let meta = workflow.meta(sandbox, config).await?;
    let root = opts.runs_root.clone().unwrap_or_else(|| config.runs_root());

    // A resumed run replays the recorded clock and seed, so the script sees
    // the same `Date.now()` and `Math.random()` values.
    let (seed, clock) = match &opts.resume_from {
        Some(id) => {
            let old = find(&root, id)?;
            // From meta.json: `execute` opens the journal itself, and sled
            // holds its lock for a while after a handle is dropped.
            if !old.journal_path().is_dir() {
                return Err(odw_journal::JournalError::NotAJournal { path: old.journal_path() }.into());
            }
            let recorded = old.read_meta()?;
            (recorded.seed, recorded.clock)
        }
        None => (new_seed(), now_ms()),
    };
    let run = RunDir::create(&root, &meta.name)?;
    let record = RunMeta {
        run_id: run.id.clone(),
        workflow: meta.name.clone(),
        description: meta.description.clone(),
        meta: meta.raw.clone(),
        script: absolute(&opts.script),
        script_hash: workflow.script.hash.clone(),
        args: opts.args.clone(),
        adapter: selected.name,
        adapter_forced: selected.forced,
        budget: opts.budget,
        workspace: opts.workspace.clone(),
        config: opts.config_path.as_deref().map(absolute),
        seed,
        clock,
        resumed_from: opts.resume_from.clone(),
        reuse: opts.reuse,
        created_at: timestamp(),
        odw_version: env!("CARGO_PKG_VERSION").into(),
        imported: false,
    };
    run.write_meta(&record)?;
    Ok(Prepared { run, meta: record, workflow, recorded: None })
}

impl Prepared {
    /// Marks the run `pending`, for a run handed to a worker: its status
    /// until the worker starts it. A run executed in this process gets its
    /// first status from its progress as it starts; a `pending` one written
    /// before was replaced within a millisecond, and replacing a file costs
    /// more than writing one (ext4 starts writing the new file's data).
    pub fn mark_pending(&self) -> Result<(), RunError> {
        let status = Status::new(&self.run.id, &self.meta.workflow, RunState::Pending, 0);
        Ok(self.run.write_status(&status)?)
    }

    /// Reads a prepared run back from its directory (in the worker).
    pub fn load(sandbox: &Sandbox, run_path: &Path) -> Result<Prepared, RunError> {
        let run = RunDir::at(run_path);
        let meta = run.read_meta()?;
        let workflow = Workflow::load(sandbox, &meta.script)?;
        Ok(Prepared { run, meta, workflow, recorded: None })
    }

    /// Serves the resume from `recorded`, whose reading began before this
    /// run was prepared (see [`Recorded`]); it must be the run this one
    /// resumes, read with its reuse rule.
    pub fn reading(self, recorded: Option<Recorded>) -> Prepared {
        Prepared { recorded, ..self }
    }
}

/// What `execute` obeys besides the prepared run.
pub struct Controls {
    /// Pause and resume.
    pub control: watch::Receiver<Control>,
    /// Resolves when the run must stop.
    pub stop: Option<oneshot::Receiver<()>>,
    /// Called once the guest is done and the scheduler has stopped: every
    /// event of the run but its end is written. A view that follows the run
    /// reads them then, while the end is recorded and the journal flushed
    /// and synced (a resume's thousand calls are 2000 events, ~1.4 ms to
    /// read), not after.
    pub settled: Option<Box<dyn FnOnce() + Send>>,
    /// The process ends when the run does (`odw run` and a background
    /// run's worker, not `odw serve`): the `fsync` of its journal's end is
    /// left to the guardian, which does it once the process is gone, so
    /// that the process's report and exit do not wait for the disk. The
    /// journal is flushed either way (it survives the process). The
    /// guest's instance is left to the exit too, not freed (see
    /// `GuestIo::ends_process`).
    pub exits_with_run: bool,
}

impl Default for Controls {
    fn default() -> Self {
        // Nobody holds the sender: the run is never paused.
        let (_, control) = watch::channel(Control::default());
        Controls { control, stop: None, settled: None, exits_with_run: false }
    }
}

impl Controls {
    /// How often a background run looks at its control file.
    pub const POLL: Duration = Duration::from_millis(50);

    /// Controls that follow the run's control file (`odw pause|resume|stop`
    /// write it), polled every [`Controls::POLL`] by a task that lives as
    /// long as the process. SIGTERM and SIGINT stop the run as `odw stop`
    /// does — agents killed, the end recorded — instead of orphaning them.
    pub fn follow(run: &RunDir) -> Controls {
        use tokio::signal::unix::{SignalKind, signal};
        let (control_tx, control) = watch::channel(Control::default());
        let (stop_tx, stop) = oneshot::channel();
        let run = run.clone();
        let mut terms = [SignalKind::terminate(), SignalKind::interrupt()].map(|kind| signal(kind).ok());
        tokio::spawn(async move {
            let mut stop_tx = Some(stop_tx);
            loop {
                let signalled = async {
                    let [term, int] = &mut terms;
                    tokio::select! {
                        Some(_) = async { term.as_mut()?.recv().await } => true,
                        Some(_) = async { int.as_mut()?.recv().await } => true,
                        () = tokio::time::sleep(Controls::POLL) => false,
                    }
                };
                if signalled.await
                    && let Some(tx) = stop_tx.take()
                {
                    let _ = tx.send(());
                }
                let asked = run.read_control();
                control_tx.send_if_modified(|current| {
                    let changed = current.paused != asked.paused;
                    current.paused = asked.paused;
                    changed
                });
                if asked.stop
                    && let Some(tx) = stop_tx.take()
                {
                    let _ = tx.send(());
                }
            }
        });
        Controls { control, stop: Some(stop), settled: None, exits_with_run: false }
    }
}

/// Runs a prepared workflow to its end. A run that cannot start (the run
/// it resumes from is gone, its journal cannot be made) is recorded as
/// failed in its directory, and the reason returned.
pub async fn execute(
    sandbox: &Sandbox,
    config: &Config,
    prepared: Prepared,
    controls: Controls,
) -> Result<RunReport, RunError> {
    open(sandbox, config, prepared).drive(controls).await
}

/// The session of a prepared run. Its books — the run's journal, and the
/// plan of what an earlier run's journal may serve — are opened on a
/// blocking thread while the guest starts: creating a sled database is the
/// largest fixed cost of a run, and no call is served before it is done. Its
/// flush is not waited for (see `Journal::begin`).
fn open<'a>(sandbox: &'a Sandbox, config: &'a Config, prepared: Prepared) -> Session<'a> {
    let Prepared { run, meta, workflow, recorded } = prepared;
    let root = run.path.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_default();
    let journal_path = run.journal_path();
    let started = started_record(&meta, &workflow);
    let (resumed_from, reuse) = (meta.resumed_from.clone(), meta.reuse);
    let (ready, opened) = oneshot::channel();
    let opening = tokio::task::spawn_blocking(move || {
        // The recorded journal comes back with the plan, to be closed once
        // the books are handed over: closing a sled database (its flusher
        // thread joined, its cache freed) held up every resume's first call
        // by 0.2-0.8 ms.
        let load_plan = || -> Result<Option<(Plan, Journal)>, RunError> {
            match &resumed_from {
                Some(id) => recorded::read(&root, id, reuse).map(Some),
                None => Ok(None),
            }
        };
        // Reading the old journal and making the new one are both mostly
        // sled opening a database (files, buffers, its threads): side by
        // side they cost a resume one of them instead of both.
        let create = || Journal::begin(&journal_path, started);
        let (plan, journal) = if let Some(recorded) = recorded {
            let journal = create();
            (recorded.join().map(Some), journal)
        } else if resumed_from.is_none() {
            (Ok(None), create())
        } else {
            std::thread::scope(|scope| {
                let plan = scope.spawn(load_plan);
                let journal = create();
                (plan.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)), journal)
            })
        };
        let (plan, recorded) = match plan {
            Ok(Some((plan, recorded))) => (Ok(Some(plan)), Some(recorded)),
            Ok(None) => (Ok(None), None),
            Err(e) => (Err(e), None),
        };
        let books = (|| Ok(Books { journal: Some(Arc::new(journal?)), plan: plan? }))();
        let journal = books.as_ref().ok().and_then(|books| books.journal.clone());
        let _ = ready.send(books);
        drop(recorded);
        // The calls are served from here on, while this thread hands the
        // journal's start to the OS (see `Journal::begin`). A flush that
        // fails fails the run's next one too (its first completion, or its
        // end), which reports it.
        if let Some(journal) = journal {
            let _ = journal.flush();
        }
    });
    let books = Box::pin(async move {
        match opened.await {
            Ok(books) => books,
            // The opener ended without a word: it panicked, and the panic
            // goes on unwinding here.
            Err(_) => joined(
                opening.await.map(|()| Err(cancelled("opening the journal", "no result"))),
                "opening the journal",
            ),
        }
    });
    Session { sandbox, config, run, meta, workflow, books, watched: true }
}

/// The result of a task of the run; its panic goes on unwinding here.
fn joined<T>(result: Result<Result<T, RunError>, tokio::task::JoinError>, task: &str) -> Result<T, RunError> {
    match result {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(cancelled(task, e)),
    }
}

/// The error of a task of the run that ended without its result.
fn cancelled(task: &str, why: impl std::fmt::Display) -> RunError {
    RunError::Io { context: format!("{task} was cancelled"), source: std::io::Error::other(why.to_string()) }
}

/// The first record of a run's journal.
fn started_record(meta: &RunMeta, workflow: &Workflow) -> Started {
    Started {
        version: odw_journal::FORMAT_VERSION,
        seed: meta.seed,
        clock: meta.clock,
        script_hash: workflow.script.hash.clone(),
        args_hash: blake3::hash(odw_journal::canonical_json(&meta.args).as_bytes()).to_hex().to_string(),
        resumed_from: meta.resumed_from.clone(),
        odw_version: env!("CARGO_PKG_VERSION").into(),
        context: serde_json::to_value(meta).unwrap_or(Value::Null),
    }
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
