//! One subprocess on this machine, in its own process group: the agent
//! itself (`local`), or the scheduler command that stands for it (`srun`,
//! `kubectl`).
//!
//! A timeout or a dropped call (a stopped run) kills the whole group, so
//! nothing an agent started outlives its call; the guardian does the same
//! when odw itself dies ([`super::super::guardian`]). Output is captured
//! with a size cap; of stderr only the tail is kept.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use super::super::guardian;
use super::super::select::executable;

/// The largest reply odw accepts from one agent (docs/design.md §5).
pub const MAX_REPLY_BYTES: usize = 16 << 20;
/// How much of stderr is kept for error messages.
const STDERR_TAIL_BYTES: usize = 64 << 10;

/// A process to run: what a local call runs, or what an executor made of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    pub argv: Vec<String>,
    /// Written to its stdin, which is closed after; `None`: stdin is empty.
    pub stdin: Option<String>,
    /// Added to odw's environment; `None` removes a variable.
    pub env: BTreeMap<String, Option<String>>,
    pub cwd: PathBuf,
}

/// What a process that ran to its end left.
#[derive(Debug, Clone, PartialEq)]
pub struct Ran {
    /// Up to [`MAX_REPLY_BYTES`] + 1 bytes (one more says it was cut).
    pub stdout: Vec<u8>,
    /// The last lines of stderr.
    pub stderr: String,
    /// How it failed (`exit code 3`, `signal 9 (SIGKILL…)`), if it did.
    pub failure: Option<String>,
}

/// Why a process did not run to its end.
#[derive(Debug, Clone, PartialEq)]
pub enum Interrupted {
    /// It could not be started.
    Spawn {
        program: String,
        reason: String,
    },
    /// It ran past the timeout and its group was killed.
    TimedOut,
    Io(String),
}

/// Runs `launch` to its end, or kills its group at `timeout`. Each line of
/// stderr goes through `line` as it arrives; the lines it returns `false`
/// for are not kept (a scheduler's own chatter).
pub async fn run(
    launch: &Launch,
    timeout: Duration,
    mut line: impl FnMut(&str) -> bool + Send,
) -> Result<Ran, Interrupted> {
    let Some((program, rest)) = launch.argv.split_first() else {
        return Err(Interrupted::Io("`command` is empty".into()));
    };
    let mut cmd = match found_in_path(program, launch) {
        Some(path) => {
            let mut cmd = Command::new(path);
            // argv[0] stays the name the command line gave.
            cmd.arg0(program);
            cmd
        }
        None => Command::new(program),
    };
    cmd.args(rest)
        .current_dir(&launch.cwd)
        .process_group(0)
        .stdin(if launch.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // The process dies with odw even when odw cannot clean up (an abort,
    // `kill -9`): the guardian kills its whole group when odw goes. Only
    // when there is no guardian does the kernel's parent-death signal stand
    // in for it, because any `pre_exec` makes the standard library `fork`
    // where it would otherwise `posix_spawn` (a vfork that copies no page
    // tables): with a 30 MB odw, `fork` made a 200-agent fan-out 1.8 times
    // and a 1000-call run 2.8 times slower, growing with odw's memory.
    let guarded = guardian::running();
    if !guarded {
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    for (key, value) in &launch.env {
        match value {
            Some(v) => cmd.env(key, v),
            None => cmd.env_remove(key),
        };
    }
    let mut child = spawn(cmd, guarded).await.map_err(|e| {
        // Moved or removed since it was found: the next call looks again.
        forget_found(program);
        Interrupted::Spawn { program: program.clone(), reason: e.to_string() }
    })?;
    let group = GroupGuard(child.id());
    if let Some(pgid) = group.0 {
        guardian::watch(pgid);
    }

    let mut stdin_pipe = child.stdin.take();
    let feed = async {
        if let (Some(pipe), Some(text)) = (stdin_pipe.as_mut(), &launch.stdin) {
            // A process that exits without reading its stdin is not an error.
            let _ = pipe.write_all(text.as_bytes()).await;
        }
        drop(stdin_pipe);
    };
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let work = async {
        let ((), out, err, status) = tokio::join!(
            feed,
            read_capped(stdout, MAX_REPLY_BYTES + 1),
            read_tail(stderr, STDERR_TAIL_BYTES, &mut line),
            child.wait()
        );
        (out, err, status)
    };
    let (out, err, status) = match tokio::time::timeout(timeout, work).await {
        Ok(done) => done,
        Err(_) => {
            group.kill();
            return Err(Interrupted::TimedOut);
        }
    };
    let status = status.map_err(|e| Interrupted::Io(format!("wait failed: {e}")))?;
    // The process is done; anything it left running in its group goes too.
    group.kill();
    let stdout = out.map_err(|e| Interrupted::Io(format!("reading stdout: {e}")))?;
    Ok(Ran {
        stdout,
        stderr: err.unwrap_or_default(),
        failure: (!status.success()).then(|| describe_status(status)),
    })
}

/// Starts `cmd`. The standard library starts a process with a `vfork`,
/// which holds the calling thread until the child has `exec`'d (0.1-0.2 ms
/// for a small program): on the blocking pool, so that a fan-out's spawns
/// run side by side while the runtime's worker goes on serving (odw runs
/// one worker on a 2-core machine; see `main`). Not when the child gets a
/// parent-death signal (not `guarded`, see [`run`]): that signal follows
/// the *thread* that spawned it, and a pool thread ends after ten idle
/// seconds, which would kill an agent still at work; a runtime worker lives
/// as long as odw.
async fn spawn(mut cmd: Command, guarded: bool) -> std::io::Result<tokio::process::Child> {
    if !guarded {
        return cmd.spawn();
    }
    match tokio::task::spawn_blocking(move || cmd.spawn()).await {
        Ok(spawned) => spawned,
        // The spawn panicked, or the runtime is shutting down.
        Err(e) => Err(std::io::Error::other(e)),
    }
}

/// Where the programs this process has run were found on `$PATH`, by name
/// and the `$PATH` searched.
static FOUND: Mutex<Option<HashMap<(String, OsString), PathBuf>>> = Mutex::new(None);

/// `program`'s file, looked up on the `$PATH` the process will get once per
/// odw process, as a shell's command hash does; `None` to let the spawn
/// search (a name with a slash, no `$PATH`, a relative directory on it,
/// not found).
///
/// Why not let every spawn search: `posix_spawnp` tries each directory of
/// `$PATH` in turn with an `execve` in the child, so with `/usr/bin` eighth
/// on it each agent's start made seven failed `execve`s (a 200-agent
/// fan-out of `cat`: 1400 of its 1800, ~2 ms of its time).
fn found_in_path(program: &str, launch: &Launch) -> Option<PathBuf> {
    if program.contains('/') {
        return None;
    }
    let path = match launch.env.get("PATH") {
        Some(Some(set)) => OsString::from(set),
        Some(None) => return None,
        None => std::env::var_os("PATH")?,
    };
    let key = (program.to_owned(), path);
    let mut found = FOUND.lock().unwrap_or_else(PoisonError::into_inner);
    let found = found.get_or_insert_with(HashMap::new);
    if let Some(hit) = found.get(&key) {
        return Some(hit.clone());
    }
    for dir in std::env::split_paths(&key.1) {
        // A relative directory is relative to the agent's directory, where
        // the child searches: leave it to the child.
        if !dir.is_absolute() {
            return None;
        }
        let file = dir.join(program);
        if executable(&file) {
            found.insert(key, file.clone());
            return Some(file);
        }
    }
    None
}

/// Drops what [`found_in_path`] knows of `program`.
fn forget_found(program: &str) {
    if let Some(found) = FOUND.lock().unwrap_or_else(PoisonError::into_inner).as_mut() {
        found.retain(|(name, _), _| name != program);
    }
}

/// Kills a process group when dropped, so no agent outlives its call.
struct GroupGuard(Option<u32>);

impl GroupGuard {
    fn kill(&self) {
        if let Some(pid) = self.0 {
            // SAFETY: killpg only sends a signal; the group id is the pid of a
            // child we spawned with `process_group(0)`.
            unsafe {
                libc::killpg(pid as libc::pid_t, libc::SIGKILL);
            }
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
        if let Some(pgid) = self.0 {
            guardian::forget(pgid);
        }
    }
}

async fn read_capped(pipe: Option<impl AsyncRead + Unpin>, cap: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    if let Some(pipe) = pipe {
        pipe.take(cap as u64).read_to_end(&mut out).await?;
    }
    Ok(out)
}

/// Reads a pipe to its end, line by line through `line`, keeping only the
/// last `keep` bytes of the lines it keeps.
async fn read_tail(
    pipe: Option<impl AsyncRead + Unpin>,
    keep: usize,
    line: &mut (impl FnMut(&str) -> bool + Send),
) -> std::io::Result<String> {
    let mut tail = Vec::new();
    let mut partial: Vec<u8> = Vec::new();
    let mut take = |bytes: &[u8], tail: &mut Vec<u8>| {
        let text = String::from_utf8_lossy(bytes);
        if line(text.trim_end_matches('\n')) {
            tail.extend_from_slice(bytes);
        }
    };
    if let Some(mut pipe) = pipe {
        // On the heap: an array here lives in the call's future, which is
        // moved (copied) whole when it is spawned.
        let mut buf = vec![0u8; 8192];
        loop {
            let n = pipe.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            partial.extend_from_slice(&buf[..n]);
            while let Some(at) = partial.iter().position(|b| *b == b'\n') {
                let rest = partial.split_off(at + 1);
                take(&partial, &mut tail);
                partial = rest;
            }
            // A line longer than what is kept is kept as it comes.
            if partial.len() > keep {
                tail.append(&mut partial);
            }
            if tail.len() > 2 * keep {
                tail.drain(..tail.len() - keep);
            }
        }
    }
    if !partial.is_empty() {
        take(&partial, &mut tail);
    }
    if tail.len() > keep {
        tail.drain(..tail.len() - keep);
    }
    Ok(String::from_utf8_lossy(&tail).into_owned())
}

fn describe_status(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("signal {sig} ({})", signal_name(sig)),
        _ => status.to_string(),
    }
}

/// The name of a signal that ends a process, as `kill -l` shows it.
fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL: killed, often by the kernel for using too much memory",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        _ => return format!("SIG{sig}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(script: &str) -> Launch {
        Launch {
            argv: vec!["sh".into(), "-c".into(), script.into()],
            stdin: Some("in".into()),
            env: BTreeMap::new(),
            cwd: std::env::temp_dir(),
        }
    }

    #[tokio::test]
    async fn stderr_lines_pass_the_filter_and_the_status_is_described() {
        let mut seen = Vec::new();
        let ran = run(&launch("cat; echo noise >&2; echo kept >&2; exit 4"), Duration::from_secs(10), |l| {
            seen.push(l.to_string());
            l != "noise"
        })
        .await
        .unwrap();
        assert_eq!(ran.stdout, b"in");
        assert_eq!(ran.stderr, "kept\n");
        assert_eq!(ran.failure.as_deref(), Some("exit code 4"));
        assert_eq!(seen, ["noise", "kept"]);
    }

    #[tokio::test]
    async fn a_program_is_found_on_the_path_the_agent_gets_and_keeps_its_name() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let tool = dir.path().join("odw-test-tool");
        std::fs::write(&tool, "#!/bin/sh\necho \"found $1\"\n").unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = format!("/nonexistent-odw-dir:{}", dir.path().display());
        let mut launch = launch("");
        launch.argv = vec!["odw-test-tool".into(), "it".into()];
        launch.env.insert("PATH".into(), Some(path.clone()));
        assert_eq!(found_in_path("odw-test-tool", &launch), Some(tool.clone()));
        let ran = run(&launch, Duration::from_secs(10), |_| true).await.unwrap();
        assert_eq!(ran.stdout, b"found it\n");
        // Left to the spawn: a path, a relative directory before it, no PATH.
        assert_eq!(found_in_path("./odw-test-tool", &launch), None);
        launch.env.insert("PATH".into(), Some(format!("bin:{path}")));
        assert_eq!(found_in_path("odw-test-tool", &launch), None);
        launch.env.insert("PATH".into(), None);
        assert_eq!(found_in_path("odw-test-tool", &launch), None);
        // Gone since it was found: the spawn fails, and the next call looks again.
        launch.env.insert("PATH".into(), Some(path.clone()));
        std::fs::remove_file(&tool).unwrap();
        assert!(matches!(
            run(&launch, Duration::from_secs(10), |_| true).await,
            Err(Interrupted::Spawn { .. })
        ));
        assert_eq!(found_in_path("odw-test-tool", &launch), None);
    }

    #[tokio::test]
    async fn a_timeout_is_reported() {
        let e = run(&launch("sleep 30"), Duration::from_millis(200), |_| true).await.unwrap_err();
        assert_eq!(e, Interrupted::TimedOut);
    }
}
