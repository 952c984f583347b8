//! `odw mcp` driven by a real MCP client: the official Python SDK
//! (`pip install mcp`; .ci/test installs it), through
//! tests/fixtures/mcp-client.py. And the protocol's framing read raw: stdout
//! carries JSON-RPC and nothing else.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use common::{Env, HEADER, fixture};

/// Runs the Python client against `odw mcp` in `env` with `steps`; every
/// step's record by name.
fn drive(env: &Env, steps: Value) -> Value {
    let sdk = Command::new("python3").args(["-c", "import mcp"]).output().expect("python3");
    assert!(
        sdk.status.success(),
        "the MCP Python SDK is missing (`pip install mcp`, or run .ci/test): {}",
        String::from_utf8_lossy(&sdk.stderr)
    );
    let runs = env.runs();
    let mut child = Command::new("python3")
        .arg(fixture("mcp-client.py"))
        .args([
            env!("CARGO_BIN_EXE_odw"),
            env.path().to_str().unwrap(),
            "--runs-root",
            runs.to_str().unwrap(),
        ])
        .current_dir(env.path())
        .env("HOME", env.path())
        .env("ODW_CACHE_DIR", common::cache_dir())
        .env("MOCK_LOG", env.mock_log())
        .env_remove("ODW_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the MCP client");
    child.stdin.take().unwrap().write_all(steps.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "client failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("client output is not JSON ({e}): {stdout}"))
}

#[test]
fn a_host_agent_runs_waits_reads_validates_and_stops_over_mcp() {
    let env = Env::new();
    // The long run: one mock agent that sleeps 30 s, so it is surely
    // still running when it is waited on, paused and stopped.
    std::fs::write(env.path().join("long.js"), format!("{HEADER}return await agent('sleep:30 long');\n"))
        .unwrap();
    let quick = "export const meta = { name: 'quick', description: 'two echoes' };\n\
                 phase('Ask');\n\
                 const a = await agent('first', { label: 'a' });\n\
                 const b = await agent('second', { label: 'b' });\n\
                 return { a, b };";
    let broken = "export const meta = { name: 'broken', description: 'does not compile' };\n\
                  const x = 1;\n\
                  if (x) {\n";
    let steps = json!([
        { "name": "started", "tool": "run", "args": { "script": quick, "adapter": "echo" } },
        { "name": "waited", "tool": "wait", "args": { "run": "$started.run", "timeoutSecs": 60 } },
        { "name": "result", "tool": "result", "args": { "run": "$started.run" } },
        { "name": "page", "tool": "events", "args": { "run": "$started.run", "since": 0, "limit": 2 } },
        { "name": "resumed", "tool": "run",
          "args": { "script": quick, "adapter": "echo", "resumeFrom": "$started.run" } },
        { "name": "resumedWait", "tool": "wait", "args": { "run": "$resumed.run" } },
        { "name": "resumedStart", "tool": "events", "args": { "run": "$resumed.run", "limit": 1 } },
        { "name": "budgeted", "tool": "run", "args": { "script": quick, "adapter": "echo", "budget": 1 } },
        { "name": "overBudget", "tool": "wait", "args": { "run": "$budgeted.run" } },
        { "name": "invalid", "tool": "validate", "args": { "script": broken } },
        { "name": "valid", "tool": "validate", "args": { "file": "long.js" } },
        { "name": "long", "tool": "run", "args": { "file": "long.js" } },
        { "name": "timedOut", "tool": "wait", "args": { "run": "$long.run", "timeoutSecs": 2.5 }, "progress": true },
        { "name": "early", "tool": "result", "args": { "run": "$long.run" } },
        { "name": "paused", "tool": "pause", "args": { "run": "$long.run" } },
        { "name": "released", "tool": "resume", "args": { "run": "$long.run" } },
        { "name": "stopped", "tool": "stop", "args": { "run": "$long.run" } },
        { "name": "after", "tool": "status", "args": { "run": "$long.run" } },
        { "name": "again", "tool": "stop", "args": { "run": "$long.run" } },
        { "name": "ended", "tool": "result", "args": { "run": "$long.run" } },
        { "name": "runs", "tool": "list_runs", "args": {} },
        { "name": "workflows", "tool": "list_workflows", "args": {} },
        { "name": "both", "tool": "run", "args": { "script": quick, "file": "long.js" } },
        { "name": "unknown", "tool": "status", "args": { "run": "no-such-run" } },
    ]);
    let out = drive(&env, steps);

    assert_eq!(out["initialize"]["name"], "odw");
    assert_eq!(out["initialize"]["tools"], true);
    let tools: Vec<&str> = out["tools"].as_object().unwrap().keys().map(String::as_str).collect();
    for tool in [
        "run",
        "status",
        "wait",
        "result",
        "events",
        "stop",
        "pause",
        "resume",
        "validate",
        "list_runs",
        "list_workflows",
        "replay_check",
    ] {
        assert!(tools.contains(&tool), "{tool} in {tools:?}");
        let t = &out["tools"][tool];
        assert_eq!(t["input"]["type"], "object", "{tool} has an input schema");
        assert_eq!(t["output"]["type"], "object", "{tool} has an output schema");
    }
    assert!(out["tools"]["run"]["input"]["properties"]["resumeFrom"].is_object());

    // run → wait → result.
    let id = out["started"]["result"]["run"].as_str().unwrap().to_string();
    assert_eq!(out["started"]["result"]["workflow"], "quick");
    let waited = &out["waited"]["result"];
    assert_eq!(waited["state"], "done", "{waited}");
    assert_eq!(waited["ended"], true);
    assert_eq!(waited["result"], json!({ "a": "first", "b": "second" }));
    assert_eq!(waited["status"]["agents"]["done"], 2);
    assert_eq!(out["result"]["result"]["result"], waited["result"]);
    assert_eq!(out["result"]["isError"], false);
    // The same run as the CLI sees it.
    let cli = env.odw(&["result", &id, "--runs-root", env.runs().to_str().unwrap()]);
    assert_eq!(cli.code, 0, "{}", cli.stderr);
    assert_eq!(serde_json::from_str::<Value>(&cli.stdout).unwrap(), waited["result"]);

    // Events come in pages.
    let page = &out["page"]["result"];
    assert_eq!(page["events"].as_array().unwrap().len(), 2);
    assert_eq!(page["events"][0]["type"], "run_started");
    assert_eq!((page["next"].as_u64(), page["more"].as_bool()), (Some(2), Some(true)));

    // resumeFrom and budget reach the run.
    assert_eq!(out["resumedWait"]["result"]["result"], waited["result"]);
    assert_eq!(out["resumedStart"]["result"]["events"][0]["resumedFrom"], id.as_str());
    let over = &out["overBudget"]["result"];
    assert_eq!(over["state"], "failed", "{over}");
    assert!(over["error"].as_str().unwrap().contains("budget"), "{over}");

    // validate: the error with its position; a good file with its meta.
    let invalid = &out["invalid"]["result"];
    assert_eq!(invalid["ok"], false);
    let error = &invalid["errors"][0];
    assert!(error["line"].as_u64().unwrap() >= 3, "{invalid}");
    assert!(error["column"].as_u64().unwrap() >= 1, "{invalid}");
    assert!(error["message"].as_str().unwrap().contains("SyntaxError"), "{invalid}");
    assert_eq!(out["valid"]["result"]["ok"], true);
    assert_eq!(out["valid"]["result"]["meta"]["name"], "test");

    // wait on a run that goes on: its current state, with progress meanwhile.
    let long = out["long"]["result"]["run"].as_str().unwrap().to_string();
    let timed_out = &out["timedOut"]["result"];
    assert_eq!(timed_out["ended"], false, "{timed_out}");
    assert!(timed_out.get("result").is_none());
    let progress = out["timedOut"]["progress"].as_array().unwrap();
    assert!(progress.len() >= 2, "a notification at least every second: {progress:?}");
    assert!(progress.windows(2).all(|w| w[0]["progress"].as_f64() < w[1]["progress"].as_f64()));
    assert!(progress.iter().any(|p| p["message"].as_str().unwrap().starts_with("running")), "{progress:?}");
    assert_eq!(progress[0]["total"], 2.5);

    // Errors are MCP errors with the CLI's message.
    let early = &out["early"]["error"];
    assert_eq!(early["message"], format!("run {long} is still running"));
    assert_eq!(out["paused"]["result"]["paused"], true);
    assert_eq!(out["released"]["result"]["paused"], false);

    // stop ends the run and kills its agent.
    assert_eq!(out["stopped"]["result"]["state"], "stopped", "{}", out["stopped"]);
    assert_eq!(out["after"]["result"]["status"]["state"], "stopped");
    assert_eq!(out["again"]["error"]["message"], format!("run {long} has already ended (stopped)"));
    // The ended run's error is the one `odw result` prints.
    let ended = &out["ended"]["result"];
    assert_eq!((ended["state"].as_str(), ended["ended"].as_bool()), (Some("stopped"), Some(true)));
    let cli = env.odw(&["result", &long, "--runs-root", env.runs().to_str().unwrap()]);
    assert_eq!(cli.stderr.trim(), format!("odw: error: {}", ended["error"].as_str().unwrap()));

    let runs: Vec<&str> =
        out["runs"]["result"]["runs"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert!(runs.contains(&id.as_str()) && runs.contains(&long.as_str()), "{runs:?}");
    let listed = &out["workflows"]["result"]["workflows"];
    assert!(listed.as_array().unwrap().iter().any(|w| w["name"] == "generate" && w["source"] == "built-in"));
    assert!(out["both"]["error"]["message"].as_str().unwrap().contains("exactly one of"));
    assert!(out["unknown"]["error"]["message"].as_str().unwrap().starts_with("no run `no-such-run` under"));
}

#[test]
fn replay_check_reproduces_a_recorded_run() {
    let env = Env::new();
    let script = env.script("wf.js", "return await agent('echo me');");
    let ran = env.run_wait(&script, &[]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let id = ran.stderr.split("odw: run ").nth(1).unwrap().split(' ').next().unwrap().to_string();
    std::fs::write(env.path().join("edited.js"), format!("{HEADER}return await agent('something else');\n"))
        .unwrap();
    let out = drive(
        &env,
        json!([
            { "name": "same", "tool": "replay_check", "args": { "run": id } },
            { "name": "edited", "tool": "replay_check", "args": { "run": id, "file": "edited.js" } },
        ]),
    );
    let same = &out["same"]["result"];
    assert_eq!((same["reproduced"].as_bool(), same["calls"].as_u64()), (Some(true), Some(1)), "{same}");
    assert_eq!(same["message"], format!("run {id} reproduced: 1 calls served from the journal, 0 live"));
    let edited = &out["edited"]["result"];
    assert_eq!(edited["reproduced"], false);
    assert!(edited["message"].as_str().unwrap().contains("differs from the journal"), "{edited}");
}

fn send(stdin: &mut impl Write, message: Value) {
    writeln!(stdin, "{message}").unwrap();
}

/// Read raw, every line `odw mcp` writes on stdout is a JSON-RPC message,
/// even when the configuration makes odw warn (the warning goes to stderr).
#[test]
fn stdout_carries_nothing_but_the_protocol() {
    let env = Env::with_config(json!({ "concurency": 4 }));
    let mut child = Command::new(env!("CARGO_BIN_EXE_odw"))
        .args(["mcp", "--runs-root", env.runs().to_str().unwrap()])
        .current_dir(env.path())
        .env("HOME", env.path())
        .env("ODW_CACHE_DIR", common::cache_dir())
        .env_remove("ODW_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    send(
        &mut stdin,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}}),
    );
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let init: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    assert_eq!(init["id"], 1);
    assert_eq!(init["result"]["serverInfo"]["name"], "odw");
    send(&mut stdin, json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    send(
        &mut stdin,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "list_runs", "arguments": {}}}),
    );
    line.clear();
    stdout.read_line(&mut line).unwrap();
    let listed: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    assert_eq!(listed["id"], 2);
    assert_eq!(listed["result"]["structuredContent"], json!({ "runs": [] }));
    drop(stdin);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert!(rest.lines().all(|l| serde_json::from_str::<Value>(l).is_ok()), "{rest:?}");
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("concurency"), "the config warning is on stderr: {stderr}");
}

/// A `wait` the client cancels (`notifications/cancelled`) ends: no more
/// progress for it, while the server keeps answering and the run goes on.
#[test]
fn a_cancelled_wait_stops_reporting_and_the_run_goes_on() {
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    let env = Env::new();
    std::fs::write(env.path().join("long.js"), format!("{HEADER}return await agent('sleep:30 long');\n"))
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_odw"))
        .args(["mcp", "--runs-root", env.runs().to_str().unwrap()])
        .current_dir(env.path())
        .env("HOME", env.path())
        .env("ODW_CACHE_DIR", common::cache_dir())
        .env_remove("ODW_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (lines, received) = mpsc::channel::<(Instant, Value)>();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let message = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
            if lines.send((Instant::now(), message)).is_err() {
                break;
            }
        }
    });
    let answer = |id: u64| loop {
        let (_, m) = received.recv_timeout(Duration::from_secs(20)).expect("an answer");
        if m["id"] == id {
            return m;
        }
    };
    send(
        &mut stdin,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}}),
    );
    answer(1);
    send(&mut stdin, json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    send(
        &mut stdin,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "run", "arguments": {"file": "long.js"}}}),
    );
    let run = answer(2)["result"]["structuredContent"]["run"].as_str().unwrap().to_string();
    send(
        &mut stdin,
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": "wait", "arguments": {"run": run, "timeoutSecs": 60}, "_meta": {"progressToken": "w"}}}),
    );
    let is_progress =
        |m: &Value| m["method"] == "notifications/progress" && m["params"]["progressToken"] == "w";
    loop {
        let (_, m) = received.recv_timeout(Duration::from_secs(20)).expect("progress");
        if is_progress(&m) {
            break;
        }
    }
    send(
        &mut stdin,
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": 3, "reason": "the test gave up"}}),
    );
    let cancelled = Instant::now();
    std::thread::sleep(Duration::from_millis(2500));
    send(
        &mut stdin,
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {
        "name": "status", "arguments": {"run": run}}}),
    );
    let mut late = 0;
    let status = loop {
        let (at, m) = received.recv_timeout(Duration::from_secs(20)).expect("status");
        // One notification may have been on its way when the cancel arrived.
        if is_progress(&m) && at.duration_since(cancelled) > Duration::from_millis(500) {
            late += 1;
        }
        if m["id"] == 4 {
            break m;
        }
    };
    assert_eq!(late, 0, "a cancelled wait goes on reporting");
    assert_eq!(status["result"]["structuredContent"]["status"]["state"], "running");
    send(
        &mut stdin,
        json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {
        "name": "stop", "arguments": {"run": run}}}),
    );
    assert_eq!(answer(5)["result"]["structuredContent"]["state"], "stopped");
    drop(stdin);
    assert!(child.wait().unwrap().success());
}
