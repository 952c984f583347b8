//! `odw pause|resume|stop`: ask a background run, through its control file.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use odw_engine::ControlRequest;

use super::find_run;
use crate::cli::{Global, RunRef};
use crate::report::Exit;

/// How long `odw stop` waits for the run to confirm it stopped.
const STOP_WAIT: Duration = Duration::from_secs(5);

pub fn send(global: &Global, r: &RunRef, request: ControlRequest) -> anyhow::Result<ExitCode> {
    let run = find_run(global, &r.run)?;
    let status = run.status()?;
    if status.state.is_final() {
        eprintln!("odw: run {} has already ended ({})", run.id, status.state);
        return Ok(Exit::Failed.into());
    }
    let control = run.request(request)?;
    if request != ControlRequest::Stop {
        eprintln!("odw: run {} {}", run.id, if control.paused { "paused" } else { "resumed" });
        return Ok(Exit::Ok.into());
    }
    let asked = Instant::now();
    while asked.elapsed() < STOP_WAIT {
        if run.status()?.state.is_final() {
            eprintln!("odw: run {} stopped", run.id);
            return Ok(Exit::Ok.into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("odw: run {} did not confirm the stop within {}s", run.id, STOP_WAIT.as_secs());
    Ok(Exit::Failed.into())
}
