//! `odw run` and the detached worker it starts.
//!
//! `odw run wf.js` prepares the run (loads the script, evaluates meta, makes
//! the run directory), starts `odw worker <run-dir>` in a new session with
//! its output in `worker.log`, prints the run id and returns: the run
//! survives the terminal. `--wait` runs it in this process instead and prints
//! the result; `--wait --timeout` uses a worker and stops waiting (not the
//! run) when the time is up.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use tokio::sync::{oneshot, watch};

use odw_engine::config::Config;
use odw_engine::library;
use odw_engine::replay::ReuseRule;
use odw_engine::run::{Controls, Prepared, RunOptions, RunReport, execute, prepare};
use odw_engine::runs::{RunDir, RunState, Status};
use odw_engine::scheduler::Control;

use super::{config, parse_args, runs_root, sandbox};
use crate::cli::{Global, Reuse, RunArgs};
use crate::report::{self, exit};

/// How often a waiting `odw run` or a worker looks at the run's files.
const POLL: Duration = Duration::from_millis(50);

pub async fn run(global: &Global, args: RunArgs) -> anyhow::Result<ExitCode> {
    let workflow_args = match parse_args(args.args.as_deref()) {
        Ok(v) => v,
        Err(message) => return Ok(report::usage(&message)),
    };
    let config = config(global)?;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let script = if library::is_name(&args.script) {
        library::find(&config, &cwd, &args.script).map(|s| s.path).with_context(|| {
            let dirs: Vec<String> =
                library::sources(&config, &cwd).iter().map(|s| s.dir.display().to_string()).collect();
            format!("no workflow file or saved workflow `{}` (looked in {})", args.script, dirs.join(", "))
        })?
    } else {
        PathBuf::from(&args.script)
    };
    let sandbox = sandbox()?;
    let opts = RunOptions {
        script,
        args: workflow_args,
        adapter: args.adapter,
        budget: args.budget,
        runs_root: Some(runs_root(global, &config)),
        workspace: cwd,
        resume_from: args.resume_from,
        reuse: match args.reuse {
            Reuse::Prefix => ReuseRule::Prefix,
            Reuse::Content => ReuseRule::Content,
        },
        config_path: config.path.clone(),
    };
    let prepared = prepare(&sandbox, &config, opts).await?;
    if (args.wait && args.timeout.is_none()) || args.foreground {
        return in_process(&sandbox, &config, prepared, args.wait).await;
    }
    let run = prepared.run.clone();
    spawn_worker(&run.path)?;
    if !args.wait {
        println!("{}", run.id);
        return Ok(ExitCode::from(exit::OK));
    }
    let deadline = args.timeout.map(|s| Instant::now() + Duration::from_secs_f64(s));
    loop {
        if let Some(state) = final_state(&run) {
            return Ok(print_outcome(&run, state));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            eprintln!("odw: still running after --timeout; follow it with `odw logs {} --follow`", run.id);
            println!("{}", run.id);
            return Ok(ExitCode::from(124));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Runs here and now; Ctrl-C stops the run cleanly (agents killed).
async fn in_process(
    sandbox: &odw_engine::sandbox::Sandbox,
    config: &Config,
    prepared: Prepared,
    wait: bool,
) -> anyhow::Result<ExitCode> {
    let (stop_tx, stop) = oneshot::channel();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = stop_tx.send(());
        }
    });
    let (_, control) = watch::channel(Control::default());
    let report = execute(sandbox, config, prepared, Controls { control, stop: Some(stop) }).await?;
    report::summary(&report);
    if let Some(reuse) = &report.reuse {
        report::reuse(reuse, report.agents.dispatched);
    }
    Ok(finish(&report, wait))
}

fn finish(report: &RunReport, wait: bool) -> ExitCode {
    match &report.result {
        Ok(value) if wait => {
            println!("{}", serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()));
            ExitCode::from(exit::OK)
        }
        Ok(_) => {
            println!("{}", report.run.id);
            ExitCode::from(exit::OK)
        }
        Err(e) => {
            report::script_error(e);
            if !wait {
                println!("{}", report.run.id);
            }
            ExitCode::from(exit::FAILED)
        }
    }
}

/// The state of a run if it has ended.
fn final_state(run: &RunDir) -> Option<RunState> {
    let status: odw_engine::runs::Status = serde_json::from_value(run.read_json("status.json")?).ok()?;
    status.state.is_final().then_some(status.state)
}

/// Prints a finished run's result (or error) and returns its exit code.
pub fn print_outcome(run: &RunDir, state: RunState) -> ExitCode {
    if state == RunState::Done {
        if let Some(result) = run.read_json("result.json") {
            println!("{}", serde_json::to_string_pretty(&result["value"]).unwrap_or_default());
            return ExitCode::from(exit::OK);
        }
    }
    match run.read_json("error.json").and_then(|e| serde_json::from_value(e["error"].clone()).ok()) {
        Some(error) => report::script_error(&error),
        None => eprintln!("odw: error: run {} ended {}", run.id, state_name(state)),
    }
    ExitCode::from(exit::FAILED)
}

pub fn state_name(state: RunState) -> String {
    serde_json::to_value(state).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// Starts `odw worker <run-dir>` in its own session, detached from this
/// terminal, with stdio in `worker.log`.
fn spawn_worker(run_dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(run_dir.join("worker.log"))
        .context("cannot create worker.log")?;
    let exe = std::env::current_exe().context("cannot find the odw executable")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("worker").arg(run_dir).stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
    // SAFETY: setsid is async-signal-safe and touches no memory of ours.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().context("cannot start the worker")?;
    Ok(())
}

/// The worker: runs a prepared run directory, obeying `control.json`.
pub async fn worker(run_dir: &Path) -> anyhow::Result<ExitCode> {
    let sandbox = sandbox()?;
    let prepared = Prepared::load(&sandbox, run_dir)?;
    let config = match &prepared.meta.config {
        Some(path) => Config::read(path)?,
        None => Config::default(),
    };
    if let Err(e) = std::env::set_current_dir(&prepared.meta.workspace) {
        report::warn(&format!("cannot enter {}: {e}", prepared.meta.workspace.display()));
    }
    let (control_tx, control) = watch::channel(Control::default());
    let (stop_tx, stop) = oneshot::channel();
    let control_file = run_dir.join("control.json");
    tokio::spawn(async move {
        let mut stop_tx = Some(stop_tx);
        loop {
            if let Some(c) = read_control(&control_file) {
                control_tx.send_if_modified(|cur| {
                    let changed = cur.paused != c.paused;
                    cur.paused = c.paused;
                    changed
                });
                if c.stop {
                    if let Some(tx) = stop_tx.take() {
                        let _ = tx.send(());
                    }
                }
            }
            tokio::time::sleep(POLL).await;
        }
    });
    let run = prepared.run.clone();
    let report = match execute(&sandbox, &config, prepared, Controls { control, stop: Some(stop) }).await {
        Ok(report) => report,
        Err(e) => {
            // The run could not start (a bad journal to resume from, …):
            // say so where `odw status` and `odw result` look.
            let error = json!({ "error": { "name": "RunError", "message": e.to_string() } });
            let _ = run.write_json_durable("error.json", &error);
            let mut status = Status::new(&run.id, &run.id, RunState::Failed, std::process::id());
            if let Some(s) =
                run.read_json("status.json").and_then(|s| serde_json::from_value::<Status>(s).ok())
            {
                status = Status { state: RunState::Failed, updated_at: odw_engine::runs::timestamp(), ..s };
            }
            let _ = run.write_json("status.json", &status);
            return Err(e.into());
        }
    };
    report::summary(&report);
    if let Some(reuse) = &report.reuse {
        report::reuse(reuse, report.agents.dispatched);
    }
    Ok(ExitCode::from(if report.state == RunState::Done { exit::OK } else { exit::FAILED }))
}

/// `control.json` as `odw pause|resume|stop` write it.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct ControlFile {
    #[serde(default)]
    pub paused: bool,
    #[serde(default)]
    pub stop: bool,
}

pub fn read_control(path: &Path) -> Option<ControlFile> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}
