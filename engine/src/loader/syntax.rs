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
use oxc_ast::ast::{Expression, ImportExpression, MetaProperty, Statement, VariableDeclarationKind};
use oxc_ast_visit::{Visit, walk};
use oxc_parser::{ParseOptions, Parser};
use oxc_span::{GetSpan, SourceType};

/// A refusal: a byte offset into the file and what is wrong there.
pub type Refusal = (usize, String);

/// Byte offsets of `export` and of the braces of the meta literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetaSpan {
    pub export: usize,
    pub open: usize,
    pub close: usize,
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
        Some(Expression::ObjectExpression(object)) => {
            Ok(MetaSpan { export, open: object.span.start as usize, close: object.span.end as usize - 1 })
        }
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

    #[test]
    fn one_statement_means_the_wrapper_holds() {
        assert!(is_one_statement("(async () => { return 1 \n})"));
        assert!(!is_one_statement("(async () => { }); for(;;){}; (async () => { \n})"));
        assert!(!is_one_statement("(async () => { \n"));
    }
}
