//! Agents as SLURM job steps, through the real binary and a real one-node
//! SLURM cluster (slurmctld + slurmd + munged on this machine, started by
//! tests/slurm/start.sh).
//!
//! Without SLURM installed these tests fail under CI (`CI=true`: .ci/test
//! installs it) and are skipped, saying so, elsewhere.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{Env, read_events};
use serde_json::{Value, json};

/// Starts the cluster once per test binary; false: no SLURM here (and not CI).
fn cluster() -> bool {
    static UP: OnceLock<bool> = OnceLock::new();
    *UP.get_or_init(|| {
        let installed = ["srun", "slurmctld", "slurmd", "munged"].iter().all(|t| on_path(t));
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        if !installed {
            assert!(
                !ci,
                "SLURM is not installed: tests/cluster_slurm.rs needs Debian's slurm-wlm and munge \
                 (bash .ci/test installs them)"
            );
            eprintln!("SKIPPED: SLURM is not installed (apt-get install slurm-wlm munge)");
            return false;
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slurm/start.sh");
        let out = Command::new("bash").arg(&script).output().expect("run tests/slurm/start.sh");
        assert!(
            out.status.success(),
            "tests/slurm/start.sh could not start the cluster:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        true
    })
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// The jobs of run `id` that SLURM still has queued or running.
fn jobs_of(id: &str) -> Vec<String> {
    let out = Command::new("squeue").args(["--noheader", "--format=%j %T"]).output().expect("squeue");
    assert!(out.status.success(), "squeue: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with(&format!("odw-{id}-")))
        .map(str::to_string)
        .collect()
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A test directory whose `mock` adapter (tests/fixtures/mock-agent.sh)
/// runs through `executor`.
fn env_with(executor: Value, extra: Value) -> Env {
    let mut mock = json!({ "command": ["sh", common::fixture("mock-agent.sh")], "executor": executor });
    if let (Value::Object(m), Value::Object(e)) = (&mut mock, extra) {
        m.extend(e);
    }
    Env::with_config(json!({ "concurrency": 20, "adapters": { "mock": mock } }))
}

fn runs_flag(env: &Env) -> String {
    env.runs().display().to_string()
}

/// Starts a background run; its id.
fn start(env: &Env, script: &str, extra: &[&str]) -> String {
    let runs = runs_flag(env);
    let mut args = vec!["run", script, "--runs-root", &runs];
    args.extend_from_slice(extra);
    let run = env.odw(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout.trim().to_string()
}

fn state(env: &Env, id: &str) -> String {
    let out = env.odw(&["status", id, "--json", "--runs-root", &runs_flag(env)]);
    let status: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    status["state"].as_str().unwrap_or_default().to_string()
}

fn run_dir(env: &Env, id: &str) -> std::path::PathBuf {
    std::fs::read_dir(env.runs())
        .unwrap()
        .map(|wf| wf.unwrap().path().join(id))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| panic!("no run {id}"))
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

const TWENTY: &str =
    "return await parallel(Array.from({ length: 20 }, (_, i) => () => agent(`agent ${i} sleep:1`)));";

#[test]
fn twenty_agents_on_slurm_answer_as_they_do_locally() {
    if !cluster() {
        return;
    }
    let local = env_with(json!("local"), json!({}));
    let wf = local.script("twenty.js", TWENTY);
    let began = Instant::now();
    let expected = local.run_wait(&wf, &[]).json();
    let local_ms = began.elapsed().as_millis();

    let slurm = env_with(json!({ "kind": "slurm", "cpus": 1, "memory": "64M" }), json!({}));
    let wf = slurm.script("twenty.js", TWENTY);
    let began = Instant::now();
    let run = slurm.run_wait(&wf, &[]);
    let slurm_ms = began.elapsed().as_millis();
    let failures: Vec<Value> = slurm
        .events()
        .into_iter()
        .filter(|e| e["type"] == "agent_failed")
        .map(|e| e["error"].clone())
        .collect();
    assert_eq!(run.json(), expected, "failed calls: {failures:#?}");
    assert_eq!(expected[19], "mock:agent 19 sleep:1");

    // Each call was a job: submitted with its id, then COMPLETED with its
    // accounting.
    let events = slurm.events();
    let jobs = of_type(&events, "agent_job");
    let submitted: Vec<&&Value> = jobs.iter().filter(|j| j["state"] == "submitted").collect();
    let ended: Vec<&&Value> = jobs.iter().filter(|j| j["state"] == "COMPLETED").collect();
    assert_eq!((submitted.len(), ended.len()), (20, 20), "{jobs:#?}");
    for job in &ended {
        let accounting = &job["accounting"];
        assert_eq!(accounting["jobId"], job["job"], "{job}");
        assert_eq!(accounting["exitCode"], "0:0", "{job}");
        assert!(accounting["node"].as_str().is_some_and(|n| !n.is_empty()), "{job}");
        assert!(job["name"].as_str().unwrap().starts_with(&format!("odw-{}-", run.run_id())), "{job}");
    }
    let ids: std::collections::BTreeSet<&str> = submitted.iter().filter_map(|j| j["job"].as_str()).collect();
    assert_eq!(ids.len(), 20, "one SLURM job per call");

    // Per-call overhead: 10 calls one after another, no sleep.
    let seq = "const out = []; for (let i = 0; i < 10; i++) out.push(await agent(`seq ${i}`)); return out;";
    let local_seq = {
        let wf = local.script("seq.js", seq);
        let began = Instant::now();
        local.run_wait(&wf, &[]).json();
        began.elapsed().as_millis()
    };
    let slurm_seq = {
        let wf = slurm.script("seq.js", seq);
        let began = Instant::now();
        slurm.run_wait(&wf, &[]).json();
        began.elapsed().as_millis()
    };
    eprintln!(
        "FIGURES: 20 agents x 1 s in parallel: local {local_ms} ms, slurm {slurm_ms} ms; \
         10 sequential calls: local {local_seq} ms, slurm {slurm_seq} ms \
         (per-call overhead {} ms)",
        (slurm_seq as i64 - local_seq as i64) / 10
    );
}

#[test]
fn stop_cancels_the_running_jobs() {
    if !cluster() {
        return;
    }
    let env = env_with(json!("slurm"), json!({}));
    let wf = env.script(
        "hold.js",
        "return await parallel([1, 2, 3, 4].map((i) => () => agent(`hold ${i} sleep:120`)));",
    );
    let id = start(&env, &wf, &[]);
    wait_for("four running jobs", Duration::from_secs(30), || {
        jobs_of(&id).iter().filter(|j| j.ends_with(" RUNNING")).count() == 4
    });
    let stop = env.odw(&["stop", &id, "--runs-root", &runs_flag(&env)]);
    assert_eq!(stop.code, 0, "{}", stop.stderr);
    wait_for("the run to stop", Duration::from_secs(20), || state(&env, &id) == "stopped");
    wait_for("no job of the run left in squeue", Duration::from_secs(20), || jobs_of(&id).is_empty());
    let events = read_events(&run_dir(&env, &id));
    assert_eq!(of_type(&events, "agent_job").iter().filter(|j| j["state"] == "submitted").count(), 4);
}

#[test]
fn a_timeout_cancels_its_job_and_the_other_calls_go_on() {
    if !cluster() {
        return;
    }
    let env = env_with(json!("slurm"), json!({ "timeout": 3 }));
    let wf = env.script(
        "timeout.js",
        "return await parallel([() => agent('slow sleep:120'), () => agent('quick')]);",
    );
    let run = env.run_wait(&wf, &[]);
    // A plain agent() that fails resolves to null.
    assert_eq!(run.json(), json!([null, "mock:quick"]), "{}", run.stderr);
    let id = run.run_id();
    wait_for("the timed-out job to leave squeue", Duration::from_secs(20), || jobs_of(&id).is_empty());
    let events = env.events();
    let failed = of_type(&events, "agent_failed");
    assert_eq!(failed.len(), 1);
    let error = failed[0]["error"].as_str().unwrap();
    assert!(error.contains("timed out after 3s") && error.contains("cluster job"), "{error}");
    let cancelled: Vec<&Value> =
        of_type(&events, "agent_job").into_iter().filter(|j| j["state"] == "CANCELLED").collect();
    assert_eq!(cancelled.len(), 1, "{events:#?}");
    assert_eq!(cancelled[0]["index"], 0);
}

#[test]
fn a_pause_holds_a_job_waiting_in_the_queue_and_resume_releases_it() {
    if !cluster() {
        return;
    }
    // The node has 96 CPUs (tests/slurm/start.sh): two calls of 49 cannot
    // run at once, so the second waits in SLURM's queue.
    let env = env_with(json!({ "kind": "slurm", "cpus": 49 }), json!({}));
    let wf = env
        .script("pause.js", "return await parallel([() => agent('a sleep:2'), () => agent('b sleep:2')]);");
    let id = start(&env, &wf, &[]);
    let states = || {
        jobs_of(&id).iter().map(|j| j.split(' ').nth(1).unwrap_or_default().to_string()).collect::<Vec<_>>()
    };
    wait_for("one job running and one queued", Duration::from_secs(30), || {
        let s = states();
        s.len() == 2 && s.contains(&"RUNNING".to_string()) && s.contains(&"PENDING".to_string())
    });
    let runs = runs_flag(&env);
    assert_eq!(env.odw(&["pause", &id, "--runs-root", &runs]).code, 0);
    let reason = || {
        let out = Command::new("squeue")
            .args(["--noheader", "--states=PENDING", "--format=%j %r"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.starts_with(&format!("odw-{id}-")))
            .map(str::to_string)
    };
    wait_for("the queued job to be held", Duration::from_secs(20), || {
        reason().is_some_and(|r| r.contains("JobHeld"))
    });
    // The running call ends; the held one does not start while the run is paused.
    wait_for("the running call to end", Duration::from_secs(30), || {
        env.mock_lines().iter().any(|l| l.what == "end")
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(env.mock_invocations(), 1, "a held job started during the pause");
    assert!(reason().is_some_and(|r| r.contains("JobHeld")), "{:?}", jobs_of(&id));

    assert_eq!(env.odw(&["resume", &id, "--runs-root", &runs]).code, 0);
    wait_for("the run to finish", Duration::from_secs(60), || state(&env, &id) == "done");
    let result = env.odw(&["result", &id, "--runs-root", &runs]);
    assert_eq!(
        serde_json::from_str::<Value>(&result.stdout).unwrap(),
        json!(["mock:a sleep:2", "mock:b sleep:2"])
    );
    // The call that waited in the queue was held, then released.
    let events = read_events(&run_dir(&env, &id));
    let jobs = of_type(&events, "agent_job");
    let held = jobs.iter().find(|j| j["state"] == "held").expect("a held job");
    let states: Vec<&str> =
        jobs.iter().filter(|j| j["index"] == held["index"]).map(|j| j["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["submitted", "held", "released", "COMPLETED"], "{jobs:#?}");
}

/// An agent for the resume test: a prompt with `hold` waits until the file
/// `$HOLD_DIR/free-<run id>` exists (the run id read from its SLURM job
/// name), so the held calls of a killed run hold on as orphans while those
/// of the resumed run can be let go; every prompt is logged to `$AGENT_LOG`.
const HOLDING_AGENT: &str = r#"p=$(cat); printf '%s\n' "$p" >> "$AGENT_LOG"
run=$(printf '%s' "$SLURM_JOB_NAME" | cut -d- -f2-4)
case "$p" in *hold*) while [ ! -e "$HOLD_DIR/free-$run" ]; do sleep 0.2; done ;; esac
printf 'done:%s' "$p""#;

#[test]
fn a_killed_worker_leaves_no_job_once_resumed_and_the_resume_reruns_only_unfinished_calls() {
    if !cluster() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("agent.log");
    let env = Env::with_config(json!({
        "concurrency": 20,
        "adapters": { "mock": {
            "command": ["sh", "-c", HOLDING_AGENT],
            "env": { "HOLD_DIR": dir.path(), "AGENT_LOG": log },
            "executor": { "kind": "slurm" }
        } }
    }));
    let wf = env.script(
        "resume.js",
        "const quick = await parallel([1, 2, 3, 4].map((i) => () => agent(`quick ${i}`)));\n\
         const held = await parallel([1, 2].map((i) => () => agent(`hold ${i}`)));\n\
         return [...quick, ...held];",
    );
    let id = start(&env, &wf, &[]);
    wait_for("the two held agents to run", Duration::from_secs(30), || {
        let logged = std::fs::read_to_string(&log).unwrap_or_default();
        logged.lines().filter(|l| l.starts_with("hold")).count() == 2
            && jobs_of(&id).iter().filter(|j| j.ends_with(" RUNNING")).count() == 2
    });
    let status: Value =
        serde_json::from_str(&env.odw(&["status", &id, "--json", "--runs-root", &runs_flag(&env)]).stdout)
            .unwrap();
    let worker = status["pid"].to_string();
    assert!(Command::new("kill").args(["-KILL", &worker]).status().unwrap().success());
    wait_for("the worker to be gone", Duration::from_secs(10), || {
        !Path::new(&format!("/proc/{worker}")).exists()
    });

    let new_id = start(&env, &wf, &["--resume-from", &id]);
    std::fs::write(dir.path().join(format!("free-{new_id}")), "").unwrap();
    wait_for("the resumed run to finish", Duration::from_secs(60), || state(&env, &new_id) == "done");
    // The killed run's jobs were cancelled by the resume, not left running.
    assert!(jobs_of(&id).is_empty(), "{:?}", jobs_of(&id));
    assert!(jobs_of(&new_id).is_empty(), "{:?}", jobs_of(&new_id));
    let events = read_events(&run_dir(&env, &new_id));
    let cancelled: Vec<&str> = of_type(&events, "log")
        .iter()
        .filter_map(|e| e["message"].as_str())
        .filter(|m| m.contains("cancelled SLURM job") && m.contains(&id))
        .collect();
    assert_eq!(cancelled.len(), 2, "{events:#?}");

    let result = env.odw(&["result", &new_id, "--runs-root", &runs_flag(&env)]);
    let expected: Vec<String> = ["quick 1", "quick 2", "quick 3", "quick 4", "hold 1", "hold 2"]
        .iter()
        .map(|p| format!("done:{p}"))
        .collect();
    assert_eq!(serde_json::from_str::<Value>(&result.stdout).unwrap(), json!(expected), "{}", result.stderr);
    // Only the two unfinished calls ran again.
    let prompts = std::fs::read_to_string(&log).unwrap();
    let count = |p: &str| prompts.lines().filter(|l| *l == p).count();
    for quick in ["quick 1", "quick 2", "quick 3", "quick 4"] {
        assert_eq!(count(quick), 1, "{quick} ran again:\n{prompts}");
    }
    for held in ["hold 1", "hold 2"] {
        assert_eq!(count(held), 2, "{held}:\n{prompts}");
    }
    let jobs = of_type(&events, "agent_job");
    assert_eq!(jobs.iter().filter(|j| j["state"] == "submitted").count(), 2, "{jobs:#?}");
}

#[test]
fn a_cloned_workspace_brings_the_agents_change_back_as_a_patch() {
    if !cluster() {
        return;
    }
    let env = Env::with_config(json!({
        "adapters": { "mock": {
            "command": ["sh", "-c", "cat >/dev/null; echo from-the-node > made.txt; pwd"],
            "executor": { "kind": "slurm", "workspace": "clone" }
        } }
    }));
    let git = |args: &[&str]| {
        let ok = Command::new("git").args(args).current_dir(env.path()).status().unwrap().success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q"]);
    git(&["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "init"]);
    let wf = env.script("clone.js", "return await agent('change something', { isolation: 'worktree' });");
    let run = env.run_wait(&wf, &[]);
    let cwd = run.json();
    // The agent worked in a clone on the node, not in the project.
    assert!(cwd.as_str().is_some_and(|d| d.contains("odw-clone.")), "{cwd}");
    assert!(!env.path().join("made.txt").exists(), "the project was changed in place");
    let patch = std::fs::read_to_string(env.run_dir().join("patches/0.patch")).unwrap();
    assert!(patch.contains("+from-the-node") && patch.contains("made.txt"), "{patch}");
    // No local worktree was made for it.
    assert!(!env.run_dir().join("worktrees/0").exists());
}
