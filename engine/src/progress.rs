//! A run's progress as others see it: `events.jsonl` and `status.json`.
//!
//! Every change goes through [`Progress`], which appends the event and
//! updates the status in one place, so the two never disagree. Events are
//! appended at once; `status.json` is a snapshot, rewritten at most every
//! [`STATUS_INTERVAL`] while agents come and go (a 200-agent fan-out would
//! otherwise spend more time renaming status files than spawning agents)
//! and always at the end of the run.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::protocol::Usage;
use crate::runs::{EventLog, RunDir, RunState, Status, timestamp};

/// The event log and status of one run.
#[derive(Debug)]
pub struct Progress {
    run: RunDir,
    events: EventLog,
    status: Mutex<Snapshot>,
}

/// How stale `status.json` may be while a run is busy.
pub const STATUS_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Debug)]
struct Snapshot {
    status: Status,
    written: Option<Instant>,
    dirty: bool,
}

impl Progress {
    pub fn new(run: RunDir, workflow: &str) -> std::io::Result<Progress> {
        let events = run.events()?;
        let status = Status::new(&run.id, workflow, RunState::Running, std::process::id());
        let snapshot = Snapshot { status, written: None, dirty: true };
        let progress = Progress { run, events, status: Mutex::new(snapshot) };
        progress.update(|_| {});
        Ok(progress)
    }

    pub fn run(&self) -> &RunDir {
        &self.run
    }

    /// Appends an event without changing the status.
    pub fn event(&self, kind: &str, fields: Value) {
        self.events.append(kind, fields);
    }

    pub fn phase(&self, title: &str) {
        self.events.append("phase_started", json!({ "title": title }));
        self.update(|s| s.phase = Some(title.to_string()));
    }

    pub fn agent_started(&self, fields: Value) {
        self.events.append("agent_started", fields);
        self.update(|s| {
            s.agents.dispatched += 1;
            s.agents.running += 1;
        });
    }

    pub fn agent_finished(&self, usage: &Usage, fields: Value) {
        self.events.append("agent_finished", fields);
        self.update(|s| {
            s.agents.running -= 1;
            s.agents.done += 1;
            s.tokens += usage.input + usage.output;
        });
    }

    pub fn agent_failed(&self, usage: &Usage, fields: Value) {
        self.events.append("agent_failed", fields);
        self.update(|s| {
            s.agents.running -= 1;
            s.agents.failed += 1;
            s.tokens += usage.input + usage.output;
        });
    }

    /// Records a pause or a resume.
    pub fn paused(&self, paused: bool) {
        self.events.append(if paused { "run_paused" } else { "run_resumed" }, json!({}));
        self.update(|s| s.state = if paused { RunState::Paused } else { RunState::Running });
        self.flush();
    }

    /// Records the end of the run: the final event and state.
    pub fn finish(&self, state: RunState, kind: &str, fields: Value) {
        self.events.append(kind, fields);
        self.update(|s| {
            s.state = state;
            s.agents.running = 0;
        });
        self.flush();
    }

    pub fn status(&self) -> Status {
        self.status.lock().unwrap_or_else(|p| p.into_inner()).status.clone()
    }

    /// Writes `status.json` now if it is behind.
    pub fn flush(&self) {
        let mut snap = self.status.lock().unwrap_or_else(|p| p.into_inner());
        if snap.dirty {
            self.write(&mut snap);
        }
    }

    fn update(&self, change: impl FnOnce(&mut Status)) {
        let mut snap = self.status.lock().unwrap_or_else(|p| p.into_inner());
        change(&mut snap.status);
        snap.status.updated_at = timestamp();
        snap.dirty = true;
        if snap.written.is_none_or(|at| at.elapsed() >= STATUS_INTERVAL) {
            self.write(&mut snap);
        }
    }

    fn write(&self, snap: &mut Snapshot) {
        if let Err(e) = self.run.write_json("status.json", &snap.status) {
            eprintln!("odw: cannot write {}: {e}", self.run.path.join("status.json").display());
        }
        snap.written = Some(Instant::now());
        snap.dirty = false;
    }
}
