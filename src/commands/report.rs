//! `odw report <id>`: an audit of a run as HTML, Markdown or JSON (its
//! [`RunView`]), on stdout or in a file.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use odw_engine::{RunView, atomic_write};

use super::find_run;
use crate::audit;
use crate::cli::{Global, ReportArgs, ReportFormat};
use crate::report::{self, Exit, outln};

pub fn report(global: &Global, args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let run = find_run(global, &args.run)?;
    let view = RunView::load(&run).with_context(|| format!("cannot read run {}", run.id))?;
    if !view.state.is_final() {
        report::warn(&format!(
            "run {} is still {}: this report shows it so far, without prompts and replies",
            run.id,
            view.state.name()
        ));
    }
    let text = match args.format {
        ReportFormat::Html => {
            let generated = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
            audit::html::render(&view, &run.path.display().to_string(), &generated)
        }
        ReportFormat::Md => audit::markdown::render(&view),
        ReportFormat::Json => serde_json::to_string_pretty(&view)? + "\n",
    };
    match &args.output {
        Some(path) => write(path, &text)?,
        None => outln!("{}", text.trim_end_matches('\n')),
    }
    Ok(Exit::Ok.into())
}

/// Writes the report whole or not at all (it can hold private prompts: 0600
/// like the run files it comes from).
fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    atomic_write(path, text.as_bytes(), false).with_context(|| format!("cannot write {}", path.display()))
}
