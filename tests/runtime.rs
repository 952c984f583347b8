//! Background runs and the full CLI, through the real binary: detached
//! workers, status/logs/result/list, pause/resume/stop, saved workflows,
//! validate, completions.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::Env;
use serde_json::{Value, json};

fn runs_flag(env: &Env) -> String {
    env.runs().to_str().unwrap().to_string()
}

/// Starts a background run and returns its id.
fn start(env: &Env, script: &str) -> String {
    let runs = runs_flag(env);
    let run = env.odw(&["run", script, "--runs-root", &runs]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let id = run.stdout.trim().to_string();
    assert_eq!(id.len(), 22, "run id shape: {id}");
    id
}

fn status(env: &Env, id: &str) -> Value {
    let out = env.odw(&["status", id, "--json", "--runs-root", &runs_flag(env)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap()
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn alive(pid: &str) -> bool {
    Path::new(&format!("/proc/{}", pid.trim())).exists()
}

#[test]
fn a_background_run_returns_at_once_and_is_inspectable() {
    let env = Env::new();
    let wf = env.script("wf.js", "phase('Only');\nreturn await agent('bg sleep:2');");
    let id = start(&env, &wf);
    let state = status(&env, &id)["state"].as_str().unwrap().to_string();
    assert!(state == "pending" || state == "running", "odw run returned after the run ended: {state}");
    wait_for("the run to finish", Duration::from_secs(20), || status(&env, &id)["state"] == "done");
    let s = status(&env, &id);
    assert_eq!((s["agents"]["done"].as_u64(), s["phase"].as_str()), (Some(1), Some("Only")));
    let result = env.odw(&["result", &id, "--runs-root", &runs_flag(&env)]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(serde_json::from_str::<Value>(&result.stdout).unwrap(), json!("mock:bg sleep:2"));

    let dir = env.run_dir();
    use std::os::unix::fs::PermissionsExt;
    for file in ["meta.json", "status.json", "events.jsonl", "result.json", "worker.log"] {
        let mode = std::fs::metadata(dir.join(file)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }
    let list = env.odw(&["list", "--json", "--runs-root", &runs_flag(&env)]);
    let list: Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(list[0]["runId"], id.as_str());
    let human = env.odw(&["status", &id, "--runs-root", &runs_flag(&env)]);
    assert!(human.stdout.contains("state     done"), "{}", human.stdout);
    // result.json is written without a sync: lost in a crash, the value is
    // read from the journal's end, which was.
    std::fs::remove_file(dir.join("result.json")).unwrap();
    let result = env.odw(&["result", &id, "--runs-root", &runs_flag(&env)]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(serde_json::from_str::<Value>(&result.stdout).unwrap(), json!("mock:bg sleep:2"));
}

#[test]
fn a_failed_background_run_reports_its_error() {
    let env = Env::new();
    // A schema call that fails rejects (a plain one resolves to null).
    let wf = env.script("wf.js", "await agent('fail:broken tool', { schema: { type: 'object' } });");
    let id = start(&env, &wf);
    wait_for("the run to fail", Duration::from_secs(20), || status(&env, &id)["state"] == "failed");
    env.odw(&["result", &id, "--runs-root", &runs_flag(&env)]).fails_with(&["broken tool", "wf.js:2:"]);
}

#[test]
fn logs_follow_prints_every_event_exactly_once() {
    let env = Env::with_config(json!({ "concurrency": 2 }));
    let wf = env.script(
        "wf.js",
        "for (let i = 0; i < 6; i++) { log(`step ${i}`); await agent(`a${i} sleep:0.05`); }\nreturn 'ok';",
    );
    let id = start(&env, &wf);
    let follow = env.odw(&["logs", &id, "--follow", "--json", "--runs-root", &runs_flag(&env)]);
    assert_eq!(follow.code, 0, "{}", follow.stderr);
    let file = std::fs::read_to_string(env.run_dir().join("events.jsonl")).unwrap();
    assert_eq!(follow.stdout, file, "followed output equals the event log");
    let logs: Vec<&str> = follow.stdout.lines().filter(|l| l.contains("\"type\":\"log\"")).collect();
    assert_eq!(logs.len(), 6);
    let human = env.odw(&["logs", &id, "--runs-root", &runs_flag(&env)]);
    assert!(human.stdout.contains("step 5") && human.stdout.contains("run_finished"), "{}", human.stdout);
}

#[test]
fn pause_holds_queued_agents_and_resume_releases_them() {
    let env = Env::with_config(json!({ "concurrency": 2 }));
    let wf = env.script(
        "wf.js",
        "return (await parallel([1,2,3,4,5,6,7,8].map((i) => () => agent(`p${i} sleep:1`)))).length;",
    );
    let id = start(&env, &wf);
    wait_for("two agents to start", Duration::from_secs(20), || env.mock_invocations() == 2);
    let paused = env.odw(&["pause", &id, "--runs-root", &runs_flag(&env)]);
    assert_eq!(paused.code, 0, "{}", paused.stderr);
    wait_for("the status to say paused", Duration::from_secs(5), || status(&env, &id)["state"] == "paused");
    // The two running agents finish; none of the six queued ones starts.
    std::thread::sleep(Duration::from_millis(2000));
    assert_eq!(env.mock_invocations(), 2, "a queued agent started while paused");
    let ended = env.mock_lines().iter().filter(|l| l.what == "end").count();
    assert_eq!(ended, 2, "running agents finish during a pause");
    env.odw(&["resume", &id, "--runs-root", &runs_flag(&env)]);
    wait_for("the run to finish", Duration::from_secs(20), || status(&env, &id)["state"] == "done");
    assert_eq!(env.mock_invocations(), 8);
}

#[test]
fn stop_kills_the_agents_process_group_and_ends_the_run_stopped() {
    let env = Env::new();
    let pidfile = env.path().join("agent.pid");
    let wf = env.script("wf.js", &format!("return await agent('hold pidfile:{}');", pidfile.display()));
    let id = start(&env, &wf);
    wait_for("the agent to start", Duration::from_secs(20), || {
        pidfile.exists() && std::fs::read_to_string(&pidfile).is_ok_and(|p| !p.trim().is_empty())
    });
    let agent = std::fs::read_to_string(&pidfile).unwrap();
    let grandchild = std::fs::read_to_string(pidfile.with_extension("pid.child")).unwrap();
    assert!(alive(&agent) && alive(&grandchild));
    let asked = Instant::now();
    let stop = env.odw(&["stop", &id, "--runs-root", &runs_flag(&env)]);
    assert_eq!(stop.code, 0, "{}", stop.stderr);
    assert!(asked.elapsed() <= Duration::from_secs(2), "stop took {:?}", asked.elapsed());
    assert_eq!(status(&env, &id)["state"], "stopped");
    wait_for("the agent and its child to be gone", Duration::from_secs(2), || {
        !alive(&agent) && !alive(&grandchild)
    });
    let events = env.events();
    assert_eq!(events.last().unwrap()["type"], "run_stopped");
    env.odw(&["result", &id, "--runs-root", &runs_flag(&env)]).fails_with(&["stopped"]);
}

#[test]
fn wait_with_timeout_exits_124_and_the_run_goes_on() {
    let env = Env::new();
    let wf = env.script("wf.js", "return await agent('slow sleep:1');");
    let out = env.odw(&["run", &wf, "--wait", "--timeout", "0.2", "--runs-root", &runs_flag(&env)]);
    assert_eq!(out.code, 124, "{}", out.stderr);
    let id = out.stdout.trim().to_string();
    wait_for("the run to finish anyway", Duration::from_secs(20), || status(&env, &id)["state"] == "done");
}

#[test]
fn saved_workflows_are_found_by_name_project_before_personal() {
    let env = Env::with_config(json!({ "defaultAdapter": "echo" }));
    let project = env.path().join(".claude/workflows");
    let personal = env.path().join("claude-home/workflows");
    for (dir, who) in [(&project, "project"), (&personal, "personal")] {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(
            dir.join("greet.js"),
            format!("export const meta = {{ name: 'greet', description: 'from {who}' }};\nreturn '{who}:' + args.who;\n"),
        )
        .unwrap();
    }
    std::fs::write(
        personal.join("solo.js"),
        "export const meta = { name: 'solo', description: 'only personal' };\nreturn 'solo';\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_odw"))
            .args(args)
            .current_dir(env.path())
            .env("HOME", env.path())
            .env("CLAUDE_CONFIG_DIR", env.path().join("claude-home"))
            .env("ODW_CACHE_DIR", Path::new(env!("CARGO_TARGET_TMPDIR")).join("odw-cache"))
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let runs = runs_flag(&env);
    let (code, out) = run(&["run", "greet", "--wait", "--args", r#"{"who":"Ada"}"#, "--runs-root", &runs]);
    assert_eq!((code, out.trim()), (Some(0), "\"project:Ada\""));
    let (_, out) = run(&["run", "solo", "--wait", "--runs-root", &runs]);
    assert_eq!(out.trim(), "\"solo\"");
    let (_, out) = run(&["workflows", "where", "greet"]);
    assert!(out.trim().ends_with(".claude/workflows/greet.js"), "{out}");
    let (_, out) = run(&["workflows", "list", "--json"]);
    let list: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        list.as_array()
            .unwrap()
            .iter()
            .map(|w| (w["name"].clone(), w["description"].clone()))
            .collect::<Vec<_>>(),
        [
            (json!("greet"), json!("from project")),
            (json!("solo"), json!("only personal")),
            // Built into odw, listed after every saved one.
            (
                json!("generate"),
                json!("Write a workflow for a task, validate it, feed the errors back until it compiles")
            )
        ]
    );
    let (code, _) = run(&["run", "nope", "--wait", "--runs-root", &runs]);
    assert_eq!(code, Some(1));
}

#[test]
fn validate_reports_good_and_broken_scripts_without_running_them() {
    let env = Env::new();
    let good = env.script("good.js", "return await agent('never runs');");
    let out = env.odw(&["validate", &good]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let broken = env.script("broken.js", "const a = 1;\nconst b = (a +;\nreturn b;");
    let out = env.odw(&["validate", &broken, "--json"]);
    assert_eq!(out.code, 1);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!((v["errors"][0]["line"].as_u64(), v["errors"][0]["column"].as_u64()), (Some(3), Some(15)));
    let imports = env.script("imports.js", "import x from 'y';");
    env.odw(&["validate", &imports]).fails_with(&["imports.js:2:1", "`import` is not allowed"]);
    assert_eq!(env.mock_invocations(), 0);
    assert!(!env.runs().exists());
}

#[test]
fn help_documents_exit_codes_and_completions_are_generated() {
    let env = Env::new();
    let help = env.odw(&["--help"]);
    for code in ["0 ", "1 ", "2 ", "3 ", "124"] {
        assert!(
            help.stdout.contains(&format!("  {code}")),
            "exit code {code} undocumented:\n{}",
            help.stdout
        );
    }
    for shell in ["bash", "zsh", "fish"] {
        let out = env.odw(&["completions", shell]);
        assert_eq!(out.code, 0);
        assert!(out.stdout.contains("resume-from"), "{shell} completions lack flags");
    }
}

#[test]
fn nested_workflows_share_the_agent_cap_and_go_one_level_deep() {
    let env = Env::with_config(json!({ "maxAgents": 3 }));
    std::fs::write(
        env.path().join("child.js"),
        "export const meta = { name: 'child', description: 'inner' };\n\
         phase('Inner');\n\
         const got = await parallel([() => agent(`child ${args.n} a`), () => agent(`child ${args.n} b`)]);\n\
         return got;\n",
    )
    .unwrap();
    std::fs::write(
        env.path().join("deeper.js"),
        "export const meta = { name: 'deeper', description: 'nests again' };\n\
         return await workflow({ scriptPath: 'child.js' }, { n: 0 });\n",
    )
    .unwrap();
    let ok = env.script(
        "ok.js",
        "phase('Outer');\nconst r = await workflow({ scriptPath: 'child.js' }, { n: 1 });\nreturn r;",
    );
    assert_eq!(env.run_wait(&ok, &[]).json(), json!(["mock:child 1 a", "mock:child 1 b"]));
    let titles: Vec<Value> = env
        .events()
        .into_iter()
        .filter(|e| e["type"] == "phase_started")
        .map(|e| e["title"].clone())
        .collect();
    assert_eq!(titles, [json!("Outer"), json!("child · Inner")]);

    let env = Env::with_config(json!({ "maxAgents": 3 }));
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mock-agent.sh"),
        env.path().join("x.sh"),
    )
    .unwrap();
    std::fs::write(
        env.path().join("child.js"),
        "export const meta = { name: 'child', description: '' };\n\
         return await parallel([() => agent('c1'), () => agent('c2')]);\n",
    )
    .unwrap();
    let over = env.script(
        "over.js",
        "await agent('p1');\nawait agent('p2');\nreturn await workflow({ scriptPath: 'child.js' });",
    );
    env.run_wait(&over, &[]).fails_with(&["maxAgents", "limit is 3"]);
    assert_eq!(env.mock_invocations(), 3, "the child's second agent was never started");

    let env = Env::new();
    std::fs::write(
        env.path().join("child.js"),
        "export const meta = { name: 'child', description: '' };\nreturn 1;\n",
    )
    .unwrap();
    std::fs::write(
        env.path().join("deeper.js"),
        "export const meta = { name: 'deeper', description: '' };\nreturn await workflow({ scriptPath: 'child.js' });\n",
    )
    .unwrap();
    let two = env.script("two.js", "return await workflow({ scriptPath: 'deeper.js' });");
    env.run_wait(&two, &[]).fails_with(&["one level deep"]);
    let missing = env.script("missing.js", "return await workflow('no-such-saved-workflow');");
    env.run_wait(&missing, &[]).fails_with(&["no saved workflow named `no-such-saved-workflow`"]);
    let outside = env.script("outside.js", "return await workflow({ scriptPath: '../elsewhere/wf.js' });");
    env.run_wait(&outside, &[]).fails_with(&["must be a relative path below the calling script's folder"]);
    let absolute = env.script("absolute.js", "return await workflow({ scriptPath: '/etc/wf.js' });");
    env.run_wait(&absolute, &[]).fails_with(&["must be a relative path"]);
}

#[test]
fn validate_in_a_script_checks_candidates_without_running_them() {
    let env = Env::new();
    let wf = env.script(
        "wf.js",
        "const good = validate(\"export const meta = {name:'c', description:''};\\nreturn await agent('never');\");\n\
         const broken = validate(\"export const meta = {name:'c', description:''};\\nconst x = (1 +;\");\n\
         const imports = validate(\"export const meta = {name:'c', description:''};\\nimport x from 'y';\");\n\
         const nameless = validate(\"export const meta = {description:''};\\nreturn 1;\");\n\
         return { good, broken: [broken.ok, broken.errors[0].line], imports: imports.errors[0], nameless: nameless.errors[0].message };",
    );
    let out = env.run_wait(&wf, &[]).json();
    assert_eq!(out["good"], json!({ "ok": true, "meta": { "name": "c", "description": "" }, "errors": [] }));
    assert_eq!(out["broken"], json!([false, 2]));
    assert_eq!(out["imports"]["line"], 2);
    assert!(out["imports"]["message"].as_str().unwrap().contains("`import` is not allowed"));
    assert!(out["nameless"].as_str().unwrap().contains("meta.name"));
    assert_eq!(env.mock_invocations(), 0, "validate() ran nothing");
}

#[test]
fn skill_install_copies_the_skill_for_claude_and_codex() {
    let env = Env::new();
    let out = env.odw(&["skill", "install"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("claude mcp add odw -- odw mcp"), "names the MCP server: {}", out.stderr);
    let claude = env.path().join(".claude/skills/odw-workflows/SKILL.md");
    let text = std::fs::read_to_string(&claude).unwrap();
    assert!(text.starts_with("---\nname: odw-workflows"), "{text}");
    assert_eq!(
        text,
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("skill/SKILL.md")).unwrap()
    );
    let again = env.odw(&["skill", "install"]);
    assert!(again.stderr.contains("already up to date"), "{}", again.stderr);
    std::fs::write(&claude, "my own notes").unwrap();
    assert_eq!(env.odw(&["skill", "install"]).code, 1, "a different file is not overwritten");
    assert_eq!(env.odw(&["skill", "install", "--force"]).code, 0);
    let codex = env.odw(&["skill", "install", "--codex"]);
    assert_eq!(codex.code, 0);
    assert!(codex.stderr.contains("codex mcp add odw -- odw mcp"), "{}", codex.stderr);
    assert!(env.path().join(".codex/skills/odw-workflows/SKILL.md").is_file());
}

/// Starts a run whose agent holds, and returns (run id, worker pid, agent
/// pid, the agent's child's pid).
fn holding_run(env: &Env) -> (String, String, String, String) {
    let pidfile = env.path().join("agent.pid");
    let wf = env.script("wf.js", &format!("return await agent('hold pidfile:{}');", pidfile.display()));
    let id = start(env, &wf);
    wait_for("the agent to start", Duration::from_secs(20), || {
        std::fs::read_to_string(&pidfile).is_ok_and(|p| !p.trim().is_empty())
    });
    let worker = status(env, &id)["pid"].to_string();
    let agent = std::fs::read_to_string(&pidfile).unwrap();
    let grandchild = std::fs::read_to_string(pidfile.with_extension("pid.child")).unwrap();
    assert!(alive(&worker) && alive(&agent) && alive(&grandchild));
    (id, worker, agent, grandchild)
}

fn signal(pid: &str, signal: &str) {
    let sent = std::process::Command::new("kill").args([signal, pid.trim()]).status().unwrap();
    assert!(sent.success());
}

#[test]
fn sigterm_to_a_worker_stops_the_run_and_its_agents() {
    let env = Env::new();
    let (id, worker, agent, grandchild) = holding_run(&env);
    signal(&worker, "-TERM");
    wait_for("the run to stop", Duration::from_secs(5), || status(&env, &id)["state"] == "stopped");
    wait_for("the agent and its child to be gone", Duration::from_secs(5), || {
        !alive(&agent) && !alive(&grandchild)
    });
    assert_eq!(env.events().last().unwrap()["type"], "run_stopped");
}

#[test]
fn an_agent_does_not_outlive_a_killed_worker() {
    agents_do_not_outlive_a_worker_ended_by("-KILL");
}

#[test]
fn an_agent_does_not_outlive_an_aborted_worker() {
    agents_do_not_outlive_a_worker_ended_by("-ABRT");
}

/// A worker ended by a signal that runs none of its cleanup.
fn agents_do_not_outlive_a_worker_ended_by(how: &str) {
    let env = Env::new();
    let (id, worker, agent, grandchild) = holding_run(&env);
    signal(&worker, how);
    // The kernel kills the agent when its parent dies, and the guardian
    // kills what the agent started; the run is then interrupted, and stays
    // resumable.
    wait_for("the agent and its child to be gone", Duration::from_secs(5), || {
        !alive(&agent) && !alive(&grandchild)
    });
    wait_for("the run to read as interrupted", Duration::from_secs(5), || {
        status(&env, &id)["state"] == "interrupted"
    });
}

/// The binary loads no shared library but libc (build.rs links the unwinder
/// in, `src/math_symbols.rs` defines the two math functions it calls): each
/// library loaded cost every command ~0.1 ms of its start. Asked of the
/// dynamic loader itself, which lists what it would load and exits.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn the_binary_loads_libc_and_nothing_else() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_odw"))
        .env("LD_TRACE_LOADED_OBJECTS", "1")
        .output()
        .expect("odw runs");
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains("libc.so"), "the loader lists libc:\n{listed}");
    assert!(!listed.contains("libm.so"), "libm is loaded:\n{listed}");
    #[cfg(odw_static_unwinder)]
    assert!(!listed.contains("libgcc_s"), "libgcc_s is loaded:\n{listed}");
}
