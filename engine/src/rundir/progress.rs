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

use super::{AgentEnd, AgentStart, Event, EventLog, RunDir, RunDirError, RunState, Status, timestamp};

/// The event log and status of one run.
#[derive(Debug)]
pub struct Progress {
    run: RunDir,
    /// `None` when nobody can watch the run (see [`Progress::unwatched`]).
    events: Option<EventLog>,
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
    pub fn new(run: RunDir, workflow: &str) -> Result<Progress, RunDirError> {
        let events = run.event_log()?;
        Ok(Progress::assemble(run, workflow, Some(events)))
    }

    /// The progress of a run nobody can watch, kept in memory only: no
    /// `events.jsonl`, no `status.json`. The run of `odw replay --check`
    /// is one ([`RunDir::unmade`]: its directory is never made), and
    /// writing two event lines for each call it served from the journal
    /// was a tenth of its time.
    pub fn unwatched(run: RunDir, workflow: &str) -> Progress {
        Progress::assemble(run, workflow, None)
    }

    fn assemble(run: RunDir, workflow: &str, events: Option<EventLog>) -> Progress {
        let status = Status::new(&run.id, workflow, RunState::Running, std::process::id());
        let snapshot = Snapshot { status, written: None, dirty: true };
        let progress = Progress { run, events, status: Mutex::new(snapshot) };
        progress.update(|_| {});
        progress
    }

    /// Whether events reach `events.jsonl`: an event that nobody will read
    /// need not be built.
    pub fn watched(&self) -> bool {
        self.events.is_some()
    }

    /// Holds back the events appended while the guard lives and writes
    /// them in one go when it is dropped ([`EventLog::hold`]).
    pub fn hold(&self) -> Option<super::Held<'_>> {
        self.events.as_ref().map(EventLog::hold)
    }

    /// Appends an event that does not change the status (`run_started`,
    /// `log`, `journal_error`).
    pub fn event(&self, event: Event) {
        self.append_all([event]);
    }

    fn append_all(&self, events: impl IntoIterator<Item = Event>) {
        if let Some(log) = &self.events {
            log.append_all(events);
        }
    }

    pub fn phase(&self, title: &str) {
        self.event(Event::PhaseStarted { title: title.to_string() });
        self.update(|s| s.phase = Some(title.to_string()));
    }

    /// Records a call dispatched to run live, before it has a slot. The
    /// status counts it only once it starts.
    pub fn agent_queued(&self, agent: AgentStart) {
        self.event(Event::AgentQueued(agent));
    }

    pub fn agent_started(&self, agent: AgentStart) {
        self.event(Event::AgentStarted(agent));
        self.update(|s| {
            s.agents.dispatched += 1;
            s.agents.running += 1;
        });
    }

    /// Records the end of a call: `agent_finished`, or `agent_failed` when
    /// `end.error` says why.
    pub fn agent_ended(&self, end: AgentEnd) {
        let (failed, tokens) = (end.error.is_some(), end.usage.total());
        self.event(Self::end_event(end));
        self.update(|s| {
            s.agents.running = s.agents.running.saturating_sub(1);
            Self::count_end(s, failed, tokens);
        });
    }

    /// Records a call served from a journal, which starts and ends at once:
    /// both events in one write, the status updated once.
    pub fn agent_reused(&self, start: AgentStart, end: AgentEnd) {
        let (failed, tokens) = (end.error.is_some(), end.usage.total());
        self.append_all([Event::AgentStarted(start), Self::end_event(end)]);
        self.count_reused(failed, tokens);
    }

    /// Counts a call served from a journal without its events, for a run
    /// nobody watches (see [`Progress::watched`]).
    pub fn count_reused(&self, failed: bool, tokens: u64) {
        self.update(|s| {
            s.agents.dispatched += 1;
            Self::count_end(s, failed, tokens);
        });
    }

    fn end_event(end: AgentEnd) -> Event {
        if end.error.is_some() { Event::AgentFailed(end) } else { Event::AgentFinished(end) }
    }

    fn count_end(s: &mut Status, failed: bool, tokens: u64) {
        if failed {
            s.agents.failed += 1;
        } else {
            s.agents.done += 1;
        }
        s.tokens = s.tokens.saturating_add(tokens);
    }

    /// Records a pause or a resume.
    pub fn paused(&self, paused: bool) {
        self.event(if paused { Event::RunPaused } else { Event::RunResumed });
        self.update(|s| s.state = if paused { RunState::Paused } else { RunState::Running });
        self.flush();
    }

    /// Records the end of the run: the final event and state.
    pub fn finish(&self, state: RunState, event: Event) {
        self.event(event);
        self.update(|s| {
            s.state = state;
            s.agents.running = 0;
        });
        self.flush();
    }

    pub fn status(&self) -> Status {
        self.status.lock().unwrap_or_else(|p| p.into_inner()).status.clone()
    }

    /// Writes `status.json` whenever it is behind, once every
    /// [`STATUS_INTERVAL`], until the future is dropped (a run aborts it at
    /// its end, which writes the last status itself).
    ///
    /// The first write is one interval in: a tokio interval's first tick
    /// is immediate, and that tick rewrote `status.json` a couple of
    /// milliseconds into every run that had started an agent by then — a
    /// file replaced (an inode allocated, its data flushed by ext4) for a
    /// status a run of a few milliseconds writes again at its end.
    pub async fn keep_written(&self) {
        let first = tokio::time::Instant::now() + STATUS_INTERVAL;
        let mut tick = tokio::time::interval_at(first, STATUS_INTERVAL);
        loop {
            tick.tick().await;
            self.flush();
        }
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
        if self.watched()
            && let Err(e) = self.run.write_status(&snap.status)
        {
            eprintln!("odw: {e}");
        }
        snap.written = Some(Instant::now());
        snap.dirty = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Usage;

    fn agent(index: u32) -> AgentStart {
        AgentStart {
            index,
            label: "a".into(),
            phase: None,
            adapter: "echo".into(),
            model: None,
            cached: false,
            reuse: None,
            prompt: None,
        }
    }

    fn end(index: u32, error: Option<&str>) -> AgentEnd {
        AgentEnd {
            agent: agent(index),
            ms: 1,
            attempts: 1,
            usage: Usage { input: 10, output: 5, estimated: false },
            worktree: None,
            error: error.map(str::to_string),
            preview: None,
        }
    }

    #[tokio::test]
    async fn a_status_behind_is_written_one_interval_in_not_at_once() {
        let root = tempfile::tempdir().unwrap();
        let run = RunDir::create(root.path(), "w").unwrap();
        let progress = std::sync::Arc::new(Progress::new(run.clone(), "w").unwrap());
        // Within the interval of the first write: counted, not yet written.
        progress.agent_started(agent(0));
        assert_eq!(run.read_status().unwrap().agents.running, 0);
        let keeper = tokio::spawn({
            let progress = progress.clone();
            async move { progress.keep_written().await }
        });
        // An immediate first tick would have written it by now.
        tokio::time::sleep(STATUS_INTERVAL / 4).await;
        assert_eq!(run.read_status().unwrap().agents.running, 0, "written at once");
        let deadline = Instant::now() + Duration::from_secs(10);
        while run.read_status().unwrap().agents.running == 0 {
            assert!(Instant::now() < deadline, "never written");
            tokio::time::sleep(STATUS_INTERVAL / 4).await;
        }
        keeper.abort();
    }

    #[test]
    fn an_unwatched_run_counts_its_calls_and_writes_nothing() {
        let root = tempfile::tempdir().unwrap();
        let run = RunDir::create(root.path(), "w").unwrap();
        let progress = Progress::unwatched(run.clone(), "w");
        assert!(!progress.watched());
        progress.phase("Scan");
        progress.count_reused(false, 15);
        progress.count_reused(true, 0);
        progress.agent_reused(agent(2), end(2, None));
        progress.finish(RunState::Done, Event::RunFinished { ms: 1, agents: progress.status().agents });
        let s = progress.status();
        assert_eq!((s.agents.dispatched, s.agents.done, s.agents.failed), (3, 2, 1));
        assert_eq!((s.tokens, s.phase.as_deref(), s.state), (30, Some("Scan"), RunState::Done));
        assert!(!run.path.join(super::super::EVENTS).exists(), "no events.jsonl");
        assert!(run.status().is_err(), "no status.json");
    }

    #[test]
    fn the_status_follows_the_events_and_is_written_at_the_end() {
        let root = tempfile::tempdir().unwrap();
        let run = RunDir::create(root.path(), "w").unwrap();
        let progress = Progress::new(run.clone(), "w").unwrap();
        progress.phase("Scan");
        for i in 0..3 {
            progress.agent_started(agent(i));
        }
        progress.agent_ended(end(0, None));
        progress.agent_ended(end(1, Some("boom")));
        let s = progress.status();
        assert_eq!((s.agents.dispatched, s.agents.running, s.agents.done, s.agents.failed), (3, 1, 1, 1));
        assert_eq!((s.tokens, s.phase.as_deref(), s.state), (30, Some("Scan"), RunState::Running));
        progress.finish(RunState::Done, Event::RunFinished { ms: 1, agents: s.agents });
        let written = run.read_status().unwrap();
        assert_eq!(
            (written.state, written.agents.running, written.pid),
            (RunState::Done, 0, std::process::id())
        );
        let kinds: Vec<String> = run
            .event_tail()
            .read_new()
            .unwrap()
            .iter()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["type"].as_str().unwrap().to_string()
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "phase_started",
                "agent_started",
                "agent_started",
                "agent_started",
                "agent_finished",
                "agent_failed",
                "run_finished"
            ]
        );
    }
}
