//! The example library and the dialect fixtures, through the real binary on
//! the built-in echo adapter: every `examples/*.js` runs to completion, returns
//! the documented shape, dispatches exactly the number of agents its header's
//! `// agents: N` line states, and resumes from its own run with zero live
//! calls; scripts written as Claude Code or ODW users write them run unchanged;
//! every example type-checks against `types/odw.d.ts`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Env, Run};
use serde_json::{Value, json};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The `.js` files of a directory, sorted by name.
fn scripts(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "js"))
        .collect();
    out.sort();
    out
}

fn stem(path: &Path) -> &str {
    path.file_stem().and_then(|s| s.to_str()).expect("utf-8 file name")
}

/// The documented top-level shape of each example's result on echo with its
/// default args: every key, with its JSON type (`a|b` = either).
const SHAPES: &[(&str, &[(&str, &str)])] = &[
    (
        "adversarial-verify",
        &[("target", "string"), ("confirmed", "array"), ("refuted", "array"), ("findingsCap", "object")],
    ),
    (
        "completeness-critic",
        &[
            ("request", "string"),
            ("checklist", "array"),
            ("answer", "string"),
            ("complete", "boolean"),
            ("missing", "array"),
            ("rounds", "number"),
            ("capped", "boolean"),
        ],
    ),
    ("daily-digest", &[("date", "string"), ("repo", "string"), ("sections", "array"), ("digest", "string")]),
    (
        "deep-research",
        &[
            ("question", "string"),
            ("subQuestions", "array"),
            ("droppedForBudget", "number"),
            ("claims", "array"),
            ("report", "string"),
        ],
    ),
    ("fan-out-reduce", &[("items", "array"), ("mapped", "array"), ("batches", "array"), ("final", "object")]),
    (
        "generate-and-filter",
        &[
            ("goal", "string"),
            ("generated", "number"),
            ("duplicates", "number"),
            ("kept", "array"),
            ("rejected", "array"),
            ("ranking", "array"),
        ],
    ),
    ("hello", &[("greetings", "array"), ("summary", "string")]),
    (
        "implement-review-duel",
        &[
            ("task", "string"),
            ("approved", "boolean"),
            ("rounds", "number"),
            ("capped", "boolean"),
            ("history", "array"),
            ("final", "string"),
        ],
    ),
    ("judge-panel", &[("task", "string"), ("winner", "object|null"), ("ranking", "array")]),
    (
        "loop-until-dry",
        &[("target", "string"), ("findings", "array"), ("rounds", "number"), ("stoppedBecause", "string")],
    ),
    (
        "multi-modal-sweep",
        &[
            ("target", "string"),
            ("modes", "array"),
            ("byMode", "object"),
            ("merged", "array"),
            ("summary", "string"),
        ],
    ),
    (
        "no-silent-caps",
        &[("processed", "array"), ("skipped", "array"), ("limits", "object"), ("summary", "string")],
    ),
    (
        "perspective-diverse-verify",
        &[
            ("task", "string"),
            ("draft", "string"),
            ("reviews", "array"),
            ("verdict", "object"),
            ("missingReviews", "number"),
        ],
    ),
    ("routing", &[("routed", "array"), ("counts", "object"), ("fallbacks", "number")]),
    ("tournament", &[("task", "string"), ("champion", "object|null"), ("bracket", "array")]),
];

/// Values the headers promise for echo with default args (JSON pointer → value).
fn facts() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        ("adversarial-verify", "/confirmed/0/votes", json!(2)),
        ("adversarial-verify", "/findingsCap", json!({"max": 5, "reached": false})),
        ("completeness-critic", "/rounds", json!(1)),
        ("completeness-critic", "/capped", json!(false)),
        ("deep-research", "/subQuestions", json!(["echo", "echo", "echo"])),
        ("deep-research", "/claims/2/verdict", json!("supported")),
        ("fan-out-reduce", "/batches/1/items", json!(["notifications", "export", "admin"])),
        ("generate-and-filter", "/generated", json!(6)),
        ("generate-and-filter", "/duplicates", json!(5)),
        ("hello", "/greetings/0", json!("Write a one-line greeting for world.")),
        ("implement-review-duel", "/approved", json!(true)),
        ("implement-review-duel", "/rounds", json!(1)),
        ("judge-panel", "/winner/index", json!(0)),
        ("judge-panel", "/ranking/2/scores", json!([1, 1, 1])),
        ("loop-until-dry", "/rounds", json!(2)),
        ("loop-until-dry", "/stoppedBecause", json!("dry")),
        ("multi-modal-sweep", "/merged/0/modes", json!(["read", "run", "grep", "docs"])),
        ("no-silent-caps", "/skipped/0", json!({"item": "src/adapters.rs", "reason": "maxItems"})),
        ("no-silent-caps", "/skipped/2", json!({"item": "src/progress.rs", "reason": "maxItems"})),
        ("no-silent-caps", "/limits", json!({"maxItems": 5, "budgetTotal": null})),
        ("perspective-diverse-verify", "/missingReviews", json!(0)),
        ("routing", "/counts", json!({"bug": 3, "feature": 0, "question": 0})),
        ("tournament", "/champion/seed", json!(0)),
        ("tournament", "/bracket/1/0", json!({"a": 0, "b": 2, "winner": 0, "split": true})),
    ]
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The `N` of the header line `// agents: N …`.
fn header_agents(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).expect("read example");
    let line = text
        .lines()
        .take_while(|l| l.starts_with("//"))
        .find_map(|l| l.strip_prefix("// agents:"))
        .unwrap_or_else(|| panic!("{}: no `// agents: N` line in the header comment", path.display()));
    let digits: String = line.trim_start().chars().take_while(char::is_ascii_digit).collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("{}: `// agents:{line}` does not start with a number", path.display()))
}

/// The events of run `id`, wherever its workflow directory is.
fn events_of(env: &Env, id: &str) -> Vec<Value> {
    let dir = std::fs::read_dir(env.runs())
        .expect("runs root")
        .map(|wf| wf.expect("entry").path().join(id))
        .find(|d| d.is_dir())
        .unwrap_or_else(|| panic!("no run directory for {id}"));
    common::read_events(&dir)
}

fn of_type<'a>(events: &'a [Value], ty: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == ty).collect()
}

#[test]
fn the_shape_table_lists_exactly_the_examples() {
    let files: Vec<String> = scripts(&root().join("examples")).iter().map(|p| stem(p).to_string()).collect();
    let table: Vec<String> = SHAPES.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(files, table, "examples/ and the SHAPES table differ (keep both sorted)");
    for path in scripts(&root().join("examples")) {
        let text = std::fs::read_to_string(&path).unwrap();
        let header: Vec<&str> = text.lines().take_while(|l| l.starts_with("//")).collect();
        for field in ["// args:", "// agents:", "// result:"] {
            assert!(header.iter().any(|l| l.starts_with(field)), "{}: header lacks {field}", path.display());
        }
        let name = format!("name: '{}'", stem(&path));
        assert!(text.contains(&name), "{}: meta.name should be the file name", path.display());
    }
}

#[test]
fn every_example_runs_on_echo_with_its_documented_shape_agent_count_and_a_fully_cached_resume() {
    let env = Env::with_config(json!({ "defaultAdapter": "echo" }));
    let facts = facts();
    for path in scripts(&root().join("examples")) {
        let name = stem(&path);
        let script = path.to_str().unwrap();
        let expected_agents = header_agents(&path);

        let first = env.run_wait(script, &[]);
        let value = first.json();
        let shape = SHAPES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s).expect("in SHAPES");
        let obj = value.as_object().unwrap_or_else(|| panic!("{name}: result is not an object: {value}"));
        let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        let want: Vec<&str> = shape.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, want, "{name}: top-level keys");
        for (key, ty) in shape {
            let got = json_type(&obj[*key]);
            assert!(ty.split('|').any(|t| t == got), "{name}: `{key}` is {got}, documented {ty}");
        }
        for (_, pointer, want) in facts.iter().filter(|(n, _, _)| *n == name) {
            assert_eq!(value.pointer(pointer), Some(want), "{name}: {pointer} in {value:#}");
        }

        let id = first.run_id();
        let events = events_of(&env, &id);
        assert_eq!(of_type(&events, "agent_started").len(), expected_agents, "{name}: agents dispatched");
        assert_eq!(of_type(&events, "agent_finished").len(), expected_agents, "{name}: agents finished");
        assert!(of_type(&events, "agent_failed").is_empty(), "{name}: an agent failed");
        assert!(!of_type(&events, "phase_started").is_empty(), "{name}: no phase() call");

        let resumed = env.run_wait(script, &["--resume-from", &id]);
        assert_eq!(resumed.json(), value, "{name}: the resumed run's result differs");
        let again = events_of(&env, &resumed.run_id());
        let finished = of_type(&again, "agent_finished");
        assert_eq!(finished.len(), expected_agents, "{name}: calls in the resumed run");
        assert!(finished.iter().all(|e| e["cached"] == true), "{name}: a call ran live on resume");
        let reused = format!("reused {expected_agents} of {expected_agents} calls");
        assert!(resumed.stderr.contains(&reused), "{name}: stderr lacks {reused:?}:\n{}", resumed.stderr);
    }
}

/// One run of a dialect fixture: its `--args` (none when empty), the exact
/// result on echo, and how many agents it dispatches.
struct FixtureRun {
    file: &'static str,
    args: Option<&'static str>,
    result: Value,
    agents: usize,
}

fn fixture_runs() -> Vec<FixtureRun> {
    vec![
        FixtureRun {
            file: "claude-code-review.js",
            args: Some(r#"{"topic": "the cache layer"}"#),
            result: json!({
                "topic": "the cache layer",
                "bugs": "Review the cache layer for bugs",
                "style": "Review the cache layer for style",
                "verdict": { "ship": true, "reasons": ["echo", "echo"] },
            }),
            agents: 3,
        },
        FixtureRun {
            file: "nested-child.js",
            args: None,
            result: json!({ "topic": "nothing", "note": "Note on nothing" }),
            agents: 1,
        },
        FixtureRun {
            file: "nested-parent.js",
            args: None,
            result: json!({ "intro": "Say hi", "child": { "topic": "journals", "note": "Note on journals" } }),
            agents: 2,
        },
        FixtureRun {
            file: "odw-defaults.js",
            args: None,
            result: json!({
                "files": ["a.md", "b.md"],
                "out": ["terse summary #0 of a.md", "terse summary #1 of b.md"],
                "startedAt": "number",
            }),
            agents: 4,
        },
        FixtureRun {
            file: "odw-defaults.js",
            args: Some(r#"{"files": ["x.md"], "style": "bullet"}"#),
            result: json!({ "files": ["x.md"], "out": ["bullet summary #0 of x.md"], "startedAt": "number" }),
            agents: 2,
        },
        FixtureRun {
            file: "raw-string-args.js",
            args: Some("fix the flaky test"),
            result: json!({ "kind": "string", "plan": "Plan: fix the flaky test" }),
            agents: 1,
        },
        FixtureRun {
            file: "raw-string-args.js",
            args: None,
            // No args: `args` is undefined, as in Claude Code.
            result: json!({ "kind": "undefined", "plan": "Plan: no task given" }),
            agents: 1,
        },
    ]
}

#[test]
fn scripts_in_the_claude_code_and_odw_dialect_run_unchanged() {
    let env = Env::with_config(json!({ "defaultAdapter": "echo" }));
    let dir = root().join("tests/fixtures/dialect");
    let runs = fixture_runs();
    for path in scripts(&dir) {
        let file = path.file_name().unwrap().to_str().unwrap();
        assert!(runs.iter().any(|r| r.file == file), "{file} is not run by this test");
    }
    for run in runs {
        let path = dir.join(run.file);
        let mut extra = vec![];
        if let Some(a) = run.args {
            extra.extend(["--args", a]);
        }
        let out = env.run_wait(path.to_str().unwrap(), &extra);
        assert_eq!(out.json(), run.result, "{} with args {:?}", run.file, run.args);
        let events = events_of(&env, &out.run_id());
        assert_eq!(of_type(&events, "agent_started").len(), run.agents, "{}: agents", run.file);
    }

    // `--args @file` reads the same JSON from a file.
    std::fs::write(env.path().join("args.json"), r#"{"topic": "the cache layer"}"#).unwrap();
    let from_file =
        env.run_wait(dir.join("claude-code-review.js").to_str().unwrap(), &["--args", "@args.json"]);
    assert_eq!(from_file.json()["topic"], "the cache layer");

    // meta.phases is announced before the body runs; opts.phase groups a call
    // without changing the current phase; opts.model reaches the adapter.
    let events = events_of(&env, &from_file.run_id());
    assert_eq!(
        events[0]["phases"],
        json!([{ "title": "Review", "detail": "two reviewers in parallel" }, { "title": "Verify" }])
    );
    // Parallel calls may start in any order: compare them by call index.
    let mut by_index = of_type(&events, "agent_started");
    by_index.sort_by_key(|e| e["index"].as_u64());
    let started: Vec<(String, String, String)> = by_index
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or("").to_string();
            (s("label"), s("phase"), s("model"))
        })
        .collect();
    let want = [("bugs", "Review", "sonnet"), ("style", "Review", "haiku"), ("verifier", "Verify", "opus")];
    assert_eq!(
        started,
        want.map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())).to_vec(),
        "label/phase/model of each call"
    );
    let phases: Vec<&Value> = of_type(&events, "phase_started").iter().map(|e| &e["title"]).collect();
    assert_eq!(phases, [&json!("Review")], "opts.phase must not emit or switch phases");
}

/// Copies `example` into `dir` wrapped the way odw's loader wraps it — the
/// `export` of meta blanked with spaces, the body inside an async arrow
/// function opened on line 1 — so `tsc` sees top-level `await`/`return` as
/// legal and reports the example's own line numbers. Without `export` the file
/// is a script, so it sees the globals `odw.d.ts` declares. Columns on line 1
/// shift; lines stay true.
fn wrap_for_tsc(example: &Path, dir: &Path) -> PathBuf {
    let source = std::fs::read_to_string(example).unwrap();
    // Blank the `export` of the first line that starts with it (a comment
    // above meta may mention it too).
    let at = source
        .match_indices("export const meta")
        .map(|(i, _)| i)
        .find(|&i| i == 0 || source.as_bytes()[i - 1] == b'\n')
        .unwrap_or_else(|| panic!("{}: no `export const meta` line", example.display()));
    let body = format!("{}      {}", &source[..at], &source[at + "export".len()..]);
    // The last line (after the body's `return`, still type-checked) checks
    // `meta` against the Meta type.
    let wrapped = format!("(async () => {{{body}\n/** @type {{Meta}} */ const __odwMeta = meta;\n}})();\n");
    let out = dir.join(example.file_name().unwrap());
    std::fs::write(&out, wrapped).unwrap();
    out
}

fn have(program: &str) -> bool {
    Command::new(program).arg("--version").output().is_ok_and(|o| o.status.success())
}

#[test]
fn every_example_type_checks_against_the_authoring_types() {
    let required = std::env::var("ODW_TYPECHECK").is_ok_and(|v| v == "1");
    if !have("npx") {
        assert!(!required, "ODW_TYPECHECK=1 but `npx` is not installed");
        eprintln!("skipped: `npx` not found (set ODW_TYPECHECK=1 to make this a failure)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(root().join("types/odw.d.ts"), dir.path().join("odw.d.ts")).unwrap();
    let mut files = vec!["odw.d.ts".to_string()];
    for example in
        scripts(&root().join("examples")).iter().chain(&scripts(&root().join("tests/fixtures/dialect")))
    {
        files.push(wrap_for_tsc(example, dir.path()).file_name().unwrap().to_str().unwrap().to_string());
    }
    let output = Command::new("npx")
        .args(["--yes", "-p", "typescript@5", "tsc", "--noEmit", "--allowJs", "--checkJs"])
        .args(["--target", "es2022", "--module", "esnext", "--lib", "es2022"])
        .args(&files)
        .current_dir(dir.path())
        .output()
        .expect("run npx");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() && !stdout.contains("error TS") {
        // npx itself failed (no network, no registry): not a type error.
        assert!(!required, "ODW_TYPECHECK=1 but npx could not run tsc:\n{stdout}\n{stderr}");
        eprintln!("skipped: npx could not run tsc (set ODW_TYPECHECK=1 to make this a failure):\n{stderr}");
        return;
    }
    assert!(output.status.success(), "tsc found type errors:\n{stdout}\n{stderr}");
}

#[test]
fn caps_and_budget_cuts_in_the_examples_are_reported_not_silent() {
    let env = Env::with_config(json!({ "defaultAdapter": "echo" }));
    let example = |name: &str| root().join("examples").join(format!("{name}.js")).display().to_string();
    let agents = |run: &Run| of_type(&events_of(&env, &run.run_id()), "agent_started").len();

    // A budget smaller than one item's reserve: every chosen item is skipped
    // for 'budget', the rest for 'maxItems'; only the summary runs.
    let caps = env.run_wait(&example("no-silent-caps"), &["--budget", "1000"]);
    let out = caps.json();
    assert_eq!(out["processed"], json!([]));
    let reasons: Vec<&str> =
        out["skipped"].as_array().unwrap().iter().map(|s| s["reason"].as_str().unwrap()).collect();
    assert_eq!(
        reasons,
        ["budget", "budget", "budget", "budget", "budget", "maxItems", "maxItems", "maxItems"]
    );
    assert_eq!(out["limits"], json!({ "maxItems": 5, "budgetTotal": 1000 }));
    assert_eq!(agents(&caps), 1);

    // A round cap hit before the search ran dry says so.
    let dry = env.run_wait(&example("loop-until-dry"), &["--args", r#"{"maxRounds": 1}"#]);
    assert_eq!(dry.json()["stoppedBecause"], "maxRounds");
    assert_eq!(agents(&dry), 2);

    // deep-research researches only the sub-questions the budget affords.
    let research = env.run_wait(&example("deep-research"), &["--budget", "30000"]);
    let out = research.json();
    assert_eq!(out["droppedForBudget"], 2);
    assert_eq!(out["subQuestions"].as_array().unwrap().len(), 1);
    assert_eq!(agents(&research), 4, "planner + 1 researcher + 1 checker + writer");
}
