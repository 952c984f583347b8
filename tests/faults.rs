//! Faults from outside the script: agents that flood their output or die by
//! a signal, and a disk that fills up while the run is journalling. Each
//! ends in a clear error within a bound, and loses no completed result.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::Env;
use serde_json::json;

/// An env whose default adapter is a shell command.
fn env_with_agent(script: &str) -> Env {
    Env::with_config(json!({
        "defaultAdapter": "agent",
        "adapters": { "agent": { "command": ["sh", "-c", script] } }
    }))
}

/// Peak RSS of the last child that `/usr/bin/time -f %M` ran, in KiB.
fn timed_odw(env: &Env, args: &[&str]) -> (common::Run, u64, Duration) {
    let started = Instant::now();
    let output = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("odw-peak-rss-kib %M")
        .arg(env!("CARGO_BIN_EXE_odw"))
        .args(args)
        .current_dir(env.path())
        .env("HOME", env.path())
        .env("ODW_CACHE_DIR", common::cache_dir())
        .env_remove("ODW_CONFIG")
        .output()
        .expect("/usr/bin/time must be installed (Debian package `time`)");
    let took = started.elapsed();
    let run = common::Run::from(output);
    let rss = run
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("odw-peak-rss-kib ")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in stderr:\n{}", run.stderr));
    (run, rss, took)
}

#[test]
fn an_agent_that_prints_100_mb_is_an_error_and_odw_stays_small() {
    let env = env_with_agent("cat >/dev/null; head -c 104857600 /dev/zero | tr '\\0' x");
    let wf = env.script(
        "flood.js",
        // A schema call: a failed plain agent() resolves null (as in Claude Code); this one rejects.
        "try { await agent('flood', { schema: { type: 'object' } }); return 'no error'; } catch (e) { return e.message; }",
    );
    let runs = env.runs();
    let (run, rss_kib, took) =
        timed_odw(&env, &["run", &wf, "--wait", "--runs-root", runs.to_str().unwrap()]);
    let message = run.json();
    let message = message.as_str().unwrap();
    assert!(
        message.contains("16 MB") || message.contains("16 MiB"),
        "the error must name the cap: {message}"
    );
    assert!(rss_kib < 200 * 1024, "odw held {rss_kib} KiB reading a 100 MB reply");
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

#[test]
fn an_agent_killed_by_a_signal_is_an_error_naming_the_signal() {
    let env = env_with_agent("cat >/dev/null; kill -SEGV $$");
    let wf = env.script("dies.js", "return await agent('die', { schema: { type: 'object' } });");
    env.run_wait(&wf, &[]).fails_with(&["SIGSEGV"]);
}

/// Mounts a tmpfs of `mib` MiB at `dir` for the test's lifetime.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, mib: u32) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("mount");
        assert!(status.success(), "this test mounts a small tmpfs and must run as root (CI does)");
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_fails_the_run_cleanly_and_the_run_resumes_when_there_is_room() {
    // Each reply is 64 KiB, so 40 calls need ~2.6 MB of journal and events.
    let env = env_with_agent("cat >/dev/null; head -c 65536 /dev/zero | tr '\\0' y");
    let runs = env.path().join("small-disk");
    let _disk = Tmpfs::mount(&runs, 8);
    let filler = runs.join("filler");
    let wf = env.script(
        "many.js",
        "const out = [];\n\
         for (let i = 0; i < 40; i++) out.push((await agent(`call ${i}`)).length);\n\
         return out;",
    );
    let runs_s = runs.to_str().unwrap();
    // First a run with room: the expected result.
    let whole = env.odw(&["run", &wf, "--wait", "--runs-root", runs_s]);
    let expected = whole.json();
    std::fs::remove_dir_all(runs.join("test")).unwrap();
    let free = || {
        let out = Command::new("df").args(["--output=avail", "-B1"]).arg(&runs).output().unwrap();
        String::from_utf8_lossy(&out.stdout).lines().nth(1).unwrap().trim().parse::<u64>().unwrap()
    };
    // Leave this much free, then run: the disk fills mid-run, in a log
    // write or in a large record's own file (a blob), by how much is left.
    // A blob that could not be written once left the run waiting forever.
    for room in [768 * 1024, 1024 * 1024, 1536 * 1024] {
        let fill = free().saturating_sub(room);
        std::fs::write(&filler, vec![0u8; fill as usize]).unwrap();
        let started = Instant::now();
        let full = env.odw_within(60, &["run", &wf, "--wait", "--runs-root", runs_s]);
        assert!(started.elapsed() < Duration::from_secs(30), "a full disk took {:?}", started.elapsed());
        assert_eq!(full.code, 1, "with {room} bytes free, a full disk must fail the run:\n{}", full.stderr);
        for part in
            ["No space left on device", "cannot journal the result of call #", "--resume-from", "many.js:3:"]
        {
            assert!(full.stderr.contains(part), "the error lacks {part:?}:\n{}", full.stderr);
        }
        assert!(!full.stderr.contains("panicked"), "{}", full.stderr);
        let id = full.run_id();
        // Room again: the run resumes from its journal and ends as the whole run did.
        std::fs::remove_file(&filler).unwrap();
        let resumed =
            env.odw_within(60, &["run", &wf, "--wait", "--runs-root", runs_s, "--resume-from", &id]);
        assert_eq!(resumed.json(), expected, "{}", resumed.stderr);
        let reused: usize = resumed
            .stderr
            .lines()
            .find_map(|l| l.strip_prefix("odw: reused ")?.split(' ').next()?.parse().ok())
            .unwrap_or(0);
        assert!(reused > 0, "the resumed run reused nothing:\n{}", resumed.stderr);
        std::fs::remove_dir_all(runs.join("test")).unwrap();
    }
}
