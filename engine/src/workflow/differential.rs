//! Differential test of the loader against QuickJS, the engine that runs
//! the body: thousands of generated files built from the fragments that
//! fooled the old lexical scan (regex or division, templates, comments,
//! stray braces, ASI), each judged by both.
//!
//! - Safety: for every file the loader accepts, compiling its body in
//!   QuickJS runs nothing (a fragment that runs at the top level calls an
//!   undefined `RAN()` or throws `RAN`, which would surface as a
//!   non-syntax error).
//! - Agreement: the loader (oxc, module = strict code) refuses no file
//!   whose body QuickJS compiles as strict code inside a plain
//!   wrapper without running any of it. (HTML-like comments, `<!--`, are
//!   left out: a module has none, a script does.) The other way round, a
//!   few accepted files fail in QuickJS's compile with a SyntaxError the
//!   parser leaves to scope analysis (a `let` declared twice): reported
//!   with its position by `odw validate` all the same, before anything runs.

use std::path::Path;

use crate::config::Config;
use crate::loader::Script;
use crate::protocol::Activation;
use crate::sandbox::Sandbox;

use super::evaluate_alone;

const META: &str = "export const meta = { name: 'd', description: '' };\n";

const FRAGMENTS: &[&str] = &[
    "let a = 1",
    "a / 2 / 3",
    "/re/g.test('x')",
    "x = {} / 2",
    "if (1) /'/.test('x')",
    "`t ${ {a: 1}.a } }`",
    "'}'",
    "\"/*\"",
    "// }\n",
    "/* } */",
    "}",
    "{",
    "(",
    ")",
    "})",
    "(async () => {",
    "return 1",
    "await 0",
    "a\n/b/g",
    "let b = a++ / 2",
    "`${`${'`'}`}`",
    "x => ({})",
    "class C { static { RAN() } }",
    "label: for (;;) break label",
    "throw new Error('RAN')",
    "RAN()",
    "/[/]/",
    "a = b\n(c)",
    "`",
    "'",
    "/",
    "${",
    "while (0) {}",
    "function f() { return /x/ }",
    "({}) / 1",
    "[] / 1 /",
    "let re = /=/",
    "a /= 2",
    "await /x/",
    "let q = {} / 2 + \"/; RAN(); //\"",
    "}); RAN(); (async () => {",
    "x\n++y",
    "a ? /b/ : c",
    "typeof /x/",
    "0..toString()",
    "1.e3",
    "`a${b}c${`d${e}`}`",
    "/* unterminated",
    "'\\''",
    "\"\\\"\"",
    "/\\//",
    "a.return",
    "({ return: 1 })",
    "{ } /x/g",
    ") / 2",
    "do RAN(); while (0) /x/",
];

/// A small deterministic generator (xorshift64*): the same files every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn generate(rng: &mut Rng) -> String {
    let mut body = String::new();
    for _ in 0..1 + rng.below(6) {
        body.push_str(FRAGMENTS[rng.below(FRAGMENTS.len())]);
        body.push_str(["\n", ";", " ", ";\n"][rng.below(4)]);
    }
    body
}

fn activation(source: String) -> Activation {
    Activation {
        source,
        filename: "d.js".into(),
        line_one_shift: 0,
        args: serde_json::Value::Null,
        seed: [0, 0],
        clock: 0.0,
        budget: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loader_and_quickjs_agree() {
    let sandbox = Sandbox::new(None).unwrap();
    let config = Config::default();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut accepted, mut later, mut refused_wrongly) = (0, 0, Vec::new());
    for _ in 0..2000 {
        let body = generate(&mut rng);
        let source = format!("{META}{body}");
        let loaded = Script::parse(Path::new("d.js"), source);
        if let Ok(script) = &loaded {
            accepted += 1;
            let outcome = evaluate_alone(&sandbox, &config, &script.compile_activation()).await.unwrap();
            if let Some(error) = &outcome.error {
                assert_eq!(error.name, "SyntaxError", "compiling ran body code:\n{body}\n{error:?}");
            }
        }
        // QuickJS on the body alone, as strict code in the same wrapper.
        let strict = format!("(async () => {{'use strict';\n{body}\n}})");
        // A body that closes this naive wrapper runs code at the top level
        // (a non-syntax error): it is not a function body either.
        let outcome = evaluate_alone(&sandbox, &config, &activation(strict)).await.unwrap();
        match (loaded, outcome.ok) {
            (Err(e), true) => refused_wrongly.push(format!("{body:?}: {e}")),
            // The parser leaves early errors of scope analysis (a `let`
            // declared twice) to QuickJS, which reports them at compile.
            (Ok(_), false) => {
                assert_eq!(outcome.error.map(|e| e.name).as_deref(), Some("SyntaxError"), "{body:?}");
                later += 1;
            }
            _ => {}
        }
    }
    eprintln!("2000 files: {accepted} accepted, {later} of them refused by QuickJS's compile");
    assert!(accepted > 200, "the generator should make many valid files, made {accepted}");
    assert!(later < accepted / 10, "{later} of {accepted} accepted files fail in QuickJS");
    assert!(refused_wrongly.is_empty(), "refused, but QuickJS runs them:\n{}", refused_wrongly.join("\n"));
}
