//! Everything the CLI prints for people: errors, warnings, run summaries,
//! and the exit codes. One place, so messages look alike and never show a
//! Rust panic or a raw wasm trap.

use std::process::ExitCode;

use odw_engine::{ReuseSummary, RunDir, RunReport, ScriptError};

/// Writes a line to stdout, returning the error instead of panicking, so a
/// closed pipe (`odw logs … | head`) ends the command quietly ([`main`]
/// finds the broken pipe in the error chain).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}
pub(crate) use outln;

/// Writes a line to stderr in one write. `eprintln!` writes each piece of
/// its format separately (stderr is unbuffered): a dozen system calls for
/// a run's summary line, and lines of concurrent writers could interleave.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let line = format!("{}\n", format_args!($($arg)*));
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }};
}

/// odw's exit codes, as `odw --help` documents them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The workflow finished (with `--wait` its result is printed).
    Ok = 0,
    /// The workflow failed or was stopped, or odw could not run it.
    Failed = 1,
    /// Bad flags or flag values, bad `--args` JSON.
    Usage = 2,
    /// `odw replay --check`: the script diverged from the journal.
    Diverged = 3,
    /// `odw run --wait --timeout`: the time ran out (the run goes on).
    StillRunning = 124,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit as u8)
    }
}

impl Exit {
    /// `Ok` when `ok`, else `Failed`.
    pub fn ok_if(ok: bool) -> ExitCode {
        (if ok { Exit::Ok } else { Exit::Failed }).into()
    }
}

/// Text a script or an agent produced, made safe to print on a terminal:
/// control characters (ANSI and OSC sequences, carriage returns, newlines
/// that would fake an `odw:` line, C1 codes) and bidirectional formatting
/// characters ([`reorders`]) are shown escaped, as `\u{1b}`.
pub fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(hidden) {
        return text.into();
    }
    text.chars()
        .map(|c| if hidden(c) { c.escape_unicode().to_string() } else { c.to_string() })
        .collect::<String>()
        .into()
}

/// Whether printing `c` as itself would hide or change what a person reads.
pub fn hidden(c: char) -> bool {
    c.is_control() || reorders(c)
}

/// The bidirectional formatting characters: embeddings, overrides and
/// isolates (U+202A-U+202E, U+2066-U+2069) and the direction marks (U+200E,
/// U+200F, U+061C). None is a control character to Rust, yet each reorders
/// the text after it on a terminal or a page ("Trojan Source"): a label or
/// a log line could show one call's name over another's, or text that
/// reads other than it is.
pub fn reorders(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Like [`shown`] for a message that may span lines (an agent's stderr
/// tail): newlines and tabs stay, and a line that would pass for odw's own
/// (`odw: …`) is marked as quoted.
pub fn shown_lines(text: &str) -> String {
    let lines: Vec<String> = text
        .split('\n')
        .enumerate()
        .map(|(i, line)| {
            let line: String =
                line.split('\t').map(|part| shown(part).into_owned()).collect::<Vec<_>>().join("\t");
            if i > 0 && line.trim_start().starts_with("odw:") { format!("> {line}") } else { line }
        })
        .collect();
    lines.join("\n")
}

pub fn warn(message: &str) {
    errln!("odw: warning: {message}");
}

/// An error that stops the command before or outside a run.
pub fn fatal(e: &anyhow::Error) -> ExitCode {
    errln!("odw: error: {}", chain(e));
    Exit::Failed.into()
}

/// An error and its causes, `: `-joined, leaving out a cause whose text is
/// already in the message (many errors show their source in their own text).
pub fn chain(e: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

/// A usage error (bad flag values): exit 2.
pub fn usage(message: &str) -> ExitCode {
    errln!("odw: error: {message}");
    Exit::Usage.into()
}

/// Whether `e` comes from writing to a reader that went away.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The one-line summary of a finished run, on stderr.
pub fn summary(report: &RunReport) {
    let state = if report.result.is_ok() { "done" } else { "failed" };
    let a = &report.agents;
    errln!(
        "odw: run {} {state} in {} ms; agents: {} done, {} failed ({})",
        report.run.id,
        report.elapsed_ms,
        a.done,
        a.failed,
        report.run.path.display()
    );
}

/// A prepared run that could not run to its end: which one, and where it is.
pub fn run_failed(run: &RunDir) {
    errln!("odw: run {} failed ({})", run.id, run.path.display());
}

/// A script's error as `file:line:col: Name: message`, plus its script frames.
pub fn script_error(e: &ScriptError) {
    errln!("odw: error: {}", script_error_line(e));
    // QuickJS's frame for a syntax error repeats its raw column; the
    // location above is the refined one. Frames of the prelude are odw's.
    if let Some(stack) = e.stack.as_ref().filter(|_| e.name != "SyntaxError") {
        for frame in
            stack.lines().filter(|l| l.trim_start().starts_with("at ") && !l.contains("odw:prelude")).take(8)
        {
            errln!("    {}", shown(frame.trim()));
        }
    }
}

/// A script's error as one `file:line:col: Name: message` (the message may
/// span lines): what `odw run --wait` and `odw result` print after `odw:
/// error: `, and `odw mcp` answers.
pub fn script_error_line(e: &ScriptError) -> String {
    let at = match &e.location {
        Some(l) => format!("{}:{}:{}: ", shown(l.file.as_deref().unwrap_or("workflow")), l.line, l.column),
        None => String::new(),
    };
    format!("{at}{}: {}", shown(&e.name), shown_lines(&e.message))
}

/// What a resumed run reused.
pub fn reuse(r: &ReuseSummary, calls: u64) {
    let first = match &r.first_live {
        Some((index, label)) => format!("first live call at index {index} (label {})", shown(label)),
        None => "no live calls".to_string(),
    };
    let content = if r.by_content > 0 {
        format!(" ({} by content after the first change)", r.by_content)
    } else {
        String::new()
    };
    errln!("odw: reused {} of {calls} calls{content}, {first}", r.by_prefix + r.by_content);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_pipe_is_found_anywhere_in_the_chain() {
        let pipe = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        let wrapped = anyhow::Error::from(pipe).context("cannot print the events");
        assert!(is_broken_pipe(&wrapped));
        assert!(!is_broken_pipe(&anyhow::anyhow!("broken pipe, but only in words")));
    }

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let io = std::io::Error::other("No space left on device");
        let e = anyhow::Error::new(io).context("journal: No space left on device; check free space");
        assert_eq!(chain(&e), "journal: No space left on device; check free space");
        let e = anyhow::anyhow!("disk gone").context("cannot write status.json");
        assert_eq!(chain(&e), "cannot write status.json: disk gone");
    }

    #[test]
    fn control_characters_from_scripts_are_shown_escaped() {
        assert_eq!(shown("plain text · ok"), "plain text · ok");
        assert_eq!(shown("\x1b]52;c;aGk=\x07red"), "\\u{1b}]52;c;aGk=\\u{7}red");
        assert_eq!(shown("a\nodw: fake"), "a\\u{a}odw: fake");
        assert_eq!(shown("\u{9b}31m"), "\\u{9b}31m");
        // A right-to-left override and an isolate, which reorder what follows.
        assert_eq!(shown("ok \u{202e}txt.exe\u{2069}"), "ok \\u{202e}txt.exe\\u{2069}");
        assert_eq!(shown("\u{200f}a\u{2066}"), "\\u{200f}a\\u{2066}");
        // Other right-to-left text is text, shown as itself.
        assert_eq!(shown("שלום مرحبا"), "שלום مرحبا");
        assert_eq!(shown_lines("exit 4: starting\nauth: no key"), "exit 4: starting\nauth: no key");
        assert_eq!(shown_lines("a\nodw: run x done\x1b[2J"), "a\n> odw: run x done\\u{1b}[2J");
    }

    #[test]
    fn exit_codes_are_the_documented_ones() {
        for (exit, code) in [(Exit::Ok, 0), (Exit::Failed, 1), (Exit::Usage, 2), (Exit::Diverged, 3)] {
            assert_eq!(exit as u8, code);
            assert!(crate::cli::AFTER_HELP.contains(&format!("\n  {code:<4} ")), "{code} is documented");
        }
        assert!(crate::cli::AFTER_HELP.contains(&format!("\n  {:<4} ", Exit::StillRunning as u8)));
    }
}
