//! The conformance corpus: every case in `tests/conformance/cases/` run
//! through the real `odw` binary and compared with what Claude Code's own
//! Workflow runtime returned for it (`tests/conformance/golden/`, recorded
//! with the cc-oracle kit by `tests/conformance/record.sh`).
//!
//! Both engines get the same replies: the adapter is a copy of the oracle's
//! `mock_agent.py` (`tests/conformance/mock_agent.py`), whose reply rule is
//! the one the oracle's API mock applies. The oracle itself is not needed
//! here; only the goldens are.
//!
//! A case that differs on purpose says so with `// @odw <expectation>` and
//! `// @why <reason>`; README's table lists the same differences.
//! Expectations: `result <JSON>` (odw completes with this value), `fails`
//! (odw ends the run with an error), `refuses` (odw refuses the script
//! before it runs), `logs <JSON array>` (odw's log lines, when only they
//! differ).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance")
}

/// The `// @key value` directives at the top of a case.
fn directives(source: &str, key: &str) -> Vec<String> {
    let prefix = format!("// @{key}");
    source
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter(|rest| rest.is_empty() || rest.starts_with(' '))
        .map(|rest| rest.trim().to_string())
        .collect()
}

/// Numbers compared as numbers (the goldens write `3.0` as `3`); arrays in
/// order unless `multiset`.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn same_multiset(a: &Value, b: &Value) -> bool {
    let (Value::Array(x), Value::Array(y)) = (a, b) else { return same(a, b) };
    let mut left: Vec<&Value> = y.iter().collect();
    x.len() == y.len()
        && x.iter().all(|v| match left.iter().position(|w| same(v, w)) {
            Some(i) => {
                left.remove(i);
                true
            }
            None => false,
        })
}

/// A log line as compared: the text of a failure is each engine's own (an
/// API error there, an exit status here), so a line with `failed: ` is
/// compared up to it.
fn log_shape(line: &str) -> String {
    match line.find(" failed: ") {
        Some(at) => line[..at + " failed:".len()].to_string(),
        None => line.to_string(),
    }
}

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
    logs: Vec<String>,
    agents: Option<u64>,
}

/// Runs one case through odw in a fresh directory, as the oracle ran it.
fn run_case(name: &str, source: &str) -> Outcome {
    let dir = tempfile::tempdir().expect("temp dir");
    let mock = corpus().join("mock_agent.py");
    let config = json!({
        "defaultAdapter": "mock",
        "workspaceMode": "inplace",
        "adapters": { "mock": {
            "command": ["python3", mock.to_str().expect("utf-8 path"), "--role={role}"],
            "stdin": "{prompt}"
        } }
    });
    std::fs::write(dir.path().join("odw.config.json"), config.to_string()).expect("config");
    for callee in directives(source, "workflow") {
        let to = dir.path().join(".claude/workflows");
        std::fs::create_dir_all(&to).expect("workflows dir");
        std::fs::copy(
            corpus().join("workflows").join(format!("{callee}.js")),
            to.join(format!("{callee}.js")),
        )
        .expect("callee");
    }
    let script = dir.path().join(format!("{name}.js"));
    std::fs::write(&script, source).expect("script");
    let runs = dir.path().join("runs");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_odw"));
    cmd.args([
        "run",
        script.to_str().expect("utf-8"),
        "--wait",
        "--runs-root",
        runs.to_str().expect("utf-8"),
    ]);
    if let Some(args) = directives(source, "args").first() {
        cmd.args(["--args", args]);
    }
    let out = cmd
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env("ODW_CACHE_DIR", common::cache_dir())
        .env("MOCK_LOG", dir.path().join("mock.log"))
        .env_remove("ODW_CONFIG")
        .env_remove("CLAUDE_CONFIG_DIR")
        .output()
        .expect("run odw");
    let events: Vec<Value> = std::fs::read_dir(&runs)
        .into_iter()
        .flatten()
        .flat_map(|wf| std::fs::read_dir(wf.expect("entry").path()).into_iter().flatten())
        .flat_map(|run| common::read_events(&run.expect("run").path()))
        .collect();
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        logs: events
            .iter()
            .filter(|e| e["type"] == "log")
            .filter_map(|e| e["message"].as_str().map(str::to_string))
            .collect(),
        agents: events
            .iter()
            .rev()
            .find(|e| e["type"] == "run_finished")
            .and_then(|e| e["agents"]["dispatched"].as_u64()),
    }
}

/// The warnings `odw validate` prints for a case (it must still succeed).
fn validate_warnings(name: &str, source: &str) -> Vec<String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join(format!("{name}.js"));
    std::fs::write(&script, source).expect("script");
    let out = Command::new(env!("CARGO_BIN_EXE_odw"))
        .args(["validate", script.to_str().expect("utf-8")])
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env("ODW_CACHE_DIR", common::cache_dir())
        .env_remove("ODW_CONFIG")
        .output()
        .expect("run odw validate");
    assert!(out.status.success(), "{name}: odw validate failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("odw: warning: "))
        .map(str::to_string)
        .collect()
}

/// Checks one case; `Err` says how odw differs from the golden.
fn check(name: &str) -> Result<(), String> {
    let source = std::fs::read_to_string(corpus().join("cases").join(format!("{name}.js"))).expect("case");
    let golden: Value = serde_json::from_str(
        &std::fs::read_to_string(corpus().join("golden").join(format!("{name}.json")))
            .map_err(|e| format!("no golden ({e}): run tests/conformance/record.sh {name}"))?,
    )
    .expect("golden is JSON");
    let odw = run_case(name, &source);
    let expectation = directives(&source, "odw").into_iter().next();
    if expectation.is_some() && directives(&source, "why").is_empty() {
        return Err("an intentional difference needs a `// @why` line".into());
    }
    let (kind, rest) = match &expectation {
        Some(e) => e.split_once(' ').unwrap_or((e.as_str(), "")),
        None => ("", ""),
    };
    let result = || -> Result<Value, String> {
        if odw.code != 0 {
            return Err(format!("odw failed (exit {}):\n{}", odw.code, odw.stderr));
        }
        serde_json::from_str(&odw.stdout).map_err(|e| format!("stdout is not JSON ({e}): {}", odw.stdout))
    };
    match (kind, golden["outcome"].as_str()) {
        ("result", outcome) => {
            let want: Value = serde_json::from_str(rest).map_err(|e| format!("bad @odw result: {e}"))?;
            let got = result()?;
            if !same(&got, &want) {
                return Err(format!("odw's intended value {want} but got {got}"));
            }
            // A script Claude Code refuses and odw runs: `odw validate` says so.
            if outcome == Some("refused") {
                let warned = validate_warnings(name, &source);
                if warned.is_empty() {
                    return Err("Claude Code refuses this script but `odw validate` does not warn".into());
                }
            }
        }
        ("fails", _) | ("", Some("failed")) => {
            if odw.code != 1 {
                return Err(format!("the run should fail; exit {}: {}", odw.code, odw.stdout));
            }
            // Claude Code's message, after its error name, is in odw's too.
            if kind.is_empty() {
                let message = golden["error"].as_str().unwrap_or("");
                let text = message.split_once(": ").map_or(message, |(_, m)| m);
                if !odw.stderr.contains(text) {
                    return Err(format!("stderr lacks {text:?}:\n{}", odw.stderr));
                }
            }
        }
        ("refuses", _) | ("", Some("refused")) => {
            if odw.code == 0 || !odw.logs.is_empty() || odw.agents.is_some_and(|n| n > 0) {
                return Err(format!("odw should refuse the script; exit {}: {}", odw.code, odw.stdout));
            }
        }
        ("logs", _) | ("", Some("completed")) => {
            let got = result()?;
            let want = &golden["result"];
            let equal = if directives(&source, "multiset").is_empty() {
                same(&got, want)
            } else {
                same_multiset(&got, want)
            };
            if !equal {
                return Err(format!("result differs:\n  claude: {want}\n  odw:    {got}"));
            }
            if !directives(&source, "compare").iter().any(|c| c == "logs") {
                return Ok(());
            }
            let want_logs: Vec<String> = if kind == "logs" {
                serde_json::from_str(rest).map_err(|e| format!("bad @odw logs: {e}"))?
            } else {
                golden["logs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            };
            let shape = |v: &[String]| v.iter().map(|l| log_shape(l)).collect::<Vec<_>>();
            if shape(&odw.logs) != shape(&want_logs) {
                return Err(format!("logs differ:\n  claude: {want_logs:?}\n  odw:    {:?}", odw.logs));
            }
        }
        (other, outcome) => return Err(format!("unknown expectation {other:?} for outcome {outcome:?}")),
    }
    // Claude Code's agent count, where the run got that far and odw ran it.
    if let (Some(want), Some(got), true) = (golden["agents"].as_u64(), odw.agents, expectation.is_none())
        && golden["outcome"] == "completed"
        && want != got
    {
        return Err(format!("agents: claude ran {want}, odw {got}"));
    }
    Ok(())
}

#[test]
fn every_case_matches_claude_code_or_names_its_difference() {
    let mut names: Vec<String> = std::fs::read_dir(corpus().join("cases"))
        .expect("cases")
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".js").map(str::to_string))
        .collect();
    names.sort();
    assert!(names.len() >= 80, "the corpus has {} cases", names.len());
    if let Ok(only) = std::env::var("CONFORMANCE_ONLY") {
        names.retain(|n| n.contains(&only));
    }
    let failures: Vec<String> =
        names.iter().filter_map(|n| check(n).err().map(|why| format!("{n}: {why}"))).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        names.len(),
        failures.join("\n\n")
    );
}

#[test]
fn every_golden_has_its_case_and_records_an_outcome() {
    for entry in std::fs::read_dir(corpus().join("golden")).expect("golden") {
        let path = entry.expect("entry").path();
        let name = path.file_stem().and_then(|s| s.to_str()).expect("name").to_string();
        assert!(corpus().join("cases").join(format!("{name}.js")).is_file(), "{name}: golden without a case");
        let golden: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("JSON");
        assert!(
            matches!(golden["outcome"].as_str(), Some("completed" | "failed" | "refused")),
            "{name}: outcome {}",
            golden["outcome"]
        );
    }
}
