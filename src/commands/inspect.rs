//! `odw status|logs|result|list`: read a run's files; never change a run
//! (except to record that its worker died).

use std::io::{BufRead, Seek};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;

use odw_engine::runs::{RunDir, RunState, Status};

use super::run::{print_outcome, state_name};
use super::{config, find_run, runs_root};
use crate::cli::{Global, ListArgs, LogsArgs, RunRef};
use crate::report::exit;

/// The run's status; a run whose worker died without recording an end is
/// marked `interrupted` (and stays resumable with `--resume-from`).
pub fn current_status(run: &RunDir) -> anyhow::Result<Status> {
    let raw = run.read_json("status.json").with_context(|| format!("run {} has no status.json", run.id))?;
    let mut status: Status = serde_json::from_value(raw).context("status.json is not odw's")?;
    if !status.state.is_final() && status.state != RunState::Pending && !alive(status.pid) {
        status.state = RunState::Interrupted;
        let _ = run.write_json("status.json", &status);
    }
    Ok(status)
}

/// Whether the worker `pid` still runs. A zombie (dead, not yet reaped by
/// whoever inherited the orphaned worker) counts as dead.
fn alive(pid: u32) -> bool {
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

pub fn status(global: &Global, r: &RunRef) -> anyhow::Result<ExitCode> {
    let run = find_run(global, &r.run)?;
    let s = current_status(&run)?;
    if r.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        println!("run       {}", s.run_id);
        println!("workflow  {}", s.workflow);
        println!("state     {}", state_name(s.state));
        if let Some(phase) = &s.phase {
            println!("phase     {phase}");
        }
        let a = s.agents;
        println!(
            "agents    {} dispatched, {} running, {} done, {} failed",
            a.dispatched, a.running, a.done, a.failed
        );
        println!("elapsed   {}", elapsed(&s));
        println!("tokens    {}", s.tokens);
    }
    Ok(ExitCode::from(exit::OK))
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
    let s = current_status(&run)?;
    if !s.state.is_final() {
        eprintln!("odw: run {} is still {}", run.id, state_name(s.state));
        return Ok(ExitCode::from(exit::FAILED));
    }
    Ok(print_outcome(&run, s.state))
}

pub async fn logs(global: &Global, args: &LogsArgs) -> anyhow::Result<ExitCode> {
    let run = find_run(global, &args.run)?;
    let path = run.path.join("events.jsonl");
    let mut offset = 0u64;
    loop {
        // Read what is there, whole lines only: a line being written now is
        // picked up on the next round, so every event is printed exactly once.
        if let Ok(mut file) = std::fs::File::open(&path) {
            file.seek(std::io::SeekFrom::Start(offset))?;
            let mut reader = std::io::BufReader::new(file);
            let mut line = String::new();
            while reader.read_line(&mut line)? > 0 {
                if !line.ends_with('\n') {
                    break;
                }
                offset += line.len() as u64;
                print_event(line.trim_end(), args.json);
                line.clear();
            }
        }
        let state = current_status(&run).map(|s| s.state).ok();
        if !args.follow {
            return Ok(ExitCode::from(exit::OK));
        }
        if let Some(state) = state.filter(|s| s.is_final()) {
            // One more pass happened after the final state was written.
            if std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) == offset {
                return Ok(ExitCode::from(if state == RunState::Done { exit::OK } else { exit::FAILED }));
            }
            continue;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn print_event(line: &str, json: bool) {
    if json {
        println!("{line}");
        return;
    }
    let Ok(e) = serde_json::from_str::<Value>(line) else { return };
    let time = e["ts"].as_str().and_then(|t| t.get(11..23)).unwrap_or("");
    let kind = e["type"].as_str().unwrap_or("?");
    let label = || e["label"].as_str().unwrap_or("agent").to_string();
    let text = match kind {
        "run_started" => format!("{} started", e["workflow"].as_str().unwrap_or("")),
        "phase_started" => format!("▸ {}", e["title"].as_str().unwrap_or("")),
        "log" => e["message"].as_str().unwrap_or("").to_string(),
        "agent_started" => format!("#{} {} started", e["index"], label()),
        "agent_finished" => {
            let cached = if e["cached"] == true { " (cached)" } else { "" };
            format!("#{} {} finished in {} ms{cached}", e["index"], label(), e["ms"])
        }
        "agent_failed" => {
            format!("#{} {} failed: {}", e["index"], label(), e["error"].as_str().unwrap_or(""))
        }
        "run_finished" => format!("done in {} ms", e["ms"]),
        "run_failed" => format!("failed: {}", e["error"]["message"].as_str().unwrap_or("")),
        "run_stopped" => "stopped".to_string(),
        _ => line.to_string(),
    };
    println!("{time}  {kind:<15} {text}");
}

pub fn list(global: &Global, args: &ListArgs) -> anyhow::Result<ExitCode> {
    let config = config(global)?;
    let root = runs_root(global, &config);
    let mut rows = Vec::new();
    for run in RunDir::all(&root) {
        let Ok(s) = current_status(&run) else { continue };
        if args.workflow.as_ref().is_some_and(|w| *w != s.workflow) {
            continue;
        }
        rows.push(s);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        for s in &rows {
            println!(
                "{}  {:<11} {:<24} {:>4} agents  {}",
                s.run_id,
                state_name(s.state),
                s.workflow,
                s.agents.dispatched,
                s.started_at
            );
        }
    }
    Ok(ExitCode::from(exit::OK))
}
