//! One workflow run, start to end.
//!
//! 1. Load the script (host-side scan; nothing is evaluated on the host).
//! 2. Evaluate its meta literal in the sandbox and check it.
//! 3. Make the run directory, write `meta.json`, start `events.jsonl`.
//! 4. Run the body in the sandbox while the scheduler serves its agents.
//! 5. Write `result.json` or `error.json` and the final status.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::adapters::{self, Adapter};
use crate::config::Config;
use crate::loader::{LoadError, Script};
use crate::progress::Progress;
use crate::protocol::{Activation, Outcome, ScriptError};
use crate::runs::{RunDir, RunState};
use crate::sandbox::{Sandbox, SandboxError};
use crate::scheduler::{Scheduler, now_ms};

/// What to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub script: PathBuf,
    /// The workflow's `args` (`Value::Null` when none were given).
    pub args: Value,
    /// `--adapter`: overrides `defaultAdapter`.
    pub adapter: Option<String>,
    /// `--budget`: total tokens, or none.
    pub budget: Option<u64>,
    /// `--runs-root`: overrides `runsRoot`.
    pub runs_root: Option<PathBuf>,
    /// Where agents work: the current directory.
    pub workspace: PathBuf,
}

/// `meta` as the workflow declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    pub name: String,
    pub description: String,
    /// The whole object, other keys included.
    pub raw: Value,
}

/// How a run ended.
#[derive(Debug)]
pub struct RunReport {
    pub run: RunDir,
    pub result: Result<Value, ScriptError>,
    pub agents: crate::runs::AgentCounts,
    pub elapsed_ms: u64,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("{path}: {message}")]
    Meta { path: String, message: String },
    #[error(transparent)]
    Adapter(#[from] adapters::UnknownAdapter),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

/// Evaluates `meta` in the sandbox and checks its required keys.
pub async fn read_meta(sandbox: &Sandbox, config: &Config, script: &Script) -> Result<Meta, RunError> {
    let path = script.display_name();
    let activation = Activation {
        source: script.meta_source.clone(),
        filename: path.clone(),
        line_one_shift: 0,
        args: Value::Null,
        seed: [0, 0],
        clock: 0.0,
        budget: None,
    };
    let outcome = evaluate_alone(sandbox, config, &activation).await?;
    let meta_error = |message: String| RunError::Meta { path: path.clone(), message };
    let raw = match outcome {
        Outcome { ok: true, value: Some(v), .. } => v,
        Outcome { error: Some(e), .. } => {
            return Err(meta_error(format!("meta: {}", describe(&e))));
        }
        _ => return Err(meta_error("meta did not evaluate to a value".into())),
    };
    let name = match raw.get("name") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        _ => return Err(meta_error("`meta.name` must be a non-empty string".into())),
    };
    let description = match raw.get("description") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err(meta_error("`meta.description` must be a string".into())),
    };
    if let Some(phases) = raw.get("phases") {
        let ok = phases
            .as_array()
            .is_some_and(|ps| ps.iter().all(|p| p.get("title").is_some_and(Value::is_string)));
        if !ok {
            return Err(meta_error("`meta.phases` must be an array of `{title, detail?}`".into()));
        }
    }
    Ok(Meta { name, description, raw })
}

/// Runs an activation that may not call agents (meta, checks).
async fn evaluate_alone(
    sandbox: &Sandbox,
    config: &Config,
    activation: &Activation,
) -> Result<Outcome, SandboxError> {
    let (to_host, mut from_guest) = mpsc::unbounded_channel();
    let (to_guest, completions) = mpsc::unbounded_channel();
    // Any agent request here is answered with an error at once.
    let refuse = tokio::spawn(async move {
        while let Some(msg) = from_guest.recv().await {
            if let crate::sandbox::GuestMsg::Agent { id, .. } = msg {
                let error = crate::protocol::CallError::fatal(
                    "Error",
                    "agent() cannot be called while evaluating meta",
                    None,
                );
                let _ = to_guest.send(crate::protocol::Completion {
                    id,
                    ok: false,
                    value: None,
                    error: Some(error),
                    usage: None,
                    clock: 0.0,
                });
            }
        }
    });
    let outcome = sandbox.run(activation, config.sandbox_limits(), to_host, completions).await;
    refuse.abort();
    outcome
}

/// Picks the adapter for calls that name none: `--adapter`, `defaultAdapter`,
/// the only configured adapter, else the built-in `echo`.
pub fn default_adapter(config: &Config, flag: Option<&str>) -> Result<String, adapters::UnknownAdapter> {
    let name = flag
        .map(str::to_string)
        .or_else(|| config.default_adapter.clone())
        .or_else(|| (config.adapters.len() == 1).then(|| config.adapters.keys().next().cloned()).flatten())
        .unwrap_or_else(|| adapters::ECHO.to_string());
    Adapter::resolve(&name, config).map(|(name, _)| name)
}

/// Runs a workflow to its end.
pub async fn run_workflow(
    sandbox: &Sandbox,
    config: &Config,
    opts: RunOptions,
) -> Result<RunReport, RunError> {
    let started = Instant::now();
    let script = Script::read(&opts.script)?;
    let default_adapter = default_adapter(config, opts.adapter.as_deref())?;
    let meta = read_meta(sandbox, config, &script).await?;

    let root = opts.runs_root.clone().unwrap_or_else(|| config.runs_root());
    let io = |context: String| move |source| RunError::Io { context, source };
    let run = RunDir::create(&root, &meta.name)
        .map_err(io(format!("cannot create a run directory in {}", root.display())))?;
    let seed = new_seed();
    let clock = now_ms();
    run.write_json(
        "meta.json",
        &json!({
            "runId": run.id,
            "workflow": meta.name,
            "description": meta.description,
            "meta": meta.raw,
            "script": absolute(&opts.script),
            "scriptHash": script.hash,
            "args": opts.args,
            "adapter": default_adapter,
            "budget": opts.budget,
            "workspace": opts.workspace,
            "seed": seed,
            "clock": clock,
            "createdAt": crate::runs::timestamp(),
            "odwVersion": env!("CARGO_PKG_VERSION"),
        }),
    )
    .map_err(io("cannot write meta.json".into()))?;
    let progress =
        Arc::new(Progress::new(run.clone(), &meta.name).map_err(io("cannot start the event log".into()))?);
    progress.event(
        "run_started",
        json!({ "runId": run.id, "workflow": meta.name, "args": opts.args, "adapter": default_adapter, "phases": meta.raw.get("phases") }),
    );

    let scheduler = Arc::new(Scheduler::new(
        config.clone(),
        default_adapter,
        opts.workspace.clone(),
        run.path.clone(),
        progress.clone(),
    ));
    let (to_host, from_guest) = mpsc::unbounded_channel();
    let (to_guest, completions) = mpsc::unbounded_channel();
    let serving = tokio::spawn(scheduler.serve(from_guest, to_guest));
    let flusher = tokio::spawn({
        let progress = progress.clone();
        async move {
            let mut tick = tokio::time::interval(crate::progress::STATUS_INTERVAL);
            loop {
                tick.tick().await;
                progress.flush();
            }
        }
    });
    let activation = Activation {
        source: script.body.clone(),
        filename: script.display_name(),
        line_one_shift: script.line_one_shift,
        args: opts.args.clone(),
        seed,
        clock,
        budget: opts.budget,
    };
    let outcome = sandbox.run(&activation, config.sandbox_limits(), to_host, completions).await;
    // The guest is gone; the scheduler cancels what is still running.
    let _ = serving.await;
    flusher.abort();

    let result = match outcome {
        Ok(Outcome { ok: true, value, .. }) => Ok(value.unwrap_or(Value::Null)),
        Ok(Outcome { error: Some(mut error), .. }) => {
            refine_syntax_location(&script.source, &mut error);
            Err(error)
        }
        Ok(Outcome { error: None, .. }) => {
            Err(script_error("Error", "the workflow failed without an error".into()))
        }
        Err(SandboxError::Limit(hit)) => Err(ScriptError {
            limit: hit.key().map(str::to_string),
            fatal: true,
            ..script_error("LimitError", hit.to_string())
        }),
        Err(other) => Err(script_error("InternalError", other.to_string())),
    };
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let agents = progress.status().agents;
    match &result {
        Ok(value) => {
            run.write_json_durable("result.json", &json!({ "value": value }))
                .map_err(io("cannot write result.json".into()))?;
            progress.finish(RunState::Done, "run_finished", json!({ "ms": elapsed_ms, "agents": agents }));
        }
        Err(error) => {
            run.write_json_durable("error.json", &json!({ "error": error }))
                .map_err(io("cannot write error.json".into()))?;
            progress.finish(RunState::Failed, "run_failed", json!({ "ms": elapsed_ms, "error": error }));
        }
    }
    Ok(RunReport { run, result, agents, elapsed_ms })
}

/// QuickJS reports the right line for a syntax error but often the column
/// of an earlier token, and a missing closer past the end of the file (in
/// the wrapper). Point at the offending token when the message names it,
/// and never past the last line.
fn refine_syntax_location(source: &str, error: &mut ScriptError) {
    let Some(loc) = error.location.as_mut() else {
        return;
    };
    if error.name != "SyntaxError" {
        return;
    }
    let lines: Vec<&str> = source.lines().collect();
    if loc.line as usize > lines.len() {
        loc.line = lines.len().max(1) as u32;
        loc.column = lines.last().map_or(1, |l| l.chars().count() as u32 + 1);
        error.message.push_str(" (at the end of the file: something is not closed)");
        return;
    }
    let line = lines[loc.line as usize - 1];
    let token = error
        .message
        .rsplit_once(": '")
        .and_then(|(_, rest)| rest.strip_suffix('\''))
        .filter(|t| !t.is_empty());
    let from = (loc.column as usize).saturating_sub(1).min(line.len());
    let found = token.and_then(|t| {
        line.get(from..).and_then(|rest| rest.find(t)).map(|i| from + i).or_else(|| line.find(t))
    });
    let column = match found {
        Some(byte) => line[..byte].chars().count() as u32 + 1,
        None => loc.column.min(line.chars().count() as u32 + 1),
    };
    loc.column = column.max(1);
}

fn script_error(name: &str, message: String) -> ScriptError {
    ScriptError { name: name.into(), message, stack: None, location: None, fatal: false, limit: None }
}

/// A one-line description of a script error: `Name: message`.
pub fn describe(e: &ScriptError) -> String {
    format!("{}: {}", e.name, e.message)
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// A fresh seed for `Math.random`, recorded in `meta.json`.
fn new_seed() -> [u32; 2] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&now_ms().to_le_bytes());
    hasher.update(&std::process::id().to_le_bytes());
    hasher.update(&(std::ptr::from_ref(&hasher) as usize).to_le_bytes());
    let bytes = hasher.finalize();
    let b = bytes.as_bytes();
    [u32::from_le_bytes([b[0], b[1], b[2], b[3]]), u32::from_le_bytes([b[4], b[5], b[6], b[7]])]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Location;

    fn syntax(message: &str, line: u32, column: u32) -> ScriptError {
        ScriptError {
            location: Some(Location { line, column }),
            ..script_error("SyntaxError", message.into())
        }
    }

    #[test]
    fn syntax_errors_point_at_the_named_token() {
        let src = "a\nlet b = (a +;\n";
        let mut e = syntax("unexpected token in expression: ';'", 2, 9);
        refine_syntax_location(src, &mut e);
        assert_eq!(e.location, Some(Location { line: 2, column: 13 }));
    }

    #[test]
    fn syntax_errors_past_the_end_point_at_the_last_line() {
        let mut e = syntax("expecting '}'", 5, 34);
        refine_syntax_location("a\nif (x) {\n", &mut e);
        assert_eq!(e.location, Some(Location { line: 2, column: 9 }));
        assert!(e.message.ends_with("something is not closed)"));
        let mut far = syntax("unexpected token in expression: ';'", 1, 34);
        refine_syntax_location("const x = ;", &mut far);
        assert_eq!(far.location, Some(Location { line: 1, column: 11 }));
    }
}
