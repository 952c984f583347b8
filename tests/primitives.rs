//! The workflow primitives, through the real binary and the mock agent CLI.

mod common;

use common::Env;
use serde_json::json;

#[test]
fn hello_example_runs_on_the_builtin_echo_adapter() {
    let env = Env::with_config(json!({ "defaultAdapter": "echo" }));
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hello.js");
    let out = env.run_wait(example.to_str().unwrap(), &["--args", r#"{"name":"Ada"}"#]).json();
    assert_eq!(out["greetings"][0], "Write a one-line greeting for Ada.");
    assert!(out["summary"].as_str().unwrap().starts_with("Summarise these greetings"));

    let run = env.run_dir();
    for file in ["meta.json", "status.json", "events.jsonl", "result.json"] {
        assert!(run.join(file).is_file(), "{file} missing");
    }
    let status: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("status.json")).unwrap()).unwrap();
    assert_eq!(status["state"], "done");
    assert_eq!(status["agents"]["done"], 3);
    let result: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("result.json")).unwrap()).unwrap();
    assert_eq!(result["value"], out);
    assert!(run.parent().unwrap().ends_with("runs/hello"));
}

#[test]
fn parallel_turns_a_throwing_or_failing_thunk_into_null() {
    let env = Env::new();
    let wf = env.script(
        "wf.js",
        "return await parallel([
           () => agent('one'),
           () => { throw new Error('thunk threw'); },
           () => agent('fail:quota exceeded'),
           async () => 'plain value',
         ]);",
    );
    assert_eq!(env.run_wait(&wf, &[]).json(), json!(["mock:one", null, null, "plain value"]));
    let failed: Vec<_> = env.events().into_iter().filter(|e| e["type"] == "agent_failed").collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0]["error"].as_str().unwrap().contains("quota exceeded"));
}

/// A slot whose thunk returns the agent() call it just made is told by the
/// call itself, not through a promise reaction; every other way a slot can
/// hold a call must give the same values: a call already delivered, one
/// promise in two slots, one the script also watches, and a schema call
/// that fails (rejected, so `null` and the `parallel[i] failed` line).
#[test]
fn parallel_slots_that_hold_agent_calls_get_their_values_however_they_hold_them() {
    let env = Env::new();
    let schema = r#"{ type: 'object', properties: { n: { type: 'number' } }, required: ['n'] }"#;
    let wf = env.script(
        "wf.js",
        &format!(
            "const early = agent('early');
             await early;
             const again = await parallel([() => early]);
             const shared = agent('shared');
             const seen = [];
             shared.then((v) => seen.push(v));
             const out = await parallel([
               () => early,
               () => shared,
               () => shared,
               () => agent('direct'),
               () => agent('fail:broken', {{ schema: {schema} }}),
               () => {{ const a = agent('first'); agent('second'); return a; }},
             ]);
             return [again, out, seen];"
        ),
    );
    let run = env.run_wait(&wf, &[]);
    assert_eq!(
        run.json(),
        json!([
            ["mock:early"],
            ["mock:early", "mock:shared", "mock:shared", "mock:direct", null, "mock:first"],
            ["mock:shared"]
        ])
    );
    let logs: Vec<_> =
        env.events().into_iter().filter(|e| e["type"] == "log").map(|e| e["message"].clone()).collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(logs[0].as_str().unwrap().starts_with("parallel[4] failed: "), "{logs:?}");
}

#[test]
fn pipeline_has_no_barrier_between_stages() {
    let env = Env::with_config(json!({ "concurrency": 4 }));
    // Item A is fast in stage 1, item B slow: A must reach stage 2 while B is
    // still in stage 1.
    let wf = env.script(
        "wf.js",
        "return await pipeline(['A', 'B'],
           (item) => agent(`s1-${item} sleep:${item === 'A' ? '0.05' : '1.5'}`),
           (prev, item, index) => agent(`s2-${item}-${index} after ${prev.split(' ')[0]}`),
         );",
    );
    assert_eq!(
        env.run_wait(&wf, &[]).json(),
        json!(["mock:s2-A-0 after mock:s1-A", "mock:s2-B-1 after mock:s1-B"])
    );
    let lines = env.mock_lines();
    let at = |what: &str, prefix: &str| {
        lines.iter().find(|l| l.what == what && l.prompt.starts_with(prefix)).map(|l| l.at).unwrap()
    };
    assert!(at("start", "s2-A") < at("end", "s1-B"), "stage 2 of A waited for stage 1 of B");
}

#[test]
fn pipeline_drops_a_failing_item_to_null_and_skips_its_later_stages() {
    let env = Env::new();
    let wf = env.script(
        "wf.js",
        "return await pipeline(['a', 'b', 'c'],
           (x) => x === 'b' ? agent('fail:no') : agent(`first ${x}`),
           (prev) => agent(`second ${prev}`));",
    );
    assert_eq!(
        env.run_wait(&wf, &[]).json(),
        json!(["mock:second mock:first a", null, "mock:second mock:first c"])
    );
    assert_eq!(env.mock_invocations(), 5);
}

#[test]
fn phases_and_logs_become_events() {
    let env = Env::new();
    let wf = env.script(
        "wf.js",
        "phase('Research');
         log('starting');
         await agent('a');
         await agent('b', { phase: 'Side', label: 'side-agent' });
         phase('Write');
         console.log('n =', 2, { k: 1 });
         await agent('c');
         return 'ok';",
    );
    env.run_wait(&wf, &[]).json();
    let events = env.events();
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"run_started"));
    assert_eq!(kinds.last(), Some(&"run_finished"));
    let phases: Vec<_> =
        events.iter().filter(|e| e["type"] == "phase_started").map(|e| e["title"].clone()).collect();
    assert_eq!(phases, [json!("Research"), json!("Write")]);
    let logs: Vec<_> = events.iter().filter(|e| e["type"] == "log").map(|e| e["message"].clone()).collect();
    assert_eq!(logs, [json!("starting"), json!("n = 2 {\"k\":1}")]);
    let started: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "agent_started")
        .map(|e| (e["phase"].clone(), e["label"].clone()))
        .collect();
    assert_eq!(
        started,
        [
            (json!("Research"), json!("mock")),
            (json!("Side"), json!("side-agent")),
            (json!("Write"), json!("mock"))
        ]
    );
}

#[test]
fn args_arrive_verbatim_from_json_file_or_plain_text() {
    let env = Env::new();
    let wf = env.script("wf.js", "return { args, q: (args && args.q) || 'default' };");
    // No --args: `args` is undefined (as in Claude Code), so the key is dropped.
    assert_eq!(env.run_wait(&wf, &[]).json(), json!({ "q": "default" }));
    assert_eq!(
        env.run_wait(&wf, &["--args", r#"{"q":"why?","n":[1,2]}"#]).json(),
        json!({ "args": { "q": "why?", "n": [1, 2] }, "q": "why?" })
    );
    std::fs::write(env.path().join("args.json"), r#"{"q": "from file"}"#).unwrap();
    assert_eq!(env.run_wait(&wf, &["--args", "@args.json"]).json()["q"], "from file");
    assert_eq!(env.run_wait(&wf, &["--args", "just text"]).json()["args"], "just text");
}

#[test]
fn bad_json_args_are_a_usage_error() {
    let env = Env::new();
    let wf = env.script("wf.js", "return 1;");
    let run = env.run_wait(&wf, &["--args", r#"{"q": }"#]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--args is not valid JSON"), "{}", run.stderr);
    assert!(!env.runs().exists(), "no run may start on bad args");
}

#[test]
fn schema_output_is_validated_and_retried_after_bad_json() {
    let env = Env::new();
    let wf = env.script(
        "wf.js",
        "const schema = { type: 'object', required: ['answer'], properties: { answer: { type: 'integer' } } };
         const good = await agent('json:{\"answer\": 7}', { schema });
         const retried = await agent('badjson-once', { schema });
         return { good, retried, sum: good.answer + retried.answer };",
    );
    assert_eq!(
        env.run_wait(&wf, &[]).json(),
        json!({ "good": { "answer": 7 }, "retried": { "answer": 42 }, "sum": 49 })
    );
    assert_eq!(env.mock_invocations(), 3, "one call, plus one call with one retry");
    let finished: Vec<_> = env.events().into_iter().filter(|e| e["type"] == "agent_finished").collect();
    assert_eq!(finished.iter().map(|e| e["attempts"].clone()).collect::<Vec<_>>(), [json!(1), json!(2)]);
}

#[test]
fn schema_that_never_conforms_fails_naming_the_path() {
    let env = Env::with_config(json!({ "schemaRetries": 1 }));
    let wf = env.script(
        "wf.js",
        "return await agent('json:{\"answer\": \"seven\"}', { schema: { type: 'object', properties: { answer: { type: 'integer' } } } });",
    );
    env.run_wait(&wf, &[]).fails_with(&["after 2 attempts", "at /answer", "integer"]);
    assert_eq!(env.mock_invocations(), 2);
}

#[test]
fn schema_that_does_not_compile_fails_before_any_agent_runs() {
    let env = Env::new();
    let wf = env.script("wf.js", "return await parallel([() => agent('x', { schema: { type: 'nope' } })]);");
    env.run_wait(&wf, &[]).fails_with(&["SchemaError", "does not compile", "wf.js:2:"]);
    assert_eq!(env.mock_invocations(), 0);
}

#[test]
fn a_failed_agent_resolves_null_and_is_logged_as_in_claude_code() {
    // Claude Code resolves an agent whose calls failed to null and logs
    // `[label] failed: …`; scripts written for it test for null.
    let env = Env::new();
    let wf = env.script(
        "wf.js",
        "const a = await agent('ok');\nconst b = await agent('fail:rate limited');\nreturn [a, b];",
    );
    let run = env.run_wait(&wf, &[]);
    assert_eq!(run.json(), json!(["mock:ok", null]));
    let events = env.events();
    assert_eq!(events.iter().filter(|e| e["type"] == "agent_failed").count(), 1);
    let logs: Vec<_> = events.iter().filter(|e| e["type"] == "log").map(|e| e["message"].clone()).collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    let line = logs[0].as_str().unwrap();
    assert!(line.starts_with("[fail:rate limited] failed: `mock` exited with exit code 3: "), "{line}");
    assert!(line.ends_with("mock agent: rate limited"), "{line}");
    let status: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.run_dir().join("status.json")).unwrap()).unwrap();
    assert_eq!(status["state"], "done");
}

#[test]
fn a_failed_schema_call_still_fails_the_run_at_its_line() {
    let env = Env::new();
    let wf = env.script(
        "wf.js",
        "const a = await agent('ok');\nconst b = await agent('fail:rate limited', { schema: { type: 'object' } });\nreturn [a, b];",
    );
    let run = env.run_wait(&wf, &[]);
    run.fails_with(&["wf.js:3:", "rate limited", "exit code 3"]);
    let error: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.run_dir().join("error.json")).unwrap()).unwrap();
    assert!(error["error"]["message"].as_str().unwrap().contains("mock agent: rate limited"));
    assert_eq!(error["error"]["location"]["line"], 3);
    let status: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.run_dir().join("status.json")).unwrap()).unwrap();
    assert_eq!(status["state"], "failed");
}

#[test]
fn a_caught_schema_call_failure_does_not_fail_the_run() {
    let env = Env::new();
    let wf = env.script(
        "wf.js",
        "try { await agent('fail:nope', { schema: { type: 'object' } }); } catch (e) { return 'caught: ' + e.message; }",
    );
    let out = env.run_wait(&wf, &[]).json();
    assert!(out.as_str().unwrap().starts_with("caught: agent `mock` failed"), "{out}");
}

/// The guest writes each request's JSON itself: every character a prompt or
/// a phase title may hold reaches the agent as written. A lone surrogate,
/// which UTF-8 cannot carry, is a TypeError the script can catch in a
/// prompt, and U+FFFD in what is only shown (a phase title, a log line).
#[test]
fn prompts_and_phases_reach_the_agent_exactly_and_a_lone_surrogate_is_handled() {
    let env = Env::with_config(json!({ "defaultAdapter": "echo" }));
    let wf = env.script(
        "wf.js",
        r#"const prompt = 'quote " back \\ nl \n cr \r tab \t nul \u0000 ctl \u001f del \u007f é 😀 \u2028 end';
        phase('Ph "1" \\ \n');
        const echoed = await agent(prompt);
        await agent('p', { phase: 'own "phase"' });
        let refused;
        try { await agent('lone \ud800 surrogate'); } catch (e) { refused = `${e.name}: ${e.message}`; }
        phase('odd \udc00 title');
        log('odd \ud800 line');
        await agent('q');
        return { same: echoed === prompt, refused };"#,
    );
    let out = env.run_wait(&wf, &[]).json();
    assert_eq!(out["same"], true, "{out}");
    assert_eq!(out["refused"], "TypeError: agent(): the prompt is not valid Unicode (a lone surrogate)");
    let events = common::read_events(&env.run_dir());
    let phases: Vec<&str> =
        events.iter().filter(|e| e["type"] == "agent_started").filter_map(|e| e["phase"].as_str()).collect();
    assert_eq!(phases, ["Ph \"1\" \\ \n", "own \"phase\"", "odd \u{fffd} title"]);
    assert!(events.iter().any(|e| e["type"] == "log" && e["message"] == "odd \u{fffd} line"), "{events:?}");

    // The outcome too: a returned value, and an error's message.
    let wf = env.script("ret.js", r#"return { s: 'a \ud800 b \udc00\ud800 c \\ud800 😀', ['k\udc00']: 1 };"#);
    assert_eq!(
        env.run_wait(&wf, &[]).json(),
        json!({ "s": "a \u{fffd} b \u{fffd}\u{fffd} c \\ud800 😀", "k\u{fffd}": 1 })
    );
    let wf = env.script("throw.js", r#"throw new Error('bad \ud800 thing');"#);
    env.run_wait(&wf, &[]).fails_with(&["throw.js:", "Error: bad \u{fffd} thing"]);
}

#[test]
fn bad_agent_arguments_are_type_errors_at_the_callers_line() {
    let env = Env::new();
    let wf = env.script("wf.js", "\nreturn await agent(123);");
    env.run_wait(&wf, &[]).fails_with(&["wf.js:3:", "TypeError", "prompt must be a string, got number"]);
    let wf = env.script("wf2.js", "return await agent('x', { labl: 'typo' });");
    env.run_wait(&wf, &[]).fails_with(&["TypeError", "unknown option `labl`", "label, phase, schema"]);
    assert_eq!(env.mock_invocations(), 0);
}

#[test]
fn max_agents_backstop_fails_the_run_naming_the_key() {
    let env = Env::with_config(json!({ "maxAgents": 3 }));
    let wf = env.script("wf.js", "return await parallel([1, 2, 3, 4, 5].map((i) => () => agent(`n${i}`)));");
    env.run_wait(&wf, &[]).fails_with(&["maxAgents", "agent #4", "limit is 3"]);
    assert_eq!(env.mock_invocations(), 3);
}

#[test]
fn concurrency_caps_the_agents_running_at_once() {
    let env = Env::with_config(json!({ "concurrency": 2 }));
    let wf = env.script(
        "wf.js",
        "return (await parallel([1,2,3,4,5,6].map((i) => () => agent(`n${i} sleep:0.2`)))).length;",
    );
    assert_eq!(env.run_wait(&wf, &[]).json(), json!(6));
    let mut points: Vec<(f64, i32)> =
        env.mock_lines().iter().map(|l| (l.at, if l.what == "start" { 1 } else { -1 })).collect();
    points.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut now, mut peak) = (0, 0);
    for (_, d) in points {
        now += d;
        peak = peak.max(now);
    }
    assert_eq!(peak, 2, "the cap is 2 and six agents were queued");
}

#[test]
fn budget_is_visible_and_enforced() {
    let env = Env::new();
    let wf = env.script(
        "wf.js",
        "const before = [budget.total, budget.spent(), budget.remaining()];
         await agent('a fairly long prompt to spend a few tokens on');
         const spent = budget.spent();
         let error = null;
         try { await agent('again'); await agent('and again'); } catch (e) { error = e.name; }
         return { before, spent: spent > 0, error };",
    );
    let run = env.run_wait(&wf, &["--budget", "5"]);
    run.fails_with(&["BudgetError", "token budget exhausted", "--budget"]);
    let wf = env.script("wf2.js", "return [budget.total, budget.remaining() === Infinity];");
    assert_eq!(env.run_wait(&wf, &[]).json(), json!([null, true]));
}

#[test]
fn an_agent_that_exits_without_reading_its_prompt_does_not_take_odw_down() {
    // A prompt far larger than a pipe buffer, to an agent that never reads
    // stdin: odw's write fails with a broken pipe, which must not kill odw.
    let env =
        Env::with_config(json!({ "adapters": { "deaf": { "command": ["sh", "-c", "echo answered"] } } }));
    let wf = env.script("wf.js", "return await agent('x'.repeat(1 << 20), { adapter: 'deaf' });");
    assert_eq!(env.run_wait(&wf, &["--adapter", "deaf"]).json(), json!("answered"));
}

#[test]
fn a_nested_workflow_logs_as_claude_code_and_keeps_its_phase_to_itself() {
    let env = Env::new();
    std::fs::create_dir_all(env.path().join(".claude/workflows")).unwrap();
    std::fs::write(
        env.path().join(".claude/workflows/child.js"),
        "export const meta = { name: 'child', description: 'nested' };\n\
         phase('Inner');\nlog('hi');\nreturn await agent('inside');\n",
    )
    .unwrap();
    let wf = env.script(
        "wf.js",
        "phase('Outer');\nconst c = await workflow('child');\nreturn [c, await agent('after')];",
    );
    assert_eq!(env.run_wait(&wf, &[]).json(), json!(["mock:inside", "mock:after"]));
    let events = env.events();
    let logs: Vec<_> = events.iter().filter(|e| e["type"] == "log").map(|e| e["message"].clone()).collect();
    assert_eq!(logs, [json!("▸ running dynamic workflow child"), json!("[child] hi"), json!("▸ child done")]);
    let phase_of = |head: &str| {
        events
            .iter()
            .find(|e| e["type"] == "agent_started" && e["prompt"] == head)
            .map(|e| e["phase"].clone())
    };
    assert_eq!(phase_of("inside"), Some(json!("child · Inner")));
    assert_eq!(phase_of("after"), Some(json!("Outer")), "the child's phase() left the parent's alone");
}

#[test]
fn validate_warns_where_claude_code_would_refuse_but_succeeds() {
    let env = Env::new();
    std::fs::write(
        env.path().join("wf.js"),
        "const x = 1;\nexport const meta = { name: 'w', description: 'a' + 'b' };\n\
         const s = 'Date.now() in a string';\nfunction later() { return Math.random(); }\nreturn x;\n",
    )
    .unwrap();
    let out = env.odw(&["validate", "wf.js"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let warnings: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with("odw: warning: ")).collect();
    assert_eq!(warnings.len(), 3, "{}", out.stderr);
    assert!(
        warnings[0].starts_with("odw: warning: wf.js:2:1: `export const meta` is not the first statement")
    );
    assert!(warnings[1].starts_with("odw: warning: wf.js:2:47: meta is not a pure literal"));
    assert!(warnings[2].starts_with("odw: warning: wf.js:4:27: `Math.random()`"));
    let json = env.odw(&["validate", "wf.js", "--json"]).json();
    assert_eq!(json["ok"], true);
    assert_eq!(json["warnings"].as_array().map(Vec::len), Some(3));
}
