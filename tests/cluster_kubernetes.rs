//! Agents as Kubernetes Jobs, through the real binary. There is no cluster
//! here: `kubectl` is tests/fixtures/fake-kubectl.sh, first on PATH, which
//! records every call and keeps each manifest odw submits, so these tests
//! check the manifests field by field and the order of the kubectl calls.
//! What a real API server does with them is not tested here.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Env, Run};
use serde_json::{Value, json};

/// A PATH whose `kubectl` is the fake, and the fake's log.
struct Kubectl {
    bin: tempfile::TempDir,
}

impl Kubectl {
    fn new() -> Kubectl {
        let bin = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(common::fixture("fake-kubectl.sh"), bin.path().join("kubectl")).unwrap();
        Kubectl { bin }
    }

    fn log(&self) -> PathBuf {
        self.bin.path().join("calls.log")
    }

    fn vars(&self) -> Vec<(&'static str, String)> {
        let path = format!("{}:{}", self.bin.path().display(), std::env::var("PATH").unwrap_or_default());
        vec![
            ("PATH", path),
            ("KUBECTL_LOG", self.log().display().to_string()),
            ("KUBECTL_HANG", self.bin.path().join("hang").display().to_string()),
        ]
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.log()).unwrap_or_default().lines().map(str::to_string).collect()
    }

    /// The manifest of the `n`th `kubectl create` (from 1).
    fn manifest(&self, n: usize) -> Value {
        let text = std::fs::read_to_string(format!("{}.{n}.json", self.log().display())).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn run(&self, env: &Env, script: &str) -> Run {
        let runs = env.runs().display().to_string();
        env.odw_with(&["run", script, "--wait", "--runs-root", &runs], &self.vars())
    }
}

fn env_with(adapter: Value) -> Env {
    Env::with_config(json!({ "concurrency": 1, "defaultAdapter": "agent", "adapters": { "agent": adapter } }))
}

fn git(dir: &Path, args: &[&str]) {
    assert!(Command::new("git").args(args).current_dir(dir).status().unwrap().success(), "git {args:?}");
}

#[test]
fn a_call_with_and_without_isolation_renders_its_job_field_by_field() {
    let kubectl = Kubectl::new();
    let env = env_with(json!({
        "command": ["agent-cli", "--print"],
        "env": { "AGENT_HOME": "/home/agent", "DROPPED": null },
        "timeout": 600,
        "executor": {
            "kind": "kubernetes",
            "image": "registry.example/agent-cli:1.2",
            "namespace": "agents",
            "serviceAccount": "odw-agent",
            "cpus": 2,
            "memory": "4Gi",
            "sharedClaim": "odw-shared",
            "sharedPath": "/",
            "byAgentType": { "builder": { "cpus": 8 } }
        }
    }));
    git(env.path(), &["init", "-q"]);
    git(
        env.path(),
        &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "init"],
    );
    let wf = env.script(
        "wf.js",
        "const plain = await agent('plain call');\n\
         const isolated = await agent('isolated call', { isolation: 'worktree', agentType: 'builder' });\n\
         return [plain, isolated];",
    );
    let run = kubectl.run(&env, &wf);
    // The reply is the Job's log: the fake prints the stdin it was given.
    assert_eq!(
        run.json(),
        json!(["kube:plain call", "kube:You are acting as: builder.\n\nisolated call"]),
        "{}",
        run.stderr
    );
    let id = run.run_id();
    let run_dir = env.run_dir();

    for (n, isolated) in [(1, false), (2, true)] {
        let index = n - 1;
        let name = format!("odw-{id}-{index}-1");
        let manifest = kubectl.manifest(n);
        assert_eq!(manifest["apiVersion"], "v1");
        assert_eq!(manifest["kind"], "List");
        let items = manifest["items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        let labels = json!({
            "app.kubernetes.io/managed-by": "odw",
            "odw/run": id,
            "odw/index": index.to_string(),
            "odw/attempt": "1",
            "odw/isolation": if isolated { "worktree" } else { "none" },
        });

        let config_map = &items[0];
        assert_eq!(config_map["kind"], "ConfigMap");
        assert_eq!(config_map["metadata"], json!({ "name": name, "namespace": "agents", "labels": labels }));
        let prompt = if isolated { "You are acting as: builder.\n\nisolated call" } else { "plain call" };
        assert_eq!(config_map["data"], json!({ "stdin": prompt }));

        let job = &items[1];
        assert_eq!((job["apiVersion"].as_str(), job["kind"].as_str()), (Some("batch/v1"), Some("Job")));
        assert_eq!(job["metadata"], json!({ "name": name, "namespace": "agents", "labels": labels }));
        let spec = &job["spec"];
        assert_eq!(spec["backoffLimit"], 0);
        assert_eq!(spec["activeDeadlineSeconds"], 600);
        assert_eq!(spec["ttlSecondsAfterFinished"], 600);
        assert_eq!(spec["template"]["metadata"], json!({ "labels": labels }));
        let pod = &spec["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Never");
        assert_eq!(pod["serviceAccountName"], "odw-agent");
        assert_eq!(
            pod["volumes"],
            json!([
                { "name": "odw-call", "configMap": { "name": name } },
                { "name": "odw-shared", "persistentVolumeClaim": { "claimName": "odw-shared" } }
            ])
        );
        let containers = pod["containers"].as_array().unwrap();
        assert_eq!(containers.len(), 1);
        let c = &containers[0];
        assert_eq!(c["name"], "agent");
        assert_eq!(c["image"], "registry.example/agent-cli:1.2");
        assert_eq!(
            c["command"],
            json!([
                "sh",
                "-c",
                "exec \"$@\" </odw/call/stdin 2>/dev/termination-log",
                "odw-agent",
                "agent-cli",
                "--print"
            ])
        );
        // The isolated call works in its worktree, on the shared volume.
        let workdir = if isolated {
            run_dir.join("worktrees").join(index.to_string()).display().to_string()
        } else {
            env.path().display().to_string()
        };
        assert_eq!(c["workingDir"], workdir);
        assert_eq!(c["env"], json!([{ "name": "AGENT_HOME", "value": "/home/agent" }]));
        let cpu = if isolated { "8" } else { "2" };
        let amounts = json!({ "cpu": cpu, "memory": "4Gi" });
        assert_eq!(c["resources"], json!({ "requests": amounts, "limits": amounts }));
        assert_eq!(
            c["volumeMounts"],
            json!([
                { "name": "odw-call", "mountPath": "/odw/call", "readOnly": true },
                { "name": "odw-shared", "mountPath": "/" }
            ])
        );
        let keys: Vec<&String> = c.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 7, "unexpected container fields: {keys:?}");
    }

    // Per call, in order: create; the waits for `complete` and `failed`,
    // side by side (`complete` answers; the other may be ended before the
    // fake logs it); logs; delete.
    let calls = kubectl.calls();
    let mut at = 0;
    for index in 0..2 {
        let name = format!("odw-{id}-{index}-1");
        assert_eq!(calls[at], "create -f - -n agents", "{calls:#?}");
        at += 1;
        let complete = format!("wait --for=condition=complete --timeout=600s job/{name} -n agents");
        let failed = format!("wait --for=condition=failed --timeout=600s job/{name} -n agents");
        let mut waits = Vec::new();
        while calls[at].starts_with("wait ") {
            waits.push(calls[at].clone());
            at += 1;
        }
        assert!(waits.contains(&complete), "{calls:#?}");
        assert!(waits.iter().all(|w| *w == complete || *w == failed), "{calls:#?}");
        assert_eq!(calls[at], format!("logs job/{name} -n agents"), "{calls:#?}");
        assert_eq!(
            calls[at + 1],
            format!("delete job/{name} configmap/{name} --ignore-not-found --wait=false -n agents")
        );
        at += 2;
    }
    assert_eq!(at, calls.len(), "{calls:#?}");
    let name = format!("odw-{id}-0-1");

    // Each Job is reported in the run's events.
    let events = env.events();
    let jobs: Vec<&Value> = events.iter().filter(|e| e["type"] == "agent_job").collect();
    let states: Vec<&str> = jobs.iter().map(|j| j["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["submitted", "Complete", "submitted", "Complete"]);
    assert_eq!(jobs[0]["job"], name.as_str());
}

#[test]
fn a_prompt_file_is_mounted_and_unset_settings_leave_no_field() {
    let kubectl = Kubectl::new();
    let env = env_with(json!({
        "command": ["agent-cli", "--prompt-file", "{prompt_file}"],
        "executor": { "kind": "kubernetes", "image": "agent-cli" }
    }));
    let wf = env.script("wf.js", "return await agent('from a file');");
    let run = kubectl.run(&env, &wf);
    assert_eq!(run.json(), json!("kube:(no stdin)"), "{}", run.stderr);
    let manifest = kubectl.manifest(1);
    let config_map = &manifest["items"][0];
    assert_eq!(config_map["data"], json!({ "0-1.txt": "from a file" }));
    assert!(config_map["metadata"].get("namespace").is_none());
    let pod = &manifest["items"][1]["spec"]["template"]["spec"];
    assert!(pod.get("serviceAccountName").is_none(), "{pod}");
    assert_eq!(pod["volumes"].as_array().unwrap().len(), 1);
    let c = &pod["containers"][0];
    assert_eq!(
        c["command"],
        json!([
            "sh",
            "-c",
            "exec \"$@\" </dev/null 2>/dev/termination-log",
            "odw-agent",
            "agent-cli",
            "--prompt-file",
            "/odw/call/0-1.txt"
        ])
    );
    // No shared volume: the project is not in the pod, so no working
    // directory, and no resources asked for.
    for absent in ["workingDir", "resources", "env"] {
        assert!(c.get(absent).is_none(), "{absent}: {c}");
    }
    assert_eq!(kubectl.calls()[0], "create -f -");
}

#[test]
fn stop_deletes_the_running_job() {
    let kubectl = Kubectl::new();
    std::fs::write(kubectl.bin.path().join("hang"), "").unwrap();
    let env =
        env_with(json!({ "command": ["agent-cli"], "executor": { "kind": "kubernetes", "image": "i" } }));
    let wf = env.script("wf.js", "return await agent('long');");
    let runs = env.runs().display().to_string();
    let started = env.odw_with(&["run", &wf, "--runs-root", &runs], &kubectl.vars());
    assert_eq!(started.code, 0, "{}", started.stderr);
    let id = started.stdout.trim().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !kubectl.calls().iter().any(|c| c.contains("condition=complete")) {
        assert!(Instant::now() < deadline, "kubectl wait never ran: {:?}", kubectl.calls());
        std::thread::sleep(Duration::from_millis(50));
    }
    let stop = env.odw(&["stop", &id, "--runs-root", &runs]);
    assert_eq!(stop.code, 0, "{}", stop.stderr);
    let name = format!("odw-{id}-0-1");
    let delete = format!("delete job/{name} configmap/{name} --ignore-not-found --wait=false");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !kubectl.calls().contains(&delete) {
        assert!(Instant::now() < deadline, "no delete on stop: {:#?}", kubectl.calls());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!kubectl.calls().iter().any(|c| c.starts_with("logs")), "{:#?}", kubectl.calls());
}

#[test]
fn odw_adapters_shows_each_executor_and_what_one_call_runs() {
    let env = Env::with_config(json!({ "defaultAdapter": "here", "adapters": {
        "here": { "command": ["agent-cli", "-p"] },
        "hpc": { "command": ["agent-cli", "-p"], "executor": { "kind": "slurm", "partition": "cpu", "memory": "2G" } },
        "k8s": { "command": ["agent-cli", "-p"], "executor": { "kind": "kubernetes", "image": "agent:1", "namespace": "agents" } }
    } }));
    let out = env.odw(&["adapters", "--json"]);
    let list = out.json();
    let find =
        |name: &str| list["adapters"].as_array().unwrap().iter().find(|a| a["name"] == name).unwrap().clone();
    let here = find("here");
    assert_eq!(here["executor"], "local");
    assert_eq!(here["command_line"], "agent-cli -p < prompt");
    let hpc = find("hpc");
    assert_eq!(hpc["executor"], "slurm");
    assert_eq!(hpc["program"], "srun");
    let cwd = env.path().display().to_string();
    assert_eq!(
        hpc["command_line"],
        format!(
            "srun --verbose --job-name=odw-run-0-1 --ntasks=1 --cpus-per-task=1 --time=31 --partition=cpu \
             --mem=2G --chdir={cwd} -- agent-cli -p < prompt"
        )
    );
    let k8s = find("k8s");
    assert_eq!(k8s["executor"], "kubernetes");
    assert_eq!(k8s["program"], "kubectl");
    let line = k8s["command_line"].as_str().unwrap();
    for part in [
        "kubectl create -f",
        "image agent:1",
        "agent-cli -p < /odw/call/stdin",
        "kubectl logs -n agents job/odw-run-0-1",
    ] {
        assert!(line.contains(part), "{part}: {line}");
    }
    let human = env.odw(&["adapters"]);
    assert!(human.stdout.contains("config · command · runs on slurm"), "{}", human.stdout);
    assert!(human.stdout.contains("config · command · runs on kubernetes"), "{}", human.stdout);

    let bad = Env::with_config(json!({ "defaultAdapter": "hpc", "adapters": { "hpc": {
        "command": ["x"], "executor": { "kind": "slurm", "partition": "--uid=0" } } } }));
    bad.odw(&["adapters"]).fails_with(&["adapters.hpc.executor.partition"]);
}
