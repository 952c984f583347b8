//! odw drives the real agent CLIs (claude, codex, gemini, qwen at the
//! versions pinned in tests/clis/package.json) end to end, each against the
//! scripted model server in tests/models/server.py on 127.0.0.1: a plain
//! reply with reported usage, the model and effort reaching the API, a
//! structured reply through the CLI's native channel (or odw's prompt suffix
//! where it has none), agentType, an API error, and a timeout.
//!
//! `bash .ci/test` installs the CLIs with npm into tests/clis/node_modules;
//! without them these tests fail and say so rather than pass unseen.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{HEADER, Run, cache_dir, read_events};
use serde_json::{Value, json};

/// Where npm put the CLIs' executables.
fn clis_path() -> String {
    let clis = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clis");
    let bins = [clis.join("kimi/bin"), clis.join("node_modules/.bin")];
    for cli in ["kimi", "claude", "codex", "gemini", "qwen"] {
        assert!(
            bins.iter().any(|b| b.join(cli).exists()),
            "the real agent CLIs are not installed in {}: run `bash .ci/test` (or tests/clis/install.sh), \
             which installs the versions pinned there with npm",
            clis.display()
        );
    }
    let dirs: Vec<String> = bins.iter().map(|b| b.display().to_string()).collect();
    format!("{}:{}", dirs.join(":"), std::env::var("PATH").unwrap_or_default())
}

/// The scripted model server, stopped when dropped.
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let log = dir.join("requests.jsonl");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/models/server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(&log)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the model server (python3)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("port line");
        let port = line.trim().strip_prefix("port ").and_then(|p| p.parse().ok()).expect("port N");
        Server { child, port, log }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request the server got, as logged.
    fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("log line"))
            .collect()
    }

    /// The requests whose user text holds `task`.
    fn for_task(&self, task: &str) -> Vec<Value> {
        self.requests().into_iter().filter(|r| r["body"].to_string().contains(task)).collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One CLI's world: HOME with its settings, a project directory, the server.
struct Cli {
    name: &'static str,
    dir: tempfile::TempDir,
    server: Server,
}

impl Cli {
    fn new(name: &'static str) -> Cli {
        let dir = tempfile::tempdir().expect("temp dir");
        for sub in ["home", "work", "runs"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("dir");
        }
        let server = Server::start(dir.path());
        let cli = Cli { name, dir, server };
        cli.configure(json!({}));
        cli
    }

    fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    /// Writes odw.config.json: the built-in adapter `name`, changed only by
    /// the environment that points it at the server (an entry with no
    /// `command` keeps the built-in's command line), plus `extra` keys.
    fn configure(&self, extra: Value) {
        let home = self.path("home");
        let url = self.server.url();
        let env = match self.name {
            "claude" => json!({
                "ANTHROPIC_BASE_URL": url, "ANTHROPIC_API_KEY": "test-key",
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1",
                "DISABLE_TELEMETRY": "1", "DISABLE_ERROR_REPORTING": "1"
            }),
            "codex" => {
                let codex_home = home.join(".codex");
                std::fs::create_dir_all(&codex_home).expect("codex home");
                let toml = format!(
                    "model_provider = \"scripted\"\n[model_providers.scripted]\nname = \"scripted\"\n\
                     base_url = \"{url}/v1\"\nenv_key = \"SCRIPTED_KEY\"\nwire_api = \"responses\"\n"
                );
                std::fs::write(codex_home.join("config.toml"), toml).expect("codex config");
                json!({ "CODEX_HOME": codex_home, "SCRIPTED_KEY": "test-key" })
            }
            "gemini" => {
                settings(
                    &home.join(".gemini"),
                    json!({"security": {"auth": {"selectedType": "gemini-api-key"}}}),
                );
                json!({ "GEMINI_API_KEY": "test-key", "GOOGLE_GEMINI_BASE_URL": url,
                        "GEMINI_CLI_TRUST_WORKSPACE": "true" })
            }
            "qwen" => {
                settings(&home.join(".qwen"), json!({"security": {"auth": {"selectedType": "openai"}}}));
                json!({ "OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": format!("{url}/v1") })
            }
            "kimi" => {
                let kimi_home = home.join(".kimi");
                std::fs::create_dir_all(&kimi_home).expect("kimi home");
                let toml = format!(
                    "default_model = \"m-scripted\"\n[providers.local]\ntype = \"kimi\"\n\
                     base_url = \"{url}/v1\"\napi_key = \"test-key\"\n[models.m-scripted]\n\
                     provider = \"local\"\nmodel = \"m-scripted\"\nmax_context_size = 131072\n"
                );
                std::fs::write(kimi_home.join("config.toml"), toml).expect("kimi config");
                json!({ "KIMI_CODE_HOME": kimi_home, "KIMI_CODE_NO_AUTO_UPDATE": "1", "KIMI_DISABLE_TELEMETRY": "1" })
            }
            other => panic!("no setup for {other}"),
        };
        let mut adapter = json!({ "env": env });
        if let Value::Object(e) = extra {
            adapter.as_object_mut().expect("object").extend(e);
        }
        let config = json!({ "workspaceMode": "inplace", "adapters": { self.name: adapter } });
        std::fs::write(self.path("work/odw.config.json"), config.to_string()).expect("config");
    }

    /// `odw run wf.js --wait --adapter NAME` with `body` as the workflow.
    fn run(&self, body: &str) -> Run {
        std::fs::write(self.path("work/wf.js"), format!("{HEADER}{body}\n")).expect("script");
        let runs = self.path("runs");
        let path = clis_path();
        let output = Command::new(env!("CARGO_BIN_EXE_odw"))
            .args(["run", "wf.js", "--wait", "--adapter", self.name, "--runs-root"])
            .arg(&runs)
            .current_dir(self.path("work"))
            .env("HOME", self.path("home"))
            .env("PATH", path)
            .env("ODW_CACHE_DIR", cache_dir())
            .env_remove("ODW_CONFIG")
            .output()
            .expect("run odw");
        Run::from(output)
    }

    /// The `agent_finished` (or `agent_failed`) event of the newest run, by label.
    fn finished(&self, label: &str) -> Value {
        let runs = self.path("runs");
        let newest = std::fs::read_dir(&runs)
            .expect("runs")
            .flat_map(|wf| std::fs::read_dir(wf.expect("entry").path()).expect("wf dir"))
            .map(|r| r.expect("run").path())
            .max_by_key(|p| p.metadata().and_then(|m| m.modified()).expect("mtime"))
            .expect("a run");
        read_events(&newest)
            .into_iter()
            .find(|e| (e["type"] == "agent_finished" || e["type"] == "agent_failed") && e["label"] == label)
            .unwrap_or_else(|| panic!("no agent_finished for {label}"))
    }
}

fn settings(dir: &Path, value: Value) {
    std::fs::create_dir_all(dir).expect("settings dir");
    std::fs::write(dir.join("settings.json"), value.to_string()).expect("settings");
}

/// The workflow every CLI runs: the checks in one run, so each CLI starts
/// a handful of times rather than once per check.
const WORKFLOW: &str = r#"
const schema = { type: 'object', additionalProperties: false, required: ['n', 'tag'],
                 properties: { n: { type: 'integer' }, tag: { type: 'string' } } };
const plain = await agent('TASK plain reply', { model: 'm-scripted', effort: 'max', label: 'plain' });
const typed = await agent('TASK typed reply', { schema, label: 'typed' });
const role = await agent('TASK role reply', { agentType: 'reviewer', label: 'role' });
// As in Claude Code, a failed call without a schema resolves to null.
const failed = await agent('TASK fail on purpose', { label: 'failing' });
return { plain, typed, role, failed };
"#;

/// What every CLI must give back for [`WORKFLOW`]; `reports_usage`: the
/// CLI prints token usage (else odw estimates it).
fn check_common(cli: &Cli, reports_usage: bool) -> Value {
    let run = cli.run(WORKFLOW);
    assert_eq!(run.code, 0, "{}: {}", cli.name, run.stderr);
    let out = run.json();
    assert_eq!(out["plain"], json!("done: plain reply"), "{}: {out}", cli.name);
    assert_eq!(out["typed"], json!({ "n": 7, "tag": "r.tag-ok" }), "{}: {out}", cli.name);
    assert_eq!(out["role"], json!("done: role reply"), "{}: {out}", cli.name);
    assert_eq!(out["failed"], Value::Null, "{}: {out}", cli.name);
    let failure = cli.finished("failing")["error"].as_str().unwrap_or_default().to_string();
    assert!(failure.contains("scripted failure"), "{}: the API error did not come back: {failure}", cli.name);
    // The model reached the API, and the usage odw counts is what the CLI
    // reported (the server always says 21 in, 8 out per request).
    let plain = cli.server.for_task("TASK plain reply");
    assert!(!plain.is_empty() && plain.iter().all(|r| r["model"] == "m-scripted"), "{}: {plain:?}", cli.name);
    let usage = &cli.finished("plain")["usage"];
    assert_eq!(usage["estimated"], json!(!reports_usage), "{}: {usage}", cli.name);
    let (input, output) = (usage["input"].as_u64().unwrap_or(0), usage["output"].as_u64().unwrap_or(0));
    if reports_usage {
        assert!(input > 0 && input % 21 == 0 && output > 0 && output % 8 == 0, "{}: {usage}", cli.name);
    }
    assert!(plain.iter().all(|r| r["auth"] == true), "{}: no credential sent", cli.name);
    out
}

/// A call that outlives its timeout is killed, and the run says so.
fn check_timeout(cli: &Cli) {
    cli.configure(json!({ "timeout": 4 }));
    let started = Instant::now();
    let run = cli.run("return await agent('TASK sleep=30 slow', { label: 'slow' });");
    // A failed call without a schema resolves to null, as in Claude Code.
    assert_eq!((run.code, run.json()), (0, Value::Null), "{}: {}", cli.name, run.stderr);
    let why = cli.finished("slow")["error"].as_str().unwrap_or_default().to_string();
    assert!(why.contains(&format!("`{}` timed out after 4s", cli.name)), "{}: {why}", cli.name);
    assert!(started.elapsed() < Duration::from_secs(20), "{}: took {:?}", cli.name, started.elapsed());
}

/// The request(s) of the call whose task is `task`, with `what` in them.
fn assert_sent(cli: &Cli, task: &str, what: impl Fn(&Value) -> bool, why: &str) {
    let sent = cli.server.for_task(task);
    assert!(sent.iter().any(what), "{}: {why}; sent: {}", cli.name, json!(sent));
}

/// odw's own structured output: the schema after the prompt.
fn assert_schema_in_prompt(cli: &Cli) {
    assert_sent(
        cli,
        "TASK typed reply",
        |r| r["body"].to_string().contains("JSON Schema:"),
        "the prompt suffix",
    );
}

/// agentType as odw's persona line, for CLIs with no agent flag.
fn assert_persona_line(cli: &Cli) {
    let persona = |r: &Value| r["body"].to_string().contains("You are acting as: reviewer.");
    assert_sent(cli, "TASK role reply", persona, "the persona line");
}

#[test]
fn claude_runs_natively_with_effort_agent_and_json_schema() {
    let cli = Cli::new("claude");
    let agents = cli.path("work/.claude/agents");
    std::fs::create_dir_all(&agents).expect("agents dir");
    std::fs::write(
        agents.join("reviewer.md"),
        "---\nname: reviewer\ndescription: Reviews changes.\n---\nYou are REVIEWER-SENTINEL. Review what you are given.\n",
    )
    .expect("agent file");
    check_common(&cli, true);
    // effort → --effort → the API's output_config.effort.
    assert_sent(&cli, "TASK plain reply", |r| r["body"]["output_config"]["effort"] == "max", "effort max");
    // schema → --json-schema: the StructuredOutput tool, no prompt suffix.
    assert_sent(
        &cli,
        "TASK typed reply",
        |r| {
            let tools = r["body"]["tools"].to_string();
            tools.contains("StructuredOutput") && !r["body"]["messages"].to_string().contains("JSON Schema:")
        },
        "the schema as Claude Code's StructuredOutput tool",
    );
    // agentType → --agent: the agent's own system prompt, no persona line.
    assert_sent(
        &cli,
        "TASK role reply",
        |r| {
            r["body"]["system"].to_string().contains("REVIEWER-SENTINEL")
                && !r["body"].to_string().contains("You are acting as")
        },
        "the reviewer agent's system prompt",
    );
    // A missing agent fails the call with Claude Code's own message.
    let run = cli.run("return await agent('TASK nobody', { agentType: 'Nobody', label: 'nobody' });");
    assert_eq!((run.code, run.json()), (0, Value::Null), "{}", run.stderr);
    let why = cli.finished("nobody")["error"].as_str().unwrap_or_default().to_string();
    assert!(why.contains("--agent 'Nobody' not found. Available agents:"), "{why}");
    check_timeout(&cli);
}

#[test]
fn codex_runs_natively_with_reasoning_effort_and_output_schema() {
    let cli = Cli::new("codex");
    check_common(&cli, true);
    // Claude Code's `max` is codex's `xhigh`.
    assert_sent(&cli, "TASK plain reply", |r| r["body"]["reasoning"]["effort"] == "xhigh", "effort xhigh");
    assert_sent(
        &cli,
        "TASK typed reply",
        |r| r["body"]["text"]["format"]["type"] == "json_schema",
        "the schema as a Responses json_schema format",
    );
    assert_persona_line(&cli);
    // A schema OpenAI's strict mode would refuse goes in the prompt instead.
    let run = cli.run(
        "return await agent('TASK loose schema', { schema: { type: 'object', properties: { n: { type: 'integer' } } } });",
    );
    assert_eq!(run.json(), json!({ "n": 7 }), "{}", run.stderr);
    assert_sent(
        &cli,
        "TASK loose schema",
        |r| {
            r["body"]["text"]["format"]["type"] != "json_schema"
                && r["body"].to_string().contains("JSON Schema:")
        },
        "a loose schema as odw's prompt suffix",
    );
    check_timeout(&cli);
}

#[test]
fn gemini_runs_with_the_schema_in_the_prompt() {
    let cli = Cli::new("gemini");
    check_common(&cli, true);
    assert_schema_in_prompt(&cli);
    assert_persona_line(&cli);
    check_timeout(&cli);
}

#[test]
fn qwen_runs_natively_with_json_schema() {
    let cli = Cli::new("qwen");
    check_common(&cli, true);
    assert_sent(
        &cli,
        "TASK typed reply",
        |r| {
            r["body"]["tools"].to_string().contains("structured_output")
                && !r["body"].to_string().contains("JSON Schema:")
        },
        "the schema as qwen's structured_output tool",
    );
    assert_persona_line(&cli);
    check_timeout(&cli);
}

#[test]
fn kimi_code_runs_with_the_prompt_as_an_argument() {
    let cli = Cli::new("kimi");
    // Kimi Code prints no token usage: odw estimates it.
    check_common(&cli, false);
    assert_schema_in_prompt(&cli);
    assert_persona_line(&cli);
    check_timeout(&cli);
}

#[test]
fn odw_adapters_shows_what_each_option_maps_to() {
    let cli = Cli::new("claude");
    let out = Command::new(env!("CARGO_BIN_EXE_odw"))
        .args(["adapters", "--json"])
        .current_dir(cli.path("work"))
        .env("HOME", cli.path("home"))
        .env("PATH", clis_path())
        .output()
        .expect("odw adapters");
    let listed: Value = serde_json::from_slice(&out.stdout).expect("json");
    let by_name =
        |n: &str| listed["adapters"].as_array().unwrap().iter().find(|a| a["name"] == n).unwrap().clone();
    let claude = by_name("claude");
    assert_eq!(claude["options"]["effort"], "--effort {effort}");
    assert_eq!(claude["options"]["agentType"], "--agent {agent_type}");
    assert_eq!(claude["natives"], json!({ "schema": true, "effort": true, "agentType": true }));
    assert_eq!(claude["origin"], "built-in, with settings from config");
    assert!(claude["found"].as_str().is_some_and(|p| p.ends_with("claude")), "{claude}");
    assert_eq!(by_name("codex")["options"]["schema"], "--output-schema {schema_file}");
    assert_eq!(by_name("gemini")["natives"], json!({ "schema": false, "effort": false, "agentType": false }));
}
