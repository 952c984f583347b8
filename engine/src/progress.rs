//! A run's progress as others see it: `events.jsonl` and `status.json`.
//!
//! Every change goes through [`Progress`], which appends the event and
//! rewrites the status in one place, so the two never disagree.

use std::sync::Mutex;

use serde_json::{Value, json};

use crate::protocol::Usage;
use crate::runs::{AgentCounts, EventLog, RunDir, RunState, Status, timestamp};

/// The event log and status of one run.
#[derive(Debug)]
pub struct Progress {
    run: RunDir,
    events: EventLog,
    status: Mutex<Status>,
}

impl Progress {
    pub fn new(run: RunDir, workflow: &str) -> std::io::Result<Progress> {
        let events = run.events()?;
        let now = timestamp();
        let status = Status {
            run_id: run.id.clone(),
            workflow: workflow.to_string(),
            state: RunState::Running,
            phase: None,
            agents: AgentCounts::default(),
            tokens: 0,
            started_at: now.clone(),
            updated_at: now,
            pid: std::process::id(),
        };
        let progress = Progress { run, events, status: Mutex::new(status) };
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

    /// Records the end of the run: the final event and state.
    pub fn finish(&self, state: RunState, kind: &str, fields: Value) {
        self.events.append(kind, fields);
        self.update(|s| {
            s.state = state;
            s.agents.running = 0;
        });
    }

    pub fn status(&self) -> Status {
        self.status.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn update(&self, change: impl FnOnce(&mut Status)) {
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        change(&mut status);
        status.updated_at = timestamp();
        if let Err(e) = self.run.write_json("status.json", &*status) {
            eprintln!("odw: cannot write {}: {e}", self.run.path.join("status.json").display());
        }
    }
}
