//! The replay journal through the real binary: resume reuses the longest
//! unchanged prefix (or unchanged content), `replay --check` proves a run
//! reproduces, a killed run resumes without re-running completed calls.

mod common;

use std::time::{Duration, Instant};

use common::Env;
use serde_json::{Value, json};

/// A pipeline of 4 items × 3 stages and a parallel fan-out whose agents
/// finish in a different order than they start. `STAGE2` is replaced to
/// edit one stage-2 prompt.
const WORKFLOW: &str = "
const items = ['a', 'b', 'c', 'd'];
const delays = { a: '0.12', b: '0.01', c: '0.08', d: '0.03' };
phase('Pipeline');
const piped = await pipeline(items,
  (item) => agent(`s1 ${item} sleep:${delays[item]}`, { label: `s1-${item}` }),
  (prev, item) => agent(STAGE2, { label: `s2-${item}` }),
  (prev, item) => agent(`s3 ${item} <- ${prev}`, { label: `s3-${item}` }),
);
phase('Fan-out');
const fan = await parallel([3, 1, 2].map((n) => () => agent(`fan ${n} sleep:0.0${n}`, { label: `fan-${n}` })));
return { piped, fan, t: Date.now(), r: Math.random() };
";

fn workflow(stage2: &str) -> String {
    WORKFLOW.replace("STAGE2", stage2)
}

/// Kills the background worker of the run in `dir` with SIGKILL, and gives
/// the guardian a moment to reap its agents.
fn kill_worker(dir: &std::path::Path) {
    let status: Value = serde_json::from_slice(&std::fs::read(dir.join("status.json")).unwrap()).unwrap();
    let pid = status["pid"].as_i64().unwrap();
    std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
    std::thread::sleep(Duration::from_millis(200));
}

#[test]
fn resume_reuses_everything_when_nothing_changed_and_replay_check_passes() {
    let env = Env::with_config(json!({ "concurrency": 8 }));
    let wf = env.script("wf.js", &workflow("`s2 ${item} <- ${prev}`"));
    let first = env.run_wait(&wf, &[]);
    let original = first.json();
    let live_calls = env.mock_invocations();
    assert_eq!(live_calls, 15);
    let r1 = first.run_id();

    let again = env.run_wait(&wf, &["--resume-from", &r1]);
    assert_eq!(again.json(), original, "same result, same Date.now() and Math.random()");
    assert_eq!(env.mock_invocations(), live_calls, "no agent ran on resume");
    assert!(again.stderr.contains("reused 15 of 15 calls, no live calls"), "{}", again.stderr);

    let check = env.odw(&["replay", &r1, "--check", "--runs-root", env.runs().to_str().unwrap()]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert!(
        check.stderr.contains("reproduced: 15 calls served from the journal, 0 live"),
        "{}",
        check.stderr
    );
    assert_eq!(env.mock_invocations(), live_calls);

    // The resumed run's journal holds the calls it copied, issued and
    // completed: it lists them, replays, and resumes in turn.
    let r2 = again.run_id();
    let runs = env.runs().to_str().unwrap().to_string();
    let rows = |id: &str| -> Vec<Value> {
        let out = env.odw(&["journal", id, "--json", "--runs-root", &runs]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        serde_json::from_str(&out.stdout).unwrap()
    };
    let strip = |rows: Vec<Value>| -> Vec<Value> {
        rows.into_iter().map(|r| json!([r["index"], r["key"], r["label"], r["status"]])).collect()
    };
    assert_eq!(strip(rows(&r2)), strip(rows(&r1)), "the same calls, in the same state");
    let check = env.odw(&["replay", &r2, "--check", "--runs-root", &runs]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert!(check.stderr.contains("reproduced: 15 calls served from the journal"), "{}", check.stderr);
    let third = env.run_wait(&wf, &["--resume-from", &r2]);
    assert_eq!(third.json(), original);
    assert!(third.stderr.contains("reused 15 of 15 calls, no live calls"), "{}", third.stderr);
    assert_eq!(env.mock_invocations(), live_calls);
}

#[test]
fn an_edited_stage2_prompt_reruns_from_its_index_on() {
    let env = Env::with_config(json!({ "concurrency": 8 }));
    let wf = env.script("wf.js", &workflow("`s2 ${item} <- ${prev}`"));
    let first = env.run_wait(&wf, &[]);
    first.json();
    let r1 = first.run_id();
    let run1 = env.runs().join("test").join(&r1);
    let issued: Vec<Value> = {
        let out = env.odw(&["journal", &r1, "--json", "--runs-root", env.runs().to_str().unwrap()]);
        serde_json::from_str(&out.stdout).unwrap()
    };
    let index_of =
        |label: &str| issued.iter().find(|c| c["label"] == label).unwrap()["index"].as_u64().unwrap();
    let edited_index = index_of("s2-c");

    // Only item c's stage-2 prompt changes.
    let wf = env.script(
        "wf.js",
        &workflow("item === 'c' ? `s2 ${item} (edited) <- ${prev}` : `s2 ${item} <- ${prev}`"),
    );
    let before = env.mock_lines().len();
    let resumed = env.run_wait(&wf, &["--resume-from", &r1]);
    let out = resumed.json();
    assert_eq!(out["piped"][2], "mock:s3 c <- mock:s2 c (edited) <- mock:s1 c sleep:0.08");
    let rerun: Vec<String> =
        env.mock_lines()[before..].iter().filter(|l| l.what == "start").map(|l| l.prompt.clone()).collect();
    // Everything issued before the edited call was reused; it and every
    // call after it ran again.
    let expected_live = issued.iter().filter(|c| c["index"].as_u64().unwrap() >= edited_index).count();
    assert_eq!(rerun.len(), expected_live, "re-run: {rerun:?}");
    assert!(rerun.iter().any(|p| p.contains("(edited)")));
    assert!(!rerun.iter().any(|p| p.starts_with("s1 ")), "no stage-1 call re-ran: {rerun:?}");
    assert!(
        resumed.stderr.contains(&format!("first live call at index {edited_index} (label s2-c)")),
        "{}",
        resumed.stderr
    );
    let resumed_dir = env.runs().join("test").join(resumed.run_id());
    let meta: Value = serde_json::from_slice(&std::fs::read(resumed_dir.join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["resumedFrom"], r1.as_str());
    let cached = common::read_events(&resumed_dir)
        .into_iter()
        .filter(|e| e["type"] == "agent_finished" && e["cached"] == true)
        .count();
    assert_eq!(cached as u64, edited_index);
    assert!(run1.join("journal").is_dir());
}

#[test]
fn reuse_content_keeps_unchanged_sibling_branches() {
    let env = Env::with_config(json!({ "concurrency": 8 }));
    let wf = env.script("wf.js", &workflow("`s2 ${item} <- ${prev}`"));
    let first = env.run_wait(&wf, &[]);
    first.json();
    let r1 = first.run_id();
    let wf = env.script(
        "wf.js",
        &workflow("item === 'c' ? `s2 ${item} (edited) <- ${prev}` : `s2 ${item} <- ${prev}`"),
    );
    let before = env.mock_lines().len();
    let resumed = env.run_wait(&wf, &["--resume-from", &r1, "--reuse", "content"]);
    resumed.json();
    let rerun: Vec<String> =
        env.mock_lines()[before..].iter().filter(|l| l.what == "start").map(|l| l.prompt.clone()).collect();
    // Only the edited call and the one stage-3 call that depends on it.
    assert_eq!(rerun.len(), 2, "re-run: {rerun:?}");
    assert!(rerun.iter().all(|p| p.contains(" c ")), "{rerun:?}");
    assert!(resumed.stderr.contains("by content after the first change"), "{}", resumed.stderr);
}

#[test]
fn replay_check_of_an_edited_script_exits_3_naming_the_index() {
    let env = Env::new();
    let wf = env
        .script("wf.js", "const a = await agent('first');\nconst b = await agent('second');\nreturn [a, b];");
    let first = env.run_wait(&wf, &[]);
    first.json();
    let r1 = first.run_id();
    let edited = env.script(
        "wf2.js",
        "const a = await agent('first');\nconst b = await agent('second, edited');\nreturn [a, b];",
    );
    let calls = env.mock_invocations();
    let check = env.odw(&[
        "replay",
        &r1,
        "--check",
        "--script",
        &edited,
        "--runs-root",
        env.runs().to_str().unwrap(),
    ]);
    assert_eq!(check.code, 3, "{}", check.stderr);
    assert!(check.stderr.contains("call #1 differs from the journal"), "{}", check.stderr);
    assert!(check.stderr.contains("\"second\""), "expected prompt head: {}", check.stderr);
    assert!(check.stderr.contains("\"second, edited\""), "actual prompt head: {}", check.stderr);
    assert_eq!(env.mock_invocations(), calls, "a check never calls an agent");
}

#[test]
fn a_killed_worker_is_interrupted_and_resumes_without_rerunning_completed_calls() {
    let env = Env::with_config(json!({ "concurrency": 4 }));
    // The script logs each quick result as it gets it: the guest is given a
    // result only once it is journalled (`agent_finished` is written when
    // the agent exits, a moment before), so two logs mean two journalled.
    let wf = env.script(
        "wf.js",
        "const got = (p) => p.then((r) => { log(`got ${r}`); return r; });
         return await parallel([
           () => got(agent('quick-1')), () => got(agent('quick-2')),
           () => agent('slow-1 sleep:30'), () => agent('slow-2 sleep:30'),
         ]);",
    );
    let runs = env.runs();
    let started = env.odw(&["run", &wf, "--runs-root", runs.to_str().unwrap()]);
    assert_eq!(started.code, 0, "{}", started.stderr);
    let id = started.stdout.trim().to_string();
    let dir = runs.join("test").join(&id);
    // Wait until both quick calls are journalled and both slow ones are running.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let events = common::read_events(&dir);
        let got = events.iter().filter(|e| e["type"] == "log").count();
        let started = events.iter().filter(|e| e["type"] == "agent_started").count();
        if got == 2 && started == 4 {
            break;
        }
        assert!(Instant::now() < deadline, "the run did not get going: {events:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    kill_worker(&dir);
    let shown = env.odw(&["status", &id, "--json", "--runs-root", runs.to_str().unwrap()]);
    let shown: Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(shown["state"], "interrupted");

    // Resume with the slow calls made fast: only they run again.
    let wf = env.script(
        "wf.js",
        "return await parallel([
           () => agent('quick-1'), () => agent('quick-2'),
           () => agent('slow-1 sleep:30'.replace('30', '0')), () => agent('slow-2 sleep:30'.replace('30', '0')),
         ]);",
    );
    let before = env.mock_lines().len();
    let resumed = env.run_wait(&wf, &["--resume-from", &id]);
    assert_eq!(
        resumed.json(),
        json!(["mock:quick-1", "mock:quick-2", "mock:slow-1 sleep:0", "mock:slow-2 sleep:0"])
    );
    let rerun: Vec<String> =
        env.mock_lines()[before..].iter().filter(|l| l.what == "start").map(|l| l.prompt.clone()).collect();
    assert_eq!(rerun.len(), 2, "{rerun:?}");
    assert!(rerun.iter().all(|p| p.starts_with("slow-")), "{rerun:?}");
}

/// A resume copies its reused calls into its own journal on a thread of
/// its own (the scheduler's scribe). Killed with SIGKILL once a live call's
/// result has reached the script, the resume's journal holds that result
/// and every copy served before it: resuming the killed resume reruns only
/// the call that was still running.
#[test]
fn a_killed_resume_keeps_its_copies_and_its_live_results() {
    let env = Env::with_config(json!({ "concurrency": 8 }));
    let runs = env.runs().to_str().unwrap().to_string();
    let copied = "Array.from({ length: 40 }, (_, i) => () => agent(`copy ${i}`))";
    let wf = env.script("wf.js", &format!("return await parallel({copied});"));
    let first = env.run_wait(&wf, &[]);
    assert_eq!(first.json().as_array().map(Vec::len), Some(40));
    let first_id = first.run_id();

    // The same forty calls, then a quick new one whose result the script
    // logs, and a slow one (`slow`) that is still running when the worker
    // is killed.
    let resume = |slow: &str| {
        format!(
            "const copies = await parallel({copied});
             const more = await parallel([
               () => agent('live quick').then((r) => {{ log(`got ${{r}}`); return r; }}),
               () => agent('live slow sleep:{slow}'),
             ]);
             return [copies.length, ...more];"
        )
    };
    let wf = env.script("wf.js", &resume("30"));
    let started = env.odw(&["run", &wf, "--resume-from", &first_id, "--runs-root", &runs]);
    assert_eq!(started.code, 0, "{}", started.stderr);
    let id = started.stdout.trim().to_string();
    let dir = env.runs().join("test").join(&id);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !common::read_events(&dir).iter().any(|e| e["type"] == "log") {
        assert!(Instant::now() < deadline, "the quick live call never reached the script");
        std::thread::sleep(Duration::from_millis(20));
    }
    kill_worker(&dir);

    let wf = env.script("wf.js", &resume("0"));
    let before = env.mock_lines().len();
    let resumed = env.run_wait(&wf, &["--resume-from", &id]);
    assert_eq!(resumed.json(), json!([40, "mock:live quick", "mock:live slow sleep:0"]));
    let rerun: Vec<String> =
        env.mock_lines()[before..].iter().filter(|l| l.what == "start").map(|l| l.prompt.clone()).collect();
    assert_eq!(rerun, ["live slow sleep:0"], "only the call still running when killed runs again");
    assert!(resumed.stderr.contains("reused 41 of 42 calls"), "{}", resumed.stderr);
}

#[test]
fn journal_export_import_and_check_in_another_runs_root() {
    let env = Env::new();
    let wf = env.script("wf.js", "return [await agent('one'), Math.random() < 1];");
    let first = env.run_wait(&wf, &["--args", r#"{"k": 1}"#]);
    first.json();
    let r1 = first.run_id();
    let export = env.odw(&["journal", &r1, "--export", "--runs-root", env.runs().to_str().unwrap()]);
    assert_eq!(export.code, 0, "{}", export.stderr);
    let header: Value = serde_json::from_str(export.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(header["format"], "odw-journal");
    std::fs::write(env.path().join("r1.jsonl"), &export.stdout).unwrap();

    let other = env.path().join("ci-runs");
    let imported = env.odw(&["journal", "import", "r1.jsonl", "--runs-root", other.to_str().unwrap()]);
    assert_eq!(imported.code, 0, "{}", imported.stderr);
    let id = imported.stdout.trim();
    let calls = env.mock_invocations();
    let check = env.odw(&["replay", id, "--check", "--script", &wf, "--runs-root", other.to_str().unwrap()]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert_eq!(env.mock_invocations(), calls);

    let table = env.odw(&["journal", &r1, "--runs-root", env.runs().to_str().unwrap()]);
    assert!(table.stdout.lines().next().unwrap().contains("index"));
    assert!(table.stdout.contains(" ok "), "{}", table.stdout);
}

#[test]
fn a_foreign_or_corrupt_journal_is_a_clear_error() {
    let env = Env::new();
    let wf = env.script("wf.js", "return await agent('one');");
    let first = env.run_wait(&wf, &[]);
    first.json();
    let r1 = first.run_id();
    let journal = env.runs().join("test").join(&r1).join("journal");
    std::fs::remove_dir_all(&journal).unwrap();
    std::fs::create_dir_all(&journal).unwrap();
    let resumed = env.run_wait(&wf, &["--resume-from", &r1]);
    resumed.fails_with(&["journal"]);
    assert!(!resumed.stderr.contains("panicked"), "{}", resumed.stderr);
    // The run that could not open its books ran no agent and is recorded
    // as failed, its error saved and its events ended.
    let dir = env.runs().join("test").join(resumed.run_id());
    let status: Value = serde_json::from_slice(&std::fs::read(dir.join("status.json")).unwrap()).unwrap();
    assert_eq!(status["state"], "failed", "{status}");
    assert!(std::fs::read_to_string(dir.join("error.json")).unwrap().contains("journal"));
    let events = common::read_events(&dir);
    assert_eq!(events.last().unwrap()["type"], "run_failed", "{events:?}");
    assert!(events.iter().all(|e| e["type"] != "agent_started"), "{events:?}");
    // A check reads the journal while the script starts: the same error.
    let check = env.odw(&["replay", &r1, "--check", "--runs-root", env.runs().to_str().unwrap()]);
    check.fails_with(&["journal"]);
    assert!(!check.stderr.contains("panicked"), "{}", check.stderr);

    std::fs::write(env.path().join("bad.jsonl"), "{\"format\":\"something-else\",\"version\":1}\n").unwrap();
    let imported = env.odw(&["journal", "import", "bad.jsonl", "--runs-root", env.runs().to_str().unwrap()]);
    imported.fails_with(&["line 1"]);
}

/// `kill -9` of a background worker at twenty points of a 60-agent run: no
/// agent outlives it,
/// every completion journalled before the kill is reused by the resumed
/// run (none is lost), and the resumed result equals an uninterrupted run's.
#[test]
fn a_worker_killed_at_any_point_loses_no_completed_result() {
    let env = Env::new();
    let runs = env.runs().to_str().unwrap().to_string();
    let wf = env.script(
        "fan.js",
        "const out = await parallel(Array.from({ length: 60 }, (_, i) => () => agent(`part ${i} sleep:0.05`)));\n\
         return out;",
    );
    let whole = env.run_wait(&wf, &[]);
    assert_eq!(whole.code, 0, "{}", whole.stderr);
    let expected = whole.json();
    let mut mid_run = 0;
    // Twenty kill points spread over the run by a fixed pseudo-random
    // sequence, so a failure can be replayed.
    let mut seed = 0x2545_F491_u64;
    let delays = (0..20).map(|_| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        100 + (seed >> 33) % 2400
    });
    for delay_ms in delays {
        let started = env.odw(&["run", &wf, "--runs-root", &runs]);
        let id = started.stdout.trim().to_string();
        let status_of = |id: &str| -> Value {
            serde_json::from_str(&env.odw(&["status", id, "--json", "--runs-root", &runs]).stdout)
                .unwrap_or(Value::Null)
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while status_of(&id)["pid"].as_u64().unwrap_or(0) == 0 {
            assert!(std::time::Instant::now() < deadline, "the worker never started");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let pid = status_of(&id)["pid"].to_string();
        let _ = std::process::Command::new("kill").args(["-KILL", &pid]).status();
        while std::path::Path::new(&format!("/proc/{pid}")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default().contains(") Z")
        {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        wait_until_no_agent_runs_in(env.path());
        let rows: Value =
            serde_json::from_str(&env.odw(&["journal", &id, "--json", "--runs-root", &runs]).stdout).unwrap();
        let done = rows.as_array().unwrap().iter().filter(|r| r["status"] == "ok").count();
        mid_run += usize::from(done < 60);
        let resumed = env.run_wait(&wf, &["--resume-from", &id]);
        assert_eq!(resumed.code, 0, "after a kill at {delay_ms} ms: {}", resumed.stderr);
        assert_eq!(resumed.json(), expected, "after a kill at {delay_ms} ms");
        let reused: usize = resumed
            .stderr
            .lines()
            .find_map(|l| l.strip_prefix("odw: reused ")?.split(' ').next()?.parse().ok())
            .unwrap_or(0);
        assert!(
            reused >= done,
            "killed at {delay_ms} ms with {done} calls journalled, but only {reused} reused"
        );
    }
    assert!(mid_run >= 10, "only {mid_run} of the kills landed while agents were running");
}

/// Waits (a bounded time) until no process works in `dir`: the agents of a
/// killed worker are gone.
fn wait_until_no_agent_runs_in(dir: &std::path::Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let survivors: Vec<String> = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|p| p.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
            .filter(|p| std::fs::read_link(p.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(dir)))
            .map(|p| p.file_name().to_string_lossy().into_owned())
            .collect();
        if survivors.is_empty() {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "agents outlived the killed worker: {survivors:?}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn replay_check_needs_only_the_journal_and_the_script_not_the_config() {
    // The run's adapter `mock` exists only in odw.config.json; a CI check
    // gets the journal and the script, not the agents' configuration.
    let env = Env::new();
    let wf = env.script("wf.js", "const a = await agent('one');\nreturn [a, await agent('two ' + a)];");
    let first = env.run_wait(&wf, &[]);
    let original = first.json();
    let id = first.run_id();
    std::fs::remove_file(env.path().join("odw.config.json")).unwrap();

    let check = env.odw(&["replay", &id, "--check", "--runs-root", env.runs().to_str().unwrap()]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert!(check.stderr.contains("reproduced: 2 calls served from the journal, 0 live"), "{}", check.stderr);
    assert_eq!(env.mock_invocations(), 2, "no agent ran for the check");
    assert_eq!(original.as_array().map(Vec::len), Some(2));

    // An edit is still caught without the config.
    std::fs::write(env.path().join("wf.js"), format!("{}return await agent('three');\n", common::HEADER))
        .unwrap();
    let edited = env.odw(&["replay", &id, "--check", "--runs-root", env.runs().to_str().unwrap()]);
    assert_eq!(edited.code, 3, "{}", edited.stderr);
}

/// `strace -ff` of `odw <args>` in `env`: the child, and the prefix of its
/// logs, one a process or thread (`<prefix>.<tid>`: no call of one is cut
/// in two by another's), each line stamped with the time.
fn traced(env: &Env, trace: &str, args: &[&str]) -> (std::process::Child, std::path::PathBuf) {
    let prefix = env.path().join(format!("strace-{}", args.len()));
    let child = std::process::Command::new("strace")
        .args(["-ff", "-ttt", "-e", &format!("trace={trace}"), "-o"])
        .arg(&prefix)
        .arg(env!("CARGO_BIN_EXE_odw"))
        .args(args)
        .current_dir(env.path())
        .env("HOME", env.path())
        .env("ODW_CACHE_DIR", common::cache_dir())
        .env("MOCK_LOG", env.mock_log())
        .env_remove("ODW_CONFIG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("strace (.ci/test installs it)");
    (child, prefix)
}

/// The logs `traced` wrote, by thread id.
fn trace_logs(prefix: &std::path::Path) -> Vec<(String, Vec<String>)> {
    let name = format!("{}.", prefix.file_name().unwrap().to_str().unwrap());
    std::fs::read_dir(prefix.parent().unwrap())
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let tid = entry.file_name().to_str()?.strip_prefix(&name)?.to_string();
            let log = std::fs::read_to_string(entry.path()).ok()?;
            Some((tid, log.lines().map(str::to_string).collect()))
        })
        .collect()
}

/// A log line's time stamp.
fn stamp(line: &str) -> f64 {
    line.split_whitespace().next().and_then(|t| t.parse().ok()).unwrap_or(f64::NAN)
}

/// The thread that opened `journal`'s data file to `fsync` it and did, and
/// when its sync began.
fn journal_sync(logs: &[(String, Vec<String>)], journal: &std::path::Path) -> Option<(String, f64)> {
    let opened = format!("openat(AT_FDCWD, \"{}/db\", O_RDONLY|O_CLOEXEC) = ", journal.display());
    logs.iter().find_map(|(tid, lines)| {
        lines.iter().enumerate().find_map(|(at, line)| {
            let fd = line.split_once(&opened)?.1.trim();
            let sync = lines[at..].iter().find(|l| l.contains(&format!(" fsync({fd})")))?;
            sync.trim_end().ends_with("= 0").then(|| (tid.clone(), stamp(sync)))
        })
    })
}

/// When process `pid` began to exit: its `exit_group` call. Not the
/// tracer's `+++ exited` line, which is written when the tracer reaps the
/// process, after the kernel has closed its files — and the closing of
/// the guardian's pipe is what starts the sync, so the sync may begin
/// before that line (it did in CI, by 90 µs).
fn exiting_at(logs: &[(String, Vec<String>)], pid: &str) -> Option<f64> {
    let (_, lines) = logs.iter().find(|(tid, _)| tid == pid)?;
    lines.iter().find(|l| l.contains(" exit_group(")).map(|l| stamp(l))
}

/// Now, on the clock of the tracer's `-ttt` stamps (the wall clock).
fn now_stamp() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

/// The journal of a run that ended is put on the disk by the guardian,
/// after odw has exited and reported the run: odw does not wait for the
/// `fsync`. And the journal of a worker killed with SIGKILL is synced by
/// the guardian too, once the worker is gone.
#[test]
fn the_guardian_syncs_the_journal_once_odw_is_gone_however_it_ends() {
    let env = Env::new();
    let runs = env.runs();
    let runs = runs.to_str().unwrap();

    // A run that ends: odw's main thread exits before the guardian syncs.
    let wf = env.script("one.js", "return await agent('one');");
    let (child, prefix) =
        traced(&env, "execve,openat,fsync,exit_group", &["run", &wf, "--wait", "--runs-root", runs]);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "\"mock:one\"");
    let logs = trace_logs(&prefix);
    let odw = format!("execve(\"{}\"", env!("CARGO_BIN_EXE_odw"));
    let (odw, _) = logs.iter().find(|(_, lines)| lines.iter().any(|l| l.contains(&odw))).expect("odw's log");
    let dir = env.run_dir();
    let (syncer, synced) =
        journal_sync(&logs, &dir.join("journal")).unwrap_or_else(|| panic!("no sync: {logs:#?}"));
    assert_ne!(&syncer, odw, "odw synced its journal itself");
    let exiting = exiting_at(&logs, odw).unwrap_or_else(|| panic!("odw did not exit: {logs:#?}"));
    assert!(exiting < synced, "the guardian synced at {synced}, before odw began to exit at {exiting}");
    // The journal holds the call and the end: the run reproduces from it.
    let check =
        env.odw(&["replay", dir.file_name().unwrap().to_str().unwrap(), "--check", "--runs-root", runs]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert!(check.stderr.contains("reproduced: 1 calls served from the journal, 0 live"), "{}", check.stderr);

    // A worker killed with SIGKILL while an agent runs: its journal, with
    // the completion it had, is synced once it is gone.
    let wf = env.script("killed.js", "log(await agent('quick')); return await agent('slow sleep:30');");
    let (mut child, prefix) = traced(&env, "openat,fsync", &["run", &wf, "--runs-root", runs]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let dir = loop {
        let started =
            std::fs::read_dir(runs.to_string() + "/test").unwrap().flatten().map(|e| e.path()).find(|d| {
                common::read_events(d).iter().any(|e| e["type"] == "agent_started" && e["label"] != "quick")
                    && common::read_events(d).iter().any(|e| e["type"] == "log")
            });
        if let Some(dir) = started {
            break dir;
        }
        assert!(Instant::now() < deadline, "the run did not get to its slow agent");
        std::thread::sleep(Duration::from_millis(50));
    };
    let status: Value = serde_json::from_slice(&std::fs::read(dir.join("status.json")).unwrap()).unwrap();
    let pid = status["pid"].as_i64().unwrap().to_string();
    let killed = now_stamp();
    std::process::Command::new("kill").args(["-9", &pid]).status().unwrap();
    // strace ends once the guardian has synced, killed the agent and exited.
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "strace did not end after the worker was killed");
        std::thread::sleep(Duration::from_millis(50));
    }
    let logs = trace_logs(&prefix);
    let (syncer, synced) =
        journal_sync(&logs, &dir.join("journal")).unwrap_or_else(|| panic!("no sync: {logs:#?}"));
    assert_ne!(syncer, pid);
    assert!(killed < synced, "synced at {synced}, before the worker was sent SIGKILL at {killed}");
}

/// A run that completed no call holds nothing a power cut could cost, so
/// nothing of it is synced: not by odw, and not by the guardian, which
/// was told at the run's start to sync its journal once odw is gone and is
/// told at its end that there is no need (the journal is still flushed:
/// the run reads back as it ended).
#[test]
fn a_run_that_completed_no_call_syncs_nothing() {
    let env = Env::new();
    let runs = env.runs();
    let runs = runs.to_str().unwrap();
    let wf = env.script("none.js", "log('no agent'); return 7;");
    let (child, prefix) =
        traced(&env, "openat,fsync,fdatasync", &["run", &wf, "--wait", "--runs-root", runs]);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "7");
    let logs = trace_logs(&prefix);
    let synced: Vec<&String> = logs
        .iter()
        .flat_map(|(_, lines)| lines)
        .filter(|l| l.contains("fsync(") || l.contains("fdatasync("))
        .collect();
    assert!(synced.is_empty(), "synced: {synced:#?}");
    let check = env.odw(&[
        "replay",
        env.run_dir().file_name().unwrap().to_str().unwrap(),
        "--check",
        "--runs-root",
        runs,
    ]);
    assert_eq!(check.code, 0, "{}", check.stderr);
}

/// `odw replay --check` reads a run and writes nothing anywhere: no
/// scratch directory, no file, nothing renamed or removed (the compile
/// cache aside, which a first sight of a script may fill). So a check runs
/// where it cannot write, and one that is killed leaves nothing behind.
#[test]
fn replay_check_writes_nothing() {
    let env = Env::with_config(json!({ "concurrency": 4 }));
    let runs = env.runs();
    let runs = runs.to_str().unwrap();
    let wf = env.script(
        "wf.js",
        "const xs = await parallel([1, 2, 3].map((n) => () => agent(`n${n}`)));\nreturn xs;",
    );
    let first = env.run_wait(&wf, &[]);
    let id = first.run_id();

    let (child, prefix) = traced(&env, "%file,%desc", &["replay", &id, "--check", "--runs-root", runs]);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("reproduced: 3 calls served from the journal, 0 live"), "{stderr}");
    let cache = common::cache_dir();
    let cache = cache.to_str().unwrap();
    let logs = trace_logs(&prefix);
    let mut opened_the_journal = false;
    for (_, lines) in &logs {
        for line in lines.iter().filter(|l| !l.contains(cache) && !l.contains("ENOENT")) {
            let call = line.split_whitespace().nth(1).unwrap_or_default();
            let writes = [
                "mkdir",
                "rmdir",
                "unlink",
                "rename",
                "link",
                "symlink",
                "creat",
                "truncate",
                "ftruncate",
                "fallocate",
            ]
            .iter()
            .any(|w| call.starts_with(w) || call.starts_with(&format!("{w}at")))
                || (call.starts_with("open")
                    && ["O_WRONLY", "O_RDWR", "O_CREAT"].iter().any(|f| line.contains(f)));
            assert!(!writes, "the check wrote: {line}");
            opened_the_journal |= call.starts_with("openat") && line.contains("/journal/db\", O_RDONLY");
        }
    }
    assert!(opened_the_journal, "the trace shows no read of the journal: {logs:#?}");
}

/// Reading a recorded run (a resume's, a check's) starts no thread of
/// sled's I/O pool: the open reads its log's segment headers itself (a
/// vendored change, vendor/sled/ODW-PATCH.md), where it once started the
/// pool's two threads for a few 64-byte reads at every open.
#[test]
fn reading_a_recorded_journal_starts_no_io_thread() {
    let env = Env::new();
    let runs = env.runs();
    let runs = runs.to_str().unwrap();
    let wf = env.script("wf.js", "return await parallel([1, 2].map((n) => () => agent(`n${n}`)));");
    let id = env.run_wait(&wf, &[]).run_id();
    for args in [
        &["replay", &id, "--check", "--runs-root", runs][..],
        &["run", &wf, "--wait", "--resume-from", &id, "--runs-root", runs],
    ] {
        let (child, prefix) = traced(&env, "prctl", args);
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let named: Vec<String> = trace_logs(&prefix)
            .into_iter()
            .flat_map(|(_, lines)| lines)
            .filter_map(|l| Some(l.split_once("PR_SET_NAME, \"")?.1.split('"').next()?.to_string()))
            .collect();
        assert!(named.iter().any(|n| n == "odw-load"), "{args:?}: the trace names threads: {named:?}");
        assert!(!named.iter().any(|n| n.starts_with("sled-io")), "{args:?}: {named:?}");
    }
}
