//! `status.json`: a run's state, and the rule that tells a live run from one
//! whose worker died.

use serde::{Deserialize, Serialize};

use super::timestamp;

/// The run's state as `status.json` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub run_id: String,
    pub workflow: String,
    pub state: RunState,
    pub phase: Option<String>,
    pub agents: AgentCounts,
    pub tokens: u64,
    pub started_at: String,
    pub updated_at: String,
    /// The process that runs it (0 while nobody does yet).
    pub pid: u32,
}

impl Status {
    /// A status with no agents yet, started now.
    pub fn new(run_id: &str, workflow: &str, state: RunState, pid: u32) -> Status {
        let now = timestamp();
        Status {
            run_id: run_id.to_string(),
            workflow: workflow.to_string(),
            state,
            phase: None,
            agents: AgentCounts::default(),
            tokens: 0,
            started_at: now.clone(),
            updated_at: now,
            pid,
        }
    }

    /// The liveness rule: a run that has started (not `pending`), has not
    /// recorded an end, and whose process is gone was interrupted — killed,
    /// or its machine went down. Such a run stays resumable with
    /// `--resume-from`. Returns whether the state changed.
    pub fn detect_interruption(&mut self, alive: impl FnOnce(u32) -> bool) -> bool {
        if self.state.is_final() || self.state == RunState::Pending || alive(self.pid) {
            return false;
        }
        self.state = RunState::Interrupted;
        true
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// Made, not yet started (a run view before its first event).
    #[default]
    Pending,
    Running,
    Paused,
    Done,
    Failed,
    Stopped,
    /// The worker died without recording an end (killed, machine crashed).
    Interrupted,
}

impl RunState {
    /// Whether the run has ended.
    pub fn is_final(self) -> bool {
        matches!(self, RunState::Done | RunState::Failed | RunState::Stopped | RunState::Interrupted)
    }

    /// The state's name, as `status.json` writes it.
    pub fn name(self) -> &'static str {
        match self {
            RunState::Pending => "pending",
            RunState::Running => "running",
            RunState::Paused => "paused",
            RunState::Done => "done",
            RunState::Failed => "failed",
            RunState::Stopped => "stopped",
            RunState::Interrupted => "interrupted",
        }
    }
}

impl std::fmt::Display for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentCounts {
    pub dispatched: u64,
    pub running: u64,
    pub done: u64,
    pub failed: u64,
}

/// Whether process `pid` still runs. A zombie (dead, not yet reaped by
/// whoever inherited the orphaned worker) counts as dead.
pub fn process_alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    if pid == 0 || unsafe { libc::kill(pid as libc::pid_t, 0) } != 0 {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat.rsplit_once(") ").is_none_or(|(_, rest)| !rest.starts_with(['Z', 'X'])),
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_started_unfinished_run_without_its_process_is_interrupted() {
        let dead = |_| false;
        let alive = |_| true;
        for (state, process_alive, interrupted) in [
            (RunState::Running, dead as fn(u32) -> bool, true),
            (RunState::Paused, dead, true),
            (RunState::Running, alive, false),
            // Nobody runs a pending run yet: a worker may be starting.
            (RunState::Pending, dead, false),
            (RunState::Done, dead, false),
            (RunState::Failed, dead, false),
            (RunState::Stopped, dead, false),
        ] {
            let mut status = Status::new("r", "w", state, 42);
            assert_eq!(status.detect_interruption(process_alive), interrupted, "{state}");
            assert_eq!(status.state, if interrupted { RunState::Interrupted } else { state });
        }
    }

    #[test]
    fn this_process_is_alive_and_pid_zero_is_not() {
        assert!(process_alive(std::process::id()));
        assert!(!process_alive(0));
    }

    #[test]
    fn state_names_are_the_serialised_ones() {
        for state in [RunState::Pending, RunState::Interrupted, RunState::Done] {
            assert_eq!(serde_json::to_value(state).unwrap(), state.name());
        }
    }
}
