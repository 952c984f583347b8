//! Executors: where a command adapter's process runs.
//!
//! The orchestration — the sandboxed script, the scheduler, the journal,
//! the run directory, resume and replay — always stays in the odw process;
//! an executor moves only each agent's process. A command adapter works out
//! what it would run on this machine (a [`Launch`]: argv from its flag
//! templates, the prompt on stdin or in a file, its environment and working
//! directory) and the executor turns that into what actually runs:
//!
//! - `local`: the process itself, in its own process group ([`process`]).
//! - `slurm`: one `srun` job step per call ([`slurm`]): stdin and stdout
//!   pass through `srun`, its exit is the agent's, a timeout or a stopped
//!   run cancels the job with `scancel`.
//! - `kubernetes`: one Job per call, rendered from a manifest template,
//!   submitted, watched, read and deleted through `kubectl`
//!   ([`kubernetes`]).
//!
//! The agent's stdout then goes through the adapter's reply parsing as
//! today, so flag templates and output formats need no change to run on a
//! cluster. Cluster jobs are reported as `agent_job` events in the run's
//! `events.jsonl`: the job id when it is submitted, its state and
//! accounting when it ends.
//!
//! Attack surface. odw runs `srun`, `scancel`, `squeue`, `scontrol` or
//! `kubectl` from PATH, as the user running odw, only for an adapter whose
//! configuration names that executor. What reaches their command lines is
//! the configuration's (checked in `config/executor.rs`: one word each,
//! never an option), odw's own job names (run id, index, attempt), and the
//! adapter's argv as separate words after `--` — which a script shapes no
//! more than it does locally (model, effort and agentType are checked as
//! data). The prompt goes on stdin, in the run directory, or inside the
//! JSON manifest, never on a scheduler's command line. A script's
//! `agentType` can only pick among the `byAgentType` resources the
//! configuration lists.

mod kubernetes;
pub mod process;
mod slurm;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use crate::config::{ExecutorConfig, ExecutorKind, ExecutorSetting};
pub use process::{Launch, MAX_REPLY_BYTES, Ran};

use super::{AdapterError, AgentCall};
use crate::rundir::{AgentJob, Control};

/// Where one command adapter's processes run.
#[derive(Debug, Clone)]
pub enum Executor {
    Local,
    Slurm(Box<slurm::Slurm>),
    Kubernetes(Box<kubernetes::Kubernetes>),
}

/// Which call of which run a process serves: names its job, and reports it.
#[derive(Clone, Default)]
pub struct CallTag {
    /// The run's id (`20250101-120000-abc123`).
    pub run: String,
    pub index: u32,
    pub attempt: u32,
    /// Where a cloned workspace's patch goes (`patches/<index>.patch`).
    pub patch_file: PathBuf,
    /// Where `agent_job` events go.
    pub report: Option<Arc<dyn Fn(AgentJob) + Send + Sync>>,
    /// The run's pause state: a job still waiting in a cluster's queue is
    /// held while the run is paused.
    pub control: Option<tokio::sync::watch::Receiver<Control>>,
}

impl std::fmt::Debug for CallTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallTag")
            .field("run", &self.run)
            .field("index", &self.index)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

impl CallTag {
    /// The job name of this call: `odw-<run>-<index>-<attempt>`, unique per
    /// attempt, a valid Kubernetes name, and found again by its run's
    /// prefix ([`job_prefix`]) when a resumed run cleans up.
    pub fn job_name(&self) -> String {
        format!("{}{}-{}", job_prefix(&self.run), self.index, self.attempt)
    }

    fn report(&self, job: AgentJob) {
        if let Some(report) = &self.report {
            report(job);
        }
    }
}

/// The start of every job name of run `run`.
pub fn job_prefix(run: &str) -> String {
    let run: String =
        run.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    format!("odw-{run}-")
}

impl Executor {
    pub fn new(setting: Option<&ExecutorSetting>) -> Executor {
        let Some(config) = setting.map(ExecutorSetting::config) else { return Executor::Local };
        match config.kind {
            ExecutorKind::Local => Executor::Local,
            ExecutorKind::Slurm => Executor::Slurm(Box::new(slurm::Slurm::new(config.clone()))),
            ExecutorKind::Kubernetes => {
                Executor::Kubernetes(Box::new(kubernetes::Kubernetes::new(config.clone())))
            }
        }
    }

    pub fn kind(&self) -> ExecutorKind {
        match self {
            Executor::Local => ExecutorKind::Local,
            Executor::Slurm(_) => ExecutorKind::Slurm,
            Executor::Kubernetes(_) => ExecutorKind::Kubernetes,
        }
    }

    /// Whether each call works in a clone of its own, so odw makes no
    /// worktree for it (`workspace: "clone"`).
    pub fn clones(&self) -> bool {
        matches!(self, Executor::Slurm(s) if s.clones())
    }

    /// Where the call's files are, as the agent's process sees them: a
    /// Kubernetes pod reads them from its ConfigMap's mount, so the command
    /// line names that path instead of the run directory's.
    pub fn files_dir(&self) -> Option<&'static Path> {
        match self {
            Executor::Kubernetes(_) => Some(Path::new(kubernetes::FILES_DIR)),
            _ => None,
        }
    }

    /// Runs `launch` for `call`. `files` are the prompt and schema files the
    /// command line refers to, written where the process reads them.
    pub async fn run(
        &self,
        adapter: &str,
        launch: Launch,
        files: Vec<(PathBuf, String)>,
        call: &AgentCall,
    ) -> Result<Ran, AdapterError> {
        match self {
            Executor::Local => {
                write_files(adapter, &files)?;
                process::run(&launch, call.timeout, |_| true)
                    .await
                    .map_err(|e| interrupted(adapter, call, e, None))
            }
            Executor::Slurm(s) => {
                write_files(adapter, &files)?;
                s.run(adapter, launch, call).await
            }
            Executor::Kubernetes(k) => k.run(adapter, launch, files, call).await,
        }
    }

    /// What one call runs, as a line a person can read (for a local call,
    /// paste into a shell).
    pub fn describe(&self, launch: &Launch, call: &AgentCall) -> String {
        match self {
            Executor::Local => {
                let line = quoted(&launch.argv);
                if launch.stdin.is_some() { format!("{line} < prompt") } else { line }
            }
            Executor::Slurm(s) => {
                let line = quoted(&s.argv(launch, call));
                if launch.stdin.is_some() { format!("{line} < prompt") } else { line }
            }
            Executor::Kubernetes(k) => k.describe(launch, call),
        }
    }
}

/// Cancels the cluster jobs that run `run` left queued or running (its
/// worker died before it could), on every scheduler an adapter of
/// `config` uses; one line per job, for the resumed run's log.
pub async fn cancel_run(config: &crate::config::Config, run: &str) -> Vec<String> {
    let kinds: Vec<&ExecutorConfig> =
        config.adapters.values().filter_map(|a| a.executor.as_ref()).map(ExecutorSetting::config).collect();
    let mut lines = Vec::new();
    if kinds.iter().any(|c| c.kind == ExecutorKind::Slurm) {
        for job in slurm::cancel_run(run).await {
            lines.push(format!("odw: cancelled SLURM job {job}, left running by run {run}"));
        }
    }
    let mut namespaces: Vec<Option<String>> =
        kinds.iter().filter(|c| c.kind == ExecutorKind::Kubernetes).map(|c| c.namespace.clone()).collect();
    namespaces.dedup();
    for namespace in namespaces {
        lines.extend(kubernetes::delete_run(run, namespace.as_deref()).await);
    }
    lines
}

fn write_files(adapter: &str, files: &[(PathBuf, String)]) -> Result<(), AdapterError> {
    for (path, text) in files {
        let written =
            path.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|()| std::fs::write(path, text));
        written.map_err(|e| AdapterError::Io {
            adapter: adapter.to_string(),
            reason: format!("cannot write {}: {e}", path.display()),
        })?;
    }
    Ok(())
}

/// The adapter error for a process that did not run to its end; `job` names
/// the cluster job that was cancelled with it.
fn interrupted(
    adapter: &str,
    call: &AgentCall,
    e: process::Interrupted,
    job: Option<String>,
) -> AdapterError {
    match e {
        process::Interrupted::Spawn { program, reason } => {
            AdapterError::Spawn { adapter: adapter.to_string(), program, reason }
        }
        process::Interrupted::TimedOut => AdapterError::Timeout {
            adapter: adapter.to_string(),
            secs: call.timeout.as_secs_f64(),
            killed: true,
            job,
        },
        process::Interrupted::Io(reason) => AdapterError::Io { adapter: adapter.to_string(), reason },
    }
}

/// An argv as one shell line.
fn quoted(argv: &[String]) -> String {
    argv.iter().map(|a| super::shell_quote(a)).collect::<Vec<_>>().join(" ")
}
