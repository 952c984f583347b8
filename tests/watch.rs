//! The terminal views, driven as a person would: `odw watch` and `odw run
//! --wait` on a real terminal (tmux: send-keys, capture-pane), and the plain
//! progress lines when stderr is not a terminal.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::Env;
use serde_json::{Value, json};

/// Three phases of one-second agents, two at a time: about five seconds.
const THREE_PHASES: &str = "
phase('Scan');
await parallel([1, 2, 3, 4].map(i => () => agent(`scan ${i} sleep:1`, { label: `scan-${i}` })));
phase('Review');
await parallel([1, 2, 3].map(i => () => agent(`review ${i} sleep:1`, { label: `review-${i}` })));
phase('Write');
await agent('write sleep:1', { label: 'writer' });
return { ok: true };";

fn three_phase_env() -> (Env, String) {
    let env = Env::with_config(json!({ "concurrency": 2 }));
    let header = "export const meta = { name: 'test', description: 'three phases', \
                  phases: [{ title: 'Scan' }, { title: 'Review' }, { title: 'Write' }] };";
    std::fs::write(env.path().join("wf.js"), format!("{header}\n{THREE_PHASES}\n")).unwrap();
    (env, "wf.js".into())
}

/// A tmux server of its own (its own socket), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// Runs `odw <args>` in `env` in a 120×40 terminal; the pane stays
    /// after it exits, with `EXIT=<code>` printed.
    fn odw(env: &Env, args: &str) -> Tmux {
        assert!(
            Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success()),
            "this test needs tmux: apt-get install tmux"
        );
        let socket =
            format!("odw-test-{}-{}", std::process::id(), env.path().file_name().unwrap().to_string_lossy());
        let command = format!(
            "cd '{dir}' && env HOME='{dir}' ODW_CACHE_DIR='{cache}' MOCK_LOG='{log}' '{odw}' {args} --runs-root '{runs}'; \
             echo EXIT=$?; sleep 600",
            dir = env.path().display(),
            cache = common::cache_dir().display(),
            log = env.mock_log().display(),
            odw = env!("CARGO_BIN_EXE_odw"),
            runs = env.runs().display(),
        );
        let tmux = Tmux { socket };
        let out = tmux.cmd(&["new-session", "-d", "-s", "odw", "-x", "120", "-y", "40", &command]);
        assert!(out.status.success(), "tmux: {}", String::from_utf8_lossy(&out.stderr));
        tmux
    }

    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("run tmux")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "odw"]).stdout).into_owned()
    }

    fn keys(&self, keys: &str) {
        self.cmd(&["send-keys", "-t", "odw", keys]);
    }

    /// The screen once it shows every one of `parts` (fails after `secs`).
    fn wait_for(&self, parts: &[&str], secs: u64) -> String {
        self.wait_until(&format!("{parts:?}"), secs, |screen| parts.iter().all(|p| screen.contains(p)))
    }

    /// The screen once `shows` holds of it (fails after `secs`, naming `what`).
    fn wait_until(&self, what: &str, secs: u64, shows: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let screen = self.screen();
            if shows(&screen) {
                return screen;
            }
            assert!(Instant::now() < deadline, "the screen never showed {what}:\n{screen}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.cmd(&["kill-server"]);
    }
}

fn state(env: &Env, id: &str) -> String {
    let runs = env.runs();
    let status: Value = env.odw(&["status", id, "--json", "--runs-root", runs.to_str().unwrap()]).json();
    status["state"].as_str().unwrap_or("").to_string()
}

fn wait_state(env: &Env, id: &str, wanted: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while state(env, id) != wanted {
        assert!(Instant::now() < deadline, "run {id} never became {wanted} (it is {})", state(env, id));
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn watch_shows_a_background_run_and_pauses_resumes_it() {
    let (env, wf) = three_phase_env();
    let runs = env.runs();
    let started = env.odw(&["run", &wf, "--runs-root", runs.to_str().unwrap()]);
    assert_eq!(started.code, 0, "{}", started.stderr);
    let id = started.stdout.trim().to_string();
    let tmux = Tmux::odw(&env, &format!("watch {id}"));

    let screen = tmux
        .wait_for(&["odw ▸ test", &id, "Phases", "Scan", "Review", "Write", "Agents · Scan", "scan-1"], 20);
    assert!(screen.contains("running") && screen.contains("live"), "{screen}");

    tmux.keys("p");
    wait_state(&env, &id, "paused");
    tmux.wait_for(&["PAUSED", "paused: agents not yet started wait"], 10);
    // Paused: no call starts (running ones finish, queued ones wait).
    let run_dir = env.runs().join("test").join(&id);
    let started = || common::read_events(&run_dir).iter().filter(|e| e["type"] == "agent_started").count();
    let before = started();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(started(), before, "an agent started while the run was paused");
    let held = tmux.screen();
    assert!(held.contains("queued") && held.contains("PAUSED"), "{held}");

    tmux.keys("r");
    wait_state(&env, &id, "running");
    tmux.wait_for(&["RUNNING", "resumed"], 10);

    // Tab selects the next phase; its agents are listed.
    tmux.keys("Tab");
    tmux.wait_for(&["Agents · Review"], 10);

    let end = tmux.wait_for(&["DONE", "Result", "\"ok\": true"], 40);
    for part in ["4/4", "3/3", "1/1", "review-3", "8 agents (8 done, 0 failed"] {
        assert!(end.contains(part), "the last screen lacks {part:?}:\n{end}");
    }
    tmux.keys("q");
    tmux.wait_for(&["EXIT=0"], 10);
}

#[test]
fn watch_stops_a_run_with_s() {
    let (env, wf) = three_phase_env();
    let runs = env.runs();
    let id = env.odw(&["run", &wf, "--runs-root", runs.to_str().unwrap()]).stdout.trim().to_string();
    let tmux = Tmux::odw(&env, &format!("watch {id}"));
    tmux.wait_for(&["scan-1", "running"], 20);
    tmux.keys("s");
    wait_state(&env, &id, "stopped");
    let screen = tmux.wait_for(&["STOPPED"], 10);
    assert!(screen.contains("Error") || screen.contains("Ended"), "no outcome:\n{screen}");
    assert!(screen.contains("cancelled") || screen.contains("failed"), "{screen}");
    tmux.keys("q");
    tmux.wait_for(&["EXIT=1"], 10);
}

#[test]
fn run_wait_draws_live_progress_on_a_terminal() {
    let (env, wf) = three_phase_env();
    let tmux = Tmux::odw(&env, &format!("run {wf} --wait"));
    tmux.wait_for(&["odw ▸ test", "running", "Scan", "Review", "Write", "not started"], 20);
    // The first frame may come before any agent starts (every bar empty);
    // a bar fills once one runs (each takes a second, so a frame shows it).
    tmux.wait_until("a filled bar while running", 20, |s| {
        (s.contains('▓') || s.contains('█')) && !s.contains("EXIT=")
    });
    let end = tmux.wait_for(&["EXIT=0"], 40);
    for part in ["done", "✓ Scan", "✓ Review", "✓ Write", "4/4", "3/3", "1/1", "odw: run ", "\"ok\": true"]
    {
        assert!(end.contains(part), "the last screen lacks {part:?}:\n{end}");
    }
    // The live block is redrawn in place: each phase shows once.
    assert_eq!(end.matches("✓ Scan").count(), 1, "{end}");
}

#[test]
fn without_a_terminal_progress_is_plain_lines_and_quiet_prints_none() {
    let env = Env::new();
    let wf = env.script(
        "wf.js",
        "phase('Scan');
         await agent('a', { label: 'scan-a' });
         try { await agent('fail:broken', { label: 'bad\\u001b[2J' }); } catch (e) {}
         phase('Write');
         return await agent('w', { label: 'writer' });",
    );
    let run = env.run_wait(&wf, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert!(!run.stderr.contains('\x1b'), "escape codes on a pipe:\n{}", run.stderr);
    let at = |prefix: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in:\n{}", run.stderr))
    };
    let order = [
        at("odw: ▸ phase Scan"),
        at("odw:   #0 scan-a done in "),
        // A label's control characters are shown escaped, never sent to the terminal.
        at("odw:   #1 bad\\u{1b}[2J failed after "),
        at("odw: ▸ phase Write"),
        at("odw:   #2 writer done in "),
        at("odw: run "),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "out of order:\n{}", run.stderr);
    assert!(lines[order[2]].contains("mock agent: warming up"), "{}", lines[order[2]]);
    assert_eq!(run.run_id().len(), 22, "the summary line still leads with the run id");

    let plain = env.run_wait(&wf, &["--progress", "plain"]);
    assert!(plain.stderr.contains("odw: ▸ phase Scan"), "{}", plain.stderr);

    let quiet = env.run_wait(&wf, &["--quiet"]);
    assert_eq!(quiet.code, 0);
    assert!(!quiet.stderr.contains("▸") && !quiet.stderr.contains("#0"), "{}", quiet.stderr);
    assert!(quiet.stderr.starts_with("odw: run "), "{}", quiet.stderr);
}
