//! `odw workflows list|where` and `odw validate`.

use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;

use odw_engine::{Script, library, read_meta, validate_file};

use super::{config, sandbox};
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
            None => {
                eprintln!("odw: no saved workflow `{name}`");
                Ok(Exit::Failed.into())
            }
        },
        WorkflowsCommand::List { json } => {
            let sandbox = sandbox()?;
            let mut rows = Vec::new();
            for saved in library::list(&config, &cwd) {
                let description = match Script::read(&saved.path) {
                    Ok(script) => match read_meta(&sandbox, &config, &script).await {
                        Ok(meta) => meta.description,
                        Err(e) => format!("(invalid: {e})"),
                    },
                    Err(e) => format!("(invalid: {e})"),
                };
                rows.push(json!({
                    "name": saved.name, "description": description,
                    "path": saved.path, "source": saved.origin,
                }));
            }
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

pub async fn validate(global: &Global, args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let config = config(global)?;
    let sandbox = sandbox()?;
    let verdict = validate_file(&sandbox, &config, &args.script).await;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&verdict)?);
    } else if verdict.ok {
        eprintln!("odw: {} is a valid workflow", args.script.display());
    } else {
        for e in &verdict.errors {
            let at = if e.line == 0 { String::new() } else { format!(":{}:{}", e.line, e.column) };
            eprintln!("odw: error: {}{at}: {}", args.script.display(), report::shown(&e.message));
        }
    }
    Ok(Exit::ok_if(verdict.ok))
}
