//! `odw status|logs|result|list`: read a run's files; never change a run
//! (except to record that its worker died).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Serialize;

use odw_engine::run::claude;
use odw_engine::{AgentCounts, Event, RunDir, RunState, Stamped, Status};

use super::run::print_outcome;
use super::{config, find_run, runs_root};
use crate::cli::{Global, ListArgs, LogsArgs, RunRef};
use crate::report::{self, Exit, outln};

pub fn status(global: &Global, r: &RunRef) -> anyhow::Result<ExitCode> {
    let run = find_run(global, &r.run)?;
    let s = run.status()?;
    if r.json {
        outln!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        outln!("run       {}", s.run_id);
        outln!("workflow  {}", report::shown(&s.workflow));
        outln!("state     {}", s.state);
        if let Some(phase) = &s.phase {
            outln!("phase     {}", report::shown(phase));
        }
        let a = s.agents;
        outln!(
            "agents    {} dispatched, {} running, {} done, {} failed",
            a.dispatched,
            a.running,
            a.done,
            a.failed
        );
        outln!("elapsed   {}", elapsed(&s));
        outln!("tokens    {}", s.tokens);
    }
    Ok(Exit::Ok.into())
}

fn elapsed(s: &Status) -> String {
    let (Ok(start), Ok(end)) =
        (humantime::parse_rfc3339(&s.started_at), humantime::parse_rfc3339(&s.updated_at))
    else {
        return "?".into();
    };
    let end = if s.state.is_final() { end } else { std::time::SystemTime::now() };
    let secs = end.duration_since(start).unwrap_or_default().as_secs_f64();
    format!("{secs:.1}s")
}

pub fn result(global: &Global, r: &RunRef) -> anyhow::Result<ExitCode> {
    let run = find_run(global, &r.run)?;
    let s = run.status()?;
    if !s.state.is_final() {
        eprintln!("odw: {}", not_ended(&run, s.state));
        return Ok(Exit::Failed.into());
    }
    print_outcome(&run, s.state)
}

pub async fn logs(global: &Global, args: &LogsArgs) -> anyhow::Result<ExitCode> {
    let run = find_run(global, &args.run)?;
    let mut events = run.event_tail();
    loop {
        for line in events.read_new()? {
            print_event(&line, args.json)?;
        }
        let state = run.status().map(|s| s.state).ok();
        if !args.follow {
            return Ok(Exit::Ok.into());
        }
        if let Some(state) = state.filter(|s| s.is_final()) {
            // One more pass happened after the final state was written.
            if events.at_end() {
                return Ok(Exit::ok_if(state == RunState::Done));
            }
            continue;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn print_event(line: &str, json: bool) -> anyhow::Result<()> {
    if json {
        outln!("{line}");
        return Ok(());
    }
    let Ok(Stamped { ts, event }) = Stamped::parse(line) else {
        outln!("{}", report::shown(line));
        return Ok(());
    };
    let time = ts.get(11..23).unwrap_or("");
    let (kind, text) = match &event {
        Event::RunStarted { workflow, .. } => ("run_started", format!("{workflow} started")),
        Event::PhaseStarted { title } => ("phase_started", format!("▸ {title}")),
        Event::Log { message } => ("log", message.clone()),
        Event::AgentQueued(a) => ("agent_queued", format!("#{} {} queued", a.index, a.label)),
        Event::AgentStarted(a) => ("agent_started", format!("#{} {} started", a.index, a.label)),
        Event::AgentFinished(e) => {
            let cached = if e.agent.cached { " (cached)" } else { "" };
            (
                "agent_finished",
                format!("#{} {} finished in {} ms{cached}", e.agent.index, e.agent.label, e.ms),
            )
        }
        Event::AgentFailed(e) => (
            "agent_failed",
            format!("#{} {} failed: {}", e.agent.index, e.agent.label, e.error.as_deref().unwrap_or("")),
        ),
        Event::AgentJob(j) => {
            let id = j.job.as_ref().filter(|id| **id != j.name).map_or(String::new(), |id| format!(" {id}"));
            ("agent_job", format!("#{} {} job{id} {}: {}", j.index, j.executor, j.name, j.state))
        }
        Event::RunPaused => ("run_paused", "paused".into()),
        Event::RunResumed => ("run_resumed", "resumed".into()),
        Event::RunFinished { ms, .. } => ("run_finished", format!("done in {ms} ms")),
        Event::RunFailed { error, .. } => ("run_failed", format!("failed: {}", error.message)),
        Event::RunStopped { .. } => ("run_stopped", "stopped".into()),
        Event::JournalError { index, error } => {
            ("journal_error", format!("#{index} not journalled: {error}"))
        }
    };
    outln!("{time}  {kind:<15} {}", report::shown(&text));
    Ok(())
}

pub fn list(global: &Global, args: &ListArgs) -> anyhow::Result<ExitCode> {
    let config = config(global)?;
    let rows: Vec<Status> =
        runs(&runs_root(global, &config), args.workflow.as_deref()).into_iter().map(|(_, s)| s).collect();
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        for s in &rows {
            outln!(
                "{}  {:<11} {:<24} {:>4} agents  {}",
                s.run_id,
                s.state,
                report::shown(&s.workflow),
                s.agents.dispatched,
                s.started_at
            );
        }
        // Claude Code's own runs, read where it keeps them, so a run it
        // could not finish is one `odw import claude` away. Text only: the
        // JSON rows are odw's run statuses.
        let claude: Vec<_> = claude::discover(&claude::config_dirs())
            .iter()
            .map(claude::describe)
            .filter(|c| args.workflow.as_deref().is_none_or(|w| w == c.workflow))
            .collect();
        if !claude.is_empty() {
            outln!("Claude Code runs (not imported; continue one with `odw import claude ID`):");
            for c in &claude {
                outln!(
                    "{}  claude-code {:<11} {:<24} {:>4} agents  {}",
                    c.id,
                    c.state,
                    report::shown(&c.workflow),
                    c.agents,
                    c.project
                );
            }
        }
    }
    Ok(Exit::Ok.into())
}

/// The status of every run under `root`, oldest first, only those of
/// `workflow` if given: `odw list` and `odw mcp`'s `list_runs`.
pub fn runs(root: &Path, workflow: Option<&str>) -> Vec<(RunDir, Status)> {
    RunDir::all(root)
        .into_iter()
        .filter_map(|run| run.status().ok().map(|s| (run, s)))
        .filter(|(_, s)| workflow.is_none_or(|w| w == s.workflow))
        .collect()
}

/// The message `odw result` gives for a run that has not ended.
pub fn not_ended(run: &RunDir, state: RunState) -> String {
    format!("run {} is still {state}", run.id)
}

/// One row of the run list: `odw serve`'s `GET /api/runs` and `odw mcp`'s
/// `status` and `list_runs`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    pub id: String,
    pub workflow: String,
    /// pending, running, paused, done, failed, stopped or interrupted.
    #[schemars(with = "String")]
    pub state: RunState,
    pub phase: Option<String>,
    pub started: String,
    pub updated: String,
    /// Until the last update for an ended run, until now for a live one.
    pub duration_ms: u64,
    #[schemars(with = "AgentCountsSchema")]
    pub agents: AgentCounts,
    pub tokens: u64,
}

/// The JSON Schema of [`AgentCounts`] (an engine type, which knows no
/// schemas): what `odw mcp` declares its results carry.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct AgentCountsSchema {
    dispatched: u64,
    running: u64,
    done: u64,
    failed: u64,
}

/// A run's summary from its status.
pub fn summary(run: &RunDir, s: &Status) -> RunSummary {
    let start = humantime::parse_rfc3339(&s.started_at).ok();
    let end = if s.state.is_final() {
        humantime::parse_rfc3339(&s.updated_at).ok()
    } else {
        Some(std::time::SystemTime::now())
    };
    let duration_ms = match (start, end) {
        (Some(start), Some(end)) => end.duration_since(start).map_or(0, |d| d.as_millis() as u64),
        _ => 0,
    };
    RunSummary {
        id: run.id.clone(),
        workflow: s.workflow.clone(),
        state: s.state,
        phase: s.phase.clone(),
        started: s.started_at.clone(),
        updated: s.updated_at.clone(),
        duration_ms,
        agents: s.agents,
        tokens: s.tokens,
    }
}
