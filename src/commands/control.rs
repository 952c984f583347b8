//! `odw pause|resume|stop`: ask a background run, through its control file.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use odw_engine::{ControlFile, ControlRequest, RunDir, RunDirError, RunState};

use super::find_run;
use crate::cli::{Global, RunRef};
use crate::report::Exit;

/// How long `odw stop` waits for the run to confirm it stopped.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// What asking a run did.
pub enum Asked {
    /// The request is in the control file; the worker acts on it shortly.
    Sent(ControlFile),
    /// The run had already ended: nothing was written.
    Ended(RunState),
}

/// Asks `run` to pause, resume or stop, through its control file: `odw
/// pause|resume|stop` and `odw serve`'s `POST /api/runs/:id/control`.
pub fn ask(run: &RunDir, request: ControlRequest) -> Result<Asked, RunDirError> {
    let status = run.status()?;
    if status.state.is_final() {
        return Ok(Asked::Ended(status.state));
    }
    Ok(Asked::Sent(run.request(request)?))
}

pub fn send(global: &Global, r: &RunRef, request: ControlRequest) -> anyhow::Result<ExitCode> {
    let run = find_run(global, &r.run)?;
    let control = match ask(&run, request)? {
        Asked::Sent(control) => control,
        Asked::Ended(state) => {
            eprintln!("odw: {}", ended(&run, state));
            return Ok(Exit::Failed.into());
        }
    };
    if request != ControlRequest::Stop {
        eprintln!("odw: run {} {}", run.id, if control.paused { "paused" } else { "resumed" });
        return Ok(Exit::Ok.into());
    }
    if confirm_stop(&run)? {
        eprintln!("odw: run {} stopped", run.id);
        return Ok(Exit::Ok.into());
    }
    eprintln!("odw: {}", unconfirmed_stop(&run));
    Ok(Exit::Failed.into())
}

/// The message for asking a run that has ended.
pub fn ended(run: &RunDir, state: RunState) -> String {
    format!("run {} has already ended ({state})", run.id)
}

/// The message for a stop the run did not confirm in time.
pub fn unconfirmed_stop(run: &RunDir) -> String {
    format!("run {} did not confirm the stop within {}s", run.id, STOP_WAIT.as_secs())
}

/// Waits (blocking, up to [`STOP_WAIT`]) for a run asked to stop to end;
/// whether it did: `odw stop` and `odw mcp`'s `stop`.
pub fn confirm_stop(run: &RunDir) -> Result<bool, RunDirError> {
    let asked = Instant::now();
    while asked.elapsed() < STOP_WAIT {
        if run.status()?.state.is_final() {
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(false)
}
