//! `kind: "slurm"`: each agent call is one `srun` job step.
//!
//! Why `srun` and not `sbatch --wait`: `srun` blocks like a local process,
//! forwards stdin (the prompt) and stdout (the reply) as they are, and exits
//! with the agent's status, so the call needs no file on the shared
//! filesystem beyond what a local call uses; `sbatch --wait` polls the
//! controller and added seconds to every call here.
//!
//! The job is named `odw-<run>-<index>-<attempt>` ([`super::CallTag::job_name`]).
//! `srun --verbose` prints the job id as soon as the controller grants it
//! (or says it is queued); odw reads it from srun's stderr, reports it in an
//! `agent_job` event and drops srun's own chatter from the error tail. A
//! timeout, a stopped run or a dropped call runs `scancel --me --name=<job>`,
//! which also reaches a job still waiting in the queue. When odw dies
//! without cleaning up, the guardian kills `srun`, which ends its step; a
//! resumed run cancels what is left of its predecessor's jobs
//! ([`cancel_run`]). While the run is paused, a job still waiting in the
//! queue is held (`scontrol hold`) and released on resume. When the job ends, `scontrol show job` gives its state,
//! node and times (`sacct` needs a SLURM database, which many clusters
//! have but this one need not).
//!
//! What runs is the adapter's own argv after the `srun` options, as
//! separate words: no shell reads it, except in `workspace: "clone"`, where
//! a fixed script (`clone.sh`) takes the argv as its positional parameters.

use std::time::Duration;

use serde_json::{Map, Value};

use super::{Launch, Ran, interrupted, process};
use crate::adapters::workspace;
use crate::adapters::{AdapterError, AgentCall};
use crate::config::{ExecutorConfig, Placement};
use crate::rundir::AgentJob;

/// The script a `workspace: "clone"` job runs around the agent.
const CLONE_SCRIPT: &str = include_str!("clone.sh");

#[derive(Debug, Clone)]
pub struct Slurm {
    config: ExecutorConfig,
}

impl Slurm {
    pub fn new(config: ExecutorConfig) -> Slurm {
        Slurm { config }
    }

    pub fn clones(&self) -> bool {
        self.config.workspace == Some(Placement::Clone)
    }

    /// The `srun` command line for `launch` (the repository shown as
    /// `<repo>` when it cannot be found, for `odw adapters`).
    pub fn argv(&self, launch: &Launch, call: &AgentCall) -> Vec<String> {
        self.command(launch, call)
            .unwrap_or_else(|_| self.srun(launch, call, Some(("<repo>".into(), ".".into()))))
    }

    fn command(&self, launch: &Launch, call: &AgentCall) -> Result<Vec<String>, String> {
        let clone = if self.clones() {
            let repo = workspace::repo_root(&call.source)
                .map_err(|e| format!("`workspace: \"clone\"` clones the project's git repository: {e}"))?;
            let cwd = launch.cwd.canonicalize().unwrap_or_else(|_| launch.cwd.clone());
            let sub = cwd.strip_prefix(&repo).map(|p| p.display().to_string()).unwrap_or_default();
            Some((repo.display().to_string(), if sub.is_empty() { ".".into() } else { sub }))
        } else {
            None
        };
        Ok(self.srun(launch, call, clone))
    }

    fn srun(&self, launch: &Launch, call: &AgentCall, clone: Option<(String, String)>) -> Vec<String> {
        let r = self.config.resources_for(call.role.as_deref());
        let mut argv: Vec<String> = vec![
            "srun".into(),
            // Prints the job id on stderr at once (see the module docs).
            "--verbose".into(),
            format!("--job-name={}", call.job.job_name()),
            "--ntasks=1".into(),
            format!("--cpus-per-task={}", r.cpus.unwrap_or(1)),
            format!("--time={}", r.time.unwrap_or_else(|| minutes(call.timeout))),
        ];
        if let Some(p) = r.partition {
            argv.push(format!("--partition={p}"));
        }
        if let Some(m) = r.memory {
            argv.push(format!("--mem={m}"));
        }
        // A clone is made under the node's $TMPDIR; the project's path
        // need not exist there.
        let chdir = if clone.is_some() { "/tmp".into() } else { launch.cwd.display().to_string() };
        argv.push(format!("--chdir={chdir}"));
        argv.extend(self.config.args.iter().cloned());
        argv.push("--".into());
        if let Some((repo, sub)) = clone {
            argv.extend(["sh".into(), "-c".into(), CLONE_SCRIPT.into(), "odw-clone".into(), repo, sub]);
            argv.push(call.job.patch_file.display().to_string());
        }
        argv.extend(launch.argv.iter().cloned());
        argv
    }

    pub async fn run(&self, adapter: &str, launch: Launch, call: &AgentCall) -> Result<Ran, AdapterError> {
        let argv = self
            .command(&launch, call)
            .map_err(|reason| AdapterError::Io { adapter: adapter.to_string(), reason })?;
        let name = call.job.job_name();
        // srun runs where odw is; the job's directory is `--chdir`.
        let cwd = if launch.cwd.is_dir() { launch.cwd.clone() } else { std::path::PathBuf::from("/") };
        let srun = Launch { argv, cwd, ..launch };
        let mut guard = Cancel { name: name.clone(), armed: true };
        // The job id and whether the job waits in the queue, as srun's
        // stderr tells them: shared by the reader (which finds them) and the
        // pause follower (which holds the job only while it is queued).
        let found: std::sync::Mutex<(Option<String>, bool)> = std::sync::Mutex::new((None, false));
        let id = || found.lock().ok().and_then(|f| f.0.clone());
        let queued = || found.lock().is_ok_and(|f| f.1);
        let tag = &call.job;
        let job = |state: &str, id: Option<String>, accounting: Option<Value>| AgentJob {
            index: tag.index,
            attempt: tag.attempt,
            executor: "slurm".into(),
            name: name.clone(),
            job: id,
            state: state.into(),
            accounting,
        };
        let running = process::run(&srun, call.timeout, |line| {
            if let Ok(mut known) = found.lock() {
                if let Some(new) = job_id(line)
                    && known.0.is_none()
                {
                    known.0 = Some(new.clone());
                    tag.report(job("submitted", Some(new), None));
                }
                if line.ends_with("queued and waiting for resources") {
                    known.1 = true;
                } else if line.ends_with("has been allocated resources") || line.starts_with("srun: jobid ") {
                    known.1 = false;
                }
            }
            !srun_chatter(line)
        });
        let result = tokio::select! {
            result = running => result,
            never = follow_pause(tag, &id, &queued, &job) => match never {},
        };
        let id = id();
        match result {
            Ok(ran) => {
                guard.armed = false;
                let accounting = match &id {
                    Some(id) => show_job(id).await,
                    None => None,
                };
                let state = accounting
                    .as_ref()
                    .and_then(|a| a.get("state"))
                    .and_then(Value::as_str)
                    .unwrap_or(if ran.failure.is_some() { "FAILED" } else { "COMPLETED" })
                    .to_string();
                tag.report(job(&state, id, accounting));
                Ok(ran)
            }
            Err(e) => {
                guard.armed = false;
                cancel(&name).await;
                tag.report(job("CANCELLED", id.clone(), None));
                Err(interrupted(
                    adapter,
                    call,
                    e,
                    Some(id.map_or(name.clone(), |id| format!("{id} ({name})"))),
                ))
            }
        }
    }
}

/// Holds the job while the run is paused and it still waits in SLURM's
/// queue (`scontrol hold`), and releases it when the run resumes: a pause
/// means no agent starts, and a queued job is an agent not yet started. A
/// job already running is left to finish, as a local agent is. Never ends;
/// the call's own end drops it.
async fn follow_pause(
    tag: &super::CallTag,
    id: &impl Fn() -> Option<String>,
    queued: &impl Fn() -> bool,
    job: &impl Fn(&str, Option<String>, Option<Value>) -> AgentJob,
) -> std::convert::Infallible {
    let Some(control) = &tag.control else { return std::future::pending().await };
    // Whether odw holds the job, and whether this pause already tried.
    let (mut held, mut tried) = (false, false);
    loop {
        tokio::time::sleep(PAUSE_POLL).await;
        let paused = control.borrow().paused;
        let Some(id) = id() else { continue };
        if paused && !held && !tried && queued() {
            tried = true;
            if scontrol(&["hold", &id]).await {
                held = true;
                tag.report(job("held", Some(id), None));
            }
        } else if !paused {
            tried = false;
            if held && scontrol(&["release", &id]).await {
                held = false;
                tag.report(job("released", Some(id), None));
            }
        }
    }
}

/// How often a queued call looks at the run's pause state.
const PAUSE_POLL: Duration = Duration::from_millis(200);

/// Runs `scontrol ARGS`; whether it succeeded.
async fn scontrol(args: &[&str]) -> bool {
    tokio::process::Command::new("scontrol")
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

/// A time limit for `--time` from odw's timeout: whole minutes, rounded up,
/// plus one, so odw's own timeout fires first and says why.
fn minutes(timeout: Duration) -> String {
    (timeout.as_secs().div_ceil(60) + 1).to_string()
}

/// The job id in a line of `srun --verbose`'s stderr, if it names one:
/// `srun: jobid 12: nodes(1):…` once granted, `srun: job 12 queued and
/// waiting for resources` while pending.
fn job_id(line: &str) -> Option<String> {
    let rest = line.strip_prefix("srun: jobid ").or_else(|| line.strip_prefix("srun: job "))?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (!digits.is_empty()).then_some(digits)
}

/// Whether a stderr line is srun's own progress report rather than the
/// agent's output or an error worth showing.
fn srun_chatter(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("srun: ") else { return false };
    let lower = rest.to_ascii_lowercase();
    !["error", "fatal", "warning", "cancelled", "terminated", "aborted", "killed"]
        .iter()
        .any(|w| lower.contains(w))
}

/// Cancels job `name` of this user when dropped while armed: a call that is
/// dropped midway (a stopped run) leaves no job behind.
struct Cancel {
    name: String,
    armed: bool,
}

impl Drop for Cancel {
    fn drop(&mut self) {
        if self.armed {
            // Synchronous: a drop cannot await, and scancel returns at once.
            let _ = std::process::Command::new("scancel")
                .args(["--me", &format!("--name={}", self.name)])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

async fn cancel(name: &str) {
    let _ = tokio::process::Command::new("scancel")
        .args(["--me", &format!("--name={name}")])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await;
}

/// Cancels every job of run `run` still queued or running (a resumed run
/// calls this for the run it resumes, whose worker may have died); the
/// names of the jobs cancelled.
pub async fn cancel_run(run: &str) -> Vec<String> {
    let prefix = super::job_prefix(run);
    let Ok(out) = tokio::process::Command::new("squeue")
        .args(["--me", "--noheader", "--format=%i %j"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .await
    else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let mut cancelled = Vec::new();
    for (id, name) in text.lines().filter_map(|l| l.trim().split_once(' ')) {
        if name.starts_with(&prefix) {
            let _ = tokio::process::Command::new("scancel")
                .arg(id)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .await;
            cancelled.push(format!("{id} ({name})"));
        }
    }
    cancelled
}

/// The accounting of a finished job, from `scontrol show job`. Right after
/// its step ends a job is still `COMPLETING` for a moment (slurmd reports
/// the end); its final state is waited for, up to [`SETTLE`].
async fn show_job(id: &str) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let out = tokio::process::Command::new("scontrol")
            .args(["show", "job", "--oneliner", id])
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .await
            .ok()?;
        if !out.status.success() {
            return None;
        }
        let fields = accounting(&String::from_utf8_lossy(&out.stdout));
        let settled = !matches!(fields.get("state").and_then(Value::as_str), Some("COMPLETING" | "RUNNING"));
        if settled || tokio::time::Instant::now() >= deadline {
            return Some(fields);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How long a finished job's final state is waited for.
const SETTLE: Duration = Duration::from_secs(3);

/// The fields of `scontrol show job --oneliner` that say how a job went.
fn accounting(line: &str) -> Value {
    let fields: Map<String, Value> = line
        .split_whitespace()
        .filter_map(|pair| pair.split_once('='))
        .filter_map(|(key, value)| {
            let shown = match key {
                "JobId" => "jobId",
                "JobState" => "state",
                "ExitCode" => "exitCode",
                "NodeList" => "node",
                "Partition" => "partition",
                "NumCPUs" => "cpus",
                "RunTime" => "runTime",
                "SubmitTime" => "submitTime",
                "StartTime" => "startTime",
                "EndTime" => "endTime",
                _ => return None,
            };
            Some((shown.to_string(), Value::String(value.to_string())))
        })
        .collect();
    Value::Object(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::executor::CallTag;
    use crate::config::ExecutorSetting;
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    fn slurm(json: &str) -> Slurm {
        let setting: ExecutorSetting = serde_json::from_str(json).unwrap();
        Slurm::new(setting.config().clone())
    }

    fn call(role: Option<&str>) -> AgentCall {
        AgentCall {
            prompt: "p".into(),
            model: None,
            role: role.map(str::to_string),
            effort: None,
            schema: None,
            workspace: PathBuf::from("/shared/project"),
            source: PathBuf::from("/shared/project"),
            prompt_file: PathBuf::from("/shared/runs/r/prompts/3-1.txt"),
            timeout: Duration::from_secs(600),
            job: CallTag { run: "20250101-120000-abc123".into(), index: 3, attempt: 1, ..CallTag::default() },
        }
    }

    fn launch() -> Launch {
        Launch {
            argv: vec!["claude".into(), "-p".into()],
            stdin: Some("p".into()),
            env: BTreeMap::new(),
            cwd: PathBuf::from("/shared/project"),
        }
    }

    #[test]
    fn the_step_asks_for_the_configured_resources_then_runs_the_agent_argv() {
        let s = slurm(
            r#"{"kind": "slurm", "partition": "cpu", "memory": "2G", "args": ["--account=ml"],
                "byAgentType": {"builder": {"cpus": 8, "time": "2:00:00", "partition": "big"}}}"#,
        );
        assert_eq!(
            s.argv(&launch(), &call(None)),
            [
                "srun",
                "--verbose",
                "--job-name=odw-20250101-120000-abc123-3-1",
                "--ntasks=1",
                "--cpus-per-task=1",
                "--time=11",
                "--partition=cpu",
                "--mem=2G",
                "--chdir=/shared/project",
                "--account=ml",
                "--",
                "claude",
                "-p"
            ]
        );
        let builder = s.argv(&launch(), &call(Some("builder")));
        assert!(builder.contains(&"--cpus-per-task=8".to_string()), "{builder:?}");
        assert!(builder.contains(&"--time=2:00:00".to_string()), "{builder:?}");
        assert!(builder.contains(&"--partition=big".to_string()), "{builder:?}");
    }

    #[test]
    fn reads_the_job_id_and_drops_srun_chatter() {
        assert_eq!(job_id("srun: jobid 12: nodes(1):`vm', cpu counts: 1(x1)").as_deref(), Some("12"));
        assert_eq!(job_id("srun: job 13 queued and waiting for resources").as_deref(), Some("13"));
        assert_eq!(job_id("srun: job-name            : x"), None);
        assert_eq!(job_id("agent says srun: jobid 1"), None);
        assert!(srun_chatter("srun: launching StepId=4.0 on host vm, 1 tasks: 0"));
        assert!(!srun_chatter("srun: error: vm: task 0: Exited with exit code 3"));
        assert!(!srun_chatter("the agent's own line"));
    }

    #[test]
    fn accounting_keeps_the_fields_that_say_how_a_job_went() {
        let line = "JobId=9 JobName=x UserId=root(0) JobState=COMPLETED Reason=None ExitCode=0:0 \
                    RunTime=00:00:01 SubmitTime=2026-12-02T13:03:43 StartTime=2026-12-02T13:03:43 \
                    EndTime=2026-12-02T13:03:44 Partition=odw NodeList=vm NumCPUs=1 Command=true";
        let a = accounting(line);
        assert_eq!(a["jobId"], "9");
        assert_eq!(a["state"], "COMPLETED");
        assert_eq!(a["node"], "vm");
        assert_eq!(a["runTime"], "00:00:01");
        assert!(a.get("Command").is_none() && a.get("command").is_none());
    }
}
