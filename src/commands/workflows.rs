//! `odw workflows list|where` and `odw validate`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::{Value, json};

use odw_engine::sandbox::Sandbox;
use odw_engine::{Config, LoadError, Script, library, read_meta, validate_file};

use super::{config, sandbox};
use crate::builtin;
use crate::cli::{Global, ValidateArgs, WorkflowsCommand};
use crate::report::{self, Exit, outln};

pub async fn workflows(global: &Global, cmd: WorkflowsCommand) -> anyhow::Result<ExitCode> {
    let config = config(global)?;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    match cmd {
        WorkflowsCommand::Where { name } => match library::find(&config, &cwd, &name) {
            Some(saved) => {
                outln!("{}", saved.path.display());
                Ok(Exit::Ok.into())
            }
            None if builtin::find(&name).is_some() => {
                eprintln!("odw: `{name}` is built into odw; save a {name}.js to replace it");
                Ok(Exit::Ok.into())
            }
            None => {
                eprintln!("odw: no saved workflow `{name}`");
                Ok(Exit::Failed.into())
            }
        },
        WorkflowsCommand::List { json } => {
            let rows = saved(&config, &cwd, sandbox()).await;
            if json {
                outln!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for r in &rows {
                    outln!(
                        "{:<24} {:<18} {}",
                        r["name"].as_str().unwrap_or(""),
                        r["source"].as_str().unwrap_or(""),
                        report::shown(r["description"].as_str().unwrap_or(""))
                    );
                }
            }
            Ok(Exit::Ok.into())
        }
    }
}

/// The saved workflows, then the built-ins no saved one replaces: `{name,
/// description, path, source}` rows for `odw workflows list` and `odw mcp`'s
/// `list_workflows`. A built-in has no path (it lives in the binary).
pub async fn saved(config: &Config, cwd: &Path, sandbox: &Sandbox) -> Vec<Value> {
    let mut rows = Vec::new();
    let found = library::list(config, cwd);
    for saved in &found {
        let description = description(sandbox, config, Script::read(&saved.path)).await;
        rows.push(json!({
            "name": saved.name, "description": description,
            "path": saved.path, "source": saved.origin,
        }));
    }
    for b in builtin::ALL.iter().filter(|b| !found.iter().any(|s| s.name == b.name)) {
        let script = Script::parse(Path::new(&format!("{}.js", b.name)), b.source.to_string());
        let description = description(sandbox, config, script).await;
        rows.push(json!({ "name": b.name, "description": description, "path": null, "source": "built-in" }));
    }
    rows
}

/// A workflow's `meta.description`, or why it cannot be read.
async fn description(sandbox: &Sandbox, config: &Config, script: Result<Script, LoadError>) -> String {
    let meta = match script {
        Ok(script) => read_meta(sandbox, config, &script).await,
        Err(e) => return format!("(invalid: {e})"),
    };
    meta.map_or_else(|e| format!("(invalid: {e})"), |m| m.description)
}

pub async fn validate(global: &Global, args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let config = config(global)?;
    let sandbox = sandbox();
    let verdict = validate_file(sandbox, &config, &args.script).await;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&verdict)?);
    } else if verdict.ok {
        warn_portability(args, &verdict.warnings);
        eprintln!("odw: {} is a valid workflow", args.script.display());
    } else {
        for e in &verdict.errors {
            let at = if e.line == 0 { String::new() } else { format!(":{}:{}", e.line, e.column) };
            eprintln!("odw: error: {}{at}: {}", args.script.display(), report::shown(&e.message));
        }
    }
    Ok(Exit::ok_if(verdict.ok))
}

/// Prints the places where Claude Code would refuse the script that odw
/// runs: warnings, not errors, so `odw validate` still succeeds.
fn warn_portability(args: &ValidateArgs, warnings: &[odw_engine::Problem]) {
    for w in warnings {
        eprintln!(
            "odw: warning: {}:{}:{}: {}",
            args.script.display(),
            w.line,
            w.column,
            report::shown(&w.message)
        );
    }
}
