//! `odw adapters`: every adapter a call can use, whether its CLI is
//! installed, the exact command line one call runs here, and the model
//! routes.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::json;

use odw_engine::{AgentCall, CallTag, ExecutorKind, catalogue, select_default};

use super::config;
use crate::cli::{AdaptersArgs, Global};
use crate::report::{Exit, outln};

pub fn adapters(global: &Global, args: &AdaptersArgs) -> anyhow::Result<ExitCode> {
    let config = config(global)?;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    // The call as `odw run` here would make it, model named when asked for.
    let sample = AgentCall {
        // Shown where a command line carries the prompt itself (kimi).
        prompt: "<prompt>".into(),
        model: args.model.clone(),
        role: None,
        effort: None,
        schema: None,
        workspace: cwd.clone(),
        source: cwd,
        prompt_file: PathBuf::from("<runDir>/prompts/<index>-<attempt>.txt"),
        // A cluster job's time limit follows it (`srun --time`).
        timeout: config.agent_timeout(),
        // A cluster job's name shows where the run id and the call go.
        job: CallTag { run: "RUN".into(), index: 0, attempt: 1, ..CallTag::default() },
    };
    let list = catalogue(&config, &sample);
    let default = select_default(&config, args.adapter.as_deref());
    if args.json {
        let default = match &default {
            Ok(s) => json!({ "name": s.name, "reason": s.reason }),
            Err(e) => json!({ "error": e.to_string() }),
        };
        let shown = json!({ "adapters": list, "routes": config.routes, "default": default });
        outln!("{}", serde_json::to_string_pretty(&shown)?);
        return Ok(Exit::Ok.into());
    }
    let width = list.iter().map(|a| a.name.len()).max().unwrap_or(4);
    for a in &list {
        let installed = match (&a.program, &a.found) {
            (None, _) => "always available".to_string(),
            (Some(_), Some(path)) => format!("found: {}", path.display()),
            (Some(p), None) => format!("`{p}` not on PATH"),
        };
        let executor = match a.executor {
            ExecutorKind::Local => String::new(),
            other => format!(" · runs on {}", other.name()),
        };
        outln!("{:width$}  {} · {}{executor} · {installed}", a.name, a.origin, a.kind);
        outln!("{:width$}  $ {}", "", a.command_line);
        if !a.options.is_empty() {
            let shown: Vec<String> = a.options.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            outln!("{:width$}  {}", "", shown.join(" · "));
        }
    }
    // Model routes, in the order they are tried.
    if !config.routes.is_empty() {
        outln!("\nroutes (a call with a model and no adapter):");
        for r in &config.routes {
            let strip = if r.strip_prefix { " (prefix stripped)" } else { "" };
            outln!("  {} -> {}{strip}", r.pattern, r.adapter);
        }
    }
    match default {
        Ok(s) => outln!("\ndefault: {} ({})", s.name, s.reason),
        Err(e) => outln!("\ndefault: none: {e}"),
    }
    Ok(Exit::Ok.into())
}
