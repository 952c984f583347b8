//! The one parser that decides what a workflow file is: oxc.
//!
//! A hand-written lexical scan used to find `export const meta` and the
//! statements to refuse. A scan cannot tell a regular expression from a
//! division without the grammar (`{} / 2 + "/"` or `if (1) /'/.test(x)`), and
//! an unbalanced `}` let a file close the async wrapper the body runs in and
//! put statements at the top level, where `odw validate` would run them. So
//! the whole file is parsed by a real JavaScript parser (the oxc crate: a
//! conformance-tested ECMAScript parser, kept up to date with the language),
//! and the loader builds its wrapper only around a file that parsed: a parsed
//! body is balanced, so the wrapper holds exactly one function. The wrapped
//! text is then parsed again and must be exactly that one statement — the
//! check does not rely on the first parse being right.
//!
//! The file is parsed as a module (for top-level `await` and the `export`)
//! with `return` allowed outside functions, as the dialect has it. A module
//! is strict code, so a few sloppy-mode-only forms (`with`, legacy octal
//! literals) are refused here although QuickJS, which runs the body in a
//! script, would take them.

use oxc_allocator::Allocator;
use oxc_ast::ast::{
    ArrayExpressionElement, CallExpression, Expression, ImportExpression, MetaProperty, NewExpression,
    ObjectExpression, ObjectPropertyKind, PropertyKind, Statement, UnaryOperator, VariableDeclarationKind,
};
use oxc_ast_visit::{Visit, walk};
use oxc_parser::{ParseOptions, Parser};
use oxc_span::{GetSpan, SourceType};

/// A refusal: a byte offset into the file and what is wrong there.
pub type Refusal = (usize, String);

/// Byte offsets of `export`, of the braces of the meta literal, and of the
/// end of the whole `export const meta = {…};` statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetaSpan {
    pub export: usize,
    pub open: usize,
    pub close: usize,
    pub end: usize,
}

const NO_META: &str = "no `export const meta = { name, description }` found: every workflow starts with one";
const META_NOT_LITERAL: &str =
    "`export const meta` must be an object literal: `export const meta = { name: '…', description: '…' }`";
const IMPORT: &str = "`import` is not allowed: workflows run sandboxed and cannot load modules; use the injected globals (agent, parallel, pipeline, …)";
const DYNAMIC_IMPORT: &str =
    "dynamic `import()` is not allowed: workflows run sandboxed and cannot load modules";
const OTHER_EXPORT: &str = "only `export const meta = {…}` may be exported; the rest of the file is the workflow body (use `return` for its result)";

/// Parses a workflow file and finds its meta literal, or says why the file
/// is not a workflow: a syntax error, a missing or non-literal meta, an
/// `import` (static, dynamic or `import.meta`) or another `export`.
pub fn analyse(source: &str) -> Result<MetaSpan, Refusal> {
    let allocator = Allocator::default();
    let options = ParseOptions {
        allow_return_outside_function: true,
        parse_regular_expression: true,
        ..Default::default()
    };
    let parsed = Parser::new(&allocator, source, SourceType::mjs()).with_options(options).parse();
    if let Some(error) = parsed.errors.first() {
        return Err(syntax_error(error));
    }
    if parsed.panicked {
        return Err((0, "SyntaxError: the file could not be parsed".into()));
    }

    let mut meta = None;
    for statement in &parsed.program.body {
        match statement {
            Statement::ImportDeclaration(d) => return Err((d.span.start as usize, IMPORT.into())),
            Statement::ExportNamedDeclaration(d) if meta.is_none() => {
                meta = Some(meta_span(d).ok_or((d.span.start as usize, OTHER_EXPORT.to_string()))??);
            }
            Statement::ExportNamedDeclaration(_)
            | Statement::ExportDefaultDeclaration(_)
            | Statement::ExportAllDeclaration(_) => {
                return Err((statement.span().start as usize, OTHER_EXPORT.into()));
            }
            _ => {}
        }
    }
    let mut imports = Imports::default();
    imports.visit_program(&parsed.program);
    if let Some(refusal) = imports.found {
        return Err(refusal);
    }
    meta.ok_or((0, NO_META.to_string()))
}

const META_NOT_FIRST: &str = "`export const meta` is not the first statement: Claude Code refuses such a script \
     (\"must be the FIRST statement\"); odw runs it, but move meta to the top to keep the script portable";
const CLOCK: &str = "Claude Code refuses a script that calls this anywhere (\"Workflow scripts must be deterministic\"); \
     odw makes it deterministic, but the script is not portable: compute times outside the workflow";

/// Where a script that odw runs would be refused by Claude Code before
/// launch, for `odw validate`'s warnings: `meta` not the first statement or
/// not a pure literal, and any call of `Date.now()`, `Math.random()` or
/// `new Date()` without arguments (Claude Code checks the code, not the
/// text: the same words in a string or a comment do not count, and neither
/// does a call that is never reached). Empty for a file that does not parse
/// (`analyse` reports that).
pub fn portability(source: &str) -> Vec<Refusal> {
    let allocator = Allocator::default();
    let options = ParseOptions { allow_return_outside_function: true, ..Default::default() };
    let parsed = Parser::new(&allocator, source, SourceType::mjs()).with_options(options).parse();
    if !parsed.errors.is_empty() || parsed.panicked {
        return Vec::new();
    }
    let mut out = Vec::new();
    let program = &parsed.program;
    let meta = program.body.iter().enumerate().find_map(|(i, st)| match st {
        Statement::ExportNamedDeclaration(d) => meta_object(d).map(|o| (i, d.span.start as usize, o)),
        _ => None,
    });
    if let Some((index, at, object)) = meta {
        if index > 0 || !program.directives.is_empty() {
            out.push((at, META_NOT_FIRST.to_string()));
        }
        if let Some((offset, kind)) = non_literal_object(object) {
            out.push((
                offset,
                format!(
                    "meta is not a pure literal ({kind}): Claude Code refuses it (\"meta must be a pure literal\"); \
                     odw evaluates it, but write plain values to keep the script portable"
                ),
            ));
        }
    }
    let mut clock = Clock::default();
    clock.visit_program(program);
    out.extend(clock.found);
    out.sort_by_key(|(offset, _)| *offset);
    out
}

/// The object of `export const meta = {…}`, if that is what `d` is.
fn meta_object<'b, 'a>(d: &'b oxc_ast::ast::ExportNamedDeclaration<'a>) -> Option<&'b ObjectExpression<'a>> {
    let Some(oxc_ast::ast::Declaration::VariableDeclaration(var)) = &d.declaration else { return None };
    let [declarator] = var.declarations.as_slice() else { return None };
    if declarator.id.get_identifier_name().as_deref() != Some("meta") {
        return None;
    }
    match &declarator.init {
        Some(Expression::ObjectExpression(o)) => Some(o),
        _ => None,
    }
}

/// The first part of a meta literal that is not a plain value (what Claude
/// Code accepts, as observed: strings, numbers, `-1`, booleans, `null`,
/// templates without `${}`, arrays and objects of those with plain keys).
fn non_literal_object(object: &ObjectExpression) -> Option<(usize, &'static str)> {
    object.properties.iter().find_map(|p| match p {
        ObjectPropertyKind::ObjectProperty(p) if p.computed => {
            Some((p.key.span().start as usize, "a computed key"))
        }
        ObjectPropertyKind::ObjectProperty(p) if p.method || p.shorthand || p.kind != PropertyKind::Init => {
            Some((p.span.start as usize, "a method, getter or shorthand property"))
        }
        ObjectPropertyKind::ObjectProperty(p) => non_literal(&p.value),
        ObjectPropertyKind::SpreadProperty(s) => Some((s.span.start as usize, "a spread")),
    })
}

fn non_literal(e: &Expression) -> Option<(usize, &'static str)> {
    match e {
        Expression::StringLiteral(_)
        | Expression::NumericLiteral(_)
        | Expression::BooleanLiteral(_)
        | Expression::NullLiteral(_) => None,
        Expression::TemplateLiteral(t) if t.expressions.is_empty() => None,
        Expression::UnaryExpression(u)
            if matches!(u.operator, UnaryOperator::UnaryNegation | UnaryOperator::UnaryPlus)
                && matches!(u.argument, Expression::NumericLiteral(_)) =>
        {
            None
        }
        Expression::ObjectExpression(o) => non_literal_object(o),
        Expression::ArrayExpression(a) => a.elements.iter().find_map(|el| match el {
            ArrayExpressionElement::SpreadElement(s) => Some((s.span.start as usize, "a spread")),
            ArrayExpressionElement::Elision(h) => Some((h.span.start as usize, "an array hole")),
            other => other.as_expression().and_then(non_literal),
        }),
        Expression::Identifier(_) => Some((e.span().start as usize, "a variable")),
        Expression::CallExpression(_) | Expression::NewExpression(_) => {
            Some((e.span().start as usize, "a call"))
        }
        _ => Some((e.span().start as usize, "an expression")),
    }
}

/// Finds `Date.now()`, `Math.random()` and `new Date()` (no arguments).
#[derive(Default)]
struct Clock {
    found: Vec<Refusal>,
}

impl<'a> Visit<'a> for Clock {
    fn visit_call_expression(&mut self, it: &CallExpression<'a>) {
        if let Expression::StaticMemberExpression(m) = &it.callee
            && let Expression::Identifier(object) = &m.object
        {
            let call = match (object.name.as_str(), m.property.name.as_str()) {
                ("Date", "now") => Some("Date.now()"),
                ("Math", "random") => Some("Math.random()"),
                _ => None,
            };
            if let Some(call) = call {
                self.found.push((it.span.start as usize, format!("`{call}`: {CLOCK}")));
            }
        }
        walk::walk_call_expression(self, it);
    }

    fn visit_new_expression(&mut self, it: &NewExpression<'a>) {
        if it.arguments.is_empty() && matches!(&it.callee, Expression::Identifier(id) if id.name == "Date") {
            self.found.push((it.span.start as usize, format!("`new Date()`: {CLOCK}")));
        }
        walk::walk_new_expression(self, it);
    }
}

/// `export const meta = {…}`: `None` when the export is anything else,
/// `Some(Err)` when it is `meta` but not an object literal.
fn meta_span(d: &oxc_ast::ast::ExportNamedDeclaration) -> Option<Result<MetaSpan, Refusal>> {
    let Some(oxc_ast::ast::Declaration::VariableDeclaration(var)) = &d.declaration else {
        return None;
    };
    let [declarator] = var.declarations.as_slice() else {
        return None;
    };
    if var.kind != VariableDeclarationKind::Const
        || declarator.id.get_identifier_name().as_deref() != Some("meta")
    {
        return None;
    }
    let export = d.span.start as usize;
    Some(match &declarator.init {
        Some(Expression::ObjectExpression(object)) => Ok(MetaSpan {
            export,
            open: object.span.start as usize,
            close: object.span.end as usize - 1,
            end: d.span.end as usize,
        }),
        Some(other) => Err((other.span().start as usize, META_NOT_LITERAL.into())),
        None => Err((export, META_NOT_LITERAL.into())),
    })
}

/// Finds the first `import(…)` or `import.meta` anywhere in the file.
#[derive(Default)]
struct Imports {
    found: Option<Refusal>,
}

impl<'a> Visit<'a> for Imports {
    fn visit_import_expression(&mut self, it: &ImportExpression<'a>) {
        self.found.get_or_insert((it.span.start as usize, DYNAMIC_IMPORT.into()));
    }

    fn visit_meta_property(&mut self, it: &MetaProperty<'a>) {
        if it.meta.name == "import" {
            self.found.get_or_insert((it.span.start as usize, IMPORT.into()));
        }
        walk::walk_meta_property(self, it);
    }
}

fn syntax_error(error: &oxc_diagnostics::OxcDiagnostic) -> Refusal {
    let offset =
        error.labels.as_ref().and_then(|labels| labels.iter().map(|l| l.offset()).min()).unwrap_or(0);
    let mut message = format!("SyntaxError: {}", error.message);
    if let Some(help) = &error.help {
        message.push_str(&format!(" ({help})"));
    }
    (offset, message)
}

/// Whether `wrapped` — a body inside the loader's wrapper, parsed as the
/// script QuickJS evaluates — is exactly one expression statement: the
/// wrapper was not closed early by the body.
pub fn is_one_statement(wrapped: &str) -> bool {
    let allocator = Allocator::default();
    let parsed = Parser::new(&allocator, wrapped, SourceType::cjs().with_module(false)).parse();
    parsed.errors.is_empty()
        && !parsed.panicked
        && matches!(parsed.program.body.as_slice(), [Statement::ExpressionStatement(_)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(src: &str) -> String {
        analyse(src).unwrap_err().1
    }

    #[test]
    fn finds_the_meta_literal() {
        let src = "// c\nexport const meta = { name: '}', description: `${'{'}` };\nreturn 1";
        let span = analyse(src).unwrap();
        assert_eq!(&src[span.export..span.export + 6], "export");
        assert_eq!(&src[span.open..=span.close], "{ name: '}', description: `${'{'}` }");
    }

    #[test]
    fn regex_and_division_are_told_apart_by_the_grammar() {
        // A scan took `/ 2 + "/` for a regex and found meta inside the string.
        let src = "let q = {} / 2 + \"/; export const meta = {name: 'fake'}; //\"\nexport const meta = {name: 'real'}";
        let span = analyse(src).unwrap();
        assert_eq!(&src[span.open..=span.close], "{name: 'real'}");
        // A scan took the regex's `'` for the start of a string.
        assert!(analyse("export const meta = {}\nif (1) /'/.test('x')\nreturn 1").is_ok());
    }

    #[test]
    fn a_body_that_closes_the_wrapper_is_a_syntax_error() {
        let (offset, message) =
            analyse("export const meta = {}\n}); for(;;){}; (async () => {\nreturn 1").unwrap_err();
        assert_eq!(offset, 23);
        assert!(message.starts_with("SyntaxError:"), "{message}");
    }

    #[test]
    fn refuses_imports_and_other_exports() {
        assert!(refused("export const meta = {}\nimport fs from 'fs'").contains("`import` is not allowed"));
        assert!(refused("export const meta = {}\nawait import('x')").contains("dynamic `import()`"));
        assert!(refused("export const meta = {}\nimport.meta.url").contains("`import` is not allowed"));
        assert!(refused("export const meta = {}\nexport default 1").contains("only `export const meta"));
        assert!(
            refused("export const meta = {}\nexport const meta2 = {}").contains("only `export const meta")
        );
        assert!(refused("export let meta = {}").contains("only `export const meta"));
        assert!(refused("export const meta = [1]").contains("must be an object literal"));
        assert!(refused("return 1").contains("no `export const meta"));
    }

    #[test]
    fn top_level_await_and_return_are_the_dialect() {
        assert!(
            analyse("export const meta = {}\nconst a = await agent('x');\nif (a) return a;\nreturn 2")
                .is_ok()
        );
    }

    fn warnings(src: &str) -> Vec<String> {
        portability(src).into_iter().map(|(_, m)| m).collect()
    }

    #[test]
    fn a_portable_script_has_no_warnings() {
        let src = "// c\nexport const meta = { name: 'a', description: `t`, n: -1, phases: [{ title: 'A' }], x: null }\n\
                   const s = 'Date.now() and Math.random() and new Date()'; // Date.now()\n\
                   return [new Date(0), s]";
        assert_eq!(warnings(src), Vec::<String>::new());
    }

    #[test]
    fn meta_that_claude_code_refuses_is_warned_about() {
        let w = warnings("const x = 1\nexport const meta = { name: 'a', description: 'b' + 'c' }\nreturn x");
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].contains("not the first statement"));
        assert!(w[1].contains("not a pure literal (an expression)"));
        assert!(
            warnings("'use strict'\nexport const meta = { name: 'a', description: 'b' }")[0]
                .contains("first")
        );
        let (at, m) = &portability("export const meta = { name: 'a', description: x, y: [1, ...z] }")[0];
        assert_eq!((*at, m.contains("a variable")), (46, true));
    }

    #[test]
    fn clock_and_randomness_are_found_in_the_code_even_if_never_called() {
        let src = "export const meta = { name: 'a', description: 'b' }\n\
                   function never() { return Date.now() + Math.random() }\nconst d = new Date\nreturn new Date(5)";
        let w = warnings(src);
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(
            w[0].starts_with("`Date.now()`")
                && w[1].starts_with("`Math.random()`")
                && w[2].starts_with("`new Date()`")
        );
    }

    #[test]
    fn one_statement_means_the_wrapper_holds() {
        assert!(is_one_statement("(async () => { return 1 \n})"));
        assert!(!is_one_statement("(async () => { }); for(;;){}; (async () => { \n})"));
        assert!(!is_one_statement("(async () => { \n"));
    }
}
