//! [`RunView`]: what a run looks like, folded from its events.
//!
//! This is the one owner of that question. `odw run --wait`'s progress,
//! `odw watch` and `odw report` all draw a `RunView`; none of them reads
//! events on its own. The fold is incremental ([`RunView::apply`] takes one
//! event at a time), so a live view feeds it the lines an [`EventTail`]
//! returns, and a report feeds it the whole file at once: the same code,
//! the same answers.
//!
//! Events say what happened and when; they do not copy prompts or replies
//! (a 200-agent run would write every prompt twice). Those stay where the
//! run directory already keeps them, and [`RunView::load`] adds them for a
//! run that has ended ([`load`]): the journal's prompt heads and completions,
//! and the prompt files of adapters that take their prompt as a file.
//!
//! [`EventTail`]: super::EventTail

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;

use super::{AgentEnd, AgentStart, Event, RunMeta, RunState, Stamped, Status};
use crate::protocol::{ScriptError, Usage};
use crate::replay::ReuseRule;

/// A run as people see it: a fold of its events plus its `meta.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunView {
    pub run_id: String,
    pub workflow: String,
    pub description: String,
    pub script: Option<String>,
    pub script_hash: Option<String>,
    pub args: Value,
    /// The adapter of calls that name none.
    pub adapter: Option<String>,
    pub state: RunState,
    /// The first event's time (RFC 3339), and as ms since the Unix epoch.
    pub started_at: Option<String>,
    pub started_epoch_ms: Option<u64>,
    pub ended_at: Option<String>,
    /// The run's duration as its end event recorded it.
    pub duration_ms: Option<u64>,
    /// The last event's time, ms after the start.
    pub last_event_ms: u64,
    /// Declared phases first (`meta.phases`), then those `phase()` started.
    pub phases: Vec<PhaseView>,
    /// Every agent call, by index.
    pub agents: Vec<AgentView>,
    /// `log()` lines: the run's decision trail.
    pub logs: Vec<LogLine>,
    /// The phase `phase()` started last.
    pub current_phase: Option<String>,
    pub result: Option<Value>,
    pub error: Option<ScriptError>,
    pub tokens: Tokens,
    /// `--budget`: total tokens.
    pub budget: Option<u64>,
    pub reuse: Reuse,
    /// Calls that could not be journalled (not reusable by a resume).
    pub journal_errors: Vec<(u32, String)>,
    /// Why the call details (prompts, replies) are missing, if they are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details_missing: Option<String>,
}

/// One phase and the calls made in it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseView {
    /// Empty for calls made before any `phase()`.
    pub title: String,
    pub detail: Option<String>,
    /// Listed in `meta.phases`.
    pub declared: bool,
    /// When `phase()` started it, ms after the run's start.
    pub started_ms: Option<u64>,
    /// Indices of its agents, in dispatch order.
    pub agents: Vec<u32>,
}

/// Where an agent call is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentState {
    /// Dispatched, waiting for a concurrency slot (or for a pause to end).
    #[default]
    Queued,
    Running,
    Done,
    Failed,
    /// The run ended (stopped, failed) before this call did.
    Cancelled,
}

impl AgentState {
    pub fn name(self) -> &'static str {
        match self {
            AgentState::Queued => "queued",
            AgentState::Running => "running",
            AgentState::Done => "done",
            AgentState::Failed => "failed",
            AgentState::Cancelled => "cancelled",
        }
    }
}

/// One `agent()` call.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentView {
    pub index: u32,
    pub label: String,
    pub phase: Option<String>,
    pub adapter: String,
    pub model: Option<String>,
    pub state: AgentState,
    /// When it was queued and when it started, ms after the run's start.
    pub queued_ms: Option<u64>,
    pub start_ms: Option<u64>,
    /// How long it ran (0 for a call served from a journal).
    pub duration_ms: Option<u64>,
    pub attempts: u32,
    pub usage: Usage,
    /// Served from an earlier run's journal, and by which rule.
    pub cached: bool,
    pub reuse: Option<ReuseRule>,
    /// Why it failed.
    pub error: Option<String>,
    pub worktree: Option<Value>,
    /// From the journal: the prompt's first characters.
    pub prompt_head: Option<String>,
    /// From the prompt file, when the adapter took one (cut to [`load::PROMPT_KEPT_BYTES`]).
    pub prompt: Option<String>,
    /// From the journal: the value the script received (text, or the
    /// schema-checked JSON).
    pub reply: Option<Value>,
    /// Its first event has been folded (it is listed in its phase).
    #[serde(skip)]
    seen: bool,
}

/// One `log()` line.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogLine {
    pub at_ms: u64,
    pub phase: Option<String>,
    pub message: String,
}

/// Tokens spent, in total and split two ways.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tokens {
    pub total: u64,
    pub input: u64,
    pub output: u64,
    /// Some usage was estimated by odw (the adapter reported none).
    pub estimated: bool,
    pub by_phase: BTreeMap<String, u64>,
    pub by_adapter: BTreeMap<String, u64>,
}

/// What a resumed run took from the journal of the run it resumed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reuse {
    pub resumed_from: Option<String>,
    pub by_prefix: u32,
    pub by_content: u32,
    /// The first call that ran live: index and label.
    pub first_live: Option<(u32, String)>,
}

/// Agent counts of a phase or a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub queued: u32,
    pub running: u32,
    pub done: u32,
    pub failed: u32,
    pub cancelled: u32,
    pub cached: u32,
    pub live: u32,
    pub tokens: u64,
}

impl Counts {
    pub fn total(&self) -> u32 {
        self.queued + self.running + self.done + self.failed + self.cancelled
    }

    fn add(&mut self, agent: &AgentView) {
        match agent.state {
            AgentState::Queued => self.queued += 1,
            AgentState::Running => self.running += 1,
            AgentState::Done => self.done += 1,
            AgentState::Failed => self.failed += 1,
            AgentState::Cancelled => self.cancelled += 1,
        }
        if agent.cached {
            self.cached += 1;
        } else {
            self.live += 1;
        }
        self.tokens = self.tokens.saturating_add(agent.usage.total());
    }
}

impl RunView {
    /// An empty view of the run `meta` describes.
    pub fn new(meta: &RunMeta) -> RunView {
        let mut view = RunView {
            run_id: meta.run_id.clone(),
            workflow: meta.workflow.clone(),
            description: meta.description.clone(),
            script: Some(meta.script.display().to_string()),
            script_hash: Some(meta.script_hash.clone()),
            args: meta.args.clone(),
            adapter: Some(meta.adapter.clone()),
            budget: meta.budget,
            ..RunView::default()
        };
        view.reuse.resumed_from = meta.resumed_from.clone();
        view.declare(meta.meta.get("phases"));
        view
    }

    /// Folds one line of `events.jsonl`; a line this odw cannot read (a
    /// newer event kind) is skipped, so old readers follow new runs.
    pub fn apply_line(&mut self, line: &str) {
        if let Ok(stamped) = Stamped::parse(line) {
            self.apply(&stamped);
        }
    }

    /// Folds one event.
    pub fn apply(&mut self, stamped: &Stamped) {
        let epoch = epoch_ms(&stamped.ts);
        if self.started_at.is_none() {
            self.started_at = Some(stamped.ts.clone());
            self.started_epoch_ms = epoch;
        }
        let at = match (epoch, self.started_epoch_ms) {
            (Some(t), Some(start)) => t.saturating_sub(start),
            _ => self.last_event_ms,
        };
        self.last_event_ms = self.last_event_ms.max(at);
        match &stamped.event {
            Event::RunStarted { run_id, workflow, args, adapter, phases, resumed_from, .. } => {
                self.run_id.clone_from(run_id);
                self.workflow.clone_from(workflow);
                self.args = args.clone();
                self.adapter = Some(adapter.clone());
                self.reuse.resumed_from.clone_from(resumed_from);
                self.declare(phases.as_ref());
                self.state = RunState::Running;
            }
            Event::PhaseStarted { title } => {
                let phase = self.phase_mut(title);
                phase.started_ms.get_or_insert(at);
                self.current_phase = Some(title.clone());
            }
            Event::Log { message } => self.logs.push(LogLine {
                at_ms: at,
                phase: self.current_phase.clone(),
                message: message.clone(),
            }),
            Event::AgentQueued(start) => {
                let agent = self.agent_mut(start);
                agent.queued_ms.get_or_insert(at);
            }
            Event::AgentStarted(start) => {
                let agent = self.agent_mut(start);
                agent.state = AgentState::Running;
                agent.start_ms = Some(at);
                agent.queued_ms.get_or_insert(at);
            }
            Event::AgentFinished(end) => self.agent_ended(end, at, false),
            Event::AgentFailed(end) => self.agent_ended(end, at, true),
            // Cluster jobs are for `odw logs` and people reading the run;
            // the view's agent states come from the agent events.
            Event::AgentJob(_) => {}
            Event::RunPaused => self.state = RunState::Paused,
            Event::RunResumed => self.state = RunState::Running,
            Event::RunFinished { ms, .. } => self.end(RunState::Done, &stamped.ts, *ms),
            Event::RunStopped { ms, .. } => self.end(RunState::Stopped, &stamped.ts, *ms),
            Event::RunFailed { ms, error } => {
                self.error = Some(error.clone());
                self.end(RunState::Failed, &stamped.ts, *ms);
            }
            Event::JournalError { index, error } => self.journal_errors.push((*index, error.clone())),
        }
    }

    /// Takes the state `status.json` gives by the liveness rule, which
    /// knows what events cannot: that the worker died (`interrupted`).
    pub fn apply_status(&mut self, status: &Status) {
        let state = status.state;
        if state == RunState::Interrupted && !self.state.is_final() {
            self.state = state;
            self.cancel_unfinished();
        } else if self.state == RunState::Pending {
            self.state = state;
        }
    }

    /// Agent counts of phase `phase` (an index into [`RunView::phases`]).
    pub fn phase_counts(&self, phase: usize) -> Counts {
        let mut counts = Counts::default();
        for index in self.phases.get(phase).map(|p| p.agents.as_slice()).unwrap_or_default() {
            if let Some(agent) = self.agents.get(*index as usize) {
                counts.add(agent);
            }
        }
        counts
    }

    /// Agent counts of the whole run.
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        self.agents.iter().for_each(|a| counts.add(a));
        counts
    }

    /// The run's elapsed ms at wall-clock `now` (ms since the epoch): its
    /// recorded duration once it has ended.
    pub fn elapsed_ms(&self, now: u64) -> u64 {
        match (self.duration_ms, self.started_epoch_ms) {
            (Some(ms), _) => ms,
            (None, Some(start)) if !self.state.is_final() => now.saturating_sub(start),
            _ => self.last_event_ms,
        }
    }

    /// How long agent `a` has run at wall-clock `now`.
    pub fn agent_elapsed_ms(&self, a: &AgentView, now: u64) -> Option<u64> {
        if a.duration_ms.is_some() {
            return a.duration_ms;
        }
        let start = a.start_ms?;
        if a.state == AgentState::Running {
            let now = now.saturating_sub(self.started_epoch_ms?);
            Some(now.saturating_sub(start))
        } else {
            None
        }
    }

    fn declare(&mut self, phases: Option<&Value>) {
        for phase in phases.and_then(Value::as_array).into_iter().flatten() {
            let Some(title) = phase.get("title").and_then(Value::as_str) else { continue };
            let detail = phase.get("detail").and_then(Value::as_str).map(str::to_string);
            let view = self.phase_mut(title);
            view.declared = true;
            if detail.is_some() {
                view.detail = detail;
            }
        }
    }

    fn phase_mut(&mut self, title: &str) -> &mut PhaseView {
        let at = match self.phases.iter().position(|p| p.title == title) {
            Some(at) => at,
            None => {
                self.phases.push(PhaseView { title: title.to_string(), ..PhaseView::default() });
                self.phases.len() - 1
            }
        };
        &mut self.phases[at]
    }

    /// The agent `start` names, made (queued, in its phase) if it is new.
    fn agent_mut(&mut self, start: &AgentStart) -> &mut AgentView {
        let index = start.index as usize;
        if self.agents.len() <= index {
            // Indices are dense; a gap (an event lost) is filled so that
            // `agents[i].index == i` holds.
            let from = self.agents.len() as u32;
            self.agents.extend((from..=start.index).map(|i| AgentView { index: i, ..AgentView::default() }));
        }
        if !self.agents[index].seen {
            self.agents[index].seen = true;
            let title = start.phase.clone().unwrap_or_default();
            self.phase_mut(&title).agents.push(start.index);
            if !start.cached && self.reuse.resumed_from.is_some() {
                let first = self.reuse.first_live.get_or_insert((start.index, start.label.clone()));
                if start.index < first.0 {
                    *first = (start.index, start.label.clone());
                }
            }
        }
        let agent = &mut self.agents[index];
        agent.label.clone_from(&start.label);
        agent.phase.clone_from(&start.phase);
        agent.adapter.clone_from(&start.adapter);
        agent.model.clone_from(&start.model);
        agent.cached = start.cached;
        agent.reuse = start.reuse;
        agent
    }

    fn agent_ended(&mut self, end: &AgentEnd, at: u64, failed: bool) {
        let cached = end.agent.cached;
        let rule = end.agent.reuse;
        let agent = self.agent_mut(&end.agent);
        let counted_before = matches!(agent.state, AgentState::Done | AgentState::Failed);
        agent.state = if failed { AgentState::Failed } else { AgentState::Done };
        agent.duration_ms = Some(end.ms);
        agent.start_ms.get_or_insert(at.saturating_sub(end.ms));
        agent.attempts = end.attempts;
        agent.usage = end.usage;
        agent.error.clone_from(&end.error);
        agent.worktree.clone_from(&end.worktree);
        if counted_before {
            return;
        }
        let tokens = end.usage.total();
        let t = &mut self.tokens;
        t.total = t.total.saturating_add(tokens);
        t.input = t.input.saturating_add(end.usage.input);
        t.output = t.output.saturating_add(end.usage.output);
        t.estimated |= end.usage.estimated;
        let phase = end.agent.phase.clone().unwrap_or_default();
        *t.by_phase.entry(phase).or_default() += tokens;
        *t.by_adapter.entry(end.agent.adapter.clone()).or_default() += tokens;
        if cached {
            match rule {
                Some(ReuseRule::Content) => self.reuse.by_content += 1,
                _ => self.reuse.by_prefix += 1,
            }
        }
    }

    fn end(&mut self, state: RunState, ts: &str, ms: u64) {
        self.state = state;
        self.ended_at = Some(ts.to_string());
        self.duration_ms = Some(ms);
        self.cancel_unfinished();
    }

    fn cancel_unfinished(&mut self) {
        for agent in &mut self.agents {
            if matches!(agent.state, AgentState::Queued | AgentState::Running) {
                agent.state = AgentState::Cancelled;
            }
        }
    }
}

/// An RFC 3339 time as ms since the Unix epoch.
fn epoch_ms(ts: &str) -> Option<u64> {
    let time = humantime::parse_rfc3339(ts).ok()?;
    Some(time.duration_since(UNIX_EPOCH).ok()?.as_millis() as u64)
}

/// Now, as ms since the Unix epoch (what [`RunView::elapsed_ms`] takes).
pub fn now_epoch_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

mod load;
#[cfg(test)]
mod tests;
