//! Turns a workflow file into what the sandbox evaluates.
//!
//! A workflow is `export const meta = {…}` followed by the body of an async
//! function. The loader parses the file with a real JavaScript parser
//! ([`syntax`]) to find the meta literal (it never evaluates it: meta is
//! evaluated inside the sandbox), refuses every other
//! `import`/`export`, and wraps the body so that top-level `await` and
//! `return` work. It moves no text: the meta statement is blanked with spaces
//! (`meta` is no binding in the body, as in Claude Code) and the
//! async wrapper opens on line 1, so every line and column the script engine
//! reports is the one in the user's file (line 1 is shifted back by the
//! prelude using [`Script::line_one_shift`]).

mod syntax;

use std::path::{Path, PathBuf};

pub use syntax::MetaSpan;

use crate::protocol::{Activation, ScriptError};

/// Opens the async function the body runs in; placed before line 1.
const WRAP_OPEN: &str = "(async () => {";
/// What to subtract from a line-1 column QuickJS reports to get the column
/// in the file. QuickJS counts columns from 0 on the first line of a source
/// (it has no newline before it) and from 1 elsewhere; the wrapper is ASCII.
pub const LINE_ONE_SHIFT: u32 = WRAP_OPEN.len() as u32 - 1;
/// Closes and calls it; placed after the last line.
const WRAP_CLOSE: &str = "\n})()";
/// Closes it without calling it: compiles the body, runs nothing.
const WRAP_CLOSE_UNCALLED: &str = "\n})";
/// Opens a nested workflow's body: `workflow()` calls it with the child's
/// own `args`, a `phase` that moves only the child's phase, a `workflow`
/// that refuses a second level of nesting, and an `agent`, `log` and
/// `console` bound to the child (its calls take its phase, its log lines
/// are prefixed with its name).
const WRAP_OPEN_CHILD: &str = "(async (args, phase, workflow, agent, log, console) => {";

/// A loaded workflow script, ready for the sandbox.
#[derive(Debug, Clone)]
pub struct Script {
    /// The file the script came from (shown in errors and stack traces).
    pub path: PathBuf,
    /// The file's text, unchanged.
    pub source: String,
    /// The body wrapped as an immediately called async function.
    pub body: String,
    /// The body wrapped as an async function that is never called: what
    /// `odw validate` evaluates to find syntax errors without running.
    pub compile_only: String,
    /// The body as a nested workflow: an uncalled async function of
    /// `(args, phase, workflow)`.
    pub child_body: String,
    /// The meta object literal, padded so that its positions match the file.
    pub meta_source: String,
    /// What to subtract from a line-1 column QuickJS reports to get the
    /// column in the file.
    pub line_one_shift: u32,
    /// blake3 of `source`, hex.
    pub hash: String,
    /// Where `export const meta = {…}` lies in `source`.
    pub meta_span: MetaSpan,
}

/// A script the loader refuses, with its position in the file.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}{}: {message}", path.display(), position_suffix(*line, *column))]
pub struct LoadError {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl Script {
    /// Reads and loads a workflow file.
    pub fn read(path: &Path) -> Result<Script, LoadError> {
        Script::parse(path, read_source(path)?)
    }

    /// Loads a workflow from its text; `path` names it in errors.
    pub fn parse(path: &Path, source: String) -> Result<Script, LoadError> {
        let at = |offset: usize, message: String| {
            let (line, column) = position(&source, offset);
            LoadError { path: path.to_path_buf(), line, column, message }
        };
        // QuickJS is handed the source as a C string in places: a NUL would
        // end the text it sees before the text the parser checked.
        if let Some(nul) = source.find('\0') {
            return Err(at(nul, "the file contains a NUL character; write it as `\\0` in a string".into()));
        }
        let meta = syntax::analyse(&source).map_err(|(offset, msg)| at(offset, msg))?;
        let hash = source_hash(&source);
        let script = Script::assemble(path, source, meta, hash);
        if !syntax::is_one_statement(&script.compile_only) {
            let (line, column) = position(&script.source, 0);
            let message = "SyntaxError: the workflow body does not stand alone as a function body".into();
            return Err(LoadError { path: path.to_path_buf(), line, column, message });
        }
        Ok(script)
    }

    /// A script this odw has loaded before, from exactly this `source` (the
    /// compile cache keeps its `meta_span`): put together again without
    /// parsing, which only [`Script::parse`] does. The text back if the
    /// span does not fit it (a damaged entry): parse it then.
    pub fn analysed(path: &Path, source: String, meta: MetaSpan, hash: String) -> Result<Script, String> {
        let fits = meta.export <= meta.open
            && meta.open <= meta.close
            && meta.close < meta.end
            && meta.end <= source.len()
            && [meta.export, meta.open, meta.end].iter().all(|&i| source.is_char_boundary(i))
            && source.as_bytes()[meta.open] == b'{'
            && source.as_bytes()[meta.close] == b'}';
        if !fits || source.contains('\0') {
            return Err(source);
        }
        Ok(Script::assemble(path, source, meta, hash))
    }

    /// The wrapped bodies and the meta source, from a checked `source`.
    fn assemble(path: &Path, source: String, meta: MetaSpan, hash: String) -> Script {
        let body = blank_meta(&source, meta);
        let compile_only = format!("{WRAP_OPEN}{body}{WRAP_CLOSE_UNCALLED}");
        let child_body = format!("{WRAP_OPEN_CHILD}{body}{WRAP_CLOSE_UNCALLED}");
        let body = format!("{WRAP_OPEN}{body}{WRAP_CLOSE}");

        let (line, column) = position(&source, meta.open);
        let mut meta_source = "\n".repeat(line - 1);
        meta_source.push_str(&" ".repeat(column.saturating_sub(2)));
        meta_source.push('(');
        meta_source.push_str(&source[meta.open..=meta.close]);
        meta_source.push(')');

        Script {
            path: path.to_path_buf(),
            hash,
            source,
            body,
            compile_only,
            child_body,
            meta_source,
            line_one_shift: LINE_ONE_SHIFT,
            meta_span: meta,
        }
    }

    /// The name shown in stack traces: the file name as the user gave it.
    pub fn display_name(&self) -> String {
        display_name(&self.path)
    }

    /// An activation that compiles the body without running it (`odw
    /// validate`, `odw build`).
    pub fn compile_activation(&self) -> Activation {
        Activation {
            source: self.compile_only.clone(),
            filename: self.display_name(),
            line_one_shift: self.line_one_shift,
            args: serde_json::Value::Null,
            seed: [0, 0],
            clock: 0.0,
            budget: None,
        }
    }
}

/// Reads a workflow file's text.
pub fn read_source(path: &Path) -> Result<String, LoadError> {
    std::fs::read_to_string(path).map_err(|e| LoadError {
        path: path.to_path_buf(),
        line: 0,
        column: 0,
        message: format!("cannot read the workflow: {e}"),
    })
}

/// blake3 of a script's text, hex: its identity in runs and the cache.
pub fn source_hash(source: &str) -> String {
    blake3::hash(source.as_bytes()).to_hex().to_string()
}

/// The name a script at `path` is shown under in stack traces and errors.
pub fn display_name(path: &Path) -> String {
    path.display().to_string()
}

/// The body with the meta statement blanked out, newlines kept: as in
/// Claude Code, `meta` is not a binding inside the body (it is read apart,
/// in the sandbox, by `read_meta`). One space per byte, so every later byte
/// keeps its offset on the line (a `→` in a phase title is three).
fn blank_meta(source: &str, meta: MetaSpan) -> String {
    let mut body = String::with_capacity(source.len());
    body.push_str(&source[..meta.export]);
    for c in source[meta.export..meta.end].chars() {
        if c == '\n' {
            body.push('\n');
        } else {
            body.extend(std::iter::repeat_n(' ', c.len_utf8()));
        }
    }
    body.push_str(&source[meta.end..]);
    body
}

/// Where Claude Code would refuse a script that odw runs: `(line, column,
/// message)` for `odw validate`'s warnings (see [`syntax::portability`]).
pub fn portability_warnings(source: &str) -> Vec<(usize, usize, String)> {
    syntax::portability(source)
        .into_iter()
        .map(|(offset, message)| {
            let (line, column) = position(source, offset);
            (line, column, message)
        })
        .collect()
}

/// `:line:column`, or nothing for an error about the whole file (line 0).
fn position_suffix(line: usize, column: usize) -> String {
    if line == 0 { String::new() } else { format!(":{line}:{column}") }
}

/// 1-based line and column (in characters) of a byte offset.
fn position(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// QuickJS reports the right line for a syntax error but often the column
/// of an earlier token, and a missing closer past the end of the file (in
/// the wrapper). Point at the offending token when the message names it,
/// and never past the last line.
pub fn refine_syntax_location(source: &str, error: &mut ScriptError) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn load(src: &str) -> Result<Script, LoadError> {
        Script::parse(Path::new("wf.js"), src.to_string())
    }

    #[test]
    fn a_blanked_meta_keeps_every_byte_offset_even_with_non_ascii_text() {
        // Found by the loader fuzz target on examples/routing.js.
        let src = "export const meta = { name: 'x', description: 'a → b',\n  phases: [{ title: 'é' }] }; return 1;\n";
        let s = load(src).unwrap();
        let body_lines: Vec<_> = s.body.split('\n').collect();
        for (i, line) in src.split('\n').enumerate().skip(1) {
            assert_eq!(body_lines[i].len(), line.len(), "line {} moved", i + 1);
        }
        assert!(body_lines[1].ends_with("   return 1;"), "{:?}", body_lines[1]);
    }

    /// What the compile cache rebuilds from a kept span is what parsing
    /// the text makes; a span that does not fit the text is handed back.
    #[test]
    fn a_script_put_together_from_its_span_is_the_parsed_one() {
        let sources = [
            "export const meta = { name: 'x', description: 'a → b',\n  phases: [{ title: 'é' }] }; return 1;\n",
            "// hi\n\nexport const meta = {\n  name: 'n',\n  description: 'd' }\nreturn await agent('p');",
        ];
        for src in sources {
            let parsed = load(src).unwrap();
            let again =
                Script::analysed(&parsed.path, src.to_string(), parsed.meta_span, parsed.hash.clone())
                    .unwrap();
            assert_eq!(format!("{again:?}"), format!("{parsed:?}"));
        }
        let parsed = load(sources[0]).unwrap();
        let MetaSpan { export, open, close, end } = parsed.meta_span;
        let bad = [
            MetaSpan { export, open: open + 1, close, end },
            MetaSpan { export, open, close: close - 1, end },
            MetaSpan { export, open, close, end: sources[0].len() + 1 },
            MetaSpan { export: open + 1, open, close, end },
            // Inside the three bytes of `→`.
            MetaSpan { export, open, close, end: sources[0].find('→').unwrap() + 1 },
        ];
        for span in bad {
            let back = Script::analysed(Path::new("wf.js"), sources[0].to_string(), span, String::new());
            assert_eq!(back.unwrap_err(), sources[0], "{span:?} was taken");
        }
    }

    #[test]
    fn wraps_the_body_without_moving_text() {
        let src = "// hi\nexport const meta = { name: 'x', description: 'y' };\nreturn 1;\n";
        let s = load(src).unwrap();
        assert_eq!(s.body, format!("(async () => {{// hi\n{}\nreturn 1;\n\n}})()", " ".repeat(52)));
        let body_lines: Vec<_> = s.body.lines().collect();
        for (i, line) in src.lines().enumerate().skip(1) {
            assert_eq!(body_lines[i].len(), line.len(), "line {} moved", i + 1);
        }
        assert_eq!(s.line_one_shift, 13);
    }

    #[test]
    fn meta_source_keeps_positions() {
        let src = "\n\nexport const meta = {\n  name: 'n',\n  description: 'd' }\nreturn 1";
        let s = load(src).unwrap();
        assert_eq!(s.meta_source, "\n\n                   ({\n  name: 'n',\n  description: 'd' })");
        let open = s.meta_source.find('{').unwrap();
        assert_eq!(position(&s.meta_source, open), position(src, src.find('{').unwrap()));
    }

    #[test]
    fn meta_braces_inside_strings_do_not_end_the_literal() {
        let s = load("export const meta = { name: '}', description: `${'{'}` }\nreturn 1").unwrap();
        assert!(s.meta_source.ends_with("description: `${'{'}` })"));
    }

    #[test]
    fn an_unreadable_file_is_named_without_a_position() {
        let e = Script::read(Path::new("/no/such/wf.js")).unwrap_err();
        assert!(e.to_string().starts_with("/no/such/wf.js: cannot read the workflow"), "{e}");
    }

    #[test]
    fn a_nul_character_is_refused_where_it_is() {
        let e = load("export const meta = {name: 'a\0b', description: ''}\nreturn 1").unwrap_err();
        assert_eq!((e.line, e.column), (1, 30));
        assert!(e.message.contains("NUL"), "{e}");
    }

    #[test]
    fn missing_meta_is_refused() {
        let e = load("return 1").unwrap_err();
        assert!(e.message.contains("export const meta"), "{e}");
    }

    #[test]
    fn imports_and_other_exports_are_refused_with_their_line() {
        let e = load("export const meta = {name:'a',description:''}\n\nimport fs from 'fs'\n").unwrap_err();
        assert_eq!((e.line, e.column), (3, 1));
        assert!(e.message.contains("`import` is not allowed"));

        let e =
            load("export const meta = {name:'a',description:''}\nconst m = await import('x')").unwrap_err();
        assert_eq!((e.line, e.column), (2, 17));
        assert!(e.message.contains("import()"));

        let e = load("export const meta = {name:'a',description:''}\nexport default 1").unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(e.to_string(), format!("wf.js:2:1: {}", e.message));
    }

    #[test]
    fn import_as_a_property_or_in_text_is_fine() {
        let src = "export const meta = {name:'a',description:''}\n\
                   const o = { import: 1 }; o.import; const s = 'import x'; // import y\n\
                   const r = /import/; return `export ${o.import}`";
        assert!(load(src).is_ok());
    }

    use crate::protocol::Location;

    fn syntax(message: &str, line: u32, column: u32) -> ScriptError {
        ScriptError {
            location: Some(Location { file: None, line, column }),
            name: "SyntaxError".into(),
            message: message.into(),
            stack: None,
            fatal: false,
            limit: None,
        }
    }

    #[test]
    fn syntax_errors_point_at_the_named_token() {
        let src = "a\nlet b = (a +;\n";
        let mut e = syntax("unexpected token in expression: ';'", 2, 9);
        refine_syntax_location(src, &mut e);
        assert_eq!(e.location, Some(Location { file: None, line: 2, column: 13 }));
    }

    #[test]
    fn syntax_errors_past_the_end_point_at_the_last_line() {
        let mut e = syntax("expecting '}'", 5, 34);
        refine_syntax_location("a\nif (x) {\n", &mut e);
        assert_eq!(e.location, Some(Location { file: None, line: 2, column: 9 }));
        assert!(e.message.ends_with("something is not closed)"));
        let mut far = syntax("unexpected token in expression: ';'", 1, 34);
        refine_syntax_location("const x = ;", &mut far);
        assert_eq!(far.location, Some(Location { file: None, line: 1, column: 11 }));
    }
}
