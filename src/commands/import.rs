//! `odw import claude`: a Claude Code workflow run made into an odw run.

use std::process::ExitCode;

use anyhow::Context;

use odw_engine::run::claude;

use super::{config, runs_root, sandbox};
use crate::cli::{Global, ImportClaudeArgs};
use crate::report::{Exit, outln};

pub async fn claude(global: &Global, args: &ImportClaudeArgs) -> anyhow::Result<ExitCode> {
    let config = config(global)?;
    let root = runs_root(global, &config);
    let reference = claude::locate(&args.run, &claude::config_dirs())?;
    let recorded = claude::load(&reference)?;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let sandbox = sandbox();
    let imported =
        claude::import(sandbox, &config, &root, &recorded, args.adapter.clone(), cwd, config.path.clone())
            .await
            .with_context(|| format!("cannot import Claude Code run {}", reference.id))?;
    let script = imported.run.read_meta()?.script;
    let state = recorded.status.as_deref().unwrap_or("interrupted");
    eprintln!(
        "odw: imported Claude Code run {} ({state}): {} finished calls journalled, {} unfinished, {} failed \
         (a resume runs the unfinished and failed ones)",
        reference.id, imported.reused, imported.unfinished, imported.failed
    );
    if imported.unmatched > 0 {
        crate::report::warn(&format!(
            "{} finished calls match no call the script makes now (edited script or args?); they are not journalled",
            imported.unmatched
        ));
    }
    if imported.result_differs {
        crate::report::warn("replayed here, the script gives another result than Claude Code's");
    }
    // The resume needs the same args: Claude Code's, not odw's default.
    let args_flag = match &recorded.args {
        serde_json::Value::Null => String::new(),
        args => format!(" --args '{}'", args.to_string().replace('\'', "'\\''")),
    };
    eprintln!(
        "odw: continue it with: odw run {}{args_flag} --resume-from {} --reuse content",
        script.display(),
        imported.run.id
    );
    outln!("{}", imported.run.id);
    Ok(Exit::Ok.into())
}
