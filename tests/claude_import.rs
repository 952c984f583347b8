//! `odw import claude` through the real binary, on runs Claude Code 2.1.328
//! recorded with the oracle (tests/fixtures/claude-runs/, see its README):
//! a completed run resumes with zero agents and Claude Code's result; a
//! killed one resumes running only the calls Claude Code had not finished.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Env, Run, cache_dir, fixture};
use serde_json::{Value, json};

const COMPLETE: &str = "wf_110c0f9c-14b";
const KILLED: &str = "wf_ea703656-a89";

/// Copies a recorded `$CLAUDE_CONFIG_DIR` into `to`.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read fixture") {
        let path = entry.expect("entry").path();
        let target = to.join(path.file_name().expect("name"));
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("copy");
        }
    }
}

/// A test env whose `~/.claude` holds the recorded run `name`.
fn env_with(name: &str) -> Env {
    let env = Env::new();
    copy_tree(Path::new(&fixture(&format!("claude-runs/{name}"))), &env.path().join(".claude"));
    env
}

/// `odw ARGS --runs-root runs` in `env`, with `CLAUDE_CONFIG_DIR` set or removed.
fn odw(env: &Env, claude_dir: Option<&Path>, args: &[&str]) -> Run {
    let runs = env.runs();
    let mut command = Command::new(env!("CARGO_BIN_EXE_odw"));
    command
        .args(args)
        .args(["--runs-root", runs.to_str().expect("utf-8")])
        .current_dir(env.path())
        .env("HOME", env.path())
        .env("ODW_CACHE_DIR", cache_dir())
        .env("MOCK_LOG", env.mock_log())
        .env_remove("ODW_CONFIG");
    match claude_dir {
        Some(dir) => command.env("CLAUDE_CONFIG_DIR", dir),
        None => command.env_remove("CLAUDE_CONFIG_DIR"),
    };
    Run::from(command.output().expect("run odw"))
}

fn import(env: &Env, claude_dir: Option<&Path>, what: &str) -> (String, Run) {
    let run = odw(env, claude_dir, &["import", "claude", what]);
    assert_eq!(run.code, 0, "import failed:\n{}", run.stderr);
    (run.stdout.trim().to_string(), run)
}

/// The script the import stored for run `id`.
fn stored_script(env: &Env, id: &str) -> PathBuf {
    let run = odw(env, None, &["status", id, "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let dir = std::fs::read_dir(env.runs())
        .expect("runs")
        .flat_map(|w| std::fs::read_dir(w.expect("wf").path()).expect("dir"))
        .map(|r| r.expect("run").path())
        .find(|p| p.ends_with(id))
        .expect("the imported run's directory");
    let meta: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).expect("meta"))
        .expect("meta is JSON");
    PathBuf::from(meta["script"].as_str().expect("script path"))
}

fn claude_summary() -> Value {
    let dir = fixture(
        "claude-runs/complete/projects/-work-ccrec-complete-proj/ece049bd-6a69-419a-a61b-0f0d5630a1da",
    );
    let text =
        std::fs::read_to_string(Path::new(&dir).join(format!("workflows/{COMPLETE}.json"))).expect("wf json");
    serde_json::from_str(&text).expect("wf json is JSON")
}

#[test]
fn a_completed_run_resumes_with_zero_agents_and_claude_codes_result() {
    let env = env_with("complete");
    // Listed, marked as Claude Code's, before any import.
    let list = odw(&env, None, &["list"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    let line = list.stdout.lines().find(|l| l.starts_with(COMPLETE)).expect("the run is listed");
    assert!(
        line.contains("claude-code") && line.contains("completed") && line.contains("cc-complete"),
        "{line}"
    );
    assert!(!env.runs().exists(), "listing imports nothing");

    let (id, imported) = import(&env, None, COMPLETE);
    assert!(imported.stderr.contains("4 finished calls journalled, 0 unfinished"), "{}", imported.stderr);
    let status = odw(&env, None, &["status", &id, "--json"]).json();
    assert_eq!(status["state"], "done");
    assert_eq!(status["workflow"], "cc-complete");
    let claude = claude_summary();
    assert_eq!(odw(&env, None, &["result", &id]).json(), claude["result"]);

    let script = stored_script(&env, &id);
    let resumed = odw(
        &env,
        None,
        &[
            "run",
            script.to_str().expect("utf-8"),
            "--args",
            r#"{"topic":"parsers"}"#,
            "--resume-from",
            &id,
            "--wait",
        ],
    );
    assert_eq!(resumed.json(), claude["result"]);
    assert_eq!(env.mock_invocations(), 0, "no agent may run again");
    assert!(resumed.stderr.contains("reused 4 of 4 calls, no live calls"), "{}", resumed.stderr);
}

#[test]
fn an_edited_script_reuses_claude_codes_calls_by_content() {
    let env = env_with("complete");
    let (id, _) = import(&env, None, COMPLETE);
    let script = std::fs::read_to_string(stored_script(&env, &id)).expect("script");
    let edited = script.replace("TASK plan the work on", "TASK plan the job on");
    assert_ne!(edited, script);
    std::fs::write(env.path().join("edited.js"), edited).expect("write");
    let resumed = odw(
        &env,
        None,
        &[
            "run",
            "edited.js",
            "--args",
            r#"{"topic":"parsers"}"#,
            "--resume-from",
            &id,
            "--reuse",
            "content",
            "--wait",
        ],
    );
    let value = resumed.json();
    // Only the edited call ran; the other three (a schema call among them)
    // came from Claude Code by content.
    assert_eq!(env.mock_invocations(), 1, "{}", resumed.stderr);
    let claude = claude_summary();
    for key in ["a", "b", "verdict"] {
        assert_eq!(value[key], claude["result"][key], "{key}");
    }
    assert_ne!(value["plan"], claude["result"]["plan"]);
}

#[test]
fn a_killed_run_resumes_running_only_the_unfinished_calls() {
    let env = Env::new();
    let claude_dir = PathBuf::from(fixture("claude-runs/killed"));
    let list = odw(&env, Some(&claude_dir), &["list"]);
    let line = list.stdout.lines().find(|l| l.starts_with(KILLED)).expect("the run is listed");
    assert!(line.contains("interrupted") && line.contains("cc-killed"), "{line}");

    // Found through $CLAUDE_CONFIG_DIR by id.
    let (id, imported) = import(&env, Some(&claude_dir), KILLED);
    assert!(imported.stderr.contains("2 finished calls journalled, 2 unfinished"), "{}", imported.stderr);
    let status = odw(&env, None, &["status", &id, "--json"]).json();
    assert_eq!(status["state"], "interrupted");
    assert_eq!(status["agents"], json!({"dispatched": 4, "running": 0, "done": 2, "failed": 0}));
    let journal = odw(&env, None, &["journal", &id, "--json"]).json();
    let states: Vec<&str> =
        journal.as_array().expect("rows").iter().map(|r| r["status"].as_str().unwrap_or("")).collect();
    assert_eq!(states, ["ok", "ok", "incomplete", "incomplete"]);

    let script = stored_script(&env, &id);
    let resumed = odw(&env, None, &["run", script.to_str().expect("utf-8"), "--resume-from", &id, "--wait"]);
    let value = resumed.json();
    assert_eq!(env.mock_invocations(), 2, "only the two unfinished calls run: {}", resumed.stderr);
    // The finished ones carry Claude Code's answers, the schema call's too.
    assert_eq!(value["first"], json!("echo:0058d191:TASK first step"));
    assert_eq!(value["second"], json!({"n": 5}));
    assert_eq!(value["slow"].as_array().map(Vec::len), Some(2));
    let prompts: Vec<String> =
        env.mock_lines().into_iter().filter(|l| l.what == "start").map(|l| l.prompt).collect();
    assert!(prompts.iter().all(|p| p.starts_with("TASK slow")), "{prompts:?}");
}

#[test]
fn a_path_to_the_run_works_without_any_config_dir() {
    let env = Env::new();
    let dir = fixture(&format!(
        "claude-runs/killed/projects/-work-ccrec-killed-proj/fe33e84b-cc76-48cb-a814-221c8b53690f/subagents/workflows/{KILLED}"
    ));
    let (id, _) = import(&env, None, &dir);
    assert_eq!(odw(&env, None, &["status", &id, "--json"]).json()["workflow"], "cc-killed");
}

#[test]
fn broken_or_foreign_files_are_refused_naming_the_file() {
    let env = env_with("complete");
    let session =
        env.path().join(".claude/projects/-work-ccrec-complete-proj/ece049bd-6a69-419a-a61b-0f0d5630a1da");
    let journal = session.join(format!("subagents/workflows/{COMPLETE}/journal.jsonl"));
    let text = std::fs::read_to_string(&journal).expect("journal");
    std::fs::write(&journal, text.replacen("{\"type\":\"started\"", "{oops", 1)).expect("write");
    let run = odw(&env, None, &["import", "claude", COMPLETE]);
    run.fails_with(&[&journal.display().to_string(), ":2: not a Claude Code record"]);

    let summary = session.join(format!("workflows/{COMPLETE}.json"));
    std::fs::write(&summary, "{\"runId\": 1}").expect("write");
    odw(&env, None, &["import", "claude", summary.to_str().expect("utf-8")]).fails_with(&[
        &summary.display().to_string(),
        "not a Claude Code record",
        "missing field `script`",
    ]);

    let foreign = env.path().join("odw.config.json");
    odw(&env, None, &["import", "claude", foreign.to_str().expect("utf-8")])
        .fails_with(&[&foreign.display().to_string(), "not a Claude Code workflow run"]);

    odw(&env, None, &["import", "claude", "wf_nope"])
        .fails_with(&["no Claude Code workflow run `wf_nope` under", ".claude"]);
    assert!(!env.runs().exists() || std::fs::read_dir(env.runs()).expect("runs").next().is_none());
}

#[test]
fn a_call_that_failed_in_claude_code_runs_again_on_resume() {
    let env = env_with("failed");
    let (id, imported) = import(&env, None, "wf_9bcca063-b79");
    assert!(
        imported.stderr.contains("1 finished calls journalled, 0 unfinished, 1 failed"),
        "{}",
        imported.stderr
    );
    // Claude Code's result, `null` for the failed agent, is the run's.
    assert_eq!(
        odw(&env, None, &["result", &id]).json(),
        json!({"a": "echo:92cbc5f6:TASK ok one", "b": null})
    );
    let script = stored_script(&env, &id);
    let resumed = odw(&env, None, &["run", script.to_str().expect("utf-8"), "--resume-from", &id, "--wait"]);
    let value = resumed.json();
    assert_eq!(env.mock_invocations(), 1, "{}", resumed.stderr);
    assert_eq!(value["a"], json!("echo:92cbc5f6:TASK ok one"));
    assert!(value["b"].as_str().is_some_and(|b| b.contains("TASK bad")), "{value}");
}
