//! Soak: eight runs of 200 agents each at once, in one runs root. All must
//! succeed with exactly their own results, each journal must hold all 200
//! calls, and no run's odw may grow past a memory bound.

mod common;

use std::process::{Command, Stdio};

use common::Env;
use serde_json::{Value, json};

const RUNS: usize = 8;
const AGENTS: usize = 200;
/// Peak RSS of one `odw run`, at most.
const MAX_RSS_KIB: u64 = 128 * 1024;

#[test]
fn eight_concurrent_runs_of_200_agents_all_succeed_uncorrupted() {
    // `cat` answers with the prompt: a real process per call, and a reply
    // that shows whose call it was.
    let env = Env::with_config(json!({
        "defaultAdapter": "cat",
        "adapters": { "cat": { "command": ["cat"] } }
    }));
    let wf = env.script(
        "fan.js",
        &format!(
            "return await parallel(Array.from({{ length: {AGENTS} }}, (_, i) => () => agent(`run ${{args.run}} call ${{i}}`)));"
        ),
    );
    let runs = env.runs();
    let children: Vec<_> = (0..RUNS)
        .map(|run| {
            Command::new("/usr/bin/time")
                .args(["-f", "odw-peak-rss-kib %M"])
                .arg(env!("CARGO_BIN_EXE_odw"))
                .args(["run", &wf, "--wait", "--runs-root", runs.to_str().unwrap()])
                .args(["--args", &json!({ "run": run }).to_string()])
                .current_dir(env.path())
                .env("HOME", env.path())
                .env("ODW_CACHE_DIR", common::cache_dir())
                .env_remove("ODW_CONFIG")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("/usr/bin/time must be installed (Debian package `time`)")
        })
        .collect();
    let mut peaks = Vec::new();
    for (run, child) in children.into_iter().enumerate() {
        let out = common::Run::from(child.wait_with_output().unwrap());
        let expected: Vec<String> = (0..AGENTS).map(|i| format!("run {run} call {i}")).collect();
        let got: Vec<String> = serde_json::from_str::<Vec<Value>>(&out.stdout)
            .unwrap_or_else(|e| panic!("run {run}: {e}\n{}", out.stderr))
            .iter()
            .map(|v| v.as_str().unwrap_or_default().trim_end().to_string())
            .collect();
        assert_eq!(got, expected, "run {run} got another run's or a damaged result");
        let rows: Value = serde_json::from_str(
            &env.odw(&["journal", &out.run_id(), "--json", "--runs-root", runs.to_str().unwrap()]).stdout,
        )
        .unwrap();
        let ok = rows.as_array().unwrap().iter().filter(|r| r["status"] == "ok").count();
        assert_eq!(ok, AGENTS, "run {run}'s journal holds {ok} completed calls");
        let peak: u64 = out
            .stderr
            .lines()
            .find_map(|l| l.strip_prefix("odw-peak-rss-kib ")?.trim().parse().ok())
            .unwrap();
        peaks.push(peak);
    }
    eprintln!("peak RSS per run (KiB): {peaks:?}");
    assert!(peaks.iter().all(|&p| p < MAX_RSS_KIB), "peak RSS per run (KiB): {peaks:?}");
}
