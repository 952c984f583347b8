//! What a workflow may do, read from its syntax tree before it runs: the
//! `odw generate` preview, so a person can judge a script an agent wrote.
//!
//! The script itself can reach nothing (it runs in the sandbox); what it
//! *asks for* is in its `agent()` and `workflow()` calls: which adapters
//! (CLIs) run, with which models, in which isolation, and how many calls it
//! can make. Literal options are read as written; an option computed at run
//! time is shown as such rather than guessed. A call inside a loop or a
//! callback (`parallel`, `pipeline`, `map`) can run any number of times, so
//! the agent count is then bounded only by the run's `maxAgents`.
//!
//! The tree comes from oxc, the parser the loader uses: the same reading
//! of the file as the one that decides what runs.

use std::collections::BTreeSet;

use oxc_allocator::Allocator;
use oxc_ast::ast::{
    Argument, CallExpression, DoWhileStatement, Expression, ForInStatement, ForOfStatement, ForStatement,
    FunctionBody, ObjectPropertyKind, WhileStatement,
};
use oxc_ast_visit::{Visit, walk};
use oxc_parser::{ParseOptions, Parser};
use oxc_span::SourceType;

/// Shown for an option whose value is computed when the script runs.
pub const COMPUTED: &str = "(computed at run time)";

/// What the script asks for.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reach {
    /// `agent()` call sites in the text.
    pub agent_calls: usize,
    /// Whether a call site is in a loop or a callback: it may run any
    /// number of times.
    pub repeated: bool,
    /// `adapter:` values; empty when no call names one (all use the run's).
    pub adapters: BTreeSet<String>,
    pub models: BTreeSet<String>,
    pub isolation: BTreeSet<String>,
    /// `workflow(name)` calls: other workflows it runs inline.
    pub workflows: BTreeSet<String>,
    /// Whether some call passes its options as a non-literal object.
    pub opaque_options: bool,
}

/// Reads what `source` asks for; `None` when it does not parse (the
/// validation that ran before says why).
pub fn analyse(source: &str) -> Option<Reach> {
    let allocator = Allocator::default();
    let options = ParseOptions { allow_return_outside_function: true, ..Default::default() };
    let parsed = Parser::new(&allocator, source, SourceType::mjs()).with_options(options).parse();
    if !parsed.errors.is_empty() || parsed.panicked {
        return None;
    }
    let mut walker = Walker::default();
    walker.visit_program(&parsed.program);
    Some(walker.reach)
}

#[derive(Default)]
struct Walker {
    reach: Reach,
    /// Loops and function bodies around the current node.
    depth: usize,
}

impl Walker {
    fn nested(&mut self, f: impl FnOnce(&mut Walker)) {
        self.depth += 1;
        f(self);
        self.depth -= 1;
    }

    fn agent(&mut self, call: &CallExpression<'_>) {
        self.reach.agent_calls += 1;
        self.reach.repeated |= self.depth > 0;
        let Some(options) = call.arguments.get(1) else { return };
        let Argument::ObjectExpression(object) = options else {
            self.reach.opaque_options = true;
            return;
        };
        for property in &object.properties {
            let ObjectPropertyKind::ObjectProperty(p) = property else {
                self.reach.opaque_options = true;
                continue;
            };
            let Some(key) = p.key.static_name() else { continue };
            let set = match key.as_ref() {
                "adapter" => &mut self.reach.adapters,
                "model" => &mut self.reach.models,
                "isolation" => &mut self.reach.isolation,
                _ => continue,
            };
            set.insert(literal(&p.value).unwrap_or_else(|| COMPUTED.to_string()));
        }
    }
}

/// A string literal's value (a template without substitutions counts).
fn literal(e: &Expression<'_>) -> Option<String> {
    match e {
        Expression::StringLiteral(s) => Some(s.value.to_string()),
        Expression::TemplateLiteral(t) if t.expressions.is_empty() => t
            .quasis
            .first()
            .map(|q| q.value.cooked.map_or_else(|| q.value.raw.to_string(), |c| c.to_string())),
        _ => None,
    }
}

impl<'a> Visit<'a> for Walker {
    fn visit_call_expression(&mut self, it: &CallExpression<'a>) {
        if let Expression::Identifier(callee) = &it.callee {
            match callee.name.as_str() {
                "agent" => self.agent(it),
                "workflow" => {
                    let name = it.arguments.first().and_then(|a| a.as_expression()).and_then(literal);
                    self.reach.workflows.insert(name.unwrap_or_else(|| COMPUTED.to_string()));
                }
                _ => {}
            }
        }
        walk::walk_call_expression(self, it);
    }

    fn visit_function_body(&mut self, it: &FunctionBody<'a>) {
        self.nested(|w| walk::walk_function_body(w, it));
    }

    fn visit_for_statement(&mut self, it: &ForStatement<'a>) {
        self.nested(|w| walk::walk_for_statement(w, it));
    }

    fn visit_for_in_statement(&mut self, it: &ForInStatement<'a>) {
        self.nested(|w| walk::walk_for_in_statement(w, it));
    }

    fn visit_for_of_statement(&mut self, it: &ForOfStatement<'a>) {
        self.nested(|w| walk::walk_for_of_statement(w, it));
    }

    fn visit_while_statement(&mut self, it: &WhileStatement<'a>) {
        self.nested(|w| walk::walk_while_statement(w, it));
    }

    fn visit_do_while_statement(&mut self, it: &DoWhileStatement<'a>) {
        self.nested(|w| walk::walk_do_while_statement(w, it));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn straight_line_calls_are_counted_with_their_literal_options() {
        let r = analyse(
            "export const meta = { name: 'x', description: '' };\n\
             const a = await agent('one', { adapter: 'claude', model: `opus`, isolation: 'worktree' });\n\
             const b = await agent('two', { label: 'b' });\n\
             return [a, b];",
        )
        .unwrap();
        assert_eq!(r.agent_calls, 2);
        assert!(!r.repeated);
        assert_eq!(r.adapters, set(&["claude"]));
        assert_eq!(r.models, set(&["opus"]));
        assert_eq!(r.isolation, set(&["worktree"]));
        assert!(!r.opaque_options);
    }

    #[test]
    fn calls_in_loops_and_callbacks_are_unbounded_and_computed_options_are_not_guessed() {
        let looped =
            analyse("for (const f of args.files) { await agent(f, { model: args.model }); }").unwrap();
        assert!(looped.repeated);
        assert_eq!(looped.models, set(&[COMPUTED]));
        let thunks = analyse("return await parallel(args.xs.map((x) => () => agent(x, opts)));").unwrap();
        assert!(thunks.repeated);
        assert!(thunks.opaque_options);
        let nested = analyse("return await workflow('review', args);").unwrap();
        assert_eq!(nested.workflows, set(&["review"]));
        assert_eq!(nested.agent_calls, 0);
    }

    #[test]
    fn a_script_that_does_not_parse_has_no_reading() {
        assert!(analyse("agent(").is_none());
    }
}
