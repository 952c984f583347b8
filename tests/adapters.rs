//! Adapters through the real binary: the built-in CLIs (fake executables of
//! those names on PATH that record argv and stdin), adapter selection, the
//! config lookup order, subprocess hygiene, budget, worktree isolation and
//! the http adapter against a server on 127.0.0.1. No network, no account.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Env, HEADER, Run, fixture, read_events};
use serde_json::{Value, json};

/// One isolated directory: HOME, runs root, a bin dir of fake CLIs, a log dir.
struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new(config: Value) -> Case {
        let dir = tempfile::tempdir().expect("temp dir");
        for sub in ["bin", "log", "work"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("dir");
        }
        std::fs::write(dir.path().join("work/odw.config.json"), config.to_string()).expect("config");
        Case { dir }
    }

    fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    /// Puts the fake CLI on PATH under each of `names`.
    fn install(&self, names: &[&str]) {
        for name in names {
            std::os::unix::fs::symlink(fixture("adapters/fake-cli.sh"), self.path("bin").join(name))
                .expect("link");
        }
    }

    fn script(&self, body: &str) -> String {
        std::fs::write(self.path("work/wf.js"), format!("{HEADER}{body}\n")).expect("script");
        "wf.js".into()
    }

    /// Runs odw in `work/` with PATH = the fake bin dir only (odw itself needs
    /// nothing on PATH for these runs), plus `vars`.
    fn odw(&self, args: &[&str], vars: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_odw"));
        cmd.args(args)
            .current_dir(self.path("work"))
            .env("HOME", self.dir.path())
            .env("PATH", self.path("bin"))
            .env("FAKE_LOG", self.path("log"))
            .env("ODW_CACHE_DIR", cache_dir())
            .env_remove("ODW_CONFIG");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        Run::from(cmd.output().expect("run odw"))
    }

    fn run_wait(&self, extra: &[&str]) -> Run {
        let runs = self.path("runs");
        let mut args = vec!["run", "wf.js", "--wait", "--runs-root", runs.to_str().expect("utf-8")];
        args.extend_from_slice(extra);
        self.odw(&args, &[])
    }

    fn log(&self, file: &str) -> String {
        std::fs::read_to_string(self.path("log").join(file)).unwrap_or_default()
    }

    fn run_dir(&self) -> PathBuf {
        only_run(&self.path("runs"))
    }
}

fn only_run(runs: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(runs)
        .expect("runs root")
        .flat_map(|wf| std::fs::read_dir(wf.expect("entry").path()).expect("workflow dir"))
        .map(|r| r.expect("run").path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("odw-cache")
}

fn finished(run_dir: &Path) -> Vec<Value> {
    read_events(run_dir).into_iter().filter(|e| e["type"] == "agent_finished").collect()
}

#[test]
fn each_builtin_runs_its_cli_with_the_prompt_and_the_model_flag() {
    let cases: &[(&str, &[&str], bool)] = &[
        (
            "claude",
            &["--print", "--output-format", "json", "--permission-mode", "acceptEdits", "--model", "m-1"],
            false,
        ),
        (
            "codex",
            &[
                "exec",
                "--json",
                "--cd",
                "{ws}",
                "--skip-git-repo-check",
                "--sandbox",
                "workspace-write",
                "--model",
                "m-1",
                "-",
            ],
            false,
        ),
        ("gemini", &["--output-format", "json", "--approval-mode", "auto_edit", "--model", "m-1"], false),
        ("qwen", &["--output-format", "json", "--approval-mode", "auto-edit", "--model", "m-1"], false),
        ("kimi", &["-p", "hello from odw", "--output-format", "stream-json", "--model", "m-1"], true),
    ];
    for (name, argv, estimated) in cases {
        let case = Case::new(json!({}));
        case.install(&[name]);
        case.script("return await agent('hello from odw', { model: 'm-1' });");
        let out = case.run_wait(&["--adapter", name]).json();
        assert_eq!(out, json!(format!("{name} answered")));
        let ws = std::fs::canonicalize(case.path("work")).unwrap().display().to_string();
        let expected: Vec<String> = argv.iter().map(|a| a.replace("{ws}", &ws)).collect();
        assert_eq!(case.log(&format!("{name}.argv")).lines().collect::<Vec<_>>(), expected, "{name}");
        // Kimi Code takes the prompt as `-p TEXT` only.
        let stdin = if *name == "kimi" { "" } else { "hello from odw" };
        assert_eq!(case.log(&format!("{name}.stdin")).trim_end(), stdin, "{name}");
        assert_eq!(case.log(&format!("{name}.cwd")).trim_end(), ws, "{name}");
        let done = finished(&case.run_dir());
        assert_eq!(done[0]["usage"]["estimated"], json!(*estimated), "{name}: {}", done[0]);
        assert!(done[0]["ms"].is_u64());
    }
}

#[test]
fn reported_usage_replaces_the_estimate_and_counts_against_the_budget() {
    let case = Case::new(json!({}));
    case.install(&["claude"]);
    case.script(
        "const first = await agent('one');
         const spent = budget.spent();
         await agent('two');
         await agent('three');
         return spent;",
    );
    // claude reports 100 + 20 cached input and 30 output tokens per call.
    let run = case.run_wait(&["--adapter", "claude", "--budget", "200"]);
    run.fails_with(&["BudgetError", "300 of 200 tokens"]);
    let done = finished(&case.run_dir());
    assert_eq!(done.len(), 2);
    assert_eq!(done[0]["usage"], json!({"input": 120, "output": 30, "estimated": false}));
}

#[test]
fn the_only_cli_on_path_is_used_several_are_an_error_none_means_echo() {
    let case = Case::new(json!({}));
    case.install(&["codex"]);
    case.script("return await agent('hi');");
    assert_eq!(case.run_wait(&[]).json(), json!("codex answered"));

    case.install(&["kimi"]);
    let run = case.run_wait(&[]);
    run.fails_with(&["several agent CLIs are on PATH (codex, kimi)", "--adapter NAME", "defaultAdapter"]);
    assert_eq!(case.run_wait(&["--adapter", "kimi"]).json(), json!("kimi answered"));

    let bare = Case::new(json!({}));
    bare.script("return await agent('hi');");
    assert_eq!(bare.run_wait(&[]).json(), json!("hi"));
    let listed = bare.odw(&["adapters"], &[]);
    assert!(listed.stdout.contains("default: echo (no agent CLI on PATH"), "{}", listed.stdout);
}

#[test]
fn the_adapter_flag_overrides_a_calls_own_adapter() {
    let case = Case::new(json!({}));
    case.install(&["claude"]);
    case.script("return [await agent('a', { adapter: 'echo' }), await agent('b', { adapter: 'nope' })];");
    assert_eq!(case.run_wait(&["--adapter", "claude"]).json(), json!(["claude answered", "claude answered"]));
}

#[test]
fn odw_adapters_lists_builtins_and_configured_ones_with_their_command_lines() {
    let case = Case::new(json!({
        "adapters": {
            "mine": { "command": ["my-agent", "--cd", "{workspace}"], "flags": { "model": "-m" } },
            "local": { "kind": "http", "url": "http://127.0.0.1:9/v1/chat/completions", "model": "tiny", "apiKeyEnv": "KEY" }
        }
    }));
    case.install(&["gemini"]);
    let out = case.odw(&["adapters", "--model", "big"], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let ws = std::fs::canonicalize(case.path("work")).unwrap().display().to_string();
    for line in [
        "$ claude --print --output-format json --permission-mode acceptEdits --model big < prompt"
            .to_string(),
        format!(
            "$ codex exec --json --cd {ws} --skip-git-repo-check --sandbox workspace-write --model big - < prompt"
        ),
        format!("$ my-agent --cd {ws} -m big < prompt"),
        "$ POST http://127.0.0.1:9/v1/chat/completions model=big (key from $KEY)".to_string(),
        "`claude` not on PATH".to_string(),
    ] {
        assert!(out.stdout.contains(&line), "missing {line:?} in:\n{}", out.stdout);
    }
    assert!(out.stdout.contains(&format!("found: {}", case.path("bin/gemini").display())), "{}", out.stdout);
    let listed: Value = serde_json::from_str(&case.odw(&["adapters", "--json"], &[]).stdout).unwrap();
    let names: Vec<&str> =
        listed["adapters"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["claude", "codex", "gemini", "qwen", "kimi", "echo", "local", "mine"]);
    assert!(listed["default"]["error"].is_null() || listed["default"]["name"].is_string());
}

#[test]
fn config_lookup_order_is_flag_env_cwd_home() {
    let case = Case::new(json!({ "adapters": { "from-cwd": { "command": ["x"] } } }));
    let write = |path: PathBuf, name: &str| {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, json!({ "adapters": { name: { "command": ["x"] } } }).to_string()).unwrap();
        path
    };
    let explicit = write(case.path("explicit.json"), "from-flag");
    let from_env = write(case.path("env.json"), "from-env");
    write(case.path(".config/odw/config.json"), "from-home");
    let default = |args: &[&str], vars: &[(&str, &str)]| -> String {
        let mut all = vec!["adapters", "--json"];
        all.extend_from_slice(args);
        let out = case.odw(&all, vars);
        let v: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|_| panic!("{}", out.stderr));
        v["default"]["name"].as_str().unwrap_or_default().to_string()
    };
    let env_var = [("ODW_CONFIG", from_env.to_str().unwrap())];
    assert_eq!(default(&["--config", explicit.to_str().unwrap()], &env_var), "from-flag");
    assert_eq!(default(&[], &env_var), "from-env");
    assert_eq!(default(&[], &[]), "from-cwd");
    std::fs::remove_file(case.path("work/odw.config.json")).unwrap();
    assert_eq!(default(&[], &[]), "from-home");
}

#[test]
fn unknown_and_misplaced_keys_warn_with_a_suggestion() {
    let case = Case::new(json!({
        "defaultAdaptor": "echo",
        "command": ["x"],
        "adapters": {
            "h": { "kind": "http", "url": "http://127.0.0.1:9/", "apikeyEnv": "K", "command": ["x"] },
            "c": { "command": ["x"], "url": "http://x/", "concurrency": 2 }
        }
    }));
    let out = case.odw(&["adapters"], &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for part in [
        "unknown key `defaultAdaptor` (ignored); did you mean `defaultAdapter`?",
        "key `command` (ignored) belongs to an adapter: move it to `adapters.<name>.command`",
        "unknown key `adapters.h.apikeyEnv` (ignored); did you mean `adapters.h.apiKeyEnv`?",
        "key `adapters.h.command` (ignored) does not apply to `\"kind\": \"http\"` adapters",
        "key `adapters.c.url` (ignored) only applies with `\"kind\": \"http\"`",
        "key `adapters.c.concurrency` (ignored) is a top-level key",
    ] {
        assert!(out.stderr.contains(part), "stderr lacks {part:?}:\n{}", out.stderr);
    }
}

#[test]
fn a_timeout_kills_the_agents_grandchildren_too() {
    let env = Env::with_config(json!({ "timeout": 1 }));
    let pidfile = env.path().join("agent.pid");
    // A schema call: a failed plain agent() resolves null (as in Claude Code); this one rejects.
    let wf = env.script(
        "wf.js",
        &format!(
            "return await agent('hold pidfile:{}', {{ schema: {{ type: 'object' }} }});",
            pidfile.display()
        ),
    );
    let started = std::time::Instant::now();
    env.run_wait(&wf, &[]).fails_with(&["timed out after 1s", "process group"]);
    assert!(started.elapsed().as_secs() < 30);
    let child = std::fs::read_to_string(format!("{}.child", pidfile.display())).expect("grandchild pid");
    let agent = std::fs::read_to_string(&pidfile).expect("agent pid");
    for pid in [agent.trim(), child.trim()] {
        let gone = (0..50).any(|_| {
            let alive = Command::new("kill").args(["-0", pid]).status().is_ok_and(|s| s.success());
            if alive {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            !alive
        });
        assert!(gone, "process {pid} outlived the timeout");
    }
}

#[test]
fn env_adds_variables_and_null_removes_inherited_ones() {
    let case = Case::new(json!({
        "adapters": { "envy": {
            "command": ["/bin/sh", "-c", "printf '%s|%s' \"${ODW_SECRET-removed}\" \"$ADDED\""],
            "env": { "ODW_SECRET": null, "ADDED": "yes" }
        } }
    }));
    case.script("return await agent('x');");
    let runs = case.path("runs");
    let out =
        case.odw(&["run", "wf.js", "--wait", "--runs-root", runs.to_str().unwrap()], &[("ODW_SECRET", "s3")]);
    assert_eq!(out.json(), json!("removed|yes"));
}

#[test]
fn a_failing_cli_reports_the_tail_of_its_stderr() {
    let case = Case::new(json!({
        "adapters": { "bad": { "command": ["/bin/sh", "-c", "echo starting >&2; echo 'auth: no key' >&2; exit 4"] } }
    }));
    // A schema call: a failed plain agent() resolves null (as in Claude Code); this one rejects.
    case.script("return await agent('x', { schema: { type: 'object' } });");
    case.run_wait(&[]).fails_with(&["`bad` exited with exit code 4: starting\nauth: no key"]);
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output().expect("git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn worktree_isolation_keeps_each_agents_diff_on_its_branch() {
    let case = Case::new(json!({
        "adapters": { "edit": { "command": ["/bin/sh", "-c", "read what; echo \"$what\" > from-agent.txt; pwd"] } }
    }));
    let work = case.path("work");
    git(&work, &["init", "-q"]);
    git(&work, &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "init"]);
    case.script(
        "return await parallel([
           () => agent('A', { isolation: 'worktree' }),
           () => agent('B', { isolation: 'worktree' }),
         ]);",
    );
    let runs = case.path("runs");
    let out = Command::new(env!("CARGO_BIN_EXE_odw"))
        .args(["run", "wf.js", "--wait", "--runs-root", runs.to_str().unwrap()])
        .current_dir(&work)
        .env("HOME", case.dir.path())
        .env("ODW_CACHE_DIR", cache_dir())
        .env_remove("ODW_CONFIG")
        .output()
        .unwrap();
    let cwds = Run::from(out).json();
    let run_dir = case.run_dir();
    let run_id = run_dir.file_name().unwrap().to_string_lossy().into_owned();
    assert!(cwds[0].as_str().unwrap().ends_with("worktrees/0"), "{cwds}");
    assert!(!work.join("from-agent.txt").exists(), "the agent wrote into the source tree");
    for (index, text) in [(0, "A"), (1, "B")] {
        let branch = format!("odw/{run_id}/{index}");
        assert_eq!(git(&work, &["show", &format!("{branch}:from-agent.txt")]), text);
        let patch = std::fs::read_to_string(run_dir.join(format!("patches/{index}.patch"))).unwrap();
        assert!(patch.contains(&format!("+{text}")), "{patch}");
    }
    let done = finished(&run_dir);
    assert_eq!(done.len(), 2);
    for e in &done {
        let wt = &e["worktree"];
        assert!(wt["branch"].as_str().unwrap().starts_with(&format!("odw/{run_id}/")), "{e}");
        assert!(wt["diffStat"].as_str().unwrap().contains("from-agent.txt | 1 +"), "{e}");
    }
    assert!(!run_dir.join("worktrees/0").exists(), "worktree directories are removed, branches kept");
}

#[test]
fn stopping_a_run_removes_the_worktrees_of_its_unfinished_agents() {
    let case = Case::new(json!({ "adapters": { "slow": { "command": ["/bin/sh", "-c", "sleep 30"] } } }));
    let work = case.path("work");
    git(&work, &["init", "-q"]);
    git(&work, &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "init"]);
    case.script("return await agent('hold', { isolation: 'worktree' });");
    let runs = case.path("runs");
    let odw = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_odw"))
            .args(args)
            .args(["--runs-root", runs.to_str().unwrap()])
            .current_dir(&work)
            .env("HOME", case.dir.path())
            .env("ODW_CACHE_DIR", cache_dir())
            .env_remove("ODW_CONFIG")
            .output()
            .unwrap();
        Run::from(out)
    };
    let started = odw(&["run", "wf.js"]);
    assert_eq!(started.code, 0, "{}", started.stderr);
    let id = started.stdout.trim().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let run_dir = runs.join("test").join(&id); // `test` is the header's meta.name
    let agent_running = || {
        read_events(&run_dir).iter().any(|e| e["type"] == "agent_started")
            && run_dir.join("worktrees/0").is_dir()
    };
    while !agent_running() {
        assert!(std::time::Instant::now() < deadline, "the isolated agent never started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let stopped = odw(&["stop", &id]);
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);
    assert!(!run_dir.join("worktrees/0").exists(), "the stopped agent's worktree is removed");
    let worktrees = git(&work, &["worktree", "list", "--porcelain"]);
    assert_eq!(worktrees.matches("worktree ").count(), 1, "only the main worktree is left:\n{worktrees}");
    git(&work, &["rev-parse", "--verify", &format!("odw/{id}/0")]); // the branch stays
}

#[test]
fn worktree_isolation_outside_a_git_repository_is_a_clear_error() {
    let case = Case::new(json!({ "workspaceMode": "worktree" }));
    case.script("return await agent('x');");
    let runs = case.path("runs");
    let path = std::env::var("PATH").unwrap_or_default();
    let out =
        case.odw(&["run", "wf.js", "--wait", "--runs-root", runs.to_str().unwrap()], &[("PATH", &path)]);
    out.fails_with(&["WorkspaceError", "needs a git repository"]);
}

/// A one-shot OpenAI-compatible endpoint: answers each request with `reply`
/// and hands back what it received.
fn serve(reply: Value) -> (String, std::thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/v1/chat/completions", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = stream.read(&mut buf).expect("read");
            request.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&request).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string())
                    })
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                if request.len() >= end + 4 + length {
                    break;
                }
            }
            if n == 0 {
                break;
            }
        }
        let body = reply.to_string();
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(response.as_bytes()).expect("write");
        String::from_utf8_lossy(&request).into_owned()
    });
    (url, handle)
}

#[test]
fn the_http_adapter_posts_a_chat_request_and_keeps_the_key_out_of_run_files() {
    let (url, server) = serve(json!({
        "choices": [{ "index": 0, "message": { "role": "assistant", "content": "local answer" } }],
        "usage": { "prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15 }
    }));
    let case = Case::new(json!({
        "defaultAdapter": "local",
        "adapters": { "local": { "kind": "http", "url": url, "model": "tiny", "apiKeyEnv": "ODW_TEST_KEY" } }
    }));
    case.script("return await agent('what is odw?');");
    let runs = case.path("runs");
    let out = case.odw(
        &["run", "wf.js", "--wait", "--runs-root", runs.to_str().unwrap()],
        &[("ODW_TEST_KEY", "sekrit-123")],
    );
    assert_eq!(out.json(), json!("local answer"));
    let request = server.join().unwrap();
    assert!(request.starts_with("POST /v1/chat/completions HTTP/1.1\r\n"), "{request}");
    // Header names are case-insensitive (reqwest writes them in lower case).
    assert!(request.to_ascii_lowercase().contains("authorization: bearer sekrit-123\r\n"), "{request}");
    let body: Value = serde_json::from_str(&request[request.find("\r\n\r\n").unwrap() + 4..]).unwrap();
    assert_eq!(body["model"], "tiny");
    assert_eq!(body["messages"], json!([{ "role": "user", "content": "what is odw?" }]));
    let run_dir = case.run_dir();
    assert_eq!(finished(&run_dir)[0]["usage"], json!({"input": 11, "output": 4, "estimated": false}));
    for file in walk(&run_dir) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(!bytes.windows(10).any(|w| w == b"sekrit-123"), "the key leaked into {}", file.display());
    }

    // Without the variable the call fails naming it, before connecting (a
    // schema call, so that the failure rejects rather than resolving null).
    case.script("return await agent('what is odw?', { schema: { type: 'object' } });");
    let out = case.odw(&["run", "wf.js", "--wait", "--runs-root", runs.to_str().unwrap()], &[]);
    out.fails_with(&["`ODW_TEST_KEY` (apiKeyEnv) is not set"]);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() { out.extend(walk(&path)) } else { out.push(path) }
    }
    out
}
