//! Run directories, laid out as ODW's (DESIGN §4):
//!
//! ```text
//! <runsRoot>/<slug(meta.name)>/<runId>/
//!   meta.json     what ran: workflow, script, args, adapter, odw version
//!   status.json   pending|running|paused|done|failed|stopped, agent counts
//!   events.jsonl  one JSON object per line: run_started, phase_started, log,
//!                 agent_started, agent_finished, agent_failed, run_finished|failed
//!   result.json   {"value": …} when the run succeeded
//!   error.json    {"error": {name, message, location?, …}} when it failed
//! ```
//!
//! Run files can hold prompts and answers about private code, so directories
//! are 0700 and files 0600. JSON files are written atomically (temp + rename)
//! so a reader never sees half a file.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::Serialize;
use serde_json::{Map, Value};

/// One run's directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    pub id: String,
    pub path: PathBuf,
}

impl RunDir {
    /// Makes a new run directory for workflow `name` under `root`.
    pub fn create(root: &Path, name: &str) -> std::io::Result<RunDir> {
        let id = new_run_id();
        let path = root.join(slug(name)).join(&id);
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&path)?;
        Ok(RunDir { id, path })
    }

    /// Finds run `id` under `root` (in any workflow's folder).
    pub fn find(root: &Path, id: &str) -> Option<RunDir> {
        if id.is_empty() || id.contains(['/', '\\']) || id.starts_with('.') {
            return None;
        }
        std::fs::read_dir(root).ok()?.flatten().find_map(|workflow| {
            let path = workflow.path().join(id);
            path.join("meta.json").is_file().then(|| RunDir { id: id.to_string(), path })
        })
    }

    /// Every run under `root`, oldest first (run ids sort by time).
    pub fn all(root: &Path) -> Vec<RunDir> {
        let mut runs: Vec<RunDir> = std::fs::read_dir(root)
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|workflow| std::fs::read_dir(workflow.path()).into_iter().flatten().flatten())
            .filter(|run| run.path().join("meta.json").is_file())
            .map(|run| RunDir { id: run.file_name().to_string_lossy().into_owned(), path: run.path() })
            .collect();
        runs.sort_by(|a, b| a.id.cmp(&b.id));
        runs
    }

    /// Reads one of the run's JSON files.
    pub fn read_json(&self, name: &str) -> Option<Value> {
        serde_json::from_slice(&std::fs::read(self.path.join(name)).ok()?).ok()
    }

    /// Writes `name` atomically, readable only by the user.
    pub fn write_json(&self, name: &str, value: &impl Serialize) -> std::io::Result<()> {
        self.write_atomic(name, value, false)
    }

    /// Like [`RunDir::write_json`], and on disk before it returns: for files
    /// that record an outcome (`result.json`, `error.json`).
    pub fn write_json_durable(&self, name: &str, value: &impl Serialize) -> std::io::Result<()> {
        self.write_atomic(name, value, true)
    }

    fn write_atomic(&self, name: &str, value: &impl Serialize, durable: bool) -> std::io::Result<()> {
        let tmp = self.path.join(format!(".{name}.tmp"));
        let mut file = private_file(&tmp, false)?;
        serde_json::to_writer_pretty(&mut file, value)?;
        file.write_all(b"\n")?;
        if durable {
            file.sync_data()?;
        }
        std::fs::rename(&tmp, self.path.join(name))
    }

    /// Opens `events.jsonl` for appending.
    pub fn events(&self) -> std::io::Result<EventLog> {
        Ok(EventLog { file: Mutex::new(private_file(&self.path.join("events.jsonl"), true)?) })
    }
}

fn private_file(path: &Path, append: bool) -> std::io::Result<File> {
    OpenOptions::new().create(true).write(true).append(append).truncate(!append).mode(0o600).open(path)
}

/// `events.jsonl`: each event is one line, written with a single `write`.
#[derive(Debug)]
pub struct EventLog {
    file: Mutex<File>,
}

impl EventLog {
    /// Appends `{"ts": …, "type": kind, …fields}`. An event that cannot be
    /// written is reported on stderr; it never fails the run.
    pub fn append(&self, kind: &str, fields: Value) {
        let mut line = Map::new();
        line.insert("ts".into(), Value::String(timestamp()));
        line.insert("type".into(), Value::String(kind.into()));
        if let Value::Object(fields) = fields {
            line.extend(fields);
        }
        let mut text = Value::Object(line).to_string();
        text.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Err(e) = file.write_all(text.as_bytes()) {
            eprintln!("odw: cannot write an event: {e}");
        }
    }
}

/// The run's state as `status.json` shows it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub run_id: String,
    pub workflow: String,
    pub state: RunState,
    pub phase: Option<String>,
    pub agents: AgentCounts,
    pub tokens: u64,
    pub started_at: String,
    pub updated_at: String,
    pub pid: u32,
}

impl Status {
    /// A status with no agents yet, started now.
    pub fn new(run_id: &str, workflow: &str, state: RunState, pid: u32) -> Status {
        let now = timestamp();
        Status {
            run_id: run_id.to_string(),
            workflow: workflow.to_string(),
            state,
            phase: None,
            agents: AgentCounts::default(),
            tokens: 0,
            started_at: now.clone(),
            updated_at: now,
            pid,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    Pending,
    Running,
    Paused,
    Done,
    Failed,
    Stopped,
    /// The worker died without recording an end (killed, machine crashed).
    Interrupted,
}

impl RunState {
    /// Whether the run has ended.
    pub fn is_final(self) -> bool {
        matches!(self, RunState::Done | RunState::Failed | RunState::Stopped | RunState::Interrupted)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AgentCounts {
    pub dispatched: u64,
    pub running: u64,
    pub done: u64,
    pub failed: u64,
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
mod tests {
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

    #[test]
    fn files_are_private_and_atomic() {
        let root = tempfile::tempdir().unwrap();
        let run = RunDir::create(root.path(), "My Flow").unwrap();
        assert!(run.path.starts_with(root.path().join("my-flow")));
        run.write_json("status.json", &serde_json::json!({"state": "running"})).unwrap();
        let mode = std::fs::metadata(run.path.join("status.json")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = std::fs::metadata(&run.path).unwrap().permissions().mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        run.events().unwrap().append("log", serde_json::json!({"message": "hi"}));
        let line = std::fs::read_to_string(run.path.join("events.jsonl")).unwrap();
        let event: Value = serde_json::from_str(line.trim()).unwrap();
        assert_eq!((event["type"].as_str(), event["message"].as_str()), (Some("log"), Some("hi")));
    }
}
