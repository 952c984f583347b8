//! `odw workflows list|where` and `odw validate`.

use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;

use odw_engine::library;
use odw_engine::loader::Script;
use odw_engine::run::read_meta;
use odw_engine::validate::validate_file;

use super::{config, sandbox};
use crate::cli::{Global, ValidateArgs, WorkflowsCommand};
use crate::report::exit;

pub async fn workflows(global: &Global, cmd: WorkflowsCommand) -> anyhow::Result<ExitCode> {
    let config = config(global)?;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    match cmd {
        WorkflowsCommand::Where { name } => match library::find(&config, &cwd, &name) {
            Some(saved) => {
                println!("{}", saved.path.display());
                Ok(ExitCode::from(exit::OK))
            }
            None => {
                eprintln!("odw: no saved workflow `{name}`");
                Ok(ExitCode::from(exit::FAILED))
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
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for r in &rows {
                    println!(
                        "{:<24} {:<18} {}",
                        r["name"].as_str().unwrap_or(""),
                        r["source"].as_str().unwrap_or(""),
                        r["description"].as_str().unwrap_or("")
                    );
                }
            }
            Ok(ExitCode::from(exit::OK))
        }
    }
}

pub async fn validate(global: &Global, args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let config = config(global)?;
    let sandbox = sandbox()?;
    let verdict = validate_file(&sandbox, &config, &args.script).await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&verdict)?);
    } else if verdict.ok {
        eprintln!("odw: {} is a valid workflow", args.script.display());
    } else {
        for e in &verdict.errors {
            let at = if e.line == 0 { String::new() } else { format!(":{}:{}", e.line, e.column) };
            eprintln!("odw: error: {}{at}: {}", args.script.display(), e.message);
        }
    }
    Ok(ExitCode::from(if verdict.ok { exit::OK } else { exit::FAILED }))
}
