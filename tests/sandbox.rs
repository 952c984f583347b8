//! The sandbox, through the real binary: what a script cannot reach, the
//! limits that stop it, and errors that point into the user's file.

mod common;

use common::Env;
use serde_json::json;

#[test]
fn host_capabilities_are_absent() {
    let env = Env::new();
    let wf = env.script(
        "wf.js",
        "return {
           require: typeof require, process: typeof process, fetch: typeof fetch,
           std: typeof std, os: typeof os, Deno: typeof Deno, Bun: typeof Bun,
           viaFunction: Function('return typeof process')(),
           viaGlobal: typeof globalThis.process, viaEval: eval('typeof require'),
           setTimeout: typeof setTimeout, WebAssembly: typeof WebAssembly,
         };",
    );
    assert_eq!(
        env.run_wait(&wf, &[]).json(),
        json!({
            "require": "undefined", "process": "undefined", "fetch": "undefined",
            "std": "undefined", "os": "undefined", "Deno": "undefined", "Bun": "undefined",
            "viaFunction": "undefined", "viaGlobal": "undefined", "viaEval": "undefined",
            "setTimeout": "undefined", "WebAssembly": "undefined"
        })
    );
}

#[test]
fn clock_and_random_are_deterministic_values() {
    let env = Env::new();
    let wf = env.script(
        "wf.js",
        "const t0 = Date.now();
         let spin = 0; for (let i = 0; i < 2e6; i++) spin += i;  // real time passes…
         const same = [Date.now(), new Date().getTime(), Date.prototype.constructor.now(), Date.parse(Date())];
         await agent('tick sleep:0.05');                           // …the logical clock moves only here
         const after = Date.now();
         const rs = [Math.random(), Math.random(), Math.random()];
         return {
           frozen: same.slice(0, 3).every((t) => t === t0) && Math.abs(same[3] - t0) < 1000,
           moved: after > t0,
           isDate: new Date() instanceof Date && typeof Date() === 'string',
           explicit: new Date(2020, 0, 2).getFullYear(),
           inRange: rs.every((r) => r >= 0 && r < 1), distinct: new Set(rs).size === 3,
         };",
    );
    assert_eq!(
        env.run_wait(&wf, &[]).json(),
        json!({ "frozen": true, "moved": true, "isDate": true, "explicit": 2020, "inRange": true, "distinct": true })
    );
}

#[test]
fn an_infinite_loop_is_stopped_by_the_cpu_limit() {
    let env = Env::with_config(json!({ "scriptCpuSeconds": 0.3 }));
    let wf = env.script("wf.js", "await agent('first');\nwhile (true) {}");
    env.run_wait(&wf, &[]).fails_with(&["CPU limit", "scriptCpuSeconds"]);
    let error: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.run_dir().join("error.json")).unwrap()).unwrap();
    assert_eq!(error["error"]["limit"], "scriptCpuSeconds");
}

#[test]
fn a_memory_bomb_is_stopped_by_the_memory_limit() {
    let env = Env::with_config(json!({ "scriptMemoryMb": 64 }));
    let wf = env.script("wf.js", "const a = []; while (true) a.push('x'.repeat(4096) + a.length);");
    env.run_wait(&wf, &[]).fails_with(&["memory limit", "64 MiB", "scriptMemoryMb"]);
}

#[test]
fn unbounded_recursion_is_stopped() {
    let env = Env::new();
    let wf = env.script("wf.js", "function f(n) { return f(n + 1) + 1; }\nreturn f(0);");
    env.run_wait(&wf, &[]).fails_with(&["stack overflow", "recursed too deeply"]);
}

#[test]
fn a_promise_that_never_settles_is_reported_not_hung() {
    let env = Env::new();
    let wf = env.script("wf.js", "await new Promise(() => {});\nreturn 1;");
    env.run_wait(&wf, &[]).fails_with(&["can never settle"]);
}

#[test]
fn syntax_errors_point_at_the_line_and_column_in_the_file() {
    let env = Env::new();
    let wf = env.script("wf.js", "const ok = 1;\n\nconst broken = (ok +;\nreturn ok;");
    env.run_wait(&wf, &[]).fails_with(&["wf.js:4:21: SyntaxError"]);
}

#[test]
fn runtime_errors_point_at_the_line_and_column_in_the_file() {
    let env = Env::new();
    let wf = env.script("wf.js", "await agent('x');\n  null.boom();");
    env.run_wait(&wf, &[]).fails_with(&["wf.js:3:", "TypeError", "null"]);
}

#[test]
fn errors_on_the_first_line_are_not_shifted_by_the_wrapper() {
    let env = Env::new();
    std::fs::write(
        env.path().join("one.js"),
        "export const meta = { name: 'x', description: '' }; missing();\n",
    )
    .unwrap();
    env.run_wait("one.js", &[]).fails_with(&["one.js:1:53: ReferenceError"]);
}

#[test]
fn import_and_other_exports_are_refused_with_their_line() {
    let env = Env::new();
    let wf = env.script("wf.js", "\nimport fs from 'fs';\nreturn 1;");
    env.run_wait(&wf, &[]).fails_with(&["wf.js:3:1:", "`import` is not allowed"]);
    let wf = env.script("wf2.js", "const m = await import('fs');");
    env.run_wait(&wf, &[]).fails_with(&["wf2.js:2:17:", "import()"]);
    let wf = env.script("wf3.js", "export default 1;");
    env.run_wait(&wf, &[]).fails_with(&["wf3.js:2:1:", "only `export const meta"]);
    assert!(!env.runs().exists(), "refused scripts start no run");
}

#[test]
fn meta_is_required_and_checked() {
    let env = Env::new();
    std::fs::write(env.path().join("nometa.js"), "return 1;\n").unwrap();
    env.run_wait("nometa.js", &[]).fails_with(&["nometa.js:1:1:", "export const meta"]);
    std::fs::write(
        env.path().join("noname.js"),
        "export const meta = { name: '', description: 'd' };\nreturn 1;\n",
    )
    .unwrap();
    env.run_wait("noname.js", &[]).fails_with(&["noname.js", "meta.name", "non-empty string"]);
    std::fs::write(env.path().join("nodesc.js"), "export const meta = { name: 'n' };\nreturn 1;\n").unwrap();
    env.run_wait("nodesc.js", &[]).fails_with(&["meta.description"]);
    // meta is evaluated in the sandbox, with its limits.
    std::fs::write(
        env.path().join("spin.js"),
        "export const meta = { name: (() => { while (true) {} })(), description: '' };\nreturn 1;\n",
    )
    .unwrap();
    let env_fast = Env::with_config(json!({ "scriptCpuSeconds": 0.2 }));
    std::fs::copy(env.path().join("spin.js"), env_fast.path().join("spin.js")).unwrap();
    env_fast.run_wait("spin.js", &[]).fails_with(&["CPU limit"]);
}

#[test]
fn bad_config_names_the_file_and_key() {
    let env = Env::with_config(json!({ "concurrency": "lots" }));
    let wf = env.script("wf.js", "return 1;");
    env.run_wait(&wf, &[]).fails_with(&["odw.config.json", "`concurrency`"]);

    let env = Env::with_config(json!({ "concurency": 3 }));
    let wf = env.script("wf.js", "return 1;");
    let run = env.run_wait(&wf, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("did you mean `concurrency`?"), "{}", run.stderr);
}
