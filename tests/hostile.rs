//! Hostile workflows (`tests/hostile/*.js`), each run through the real
//! binary as an attacker's script would be: the host must stay alive, end
//! within a bound with the expected result or a clear error, keep its peak
//! memory bounded, and touch no file outside the run directory.
//!
//! A case's first lines say what to expect:
//!
//! ```text
//! // flags: --budget 50          extra `odw run` flags (optional)
//! // expect: ok <json>           exit 0 and exactly this result
//! // expect: error <text>        exit 1 and <text> in the error
//! // expect: any                 either, as long as the bounds hold
//! ```

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

/// No case may take longer than this (the CPU limit below is 2 s).
const DEADLINE: Duration = Duration::from_secs(60);
/// Peak RSS of the odw process, at most (the guest's own limit is 128 MiB).
const MAX_RSS_KIB: i64 = 768 * 1024;

#[derive(Debug)]
enum Expect {
    Ok(Value),
    Error(String),
    Any,
}

struct Case {
    name: String,
    flags: Vec<String>,
    expect: Expect,
}

fn cases(dir: &Path) -> Vec<Case> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let header = |key: &str| {
            text.lines()
                .take_while(|l| l.starts_with("//"))
                .find_map(|l| l.strip_prefix(&format!("// {key}: ")).map(str::to_string))
        };
        let Some(expect) = header("expect") else { continue };
        let expect = match expect.split_once(' ') {
            Some(("ok", json)) => Expect::Ok(serde_json::from_str(json).expect("expect: ok <json>")),
            Some(("error", text)) => Expect::Error(text.to_string()),
            _ if expect == "any" => Expect::Any,
            _ => panic!("{}: bad expect line {expect:?}", path.display()),
        };
        let flags =
            header("flags").map(|f| f.split_whitespace().map(str::to_string).collect()).unwrap_or_default();
        out.push(Case { name: path.file_stem().unwrap().to_string_lossy().into_owned(), flags, expect });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Every file under `dir` but `skip`, with its size and modification time.
fn snapshot(dir: &Path, skip: &Path, out: &mut BTreeMap<PathBuf, (u64, SystemTime)>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path == skip {
            continue;
        }
        let meta = entry.metadata().unwrap();
        if meta.is_dir() {
            snapshot(&path, skip, out);
        } else {
            out.insert(path, (meta.len(), meta.modified().unwrap()));
        }
    }
}

struct Outcome {
    code: Option<i32>,
    signal: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
    max_rss_kib: i64,
}

/// Runs odw to its end, killing it at the deadline; reports its peak RSS.
/// The child is reaped with `wait4` (for its rusage), not `Child::wait`.
#[allow(clippy::zombie_processes)]
fn run(env: &common::Env, script: &str, flags: &[String]) -> Outcome {
    let runs = env.runs();
    let (out, err) = (env.path().join(format!("{script}.out")), env.path().join(format!("{script}.err")));
    let begun = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_odw"))
        .args(["run", script, "--wait", "--adapter", "echo", "--runs-root", runs.to_str().unwrap()])
        .args(flags)
        .current_dir(env.path())
        .env("HOME", env.path())
        .env("ODW_CACHE_DIR", common::cache_dir())
        .env_remove("ODW_CONFIG")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("start odw");
    let pid = child.id() as libc::pid_t;
    let (mut status, mut usage): (libc::c_int, libc::rusage) = (0, unsafe { std::mem::zeroed() });
    loop {
        // SAFETY: wait4 on our own child, with valid out-pointers.
        let done = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if done == pid {
            break;
        }
        if begun.elapsed() > DEADLINE {
            // SAFETY: our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let exited = libc::WIFEXITED(status);
    Outcome {
        code: exited.then(|| libc::WEXITSTATUS(status)),
        signal: libc::WIFSIGNALED(status).then(|| libc::WTERMSIG(status)),
        stdout: std::fs::read_to_string(&out).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err).unwrap_or_default(),
        elapsed: begun.elapsed(),
        max_rss_kib: usage.ru_maxrss,
    }
}

#[test]
fn hostile_workflows_leave_the_host_alive_bounded_and_untouched() {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile");
    let cases = cases(&source);
    assert!(cases.len() >= 60, "only {} hostile cases", cases.len());
    let env = common::Env::with_config(serde_json::json!({"scriptCpuSeconds": 2, "scriptMemoryMb": 128}));
    for entry in std::fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, env.path().join(path.file_name().unwrap())).unwrap();
    }
    // A file outside the scripts' folder that no case may read or change.
    let outside = env.path().parent().unwrap().join(format!("outside-{}.js", std::process::id()));
    let secret = "export const meta = {name: 'secret', description: 'KEY=hunter2'};";
    std::fs::write(&outside, secret).unwrap();
    let mut before = BTreeMap::new();
    snapshot(env.path(), &env.runs(), &mut before);

    let mut failures = Vec::new();
    let (mut peak, mut slowest) = (0, Duration::ZERO);
    for case in &cases {
        let script = format!("{}.js", case.name);
        let o = run(&env, &script, &case.flags);
        peak = peak.max(o.max_rss_kib);
        slowest = slowest.max(o.elapsed);
        let problem = if o.signal.is_some() || o.code == Some(101) {
            Some(format!("odw died: signal {:?}, code {:?}", o.signal, o.code))
        } else if o.elapsed > DEADLINE {
            Some(format!("took {:?}", o.elapsed))
        } else if o.max_rss_kib > MAX_RSS_KIB {
            Some(format!("peak RSS {} MiB", o.max_rss_kib / 1024))
        } else if o.stderr.contains("panicked") || o.stderr.contains("RUST_BACKTRACE") {
            Some("a panic reached the user".into())
        } else if o.stdout.contains("hunter2") || o.stderr.contains("hunter2") {
            Some("the outside file's contents leaked".into())
        } else {
            match &case.expect {
                Expect::Ok(want) => match serde_json::from_str::<Value>(&o.stdout) {
                    Ok(got) if o.code == Some(0) && got == *want => None,
                    _ => Some(format!("expected {want}, got code {:?}", o.code)),
                },
                Expect::Error(text) if o.code == Some(1) && o.stderr.contains(text.as_str()) => None,
                Expect::Error(text) => {
                    Some(format!("expected an error with {text:?}, got code {:?}", o.code))
                }
                Expect::Any if matches!(o.code, Some(0 | 1)) => None,
                Expect::Any => Some(format!("code {:?}", o.code)),
            }
        };
        if let Some(problem) = problem {
            let tail: String = o.stderr.lines().rev().take(3).collect::<Vec<_>>().join(" | ");
            failures.push(format!(
                "{}: {problem}\n    stderr: {}",
                case.name,
                tail.chars().take(400).collect::<String>()
            ));
        }
    }
    // For the record (`--nocapture`): the figures README quotes.
    eprintln!("{} hostile cases; peak RSS {} MiB at most; slowest {:?}", cases.len(), peak / 1024, slowest);
    let mut after = BTreeMap::new();
    snapshot(env.path(), &env.runs(), &mut after);
    let outputs = |files: &BTreeMap<PathBuf, (u64, SystemTime)>| -> Vec<PathBuf> {
        files
            .keys()
            .filter(|p| !matches!(p.extension().and_then(|e| e.to_str()), Some("out" | "err")))
            .cloned()
            .collect()
    };
    let changed: Vec<_> = outputs(&after).into_iter().filter(|p| before.get(p) != after.get(p)).collect();
    assert!(changed.is_empty(), "files outside the run directories changed: {changed:?}");
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), secret, "the outside file is untouched");
    let _ = std::fs::remove_file(&outside);
    assert!(
        failures.is_empty(),
        "{} of {} hostile cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn what_a_script_prints_reaches_the_terminal_escaped() {
    let env = common::Env::new();
    let script = env.script(
        "ansi.js",
        "phase('\\x1b[2Jcleared');\nlog('\\x1b]52;c;aGk=\\x07copied\\nodw: fake line');\n\
         phase('report\\u202Etxt.exe');\nlog('safe\\u2066 name\\u2069');\nreturn 1;",
    );
    let run = env.run_wait(&script, &["--adapter", "echo"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let id = run.run_id();
    let logs = env.odw(&["logs", &id, "--runs-root", env.runs().to_str().unwrap()]);
    let status = env.odw(&["status", &id, "--runs-root", env.runs().to_str().unwrap()]);
    for out in [&logs.stdout, &status.stdout, &run.stderr] {
        assert!(
            !out.contains('\x1b') && !out.contains('\x07'),
            "a control character reached the terminal: {out:?}"
        );
        // Bidirectional overrides and isolates reorder what follows them.
        assert!(
            !out.contains(['\u{202e}', '\u{2066}', '\u{2069}']),
            "a bidirectional override reached the terminal: {out:?}"
        );
    }
    assert!(run.stderr.contains("report\\u{202e}txt.exe"), "{}", run.stderr);
    assert!(logs.stdout.contains("safe\\u{2066} name\\u{2069}"), "{}", logs.stdout);
    assert!(logs.stdout.contains("\\u{1b}]52;c;aGk=\\u{7}copied\\u{a}odw: fake line"), "{}", logs.stdout);
    assert!(!logs.stdout.lines().any(|l| l.starts_with("odw: fake")));
}
