//! `odw pause|resume|stop`: write `control.json`, which the worker watches.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::find_run;
use super::inspect::current_status;
use super::run::{read_control, state_name};
use crate::cli::{Global, RunRef};
use crate::report::exit;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Pause,
    Resume,
    Stop,
}

/// How long `odw stop` waits for the run to confirm it stopped.
const STOP_WAIT: Duration = Duration::from_secs(5);

pub fn send(global: &Global, r: &RunRef, action: Action) -> anyhow::Result<ExitCode> {
    let run = find_run(global, &r.run)?;
    let status = current_status(&run)?;
    if status.state.is_final() {
        eprintln!("odw: run {} has already ended ({})", run.id, state_name(status.state));
        return Ok(ExitCode::from(exit::FAILED));
    }
    let path = run.path.join("control.json");
    let mut control = read_control(&path).unwrap_or_default();
    match action {
        Action::Pause => control.paused = true,
        Action::Resume => control.paused = false,
        Action::Stop => control.stop = true,
    }
    run.write_json("control.json", &control)?;
    if action != Action::Stop {
        eprintln!("odw: run {} {}", run.id, if control.paused { "paused" } else { "resumed" });
        return Ok(ExitCode::from(exit::OK));
    }
    let asked = Instant::now();
    while asked.elapsed() < STOP_WAIT {
        if current_status(&run)?.state.is_final() {
            eprintln!("odw: run {} stopped", run.id);
            return Ok(ExitCode::from(exit::OK));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("odw: run {} did not confirm the stop within {}s", run.id, STOP_WAIT.as_secs());
    Ok(ExitCode::from(exit::FAILED))
}
