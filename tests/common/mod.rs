//! The harness of the end-to-end tests: a temp directory with a config that
//! points at the mock agent, and a way to run the real `odw` binary in it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A sandbox for one test: its own HOME, runs root, config and mock log.
pub struct Env {
    pub dir: tempfile::TempDir,
}

pub const HEADER: &str = "export const meta = { name: 'test', description: 'an end-to-end test' };\n";

impl Env {
    /// A directory with `odw.config.json` defining the `mock` adapter as the default.
    pub fn new() -> Env {
        Env::with_config(serde_json::json!({}))
    }

    /// Like [`Env::new`], with `extra` merged into the top level of the config.
    pub fn with_config(extra: Value) -> Env {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = serde_json::json!({
            "defaultAdapter": "mock",
            "adapters": { "mock": { "command": ["sh", fixture("mock-agent.sh")] } }
        });
        if let (Value::Object(c), Value::Object(e)) = (&mut config, extra) {
            c.extend(e);
        }
        std::fs::write(dir.path().join("odw.config.json"), config.to_string()).expect("config");
        Env { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn runs(&self) -> PathBuf {
        self.path().join("runs")
    }

    pub fn mock_log(&self) -> PathBuf {
        self.path().join("mock.log")
    }

    /// Writes a workflow (the header + `body`) and returns its file name.
    pub fn script(&self, name: &str, body: &str) -> String {
        std::fs::write(self.path().join(name), format!("{HEADER}{body}\n")).expect("script");
        name.to_string()
    }

    /// Runs `odw` with `args` in this directory.
    pub fn odw(&self, args: &[&str]) -> Run {
        self.odw_with(args, &[])
    }

    /// Runs `odw` with `args` and the environment variables `vars` added.
    pub fn odw_with(&self, args: &[&str], vars: &[(&str, String)]) -> Run {
        let mut odw = Command::new(env!("CARGO_BIN_EXE_odw"));
        odw.args(args).envs(vars.iter().map(|(k, v)| (*k, v.as_str())));
        self.output(odw)
    }

    /// Runs `odw` with `args`, killed after `secs` seconds (`timeout -s KILL`,
    /// exit code 137): a run that hangs fails its test instead of stalling
    /// the suite.
    pub fn odw_within(&self, secs: u32, args: &[&str]) -> Run {
        let mut odw = Command::new("timeout");
        odw.args(["-s", "KILL", &secs.to_string(), env!("CARGO_BIN_EXE_odw")]).args(args);
        self.output(odw)
    }

    /// Runs `command` in this directory with the tests' environment.
    fn output(&self, mut command: Command) -> Run {
        let output = command
            .current_dir(self.path())
            .env("HOME", self.path())
            .env("ODW_CACHE_DIR", cache_dir())
            .env("MOCK_LOG", self.mock_log())
            .env_remove("ODW_CONFIG")
            .output()
            .expect("run odw");
        Run::from(output)
    }

    /// `odw run <script> --wait --runs-root <runs>` plus `extra`.
    pub fn run_wait(&self, script: &str, extra: &[&str]) -> Run {
        let runs = self.runs();
        let mut args = vec!["run", script, "--wait", "--runs-root", runs.to_str().expect("utf-8 path")];
        args.extend_from_slice(extra);
        self.odw(&args)
    }

    /// The lines of the mock agent's log.
    pub fn mock_lines(&self) -> Vec<MockLine> {
        std::fs::read_to_string(self.mock_log())
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let mut parts = l.splitn(3, ' ');
                MockLine {
                    what: parts.next().unwrap_or("").to_string(),
                    at: parts.next().unwrap_or("0").parse().unwrap_or(0.0),
                    prompt: parts.next().unwrap_or("").to_string(),
                }
            })
            .collect()
    }

    /// How many times the mock agent was started.
    pub fn mock_invocations(&self) -> usize {
        self.mock_lines().iter().filter(|l| l.what == "start").count()
    }

    /// The only run directory under the runs root.
    pub fn run_dir(&self) -> PathBuf {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(self.runs())
            .expect("runs root")
            .flat_map(|wf| std::fs::read_dir(wf.expect("entry").path()).expect("workflow dir"))
            .map(|r| r.expect("run").path())
            .collect();
        assert_eq!(dirs.len(), 1, "expected exactly one run: {dirs:?}");
        dirs.remove(0)
    }

    /// The events of the only run.
    pub fn events(&self) -> Vec<Value> {
        read_events(&self.run_dir())
    }
}

/// The events of a run so far (none before its worker started).
pub fn read_events(run_dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(run_dir.join("events.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("event is JSON"))
        .collect()
}

pub struct MockLine {
    pub what: String,
    pub at: f64,
    pub prompt: String,
}

/// The outcome of one `odw` invocation.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    /// The run id from the summary line `odw: run <id> …` on stderr.
    pub fn run_id(&self) -> String {
        self.stderr
            .lines()
            .find_map(|l| l.strip_prefix("odw: run ").and_then(|r| r.split_whitespace().next()))
            .unwrap_or_else(|| panic!("no run id in stderr:\n{}", self.stderr))
            .to_string()
    }

    /// Asserts exit 0 and returns stdout parsed as JSON.
    pub fn json(&self) -> Value {
        assert_eq!(self.code, 0, "odw failed:\n{}", self.stderr);
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }

    /// Asserts exit 1 and that stderr contains every one of `parts`.
    pub fn fails_with(&self, parts: &[&str]) {
        assert_eq!(self.code, 1, "expected exit 1; stdout: {}\nstderr: {}", self.stdout, self.stderr);
        for p in parts {
            assert!(self.stderr.contains(p), "stderr lacks {p:?}:\n{}", self.stderr);
        }
    }
}

pub fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name).display().to_string()
}

/// One precompiled-guest cache for all tests, so only the first compiles.
pub fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("odw-cache")
}
