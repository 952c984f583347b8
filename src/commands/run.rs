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

use odw_engine::run::{execute, prepare};
use odw_engine::{Config, Controls, Prepared, ReuseRule, RunDir, RunOptions, RunReport, RunState, library};

use super::{config, parse_args, runs_root, sandbox};
use crate::cli::{Global, ProgressFlag, Reuse, RunArgs};
use crate::progress::{Follow, Mode};
use crate::report::{self, Exit, outln};

/// How often a waiting `odw run` looks at the run's status.
const POLL: Duration = Controls::POLL;

pub async fn run(global: &Global, args: RunArgs) -> anyhow::Result<ExitCode> {
    let workflow_args = match parse_args(args.args.as_deref()) {
        Ok(v) => v,
        Err(message) => return Ok(report::usage(&message)),
    };
    let config = config(global)?;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let script = if library::is_name(&args.script) {
        saved_workflow(&config, &cwd, &args.script)?
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
    let progress =
        if args.wait { Mode::choose(args.progress == ProgressFlag::Plain, args.quiet) } else { Mode::Quiet };
    if (args.wait && args.timeout.is_none()) || args.foreground {
        let prepared = prepare(&sandbox, &config, opts).await?;
        let follow = Follow::start(&prepared.run, progress);
        return in_process(&sandbox, &config, prepared, args.wait, follow).await;
    }
    // The worker outlives this process, which reaps nothing.
    let (run, _worker) = start_detached(&sandbox, &config, opts).await?;
    if !args.wait {
        outln!("{}", run.id);
        return Ok(Exit::Ok.into());
    }
    let follow = Follow::start(&run, progress);
    let deadline = args.timeout.map(|s| Instant::now() + Duration::from_secs_f64(s));
    loop {
        if let Some(state) = run.status().ok().map(|s| s.state).filter(|s| s.is_final()) {
            if let Some(follow) = follow {
                follow.finish().await;
            }
            return print_outcome(&run, state);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            if let Some(follow) = follow {
                follow.finish().await;
            }
            eprintln!("odw: still running after --timeout; follow it with `odw logs {} --follow`", run.id);
            outln!("{}", run.id);
            return Ok(Exit::StillRunning.into());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The file of saved workflow `name` (see `odw workflows list`), or where
/// odw looked for it.
pub fn saved_workflow(config: &Config, cwd: &Path, name: &str) -> anyhow::Result<PathBuf> {
    library::find(config, cwd, name).map(|s| s.path).with_context(|| {
        let dirs: Vec<String> =
            library::sources(config, cwd).iter().map(|s| s.dir.display().to_string()).collect();
        format!("no workflow file or saved workflow `{name}` (looked in {})", dirs.join(", "))
    })
}

/// Prepares a run and hands it to a detached worker: the one way a run is
/// started in the background, by `odw run` and by `odw serve`'s `POST
/// /api/runs`. The caller that outlives the worker (the server) must wait
/// on the returned child so that it does not stay a zombie.
pub async fn start_detached(
    sandbox: &odw_engine::sandbox::Sandbox,
    config: &Config,
    opts: RunOptions,
) -> anyhow::Result<(RunDir, std::process::Child)> {
    let prepared = prepare(sandbox, config, opts).await?;
    let run = prepared.run.clone();
    let worker = spawn_worker(&run)?;
    Ok((run, worker))
}

/// Runs here and now.
async fn in_process(
    sandbox: &odw_engine::sandbox::Sandbox,
    config: &Config,
    prepared: Prepared,
    wait: bool,
    follow: Option<Follow>,
) -> anyhow::Result<ExitCode> {
    // Ctrl-C and SIGTERM stop the run cleanly (agents killed), and `odw
    // pause|resume|stop` from another terminal work as for a background run.
    let controls = Controls::follow(&prepared.run);
    let run = prepared.run.clone();
    let report = execute(sandbox, config, prepared, controls).await;
    if let Some(follow) = follow {
        follow.finish().await;
    }
    // The run directory exists: name it, so the run can be found and
    // resumed (`--resume-from`) once the cause is fixed.
    let report = report.inspect_err(|_| report::run_failed(&run))?;
    report::summary(&report);
    if let Some(reuse) = &report.reuse {
        report::reuse(reuse, report.agents.dispatched);
    }
    finish(&report, wait)
}

fn finish(report: &RunReport, wait: bool) -> anyhow::Result<ExitCode> {
    match &report.result {
        Ok(value) if wait => {
            outln!("{}", serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()));
            Ok(Exit::Ok.into())
        }
        Ok(_) => {
            outln!("{}", report.run.id);
            Ok(Exit::Ok.into())
        }
        Err(e) => {
            report::script_error(e);
            if !wait {
                outln!("{}", report.run.id);
            }
            Ok(Exit::Failed.into())
        }
    }
}

/// Prints a finished run's result (or error) and returns its exit code.
pub fn print_outcome(run: &RunDir, state: RunState) -> anyhow::Result<ExitCode> {
    if state == RunState::Done
        && let Some(value) = run.read_result()
    {
        outln!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
        return Ok(Exit::Ok.into());
    }
    match run.read_error() {
        Some(error) => report::script_error(&error),
        None => eprintln!("odw: error: run {} ended {state}", run.id),
    }
    Ok(Exit::Failed.into())
}

/// Starts `odw worker <run-dir>` in its own session, detached from this
/// terminal, with stdio in the run's worker log.
fn spawn_worker(run: &RunDir) -> anyhow::Result<std::process::Child> {
    let log = run.worker_log()?;
    let exe = std::env::current_exe().context("cannot find the odw executable")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("worker").arg(&run.path).stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
    // SAFETY: setsid is async-signal-safe and touches no memory of ours.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().context("cannot start the worker")
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
    // A run that cannot start is recorded as failed by the engine.
    let controls = Controls::follow(&prepared.run);
    let report = execute(&sandbox, &config, prepared, controls).await?;
    report::summary(&report);
    if let Some(reuse) = &report.reuse {
        report::reuse(reuse, report.agents.dispatched);
    }
    Ok(Exit::ok_if(report.state == RunState::Done))
}
