//! `odw import claude`: a Claude Code workflow run, continued in odw.
//!
//! Claude Code keeps each run of its Workflow tool on disk, under
//! `$CLAUDE_CONFIG_DIR/projects/<project>/<session>/` (default `~/.claude`):
//!
//! | file | holds |
//! |---|---|
//! | `workflows/wf_<id>.json` | script, args, status, result (written when the run ends) |
//! | `workflows/scripts/<name>-wf_<id>.js` | the script (written at launch) |
//! | `<session>.jsonl` | the session log; its `Workflow` tool call carries script and args |
//! | `subagents/workflows/wf_<id>/journal.jsonl` | `started` / `result` records, keyed by Claude Code's own hash |
//! | `subagents/workflows/wf_<id>/agent-<agentId>.jsonl` | each agent's transcript; the first line is the framed prompt |
//!
//! Claude Code's keys are not odw's, and its records do not carry every
//! option a call had (a schema is only visible inside the agent's tool list).
//! So the import does not translate keys: it runs the script in odw's
//! sandbox with every `agent()` call answered from Claude Code's record —
//! matched by prompt, first in first out ([`Plan::foreign`]) — and no agent
//! at all. odw's scheduler computes each call's key and content key from the
//! options the script really passes, exactly as a later `odw run
//! --resume-from` will, and journals the answers under them. A call Claude
//! Code had not finished gets an `AgentError` during the import and is left
//! out of the journal, so the resume runs it live.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use odw_journal::{CallOutcome, Finished, Journal};
use serde_json::Value;

use super::{Books, Controls, RunError, RunOptions, Session, io, prepare, started_record};
use crate::config::Config;
use crate::replay::{ForeignCall, NOT_FINISHED, Plan, ReuseRule};
use crate::rundir::{AgentCounts, RunDir, RunState, Status};
use crate::sandbox::Sandbox;

/// The line Claude Code puts before a computed prompt; every line of the
/// prompt follows it indented by two spaces.
const FRAME_END: &str = "The computed task text follows:";

/// Why a Claude Code run cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ClaudeError {
    #[error("no Claude Code workflow run `{id}` under {}", searched_list(searched))]
    NotFound { id: String, searched: Vec<PathBuf> },
    #[error(
        "{}: not a Claude Code workflow run (expected workflows/wf_<id>.json or \
         subagents/workflows/wf_<id>/ inside a session directory)",
        path.display()
    )]
    NotARun { path: PathBuf },
    #[error("{}:{line}: not a Claude Code record: {message}", path.display())]
    Malformed { path: PathBuf, line: usize, message: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Run(#[from] RunError),
}

fn searched_list(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "(no $CLAUDE_CONFIG_DIR and no home directory)".into();
    }
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}

/// One Claude Code workflow run found on disk: its session directory and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaudeRunRef {
    /// `projects/<project>/<session>/`.
    pub session: PathBuf,
    /// `wf_<id>`.
    pub id: String,
}

impl ClaudeRunRef {
    fn summary_file(&self) -> PathBuf {
        self.session.join("workflows").join(format!("{}.json", self.id))
    }

    fn agents_dir(&self) -> PathBuf {
        self.session.join("subagents/workflows").join(&self.id)
    }

    /// The project directory's name, as Claude Code spells it (the cwd with
    /// `/` as `-`).
    pub fn project(&self) -> String {
        self.session
            .parent()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// A Claude Code run as read from disk.
#[derive(Debug, Clone)]
pub struct ClaudeRun {
    pub reference: ClaudeRunRef,
    pub script: String,
    pub args: Value,
    /// `completed`, `failed`, … from `wf_<id>.json`; `None` when the run
    /// never wrote it (killed).
    pub status: Option<String>,
    /// The run's result, when it completed.
    pub result: Option<Value>,
    /// Calls that returned, in the order they finished.
    pub finished: Vec<ForeignCall>,
    /// Calls that started.
    pub started: usize,
    /// Calls that failed there (Claude Code gave the script `null`); a
    /// resume runs them again, as it does odw's own failed calls.
    pub failed: usize,
}

/// Where Claude Code keeps its configuration: `$CLAUDE_CONFIG_DIR`, then
/// `~/.claude` (both, in that order, when they differ).
pub fn config_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("CLAUDE_CONFIG_DIR").filter(|d| !d.is_empty()) {
        dirs.push(PathBuf::from(dir));
    }
    if let Some(home) = crate::config::home_dir() {
        let dir = home.join(".claude");
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    dirs
}

/// Every workflow run under `dirs` (`projects/*/*/`), whether it ended or
/// not, oldest session directory first.
pub fn discover(dirs: &[PathBuf]) -> Vec<ClaudeRunRef> {
    let mut found = Vec::new();
    for dir in dirs {
        for project in entries(&dir.join("projects")) {
            for session in entries(&project) {
                let mut ids: Vec<String> = Vec::new();
                for file in entries(&session.join("workflows")) {
                    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    if let Some(id) = name.strip_suffix(".json").filter(|n| n.starts_with("wf_")) {
                        ids.push(id.to_string());
                    }
                }
                for dir in entries(&session.join("subagents/workflows")) {
                    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    if name.starts_with("wf_") && dir.join("journal.jsonl").is_file() {
                        ids.push(name);
                    }
                }
                ids.sort();
                ids.dedup();
                found.extend(ids.into_iter().map(|id| ClaudeRunRef { session: session.clone(), id }));
            }
        }
    }
    found
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// Finds a run by id (`wf_<id>` or `<id>`) under `dirs`, or by a path: its
/// `wf_<id>.json`, its `subagents/workflows/wf_<id>` directory or a file in it.
pub fn locate(what: &str, dirs: &[PathBuf]) -> Result<ClaudeRunRef, ClaudeError> {
    let path = Path::new(what);
    if path.exists() {
        return from_path(path);
    }
    let id = if what.starts_with("wf_") { what.to_string() } else { format!("wf_{what}") };
    discover(dirs)
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| ClaudeError::NotFound { id: what.into(), searched: dirs.to_vec() })
}

fn from_path(path: &Path) -> Result<ClaudeRunRef, ClaudeError> {
    let not_a_run = || ClaudeError::NotARun { path: path.to_path_buf() };
    let path = std::path::absolute(path).map_err(|source| ClaudeError::Io { path: path.into(), source })?;
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let parent = |p: &Path| p.parent().map(Path::to_path_buf);
    // `<session>/workflows/wf_<id>.json`
    if path.is_file()
        && let Some(id) = name(&path).strip_suffix(".json").filter(|n| n.starts_with("wf_"))
        && let Some(workflows) = parent(&path).filter(|w| name(w) == "workflows")
        && let Some(session) = parent(&workflows)
    {
        return Ok(ClaudeRunRef { session, id: id.to_string() });
    }
    // `<session>/subagents/workflows/wf_<id>[/file]`
    let dir = if path.is_file() { parent(&path).ok_or_else(not_a_run)? } else { path.clone() };
    if name(&dir).starts_with("wf_")
        && let Some(workflows) = parent(&dir).filter(|w| name(w) == "workflows")
        && let Some(subagents) = parent(&workflows).filter(|s| name(s) == "subagents")
        && let Some(session) = parent(&subagents)
    {
        return Ok(ClaudeRunRef { session, id: name(&dir) });
    }
    Err(not_a_run())
}

fn read(path: &Path) -> Result<String, ClaudeError> {
    std::fs::read_to_string(path).map_err(|source| ClaudeError::Io { path: path.into(), source })
}

fn malformed(path: &Path, line: usize, message: impl Into<String>) -> ClaudeError {
    ClaudeError::Malformed { path: path.into(), line, message: message.into() }
}

/// What `odw list` shows of a Claude Code run, read without its transcripts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub id: String,
    pub workflow: String,
    /// Claude Code's status (`completed`, `failed`, …), or `interrupted`
    /// when it never wrote `wf_<id>.json`.
    pub state: String,
    /// Agents started.
    pub agents: usize,
    pub project: String,
}

/// A light look at a run for listings (unreadable parts show as `?`).
pub fn describe(reference: &ClaudeRunRef) -> Listed {
    let summary: Option<Value> =
        std::fs::read_to_string(reference.summary_file()).ok().and_then(|t| serde_json::from_str(&t).ok());
    let text =
        |key: &str| summary.as_ref().and_then(|s| s.get(key)).and_then(Value::as_str).map(str::to_string);
    let suffix = format!("-{}.js", reference.id);
    let from_script = || {
        entries(&reference.session.join("workflows/scripts"))
            .into_iter()
            .find_map(|f| f.file_name()?.to_string_lossy().strip_suffix(&suffix).map(str::to_string))
    };
    let agents = std::fs::read_to_string(reference.agents_dir().join("journal.jsonl"))
        .map(|t| t.lines().filter(|l| l.contains("\"type\":\"started\"")).count())
        .unwrap_or(0);
    Listed {
        id: reference.id.clone(),
        workflow: text("workflowName").or_else(from_script).unwrap_or_else(|| "?".into()),
        state: match &summary {
            Some(_) => text("status").unwrap_or_else(|| "?".into()),
            None => "interrupted".into(),
        },
        agents,
        project: reference.project(),
    }
}

/// What the import needs of `wf_<id>.json`: the fields are Claude Code's.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    script: String,
    #[serde(default)]
    args: Option<Value>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    result: Option<Value>,
}

/// Reads a run: script and args, how it ended, and its finished calls with
/// the prompts from their transcripts.
pub fn load(reference: &ClaudeRunRef) -> Result<ClaudeRun, ClaudeError> {
    let summary_file = reference.summary_file();
    let (script, args, status, result) = if summary_file.is_file() {
        let summary: Summary = serde_json::from_str(&read(&summary_file)?)
            .map_err(|e| malformed(&summary_file, e.line(), e.to_string()))?;
        (summary.script, summary.args.unwrap_or(Value::Null), summary.status, summary.result)
    } else {
        // Killed before it ended: the script file and the session log's
        // Workflow call are all there is.
        let script = launched_script(reference)?;
        let args = launched_args(reference, &script)?;
        (script, args, None, None)
    };
    let journal = reference.agents_dir().join("journal.jsonl");
    let text = read(&journal)?;
    let (mut started, mut failed, mut finished) = (0, 0, Vec::new());
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let record: Value =
            serde_json::from_str(line).map_err(|e| malformed(&journal, n + 1, e.to_string()))?;
        match record.get("type").and_then(Value::as_str) {
            Some("started") => started += 1,
            Some("failed") => failed += 1,
            Some("result") => {
                let agent = record
                    .get("agentId")
                    .and_then(Value::as_str)
                    .ok_or_else(|| malformed(&journal, n + 1, "a result record without agentId"))?;
                let value = record.get("result").cloned().unwrap_or(Value::Null);
                let transcript = reference.agents_dir().join(format!("agent-{agent}.jsonl"));
                finished.push(ForeignCall { prompt: transcript_prompt(&transcript)?, value });
            }
            Some(_) => {}
            None => return Err(malformed(&journal, n + 1, "a record without a `type`")),
        }
    }
    if status.as_deref() == Some("completed") && result.is_none() {
        return Err(malformed(&summary_file, 1, "a completed run without a result"));
    }
    Ok(ClaudeRun { reference: reference.clone(), script, args, status, result, finished, started, failed })
}

/// `workflows/scripts/<name>-wf_<id>.js`.
fn launched_script(reference: &ClaudeRunRef) -> Result<String, ClaudeError> {
    let suffix = format!("-{}.js", reference.id);
    let scripts = reference.session.join("workflows/scripts");
    let file = entries(&scripts)
        .into_iter()
        .find(|f| f.file_name().is_some_and(|n| n.to_string_lossy().ends_with(&suffix)))
        .ok_or_else(|| ClaudeError::NotARun { path: scripts.join(format!("*{suffix}")) })?;
    read(&file)
}

/// The args of the session's `Workflow` call that launched `script`
/// (`null` when it gave none, or the session log is gone).
fn launched_args(reference: &ClaudeRunRef, script: &str) -> Result<Value, ClaudeError> {
    let log = reference.session.with_extension("jsonl");
    let Ok(text) = std::fs::read_to_string(&log) else { return Ok(Value::Null) };
    for line in text.lines() {
        let Ok(record) = serde_json::from_str::<Value>(line) else { continue };
        let Some(blocks) = record.pointer("/message/content").and_then(Value::as_array) else { continue };
        for block in blocks {
            if block.get("name").and_then(Value::as_str) == Some("Workflow")
                && block.pointer("/input/script").and_then(Value::as_str) == Some(script)
            {
                return Ok(block.pointer("/input/args").cloned().unwrap_or(Value::Null));
            }
        }
    }
    Ok(Value::Null)
}

/// The prompt the script passed to `agent()`, from the first line of the
/// agent's transcript.
fn transcript_prompt(path: &Path) -> Result<String, ClaudeError> {
    let text = read(path)?;
    let first = text.lines().next().unwrap_or("");
    let record: Value = serde_json::from_str(first).map_err(|e| malformed(path, 1, e.to_string()))?;
    let content = match record.pointer("/message/content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .find(|t| t.contains(FRAME_END))
            .unwrap_or("")
            .to_string(),
        _ => return Err(malformed(path, 1, "the first record carries no prompt")),
    };
    unframe(&content).ok_or_else(|| malformed(path, 1, "the prompt is not in Claude Code's workflow frame"))
}

/// Undoes Claude Code's framing of a computed prompt: the frame line, then
/// every line of the prompt indented by two spaces (empty ones too), then
/// possibly a note of its own, not indented.
fn unframe(framed: &str) -> Option<String> {
    let mut lines = framed.split('\n');
    lines.by_ref().find(|l| l.ends_with(FRAME_END))?;
    let prompt: Vec<&str> = lines.map_while(|l| l.strip_prefix("  ")).collect();
    Some(prompt.join("\n"))
}

/// What `odw import claude` made.
#[derive(Debug)]
pub struct Imported {
    pub run: RunDir,
    /// Calls journalled with Claude Code's answers.
    pub reused: usize,
    /// Finished calls no call of the script matched (their prompts differ
    /// from what the script asks for now).
    pub unmatched: usize,
    /// Calls Claude Code started and never finished.
    pub unfinished: usize,
    /// Calls that failed in Claude Code.
    pub failed: usize,
    /// The run completed there, but the script gives another result here.
    pub result_differs: bool,
}

/// Turns `claude` into an odw run under `root` whose journal carries the
/// calls Claude Code finished, keyed for `adapter` (as `odw run` would pick
/// it: the resume must use the same one, since the adapter is part of a key).
pub async fn import(
    sandbox: &Sandbox,
    config: &Config,
    root: &Path,
    claude: &ClaudeRun,
    adapter: Option<String>,
    workspace: PathBuf,
    config_path: Option<PathBuf>,
) -> Result<Imported, RunError> {
    // The script is kept in the run directory (where `meta.json` points):
    // Claude Code's copy may be cleaned up with its session.
    let scratch = tempfile::tempdir().map_err(io("cannot make a scratch directory"))?;
    let staged = scratch.path().join(format!("{}.js", claude.reference.id));
    std::fs::write(&staged, &claude.script).map_err(io("cannot stage the script"))?;
    let opts = RunOptions {
        script: staged,
        args: claude.args.clone(),
        adapter,
        budget: None,
        runs_root: Some(root.to_path_buf()),
        workspace,
        resume_from: None,
        reuse: ReuseRule::Prefix,
        config_path,
    };
    let mut prepared = prepare(sandbox, config, opts).await?;
    let script = prepared.run.path.join("script.js");
    std::fs::write(&script, &claude.script).map_err(io("cannot store the script"))?;
    prepared.meta.script = script;
    prepared.run.write_meta(&prepared.meta)?;

    // The evaluation journals into scratch space; the run's journal gets
    // only what Claude Code really answered.
    let draft = Arc::new(Journal::create(
        &scratch.path().join("journal"),
        started_record(&prepared.meta, &prepared.workflow),
    )?);
    let run = prepared.run.clone();
    let meta = prepared.meta.clone();
    let plan = Plan::foreign(claude.finished.clone(), meta.clock);
    let session = Session {
        sandbox,
        config,
        run: prepared.run,
        meta: prepared.meta,
        workflow: prepared.workflow.clone(),
        books: Books::ready(Some(draft.clone()), Some(plan)),
        watched: true,
    };
    let report = session.drive(Controls::default()).await?;

    let journal = Journal::create(&run.journal_path(), started_record(&meta, &prepared.workflow))?;
    let issued = draft.issued()?;
    for call in &issued {
        journal.issue(call)?;
    }
    let mut reused = 0;
    for (_, completed) in draft.completions()? {
        match &completed.outcome {
            CallOutcome::Err { message, .. } if message == NOT_FINISHED => {}
            _ => {
                journal.complete(&completed)?;
                reused += 1;
            }
        }
    }
    let completed = claude.status.as_deref() == Some("completed");
    let mut result_differs = false;
    run.forget_outcome();
    if completed && let Some(result) = &claude.result {
        result_differs = report.result.as_ref().ok() != Some(result);
        journal.finish(&Finished { ok: true, result: result.clone() })?;
        run.write_result(result)?;
    }
    let state = if completed { RunState::Done } else { RunState::Interrupted };
    let mut status = run.read_status().unwrap_or_else(|| Status::new(&run.id, &meta.workflow, state, 0));
    status.state = state;
    // The evaluation's counts would show the not-finished calls as failed;
    // they are incomplete (as `odw journal` shows them), not failed.
    status.agents =
        AgentCounts { dispatched: issued.len() as u64, running: 0, done: reused as u64, failed: 0 };
    run.write_status(&status)?;
    Ok(Imported {
        run,
        reused,
        unmatched: claude.finished.len().saturating_sub(reused),
        unfinished: claude.started.saturating_sub(claude.finished.len() + claude.failed),
        failed: claude.failed,
        result_differs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unframe_keeps_the_prompt_exactly() {
        let framed = "[Workflow harness — computed task] The task … The computed task text follows:\n  \
                      TASK first line\n  \n  third\n    indented\n  trailing space ";
        assert_eq!(unframe(framed).unwrap(), "TASK first line\n\nthird\n  indented\ntrailing space ");
        // The harness's own note after the prompt is not part of it.
        let noted = "x The computed task text follows:\n  do it\n\nNote: you run in a worktree.";
        assert_eq!(unframe(noted).unwrap(), "do it");
        assert_eq!(unframe("no frame here"), None);
    }

    #[test]
    fn a_path_names_its_run() {
        let dir = tempfile::tempdir().unwrap();
        let session = dir.path().join("projects/-p/s1");
        std::fs::create_dir_all(session.join("workflows")).unwrap();
        std::fs::create_dir_all(session.join("subagents/workflows/wf_b")).unwrap();
        std::fs::write(session.join("workflows/wf_a.json"), "{}").unwrap();
        std::fs::write(session.join("subagents/workflows/wf_b/journal.jsonl"), "").unwrap();
        let a = from_path(&session.join("workflows/wf_a.json")).unwrap();
        assert_eq!((a.session.clone(), a.id.as_str()), (session.clone(), "wf_a"));
        let b = from_path(&session.join("subagents/workflows/wf_b/journal.jsonl")).unwrap();
        assert_eq!(b.id, "wf_b");
        assert!(matches!(from_path(dir.path()), Err(ClaudeError::NotARun { .. })));
        let ids: Vec<String> = discover(&[dir.path().to_path_buf()]).into_iter().map(|r| r.id).collect();
        assert_eq!(ids, ["wf_a", "wf_b"]);
        assert_eq!(locate("a", &[dir.path().to_path_buf()]).unwrap().id, "wf_a");
        let e = locate("wf_zz", &[dir.path().to_path_buf()]).unwrap_err().to_string();
        assert!(e.starts_with("no Claude Code workflow run `wf_zz` under "), "{e}");
    }

    #[test]
    fn a_broken_journal_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let session = dir.path().join("projects/-p/s1");
        let agents = session.join("subagents/workflows/wf_c");
        std::fs::create_dir_all(&agents).unwrap();
        std::fs::create_dir_all(session.join("workflows/scripts")).unwrap();
        std::fs::write(session.join("workflows/scripts/x-wf_c.js"), "return 1;").unwrap();
        std::fs::write(agents.join("journal.jsonl"), "{\"type\":\"launched\"}\nnot json\n").unwrap();
        let r = ClaudeRunRef { session, id: "wf_c".into() };
        let e = load(&r).unwrap_err().to_string();
        assert!(e.contains("journal.jsonl:2: not a Claude Code record"), "{e}");
    }
}
