//! Everything the CLI prints for people: errors, warnings, run summaries.
//! One place, so messages look alike and never show a Rust panic or a raw
//! wasm trap.

use std::process::ExitCode;

use odw_engine::protocol::ScriptError;
use odw_engine::run::RunReport;

/// Exit codes, documented in `odw --help`.
pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
}

pub fn warn(message: &str) {
    eprintln!("odw: warning: {message}");
}

/// An error that stops the command before or outside a run.
pub fn fatal(e: &anyhow::Error) -> ExitCode {
    eprintln!("odw: error: {e:#}");
    ExitCode::from(exit::FAILED)
}

/// A usage error (bad flag values): exit 2.
pub fn usage(message: &str) -> ExitCode {
    eprintln!("odw: error: {message}");
    ExitCode::from(exit::USAGE)
}

/// The one-line summary of a finished run, on stderr.
pub fn summary(report: &RunReport) {
    let state = if report.result.is_ok() { "done" } else { "failed" };
    let a = &report.agents;
    eprintln!(
        "odw: run {} {state} in {} ms; agents: {} done, {} failed ({})",
        report.run.id,
        report.elapsed_ms,
        a.done,
        a.failed,
        report.run.path.display()
    );
}

/// A script's error as `file:line:col: Name: message`, plus its script frames.
pub fn script_error(e: &ScriptError) {
    let at = match &e.location {
        Some(l) => format!("{}:{}:{}: ", l.file.as_deref().unwrap_or("workflow"), l.line, l.column),
        None => String::new(),
    };
    eprintln!("odw: error: {at}{}: {}", e.name, e.message);
    // QuickJS's frame for a syntax error repeats its raw column; the
    // location above is the refined one. Frames of the prelude are odw's.
    if let Some(stack) = e.stack.as_ref().filter(|_| e.name != "SyntaxError") {
        for frame in
            stack.lines().filter(|l| l.trim_start().starts_with("at ") && !l.contains("odw:prelude")).take(8)
        {
            eprintln!("    {}", frame.trim());
        }
    }
}

/// What a resumed run reused.
pub fn reuse(r: &odw_engine::replay::ReuseSummary, calls: u64) {
    let first = match &r.first_live {
        Some((index, label)) => format!("first live call at index {index} (label {label})"),
        None => "no live calls".to_string(),
    };
    let content = if r.by_content > 0 {
        format!(" ({} by content after the first change)", r.by_content)
    } else {
        String::new()
    };
    eprintln!("odw: reused {} of {calls} calls{content}, {first}", r.by_prefix + r.by_content);
}
