//! The run directory: the one owner of its layout.
//!
//! ```text
//! <runsRoot>/<slug(meta.name)>/<runId>/
//!   meta.json      what ran: workflow, script, args, adapter, odw version (RunMeta)
//!   status.json    pending|running|paused|done|failed|stopped|interrupted, counts (Status)
//!   events.jsonl   one Event per line: run_started, phase_started, log,
//!                  agent_queued, agent_started, agent_finished, agent_failed, run_paused,
//!                  run_resumed, run_finished|run_failed|run_stopped, journal_error
//!   result.json    {"value": …} when the run succeeded
//!   error.json     {"error": {name, message, location?, …}} when it failed or stopped
//!   control.json   {"paused", "stop"}: written by `odw pause|resume|stop` (ControlFile)
//!   journal/       the replay journal (odw-journal, sled)
//!   worker.log     a background worker's stdout and stderr
//!   prompts/       `<index>-<attempt>.txt`: prompts handed to adapters as files
//!   patches/       `<index>.patch`: what an isolated agent changed
//!   worktrees/     `<index>/`: isolated agents' git worktrees while they run
//! ```
//!
//! No other module names a file in here: the engine and the CLI ask
//! [`RunDir`]. Run files can hold prompts and answers about private code, so
//! directories are 0700 and files 0600. JSON files are written atomically
//! ([`crate::fsio::atomic_write`]), so a reader never sees half a file.

mod control;
mod events;
mod meta;
mod progress;
mod status;
mod view;

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::fsio::{atomic_write, private_dir};
use crate::protocol::ScriptError;

pub use control::{Control, ControlFile, ControlRequest};
pub use events::{AgentEnd, AgentJob, AgentStart, Event, EventLog, EventTail, Held, Stamped, StartOrigin};
pub use meta::RunMeta;
pub use progress::Progress;
pub use status::{AgentCounts, RunState, Status, process_alive};
pub use view::{AgentState, AgentView, Counts, LogLine, PhaseView, Reuse, RunView, Tokens, now_epoch_ms};

const META: &str = "meta.json";
const STATUS: &str = "status.json";
const EVENTS: &str = "events.jsonl";
const RESULT: &str = "result.json";
const ERROR: &str = "error.json";
const CONTROL: &str = "control.json";
const JOURNAL: &str = "journal";
const WORKER_LOG: &str = "worker.log";
const PROMPTS: &str = "prompts";
const PATCHES: &str = "patches";
const WORKTREES: &str = "worktrees";

/// Why a run file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    #[error("cannot {action} {}: {source}", .path.display())]
    Io { action: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{} is not the {file} of this version of odw: {message}", .path.display())]
    Format { file: &'static str, path: PathBuf, message: String },
}

/// One run's directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    pub id: String,
    pub path: PathBuf,
}

impl RunDir {
    /// Makes a new run directory for workflow `name` under `root`.
    pub fn create(root: &Path, name: &str) -> Result<RunDir, RunDirError> {
        let id = new_run_id();
        let path = root.join(slug(name)).join(&id);
        private_dir(&path).map_err(|source| RunDirError::Io {
            action: "create",
            path: path.clone(),
            source,
        })?;
        Ok(RunDir { id, path })
    }

    /// A run directory that is never made, for the run of `odw replay
    /// --check`: it serves every call from a journal (none runs live, so
    /// no prompt file, patch or worktree is written) and nobody watches it
    /// ([`Progress::unwatched`]: no events, status, result or error), so
    /// nothing is ever written under it. A check thus needs no writable
    /// directory, leaves nothing behind when it is killed, and skips the
    /// scratch folder it made and removed each time (three `mkdir`s and
    /// three `rmdir`s in the system's temporary directory). The path names
    /// a place in that directory anyway, so that a write that should not
    /// have happened could only leave a stray folder there, never touch a
    /// real run.
    pub fn unmade(name: &str) -> RunDir {
        let id = new_run_id();
        let path = std::env::temp_dir().join("odw-check").join(slug(name)).join(&id);
        RunDir { id, path }
    }

    /// The run directory at `path` (a worker is handed its path).
    pub fn at(path: &Path) -> RunDir {
        let id = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        RunDir { id, path: path.to_path_buf() }
    }

    /// Finds run `id` under `root` (in any workflow's folder).
    pub fn find(root: &Path, id: &str) -> Option<RunDir> {
        if id.is_empty() || id.contains(['/', '\\']) || id.starts_with('.') {
            return None;
        }
        std::fs::read_dir(root).ok()?.flatten().find_map(|workflow| {
            let path = workflow.path().join(id);
            path.join(META).is_file().then(|| RunDir { id: id.to_string(), path })
        })
    }

    /// Every run under `root`, oldest first (run ids sort by time).
    pub fn all(root: &Path) -> Vec<RunDir> {
        let mut runs: Vec<RunDir> = std::fs::read_dir(root)
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|workflow| std::fs::read_dir(workflow.path()).into_iter().flatten().flatten())
            .filter(|run| run.path().join(META).is_file())
            .map(|run| RunDir { id: run.file_name().to_string_lossy().into_owned(), path: run.path() })
            .collect();
        runs.sort_by(|a, b| a.id.cmp(&b.id));
        runs
    }

    // ---- meta.json --------------------------------------------------------

    pub fn read_meta(&self) -> Result<RunMeta, RunDirError> {
        self.read(META)
    }

    pub fn write_meta(&self, meta: &RunMeta) -> Result<(), RunDirError> {
        self.write(META, meta, false)
    }

    // ---- status.json ------------------------------------------------------

    /// `status.json` as written, if it can be read.
    pub fn read_status(&self) -> Option<Status> {
        self.read(STATUS).ok()
    }

    pub fn write_status(&self, status: &Status) -> Result<(), RunDirError> {
        self.write(STATUS, status, false)
    }

    /// The run's status by the liveness rule ([`Status::detect_interruption`]):
    /// a run whose worker died without recording an end is `interrupted`,
    /// which is recorded so that every reader agrees.
    ///
    /// A worker records its end and then exits: one that ended between our
    /// read and the liveness check is found dead with a stale `running` in
    /// hand. So the status is read again once the worker is seen gone, and
    /// only a run still not ended is marked (else a reader overwrote a
    /// finished run's `done` with `interrupted`).
    pub fn status(&self) -> Result<Status, RunDirError> {
        self.status_with(process_alive)
    }

    fn status_with(&self, alive: impl FnOnce(u32) -> bool) -> Result<Status, RunDirError> {
        let mut status: Status = self.read(STATUS)?;
        if status.detect_interruption(alive) {
            let mut again: Status = self.read(STATUS)?;
            if again.detect_interruption(|_| false) {
                let _ = self.write_status(&again);
            }
            status = again;
        }
        Ok(status)
    }

    // ---- result.json, error.json ------------------------------------------

    /// Records the run's value for readers, without waiting for the disk:
    /// the value is already on disk in the journal's end record (synced by
    /// `Journal::finish` before this is written), and [`RunDir::read_result`]
    /// goes there when a crash lost this file. A sync here cost every run
    /// ~0.3 ms at its end for a second copy of what the journal keeps.
    pub fn write_result(&self, value: &Value) -> Result<(), RunDirError> {
        self.write(RESULT, &json!({ "value": value }), false)
    }

    /// The run's value, if it succeeded: `result.json`, or, when that is
    /// missing or unreadable (a crash right after the run ended) and no
    /// error was recorded, the journal's end.
    pub fn read_result(&self) -> Option<Value> {
        match self.read::<Value>(RESULT) {
            Ok(mut r) => Some(r["value"].take()),
            Err(_) if !self.path.join(ERROR).exists() => self.journalled_result(),
            Err(_) => None,
        }
    }

    /// The value in the journal's end record, if the run returned one. The
    /// journal is a single-process database: while a process still holds
    /// it, opening it fails, and there is no value to give yet.
    fn journalled_result(&self) -> Option<Value> {
        let path = self.journal_path();
        if !path.is_dir() {
            return None;
        }
        let journal = odw_journal::Journal::open_read_only(&path).ok()?;
        match journal.finished().ok()?? {
            odw_journal::Finished { ok: true, result } => Some(result),
            _ => None,
        }
    }

    /// Records why the run failed or stopped; on disk before this returns.
    pub fn write_error(&self, error: &ScriptError) -> Result<(), RunDirError> {
        self.write(ERROR, &json!({ "error": error }), true)
    }

    /// Why the run failed, if it did.
    pub fn read_error(&self) -> Option<ScriptError> {
        let mut raw: Value = self.read(ERROR).ok()?;
        serde_json::from_value(raw["error"].take()).ok()
    }

    /// Forgets how the run ended (`result.json`, `error.json`): `odw import
    /// claude` evaluates the script only to key the recorded calls, and the
    /// run's outcome is Claude Code's, not that evaluation's.
    pub fn forget_outcome(&self) {
        let _ = std::fs::remove_file(self.path.join(RESULT));
        let _ = std::fs::remove_file(self.path.join(ERROR));
    }

    // ---- control.json -----------------------------------------------------

    /// What `odw pause|resume|stop` asked so far (nothing if no file).
    pub fn read_control(&self) -> ControlFile {
        self.read(CONTROL).unwrap_or_default()
    }

    /// Adds `request` to the control file.
    pub fn request(&self, request: ControlRequest) -> Result<ControlFile, RunDirError> {
        let control = self.read_control().with(request);
        self.write(CONTROL, &control, false)?;
        Ok(control)
    }

    // ---- events.jsonl -----------------------------------------------------

    /// Opens `events.jsonl` for appending.
    pub fn event_log(&self) -> Result<EventLog, RunDirError> {
        let path = self.path.join(EVENTS);
        let file =
            append_private(&path).map_err(|source| RunDirError::Io { action: "open", path, source })?;
        Ok(EventLog::new(file))
    }

    /// Reads `events.jsonl` from the start, as it grows.
    pub fn event_tail(&self) -> EventTail {
        EventTail::new(self.path.join(EVENTS))
    }

    /// Lines `since..since + limit` of `events.jsonl` (whole lines only,
    /// without their newline) and whether a whole line follows: a page of
    /// a long log, read without holding the lines before it.
    pub fn events_page(&self, since: usize, limit: usize) -> std::io::Result<(Vec<String>, bool)> {
        events::page(&self.path.join(EVENTS), since, limit)
    }

    // ---- what other parts of odw keep here --------------------------------

    /// The replay journal's directory.
    pub fn journal_path(&self) -> PathBuf {
        self.path.join(JOURNAL)
    }

    /// Opens `worker.log` for a background worker's output.
    pub fn worker_log(&self) -> Result<File, RunDirError> {
        let path = self.path.join(WORKER_LOG);
        append_private(&path).map_err(|source| RunDirError::Io { action: "create", path, source })
    }

    /// Where the prompt of call `index`, attempt `attempt`, goes as a file.
    pub fn prompt_file(&self, index: u32, attempt: u32) -> PathBuf {
        self.path.join(PROMPTS).join(format!("{index}-{attempt}.txt"))
    }

    /// Where the changes of isolated call `index` are kept as a patch.
    pub fn patch_file(&self, index: u32) -> PathBuf {
        self.path.join(PATCHES).join(format!("{index}.patch"))
    }

    /// The folder of isolated calls' worktrees.
    pub fn worktrees(&self) -> PathBuf {
        self.path.join(WORKTREES)
    }

    /// The worktree of isolated call `index`.
    pub fn worktree(&self, index: u32) -> PathBuf {
        self.worktrees().join(index.to_string())
    }

    // ---- plumbing ---------------------------------------------------------

    fn read<T: DeserializeOwned>(&self, file: &'static str) -> Result<T, RunDirError> {
        let path = self.path.join(file);
        let bytes = std::fs::read(&path).map_err(|source| RunDirError::Io {
            action: "read",
            path: path.clone(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|e| RunDirError::Format { file, path, message: e.to_string() })
    }

    fn write(&self, file: &'static str, value: &impl Serialize, durable: bool) -> Result<(), RunDirError> {
        let path = self.path.join(file);
        let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| RunDirError::Format {
            file,
            path: path.clone(),
            message: e.to_string(),
        })?;
        bytes.push(b'\n');
        atomic_write(&path, &bytes, durable).map_err(|source| RunDirError::Io {
            action: "write",
            path,
            source,
        })
    }
}

fn append_private(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).mode(0o600).open(path)
}

/// Now, as RFC 3339 UTC with milliseconds.
pub fn timestamp() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// `YYYYMMDD-HHMMSS-<6 hex>`, UTC.
fn new_run_id() -> String {
    let now = SystemTime::now();
    let digits: String =
        humantime::format_rfc3339_seconds(now).to_string().chars().filter(char::is_ascii_digit).collect();
    let nanos = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let mut hasher = blake3::Hasher::new();
    hasher.update(&nanos.to_le_bytes());
    hasher.update(&std::process::id().to_le_bytes());
    let hex = hasher.finalize().to_hex();
    format!("{}-{}-{}", &digits[..8], &digits[8..14], &hex[..6])
}

/// A directory name for a workflow: lowercase ASCII letters, digits and `-`.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-');
    if out.is_empty() { "workflow".into() } else { out.chars().take(64).collect() }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn slugs_are_safe_directory_names() {
        assert_eq!(slug("Deep Research: v2!"), "deep-research-v2");
        assert_eq!(slug("../../etc"), "etc");
        assert_eq!(slug("思考"), "workflow");
    }

    #[test]
    fn run_ids_have_the_documented_shape() {
        let id = new_run_id();
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), [8, 6, 6], "{id}");
        assert!(parts[2].chars().all(|c| c.is_ascii_hexdigit()));
    }

    /// The start of a journal for tests of what reads it.
    pub(crate) fn started() -> odw_journal::Started {
        odw_journal::Started {
            version: odw_journal::FORMAT_VERSION,
            seed: [0, 0],
            clock: 0.0,
            script_hash: "abc".into(),
            args_hash: String::new(),
            resumed_from: None,
            odw_version: String::new(),
            context: Value::Null,
        }
    }

    #[test]
    fn a_result_lost_in_a_crash_is_read_from_the_journals_end() {
        let root = tempfile::tempdir().unwrap();
        let run = RunDir::create(root.path(), "flow").unwrap();
        assert_eq!(run.read_result(), None, "no file and no journal");
        let journal = odw_journal::Journal::create(&run.journal_path(), started()).unwrap();
        assert_eq!(run.read_result(), None, "held by its run: no value yet");
        journal.finish(&odw_journal::Finished { ok: true, result: json!({"n": 7}) }).unwrap();
        drop(journal);
        assert_eq!(run.read_result(), Some(json!({"n": 7})), "result.json was never written");
        run.write_result(&json!("from the file")).unwrap();
        assert_eq!(run.read_result(), Some(json!("from the file")));
        // Half a file (a crash mid-write by something else) is not a value.
        std::fs::write(run.path.join(RESULT), b"{\"val").unwrap();
        assert_eq!(run.read_result(), Some(json!({"n": 7})));
        // A run with a recorded error has no value, whatever its journal says.
        std::fs::remove_file(run.path.join(RESULT)).unwrap();
        run.write_error(&ScriptError::new(crate::protocol::ErrorName::InternalError, "x")).unwrap();
        assert_eq!(run.read_result(), None);
    }

    #[test]
    fn a_run_that_ends_while_its_status_is_read_is_not_marked_interrupted() {
        let root = tempfile::tempdir().unwrap();
        let run = RunDir::create(root.path(), "flow").unwrap();
        run.write_status(&Status::new(&run.id, "flow", RunState::Running, 1)).unwrap();
        // The worker records its end and exits between the read and the check.
        let ends_now = |_| {
            run.write_status(&Status::new(&run.id, "flow", RunState::Done, 1)).unwrap();
            false
        };
        assert_eq!(run.status_with(ends_now).unwrap().state, RunState::Done);
        assert_eq!(run.read::<Status>(STATUS).unwrap().state, RunState::Done, "not overwritten");
        // A worker gone without an end is interrupted, and recorded so.
        run.write_status(&Status::new(&run.id, "flow", RunState::Running, 1)).unwrap();
        assert_eq!(run.status_with(|_| false).unwrap().state, RunState::Interrupted);
        assert_eq!(run.read::<Status>(STATUS).unwrap().state, RunState::Interrupted);
    }

    #[test]
    fn files_are_private_and_atomic() {
        let root = tempfile::tempdir().unwrap();
        let run = RunDir::create(root.path(), "My Flow").unwrap();
        assert!(run.path.starts_with(root.path().join("my-flow")));
        run.write_status(&Status::new(&run.id, "My Flow", RunState::Running, 1)).unwrap();
        let mode = std::fs::metadata(run.path.join(STATUS)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = std::fs::metadata(&run.path).unwrap().permissions().mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        run.event_log().unwrap().append(Event::Log { message: "hi".into() });
        let lines = run.event_tail().read_new().unwrap();
        let event: Stamped = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(event.event, Event::Log { message: "hi".into() });
    }

    #[test]
    fn control_requests_are_kept_in_the_control_file() {
        let root = tempfile::tempdir().unwrap();
        let run = RunDir::create(root.path(), "flow").unwrap();
        assert_eq!(run.read_control(), ControlFile::default());
        run.request(ControlRequest::Pause).unwrap();
        run.request(ControlRequest::Stop).unwrap();
        assert_eq!(run.read_control(), ControlFile { paused: true, stop: true });
    }
}
