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

use odw_engine::run::{Recorded, execute, prepare};
use odw_engine::{
    Config, Controls, Prepared, ReuseRule, RunDir, RunOptions, RunReport, RunState, ScriptError, library,
};

use super::{config, parse_args, runs_root, sandbox};
use crate::cli::{Global, ProgressFlag, Reuse, RunArgs};
use crate::progress::{Follow, Mode};
use crate::report::{self, Exit, outln};

/// How often a waiting `odw run` looks at the run's status.
const POLL: Duration = Controls::POLL;

/// Starts reading the journal a resume that runs here reuses, from the
/// command line on: beside the async runtime's start, the configuration,
/// the sandbox's load and the workflow's preparation (see `Recorded`). It is
/// the longest step of a resume's start, and it began ~1 ms later once the
/// runtime was up and the script found. `None` for any other run, or when
/// the configuration cannot be read (`run` reports that).
pub fn read_recorded(global: &Global, args: &RunArgs) -> Option<Recorded> {
    let id = args.resume_from.as_ref().filter(|_| args.in_process())?;
    let root = match &global.runs_root {
        Some(root) => root.clone(),
        // Read again, with its warnings, by `run`.
        None => odw_engine::Config::discover(global.config.as_deref()).ok()?.runs_root(),
    };
    Some(Recorded::start(root, id.clone(), reuse_rule(args.reuse)))
}

/// `odw run`; `recorded` is what [`read_recorded`] started for it.
pub async fn run(global: &Global, args: RunArgs, recorded: Option<Recorded>) -> anyhow::Result<ExitCode> {
    let workflow_args = match parse_args(args.args.as_deref()) {
        Ok(v) => v,
        Err(message) => return Ok(report::usage(&message)),
    };
    let config = config(global)?;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let script = resolve_script(&config, &cwd, &args.script)?;
    let here = args.in_process();
    let sandbox = sandbox();
    let opts = RunOptions {
        script,
        args: workflow_args,
        adapter: args.adapter,
        budget: args.budget,
        runs_root: Some(runs_root(global, &config)),
        workspace: cwd,
        resume_from: args.resume_from,
        reuse: reuse_rule(args.reuse),
        config_path: config.path.clone(),
    };
    let progress =
        if args.wait { Mode::choose(args.progress == ProgressFlag::Plain, args.quiet) } else { Mode::Quiet };
    if here {
        let prepared = prepare(sandbox, &config, opts).await?.reading(recorded);
        let follow = Follow::start(&prepared.run, progress);
        return in_process(sandbox, &config, prepared, args.wait, follow).await;
    }
    // The worker outlives this process, which reaps nothing.
    let (run, _worker) = start_detached(sandbox, &config, opts).await?;
    if !args.wait {
        outln!("{}", run.id);
        return Ok(Exit::Ok.into());
    }
    let follow = Follow::start(&run, progress);
    let deadline = args.timeout.map(|s| Instant::now() + Duration::from_secs_f64(s));
    loop {
        if let Some(state) = run.status().ok().map(|s| s.state).filter(|s| s.is_final()) {
            if let Some(follow) = follow {
                follow.finish();
            }
            return print_outcome(&run, state);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            if let Some(follow) = follow {
                follow.finish();
            }
            eprintln!("odw: still running after --timeout; follow it with `odw logs {} --follow`", run.id);
            outln!("{}", run.id);
            return Ok(Exit::StillRunning.into());
        }
        tokio::time::sleep(POLL).await;
    }
}

fn reuse_rule(reuse: Reuse) -> ReuseRule {
    match reuse {
        Reuse::Prefix => ReuseRule::Prefix,
        Reuse::Content => ReuseRule::Content,
    }
}

/// What `odw run SCRIPT` runs: a saved workflow's file for a name (see
/// [`saved_workflow`]), else the path as given.
pub fn resolve_script(config: &Config, cwd: &Path, script: &str) -> anyhow::Result<PathBuf> {
    if library::is_name(script) { saved_workflow(config, cwd, script) } else { Ok(PathBuf::from(script)) }
}

/// The file of saved workflow `name` (see `odw workflows list`), or where
/// odw looked for it. A saved file wins over a built-in workflow of the same
/// name ([`crate::builtin`]), so a user can replace one by saving their own.
pub fn saved_workflow(config: &Config, cwd: &Path, name: &str) -> anyhow::Result<PathBuf> {
    if let Some(saved) = library::find(config, cwd, name) {
        return Ok(saved.path);
    }
    if let Some(builtin) = crate::builtin::find(name) {
        // The engine runs files: the built-in's text is stored by its hash,
        // like an inline script, and stays for replay and resume.
        return inline_script(builtin.source)
            .with_context(|| format!("cannot store the built-in workflow `{name}`"));
    }
    let dirs: Vec<String> =
        library::sources(config, cwd).iter().map(|s| s.dir.display().to_string()).collect();
    anyhow::bail!("no workflow file or saved workflow `{name}` (looked in {})", dirs.join(", "))
}

/// Stores a script that has no file of its own (`odw serve`'s and `odw
/// mcp`'s inline scripts, built-in workflows) as `<cache>/inline/<blake3>.js`
/// and returns its path. See [`inline_script_in`].
pub fn inline_script(source: &str) -> std::io::Result<PathBuf> {
    let dir = super::cache_dir().map(|c| c.join("inline"));
    inline_script_in(dir.as_deref(), source)
}

/// Stores `source` as `<dir>/<blake3>.js` (0600 in a 0700 directory). The
/// name comes from the content, so a client cannot choose where it is
/// written, and the file stays for `odw replay --check` and `--resume-from`
/// of the run.
pub fn inline_script_in(dir: Option<&Path>, source: &str) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let Some(dir) = dir else {
        return Err(std::io::Error::other("odw has no cache directory: set ODW_CACHE_DIR or HOME"));
    };
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let path = dir.join(format!("{}.js", blake3::hash(source.as_bytes()).to_hex()));
    if !path.is_file() {
        odw_engine::atomic_write(&path, source.as_bytes(), true)?;
    }
    Ok(path)
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
    prepared.mark_pending()?;
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
    let mut controls = Controls::follow(&prepared.run);
    controls.settled = follow.as_ref().map(Follow::reader);
    // `odw run` exits once the run has ended and been reported.
    controls.exits_with_run = true;
    let run = prepared.run.clone();
    let report = execute(sandbox, config, prepared, controls).await;
    if let Some(follow) = follow {
        follow.finish();
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

/// Why an ended run has no result.
pub enum Failure {
    /// The script's error, as recorded.
    Script(Box<ScriptError>),
    /// No error recorded (stopped, interrupted): how it ended.
    Unrecorded(String),
}

/// How a run ended: its result, or why it has none.
pub fn outcome(run: &RunDir, state: RunState) -> Result<serde_json::Value, Failure> {
    if state == RunState::Done
        && let Some(value) = run.read_result()
    {
        return Ok(value);
    }
    Err(match run.read_error() {
        Some(error) => Failure::Script(Box::new(error)),
        None => Failure::Unrecorded(format!("run {} ended {state}", run.id)),
    })
}

/// Prints a finished run's result (or error) and returns its exit code.
pub fn print_outcome(run: &RunDir, state: RunState) -> anyhow::Result<ExitCode> {
    match outcome(run, state) {
        Ok(value) => {
            outln!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
            return Ok(Exit::Ok.into());
        }
        Err(Failure::Script(error)) => report::script_error(&error),
        Err(Failure::Unrecorded(message)) => eprintln!("odw: error: {message}"),
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
    let sandbox = sandbox();
    let prepared = Prepared::load(sandbox, run_dir)?;
    let config = match &prepared.meta.config {
        Some(path) => Config::read(path)?,
        None => Config::default(),
    };
    if let Err(e) = std::env::set_current_dir(&prepared.meta.workspace) {
        report::warn(&format!("cannot enter {}: {e}", prepared.meta.workspace.display()));
    }
    // A run that cannot start is recorded as failed by the engine.
    // A worker is the process of one run: it exits when the run ends.
    let controls = Controls { exits_with_run: true, ..Controls::follow(&prepared.run) };
    let report = execute(sandbox, &config, prepared, controls).await?;
    report::summary(&report);
    if let Some(reuse) = &report.reuse {
        report::reuse(reuse, report.agents.dispatched);
    }
    Ok(Exit::ok_if(report.state == RunState::Done))
}
