//! `odw journal` and `odw replay --check`.

use std::process::ExitCode;

use anyhow::Context;
use serde_json::{Value, json};

use odw_engine::CheckReport;
use odw_engine::run::{check, import as import_run};
use odw_journal::{CallOutcome, Journal, JournalError};

use super::{config, find_run, parse_args, runs_root, sandbox};
use crate::cli::{Global, JournalArgs, JournalCommand, ReplayArgs};
use crate::report::{self, Exit, outln};

pub async fn replay(global: &Global, args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    if !args.check {
        return Ok(report::usage("odw replay needs --check (replaying shows nothing else yet)"));
    }
    let replay_args = match args.args.as_deref().map(|a| parse_args(Some(a))).transpose() {
        Ok(v) => v,
        Err(message) => return Ok(report::usage(&message)),
    };
    let config = config(global)?;
    let root = runs_root(global, &config);
    let sandbox = sandbox();
    let verdict = check(sandbox, &config, &root, &args.run, args.script.clone(), replay_args).await?;
    eprintln!("odw: {}", verdict_message(&args.run, &verdict));
    Ok(if verdict.reproduced() { Exit::Ok } else { Exit::Diverged }.into())
}

/// What `odw replay --check` says about a check: the first divergence, the
/// differing result, or how many calls reproduced (`odw mcp`'s
/// `replay_check` says the same).
pub fn verdict_message(id: &str, verdict: &CheckReport) -> String {
    if let Some(d) = &verdict.divergence {
        return d.to_string();
    }
    if let Some((recorded, replayed)) = &verdict.result_mismatch {
        return format!(
            "non-deterministic workflow: every call matched the journal but the result differs\n  \
             expected: {recorded}\n  actual:   {replayed}"
        );
    }
    format!("run {id} reproduced: {} calls served from the journal, 0 live", verdict.calls)
}

pub fn journal(global: &Global, args: &JournalArgs) -> anyhow::Result<ExitCode> {
    if let Some(JournalCommand::Import { file }) = &args.import {
        return import(global, file);
    }
    let Some(id) = &args.run else {
        return Ok(report::usage("odw journal needs a run id (or `odw journal import FILE`)"));
    };
    let run = find_run(global, id)?;
    let journal = Journal::open_read_only(&run.journal_path())?;
    if args.export {
        let mut out = std::io::stdout().lock();
        journal.export(&mut out)?;
        return Ok(Exit::Ok.into());
    }
    let rows = rows(&journal)?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(Exit::Ok.into());
    }
    outln!(
        "{:>5}  {:<12}  {:<20}  {:<16}  {:<10}  {:>8}  {:>8}",
        "index",
        "key",
        "label",
        "phase",
        "status",
        "attempts",
        "ms"
    );
    for r in &rows {
        let text = |k: &str| {
            r[k].as_str()
                .map(str::to_string)
                .unwrap_or_else(|| if r[k].is_null() { "-".into() } else { r[k].to_string() })
        };
        outln!(
            "{:>5}  {:<12}  {:<20}  {:<16}  {:<10}  {:>8}  {:>8}",
            r["index"],
            &text("key")[..12.min(text("key").len())],
            report::shown(&text("label")),
            report::shown(&text("phase")),
            text("status"),
            text("attempts"),
            text("ms"),
        );
    }
    Ok(Exit::Ok.into())
}

/// One row per issued call: index, key, label, phase, status, attempts, ms —
/// `odw journal --json` and `odw serve`'s `GET /api/runs/:id/journal`.
pub fn rows(journal: &Journal) -> Result<Vec<Value>, JournalError> {
    let odw_journal::Calls { issued, completions } = journal.calls()?;
    let completed: std::collections::HashMap<u32, _> =
        completions.into_iter().map(|(_, c)| (c.index, c)).collect();
    Ok(issued
        .into_iter()
        .map(|i| {
            let c = completed.get(&i.index);
            json!({
                "index": i.index,
                "key": i.key,
                "label": i.label,
                "phase": i.phase,
                "status": match c.map(|c| &c.outcome) {
                    Some(CallOutcome::Ok { .. }) => "ok",
                    Some(CallOutcome::Err { .. }) => "failed",
                    None => "incomplete",
                },
                "attempts": c.map(|c| c.attempts),
                "ms": c.map(|c| c.ms),
            })
        })
        .collect())
}

/// Recreates a run directory from an export: journal and `meta.json`.
fn import(global: &Global, file: &std::path::Path) -> anyhow::Result<ExitCode> {
    let config = config(global)?;
    let root = runs_root(global, &config);
    let input = std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let run = import_run(&root, std::io::BufReader::new(input))
        .with_context(|| format!("cannot import {}", file.display()))?;
    eprintln!("odw: imported {} into {}", file.display(), run.path.display());
    outln!("{}", run.id);
    Ok(Exit::Ok.into())
}
