//! Workflow modules end to end: `odw build`, `odw run wf.wasm`, `odw inspect`,
//! and the compile cache that makes `odw run wf.js` compile a script once.

mod common;

use std::path::{Path, PathBuf};

use common::{Env, read_events};
use serde_json::Value;

/// Uses args, `parallel`, a phase and `Math.random`, so that a module must
/// carry the whole runtime, not a canned result.
const BODY: &str = "phase('Ask');
const [a, b] = await parallel([() => agent(`one ${args.topic}`), () => agent(`two ${args.topic}`)]);
log('asked');
return { a, b, lucky: Math.floor(Math.random() * 1e9), metaBinding: typeof meta };";

/// The run directory of run `id`.
fn run_dir(env: &Env, id: &str) -> PathBuf {
    std::fs::read_dir(env.runs())
        .unwrap()
        .map(|wf| wf.unwrap().path().join(id))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| panic!("no run {id}"))
}

/// How run `id` started, from its `run_started` event.
fn start_of(env: &Env, id: &str) -> String {
    let events = read_events(&run_dir(env, id));
    let started = events.iter().find(|e| e["type"] == "run_started").expect("run_started");
    started["start"].as_str().unwrap_or_default().to_string()
}

fn script_hash(env: &Env, id: &str) -> String {
    let meta: Value =
        serde_json::from_slice(&std::fs::read(run_dir(env, id).join("meta.json")).unwrap()).unwrap();
    meta["scriptHash"].as_str().unwrap().to_string()
}

fn build(env: &Env, script: &str, output: &str) {
    let built = env.odw(&["build", script, "-o", output]);
    assert_eq!(built.code, 0, "build failed:\n{}", built.stderr);
    let bytes = std::fs::read(env.path().join(output)).unwrap();
    assert_eq!(&bytes[..4], b"\0asm", "a WebAssembly module");
}

#[test]
fn a_built_module_runs_like_its_script_and_inspect_lists_its_capabilities() {
    let env = Env::new();
    std::fs::write(
        env.path().join("wf.js"),
        format!(
            "export const meta = {{ name: 'modular', description: 'built ahead', phases: [{{ title: 'Ask' }}] }};\n{BODY}\n"
        ),
    )
    .unwrap();
    std::fs::create_dir(env.path().join("out")).unwrap();
    build(&env, "wf.js", "out/wf.wasm");

    let from_script = env.run_wait("wf.js", &["--args", r#"{"topic": "tides"}"#]);
    let from_module = env.run_wait("out/wf.wasm", &["--args", r#"{"topic": "tides"}"#]);
    let (s, m) = (from_script.json(), from_module.json());
    assert_eq!(m["a"], s["a"]);
    assert_eq!(m["b"], s["b"]);
    assert!(m["a"].as_str().unwrap().contains("one tides"), "the agent saw the args: {m}");
    assert_eq!(m["metaBinding"], "undefined", "meta is no binding in the body, as in Claude Code");
    assert!(m["lucky"].is_u64());
    let module_run = from_module.run_id();
    assert_eq!(start_of(&env, &module_run), "module");
    let events = read_events(&run_dir(&env, &module_run));
    let started = events.iter().find(|e| e["type"] == "run_started").expect("run_started");
    assert_eq!(started["phases"], serde_json::json!([{ "title": "Ask" }]), "the module carries meta");
    assert!(events.iter().any(|e| e["type"] == "log" && e["message"] == "asked"), "{events:?}");
    // Both runs record the script's hash: they are runs of the same workflow.
    let hash = script_hash(&env, &from_script.run_id());
    assert_eq!(script_hash(&env, &module_run), hash);

    let inspected = env.odw(&["inspect", "out/wf.wasm", "--json"]).json();
    assert_eq!(inspected["kind"], "module");
    assert_eq!(inspected["meta"]["name"], "modular");
    assert_eq!(inspected["scriptHash"], hash.as_str());
    let imports = |report: &Value| {
        let mut list: Vec<String> =
            report["imports"].as_array().unwrap().iter().map(|i| i.as_str().unwrap().to_string()).collect();
        list.sort();
        list
    };
    let human = env.odw(&["inspect", "out/wf.wasm"]);
    assert_eq!(human.code, 0, "{}", human.stderr);
    for part in ["modular", &hash, "odw::agent_start", "16"] {
        assert!(human.stdout.contains(part), "inspect lacks {part}:\n{}", human.stdout);
    }

    // A script shows the guest it runs in, whose imports a unit test pins
    // (`engine/src/sandbox/mod.rs`): the module may import exactly those.
    let script = env.odw(&["inspect", "wf.js", "--json"]).json();
    assert_eq!(script["kind"], "script");
    assert_eq!(script["scriptHash"], hash.as_str());
    assert_eq!(imports(&inspected), imports(&script));
    assert_eq!(imports(&inspected).len(), 16);
    assert!(
        imports(&inspected)
            .iter()
            .all(|i| i.starts_with("odw::") || i.starts_with("wasi_snapshot_preview1::"))
    );
}

#[test]
fn a_run_resumes_and_replays_across_a_script_and_its_module() {
    let env = Env::new();
    let script = env.script("wf.js", BODY);
    build(&env, &script, "wf.wasm");
    let first = env.run_wait(&script, &["--args", r#"{"topic": "x"}"#]);
    let recorded = first.json();
    assert_eq!(env.mock_invocations(), 2);

    let resumed = env.run_wait("wf.wasm", &["--args", r#"{"topic": "x"}"#, "--resume-from", &first.run_id()]);
    assert_eq!(resumed.json(), recorded, "same calls, same seed, same result");
    assert_eq!(env.mock_invocations(), 2, "every call came from the journal");

    let runs = env.runs();
    let check = env.odw(&[
        "replay",
        &first.run_id(),
        "--check",
        "--script",
        "wf.wasm",
        "--runs-root",
        runs.to_str().unwrap(),
    ]);
    assert_eq!(check.code, 0, "replay --check of the module:\n{}", check.stderr);
}

#[test]
fn errors_in_a_module_name_the_script_file_and_line() {
    let env = Env::new();
    let script =
        env.script("thrower.js", "const a = await agent('hi');\nthrow new Error('boom ' + a.length);");
    build(&env, &script, "thrower.wasm");
    // Line 3: the header is line 1.
    env.run_wait("thrower.wasm", &[]).fails_with(&["thrower.js:3:", "Error: boom"]);
}

#[test]
fn build_refuses_a_script_that_does_not_compile_and_writes_nothing() {
    let env = Env::new();
    let script = env.script("bad.js", "const a = 1;\nlet b = (;\nreturn a;");
    env.odw(&["build", &script]).fails_with(&["bad.js:3:", "SyntaxError"]);
    assert!(!env.path().join("bad.wasm").exists());

    let importing = env.script("imports.js", "import fs from 'fs';\nreturn 1;");
    env.odw(&["build", &importing]).fails_with(&["imports.js:2:"]);
}

#[test]
fn a_module_that_is_not_a_workflow_is_a_clear_error() {
    let env = Env::new();
    let guest = Path::new(env!("CARGO_MANIFEST_DIR")).join("guest/odw_guest.wasm");
    std::fs::copy(guest, env.path().join("plain.wasm")).unwrap();
    env.run_wait("plain.wasm", &[]).fails_with(&["plain.wasm", "not a workflow module", "odw-workflow"]);
    env.odw(&["inspect", "plain.wasm"]).fails_with(&["plain.wasm", "not a workflow module"]);

    std::fs::write(env.path().join("broken.wasm"), b"\0asm\x01\0\0\0\x01\xff\xff").unwrap();
    env.run_wait("broken.wasm", &[]).fails_with(&["broken.wasm", "not a valid WebAssembly module"]);
}

/// A cache directory of this test's own, holding a copy of the compiled
/// guest so that no test pays for compiling it again.
fn own_cache(env: &Env) -> PathBuf {
    let cache = env.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    let shared = Path::new(env!("CARGO_TARGET_TMPDIR")).join("odw-cache");
    env.odw(&["validate", &env.script("warm.js", "return 1;")]); // fills the shared cache
    for entry in std::fs::read_dir(shared).unwrap().flatten() {
        if entry.path().extension().is_some_and(|x| x == "cwasm") {
            std::fs::copy(entry.path(), cache.join(entry.file_name())).unwrap();
        }
    }
    cache
}

fn cached_scripts(cache: &Path) -> usize {
    std::fs::read_dir(cache.join("scripts")).map(|d| d.flatten().count()).unwrap_or(0)
}

fn run_with_cache(env: &Env, cache: &Path, script: &str) -> common::Run {
    let runs = env.runs();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_odw"))
        .args(["run", script, "--wait", "--runs-root", runs.to_str().unwrap()])
        .current_dir(env.path())
        .env("HOME", env.path())
        .env("ODW_CACHE_DIR", cache)
        .env("MOCK_LOG", env.mock_log())
        .env_remove("ODW_CONFIG")
        .output()
        .unwrap();
    common::Run::from(output)
}

#[test]
fn running_a_script_twice_compiles_it_once() {
    let env = Env::new();
    let cache = own_cache(&env);
    let script = env.script("twice.js", "const r = await agent('once');\nreturn { r, at: Date.now() > 0 };");

    let first = run_with_cache(&env, &cache, &script);
    let result = first.json();
    assert_eq!(start_of(&env, &first.run_id()), "compiled");
    assert_eq!(cached_scripts(&cache), 1, "the compiled script is cached");

    let second = run_with_cache(&env, &cache, &script);
    assert_eq!(second.json(), result);
    assert_eq!(start_of(&env, &second.run_id()), "cached");
    assert_eq!(cached_scripts(&cache), 1);

    // An edit is a different script: compiled again, cached beside the first.
    env.script("twice.js", "const r = await agent('edited');\nreturn { r };");
    let edited = run_with_cache(&env, &cache, &script);
    assert!(edited.json()["r"].as_str().unwrap().contains("edited"));
    assert_eq!(start_of(&env, &edited.run_id()), "compiled");
    assert_eq!(cached_scripts(&cache), 2);

    // A script that does not compile leaves nothing in the cache.
    let bad = env.script("bad.js", "let b = (;");
    run_with_cache(&env, &cache, &bad).fails_with(&["bad.js:2:"]);
    assert_eq!(cached_scripts(&cache), 2);

    // A damaged cache entry costs a compile, never a wrong run.
    for entry in std::fs::read_dir(cache.join("scripts")).unwrap().flatten() {
        std::fs::write(entry.path(), b"\0asm\x01\0\0\0garbage").unwrap();
    }
    let recovered = run_with_cache(&env, &cache, &script);
    assert!(recovered.json()["r"].as_str().unwrap().contains("edited"));
    assert_eq!(start_of(&env, &recovered.run_id()), "compiled");
}

/// Where a module's `odw-workflow` section begins (odw appends it last).
fn manifest_section_start(bytes: &[u8]) -> usize {
    let name = b"\x0codw-workflow";
    let at = bytes.windows(name.len()).rposition(|w| w == name).expect("a manifest section");
    // Back over the section's LEB128 size to its id byte (0).
    let mut start = at - 1;
    while bytes[start - 1] & 0x80 != 0 {
        start -= 1;
    }
    assert_eq!(bytes[start - 1], 0, "a custom section");
    start - 1
}

#[test]
fn a_module_runs_what_its_manifest_says_even_with_another_modules_code() {
    let env = Env::new();
    env.script("benign.js", "return 'benign';");
    env.script("evil.js", "return 'evil';");
    build(&env, "benign.js", "benign.wasm");
    build(&env, "evil.js", "evil.wasm");
    let benign = std::fs::read(env.path().join("benign.wasm")).unwrap();
    let evil = std::fs::read(env.path().join("evil.wasm")).unwrap();
    // The evil module's code with the benign module's manifest.
    let mut spliced = evil[..manifest_section_start(&evil)].to_vec();
    spliced.extend_from_slice(&benign[manifest_section_start(&benign)..]);
    std::fs::write(env.path().join("spliced.wasm"), &spliced).unwrap();

    let inspected = env.odw(&["inspect", "spliced.wasm"]);
    assert_eq!(inspected.code, 0, "{}", inspected.stderr);
    assert!(inspected.stdout.contains("not built by this odw"), "{}", inspected.stdout);
    let ran = env.run_wait("spliced.wasm", &[]);
    assert_eq!(ran.json(), "benign", "the run does what inspect shows: {}", ran.stderr);
    // From the manifest's script (compiled now, or from the compile cache a
    // run of the same script left), never from the module's code.
    let start = start_of(&env, &ran.run_id());
    assert!(start == "compiled" || start == "cached", "started from {start}, not the manifest's script");
    // Modules this odw built still start as built.
    let own = env.run_wait("evil.wasm", &[]);
    assert_eq!(
        (own.json(), start_of(&env, &own.run_id())),
        (serde_json::json!("evil"), "module".to_string())
    );
    let shown = env.odw(&["inspect", "evil.wasm"]);
    assert!(shown.stdout.contains("built by this odw: runs as built"), "{}", shown.stdout);
}

/// A module an earlier odw built (and so trusts) keeps running as code after
/// odw changes its guest: `tests/fixtures/modules/older.wasm` was built from
/// `older.js` by an odw whose guest waited for completions one at a time
/// (`odw::wait_next`, one JSON object each), where today's guest takes them
/// in batches (`odw::wait_batch`). The host still offers the old import, so
/// such a module's calls, failures and logs come through as they did.
#[test]
fn a_module_an_older_odw_built_still_runs_as_built() {
    let env = Env::new();
    let cache = own_cache(&env);
    let module = std::fs::read(common::fixture("modules/older.wasm")).unwrap();
    std::fs::write(env.path().join("older.wasm"), &module).unwrap();
    // What `odw build` leaves in the cache it built into.
    let built = cache.join("built");
    std::fs::create_dir_all(&built).unwrap();
    std::fs::write(built.join(blake3::hash(&module).to_hex().as_str()), b"").unwrap();

    // The fixture must keep covering the old import (rebuilding it with
    // today's odw would not).
    let inspected = env.odw(&["inspect", "older.wasm", "--json"]).json();
    let imports = inspected["imports"].as_array().unwrap();
    assert!(imports.iter().any(|i| i == "odw::wait_next"), "{imports:?}");
    assert!(!imports.iter().any(|i| i == "odw::wait_batch"), "{imports:?}");

    let ran = run_with_cache(&env, &cache, "older.wasm");
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(start_of(&env, &ran.run_id()), "module", "run as the code it was built with");
    let value = ran.json();
    assert_eq!(value["replies"], serde_json::json!(["mock:ask 1", "mock:ask 2", "mock:ask 3"]));
    assert_eq!(value["broken"], Value::Null, "a failed call resolves to null, as in Claude Code");
    assert!(value["last"].as_str().unwrap().contains("last one"), "{value}");
    let events = read_events(&run_dir(&env, &ran.run_id()));
    let logged = |wanted: &dyn Fn(&str) -> bool| {
        events.iter().any(|e| e["type"] == "log" && e["message"].as_str().is_some_and(wanted))
    };
    assert!(logged(&|m| m == "asked"), "{events:?}");
    assert!(logged(&|m| m.starts_with("[broken] failed: ") && m.contains("on purpose")), "{events:?}");
}
