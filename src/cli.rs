//! Flags and commands. Each flag is defined once here, with its help text;
//! `--help` is generated from these definitions.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde_json::Value;

use odw_engine::config::{Config, home_dir};
use odw_engine::run::{RunOptions, run_workflow};
use odw_engine::sandbox::Sandbox;

use crate::report::{self, exit};

const AFTER_HELP: &str = "\
Exit codes:
  0  the workflow finished (its result is printed with --wait)
  1  the workflow failed, or odw could not run it
  2  usage error (bad flags or flag values)

Files:
  config     --config, $ODW_CONFIG, ./odw.config.json, ~/.config/odw/config.json
  runs       <runsRoot>/<workflow>/<runId>/ (default ~/.odw/runs)
  cache      $ODW_CACHE_DIR, else $XDG_CACHE_HOME/odw, else ~/.cache/odw";

/// Sandboxed, replayable dynamic workflows for coding-agent CLIs.
#[derive(Debug, Parser)]
#[command(name = "odw", version, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a workflow script.
    Run(RunArgs),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// The workflow file (.js).
    script: PathBuf,
    /// The workflow's `args`: JSON, @file with JSON, or a plain string.
    #[arg(long, value_name = "JSON|@FILE")]
    args: Option<String>,
    /// The adapter for calls that name none (overrides `defaultAdapter`).
    #[arg(long, value_name = "NAME")]
    adapter: Option<String>,
    /// The configuration file (default: $ODW_CONFIG, ./odw.config.json,
    /// ~/.config/odw/config.json).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Wait for the run to end and print its result as JSON.
    #[arg(long)]
    wait: bool,
    /// The token budget of the run (`budget.total` in the script).
    #[arg(long, value_name = "TOKENS")]
    budget: Option<u64>,
    /// Where run directories go (overrides `runsRoot`).
    #[arg(long, value_name = "DIR")]
    runs_root: Option<PathBuf>,
}

pub async fn execute(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => run(args).await,
    }
}

async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let workflow_args = match parse_args(args.args.as_deref()) {
        Ok(v) => v,
        Err(message) => return Ok(report::usage(&message)),
    };
    let config = Config::discover(args.config.as_deref()).context("cannot read the configuration")?;
    for w in &config.warnings {
        let file = config.path.as_deref().map_or(String::new(), |p| format!("{}: ", p.display()));
        report::warn(&format!("{file}{w}"));
    }
    let sandbox = Sandbox::new(cache_dir().as_deref())?;
    let opts = RunOptions {
        script: args.script.clone(),
        args: workflow_args,
        adapter: args.adapter,
        budget: args.budget,
        runs_root: args.runs_root,
        workspace: std::env::current_dir().context("cannot read the current directory")?,
    };
    let run = run_workflow(&sandbox, &config, opts).await?;
    report::summary(&run);
    match &run.result {
        Ok(value) => {
            if args.wait {
                println!("{}", serde_json::to_string_pretty(value)?);
            } else {
                println!("{}", run.run.id);
            }
            Ok(ExitCode::from(exit::OK))
        }
        Err(e) => {
            report::script_error(&args.script.display().to_string(), e);
            if !args.wait {
                println!("{}", run.run.id);
            }
            Ok(ExitCode::from(exit::FAILED))
        }
    }
}

/// `--args`: JSON, `@file`, or a plain string. Text that looks like JSON
/// (starts with `{`, `[` or `"`) must parse, so a typo is an error rather
/// than a silently different string.
fn parse_args(raw: Option<&str>) -> Result<Value, String> {
    let Some(raw) = raw else {
        return Ok(Value::Null);
    };
    let (text, origin) = match raw.strip_prefix('@') {
        Some(file) => (
            std::fs::read_to_string(file).map_err(|e| format!("--args @{file}: {e}"))?,
            format!("--args @{file}"),
        ),
        None => (raw.to_string(), "--args".to_string()),
    };
    match serde_json::from_str(&text) {
        Ok(v) => Ok(v),
        Err(e) if text.trim_start().starts_with(['{', '[', '"']) => {
            Err(format!("{origin} is not valid JSON: {e}"))
        }
        Err(_) => Ok(Value::String(text)),
    }
}

/// Where the precompiled guest is cached.
fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("ODW_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(xdg) = std::env::var_os("XDG_CACHE_HOME").filter(|x| Path::new(x).is_absolute()) {
        return Some(PathBuf::from(xdg).join("odw"));
    }
    home_dir().map(|h| h.join(".cache/odw"))
}

#[cfg(test)]
mod tests {
    use super::parse_args;
    use serde_json::json;

    #[test]
    fn args_are_json_or_a_plain_string() {
        assert_eq!(parse_args(None).unwrap(), json!(null));
        assert_eq!(parse_args(Some(r#"{"q": 1}"#)).unwrap(), json!({"q": 1}));
        assert_eq!(parse_args(Some("42")).unwrap(), json!(42));
        assert_eq!(parse_args(Some("what is odw?")).unwrap(), json!("what is odw?"));
        let e = parse_args(Some(r#"{"q": }"#)).unwrap_err();
        assert!(e.starts_with("--args is not valid JSON: expected value at line 1 column 7"), "{e}");
        assert!(parse_args(Some("@/no/such/file")).unwrap_err().starts_with("--args @/no/such/file"));
    }
}
