//! `events.jsonl`: what happened in a run, one JSON object per line.
//!
//! Every kind of event is a variant of [`Event`], defined here once; the
//! writer ([`EventLog`]), `odw logs` and anything that reads a run's events
//! later use the same type. A line is `{"ts": …, "type": "<kind>", …fields}`.

use std::fs::File;
use std::io::{BufRead, Seek, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::status::AgentCounts;
use super::timestamp;
use crate::protocol::{ScriptError, Usage};
use crate::replay::ReuseRule;

/// One thing that happened in a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", rename_all_fields = "camelCase")]
pub enum Event {
    RunStarted {
        run_id: String,
        workflow: String,
        args: Value,
        adapter: String,
        /// `meta.phases`, as declared.
        phases: Option<Value>,
        resumed_from: Option<String>,
        /// How the workflow's instance started.
        start: StartOrigin,
    },
    PhaseStarted {
        title: String,
    },
    Log {
        message: String,
    },
    /// Dispatched: waiting for a concurrency slot (or for a pause to
    /// end). Runs before this event existed have none; readers treat an
    /// `agent_started` without it as queued and started at once.
    AgentQueued(AgentStart),
    AgentStarted(AgentStart),
    AgentFinished(AgentEnd),
    AgentFailed(AgentEnd),
    /// A call's process as a cluster job (`executor` `slurm` or
    /// `kubernetes`): once when it is submitted, once when it ends.
    AgentJob(AgentJob),
    RunPaused,
    RunResumed,
    RunFinished {
        ms: u64,
        agents: AgentCounts,
    },
    RunStopped {
        ms: u64,
        agents: AgentCounts,
    },
    RunFailed {
        ms: u64,
        error: ScriptError,
    },
    /// A call could not be journalled; the run goes on, but that call will
    /// not be reusable.
    JournalError {
        index: u32,
        error: String,
    },
}

/// How a run's workflow instance started, as `run_started` records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartOrigin {
    /// Compiled from source now.
    Compiled,
    /// From the compile cache.
    Cached,
    /// From a workflow module (`odw build`).
    Module,
}

/// An agent call as its events show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentStart {
    pub index: u32,
    pub label: String,
    pub phase: Option<String>,
    pub adapter: String,
    pub model: Option<String>,
    /// Served from an earlier run's journal.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cached: bool,
    /// When cached: the rule that reused it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reuse: Option<ReuseRule>,
    /// The head of the prompt ([`odw_journal::prompt_head`]), on
    /// `agent_started` only: `odw serve` shows it on demand without opening
    /// the journal, which the running worker holds locked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
}

/// A cluster job that runs one attempt of an agent call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentJob {
    pub index: u32,
    pub attempt: u32,
    /// `slurm` or `kubernetes`.
    pub executor: String,
    /// The job's name (`odw-<run>-<index>-<attempt>`).
    pub name: String,
    /// The scheduler's id for it (SLURM's job id), once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// `submitted`, then how it ended: SLURM's job state (`COMPLETED`,
    /// `FAILED`, `CANCELLED`, `TIMEOUT`…) or the Job's condition
    /// (`Complete`, `Failed`, `Deleted`).
    pub state: String,
    /// What the scheduler recorded of the finished job (SLURM: node, exit
    /// code, run time, submit/start/end times).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounting: Option<Value>,
}

/// The end of an agent call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentEnd {
    #[serde(flatten)]
    pub agent: AgentStart,
    pub ms: u64,
    pub attempts: u32,
    pub usage: Usage,
    /// With `isolation: 'worktree'`: the branch and patch kept, or why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree: Option<Value>,
    /// Why it failed (`agent_failed` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The head of the reply ([`AgentEnd::preview_of`]), `agent_finished`
    /// only: what a live view shows of a result while the journal is locked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<String>,
}

impl AgentEnd {
    /// How many characters of a reply an event keeps.
    pub const PREVIEW_CHARS: usize = 200;

    /// The first [`Self::PREVIEW_CHARS`] characters of a reply: text as it
    /// is, any other value as compact JSON. Only the head is serialised:
    /// every finished or reused call has its preview made on the
    /// scheduler's thread, and a schema value can be megabytes.
    pub fn preview_of(value: &Value) -> String {
        if let Value::String(s) = value {
            return s.chars().take(Self::PREVIEW_CHARS).collect();
        }
        // Four bytes a character at most: past that many, the head is whole.
        let mut head = Head { bytes: Vec::new(), enough: 4 * Self::PREVIEW_CHARS };
        // Stopped by `Head` once it has enough (the error is that signal).
        let _ = serde_json::to_writer(&mut head, value);
        String::from_utf8_lossy(&head.bytes).chars().take(Self::PREVIEW_CHARS).collect()
    }
}

/// A writer that keeps what is written to it until it has `enough` bytes,
/// then refuses more, which ends the serialisation writing into it.
struct Head {
    bytes: Vec<u8>,
    enough: usize,
}

impl std::io::Write for Head {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() >= self.enough {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One line of `events.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stamped {
    /// When, as RFC 3339 UTC with milliseconds.
    pub ts: String,
    #[serde(flatten)]
    pub event: Event,
}

impl Stamped {
    /// The line as written, newline included.
    fn line(&self) -> String {
        let mut text = serde_json::to_string(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Reads one line of `events.jsonl`, as `serde_json::from_str` would.
    ///
    /// An agent event, nearly every line of a large run, is read through a
    /// flat record of its fields (`AgentLine`); the derived reading
    /// buffers a line once for `type` and again for each `flatten`: the
    /// two thousand lines of a resumed run of a thousand calls took 2.8 ms
    /// to read back that way, 1.1 ms this way. Any other line, and an agent
    /// line the flat record does not take, is read the derived way, which
    /// decides. (`AgentLine::into_stamped` builds `AgentStart` and
    /// `AgentEnd` field by field, so a field added to either and not here
    /// does not compile.)
    pub fn parse(line: &str) -> serde_json::Result<Stamped> {
        match serde_json::from_str::<AgentLine>(line).ok().and_then(AgentLine::into_stamped) {
            Some(stamped) => Ok(stamped),
            None => serde_json::from_str(line),
        }
    }

    /// The `type` of an event line, found without parsing it, for a reader
    /// that wants a few kinds of event and would otherwise parse every line
    /// only to drop most (`odw run --wait`'s plain progress, which shows no
    /// `agent_started`). The first `"type":"` of a line odw wrote is its
    /// event's: only the timestamp, which holds no quote, comes before it.
    /// A line that is not one of odw's may be named wrongly; parse it to be
    /// sure of it.
    pub fn kind(line: &str) -> Option<&str> {
        let (_, rest) = line.split_once(r#""type":""#)?;
        rest.split_once('"').map(|(kind, _)| kind)
    }
}

/// The line of an agent event with every field at the top level, as
/// written: `AgentStart`'s, then `AgentEnd`'s own (see [`Stamped::parse`]).
#[derive(Deserialize)]
struct AgentLine {
    ts: String,
    #[serde(rename = "type")]
    kind: AgentKind,
    index: u32,
    label: String,
    phase: Option<String>,
    adapter: String,
    model: Option<String>,
    #[serde(default)]
    cached: bool,
    #[serde(default)]
    reuse: Option<ReuseRule>,
    #[serde(default)]
    prompt: Option<String>,
    ms: Option<u64>,
    attempts: Option<u32>,
    usage: Option<Usage>,
    #[serde(default)]
    worktree: Option<Value>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    preview: Option<String>,
}

/// The `type` of an agent event.
#[derive(Deserialize)]
enum AgentKind {
    #[serde(rename = "agent_queued")]
    Queued,
    #[serde(rename = "agent_started")]
    Started,
    #[serde(rename = "agent_finished")]
    Finished,
    #[serde(rename = "agent_failed")]
    Failed,
}

impl AgentLine {
    /// The event, or `None` when an end lacks what an end must have.
    fn into_stamped(self) -> Option<Stamped> {
        let AgentLine {
            ts,
            kind,
            index,
            label,
            phase,
            adapter,
            model,
            cached,
            reuse,
            prompt,
            ms,
            attempts,
            usage,
            worktree,
            error,
            preview,
        } = self;
        let agent = AgentStart { index, label, phase, adapter, model, cached, reuse, prompt };
        let event = match kind {
            AgentKind::Queued => Event::AgentQueued(agent),
            AgentKind::Started => Event::AgentStarted(agent),
            AgentKind::Finished | AgentKind::Failed => {
                let end =
                    AgentEnd { agent, ms: ms?, attempts: attempts?, usage: usage?, worktree, error, preview };
                if matches!(kind, AgentKind::Finished) {
                    Event::AgentFinished(end)
                } else {
                    Event::AgentFailed(end)
                }
            }
        };
        Some(Stamped { ts, event })
    }
}

/// `events.jsonl` opened for appending: each event is one line, and lines
/// reach the file whole, so concurrent readers see whole lines.
#[derive(Debug)]
pub struct EventLog {
    lines: Mutex<Lines>,
}

#[derive(Debug)]
struct Lines {
    file: File,
    /// Lines appended while a [`Held`] is alive, written when the last goes.
    held: String,
    holders: u32,
}

impl Lines {
    fn write(&mut self, text: &str) {
        if let Err(e) = self.file.write_all(text.as_bytes()) {
            eprintln!("odw: cannot write an event: {e}");
        }
    }
}

/// Holds back the lines appended while it lives, and writes them in one
/// `write` when dropped (see [`EventLog::hold`]).
#[must_use = "the lines are written when this is dropped"]
pub struct Held<'a> {
    log: &'a EventLog,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let mut lines = self.log.lock();
        lines.holders -= 1;
        if lines.holders == 0 && !lines.held.is_empty() {
            let text = std::mem::take(&mut lines.held);
            lines.write(&text);
        }
    }
}

impl EventLog {
    pub(super) fn new(file: File) -> EventLog {
        EventLog { lines: Mutex::new(Lines { file, held: String::new(), holders: 0 }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lines> {
        self.lines.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends `event`, stamped now. An event that cannot be written is
    /// reported on stderr; it never fails the run.
    pub fn append(&self, event: Event) {
        self.append_all([event]);
    }

    /// Appends `events`, stamped now, in one `write` (or into the held
    /// lines): a call served from the journal starts and ends at once.
    pub fn append_all(&self, events: impl IntoIterator<Item = Event>) {
        let ts = timestamp();
        let text: String = events.into_iter().map(|event| Stamped { ts: ts.clone(), event }.line()).collect();
        let mut lines = self.lock();
        if lines.holders > 0 {
            lines.held.push_str(&text);
        } else {
            lines.write(&text);
        }
    }

    /// Holds the lines appended from now on, by anyone, until the returned
    /// guard (and any other alive) is dropped; then they go out in one
    /// `write`, in the order they were appended. The scheduler holds them
    /// while it handles a burst of the guest's messages: a resume serving a
    /// thousand calls from the journal made a thousand `write`s, a tenth of
    /// its time. Keep a hold short: a reader sees nothing of it until it ends.
    pub fn hold(&self) -> Held<'_> {
        self.lock().holders += 1;
        Held { log: self }
    }
}

/// Reads `events.jsonl` as it grows: each call returns the whole lines
/// written since the last one, so every event is seen exactly once even
/// while the run is writing.
#[derive(Debug)]
pub struct EventTail {
    path: PathBuf,
    offset: u64,
}

impl EventTail {
    pub(super) fn new(path: PathBuf) -> EventTail {
        EventTail { path, offset: 0 }
    }

    /// The lines added since the last call (without their newline). A line
    /// being written now is returned by a later call.
    pub fn read_new(&mut self) -> std::io::Result<Vec<String>> {
        let mut lines = Vec::new();
        let Ok(mut file) = File::open(&self.path) else { return Ok(lines) };
        file.seek(std::io::SeekFrom::Start(self.offset))?;
        let mut reader = std::io::BufReader::new(file);
        let mut line = String::new();
        while reader.read_line(&mut line)? > 0 {
            if !line.ends_with('\n') {
                break;
            }
            self.offset += line.len() as u64;
            line.pop();
            lines.push(std::mem::take(&mut line));
        }
        Ok(lines)
    }

    /// Whether everything written so far has been read.
    pub fn at_end(&self) -> bool {
        std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0) == self.offset
    }
}

/// See [`super::RunDir::events_page`]. No file yet is an empty log.
pub(super) fn page(
    path: &std::path::Path,
    since: usize,
    limit: usize,
) -> std::io::Result<(Vec<String>, bool)> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), false)),
        Err(e) => return Err(e),
    };
    let mut reader = std::io::BufReader::new(file);
    let (mut lines, mut line, mut at) = (Vec::new(), String::new(), 0usize);
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 || !line.ends_with('\n') {
            return Ok((lines, false));
        }
        if at >= since {
            if lines.len() == limit {
                return Ok((lines, true));
            }
            line.pop();
            lines.push(std::mem::take(&mut line));
        }
        at += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn agent(index: u32) -> AgentStart {
        AgentStart {
            index,
            label: "review".into(),
            phase: Some("Scan".into()),
            adapter: "echo".into(),
            model: None,
            cached: false,
            reuse: None,
            prompt: None,
        }
    }

    #[test]
    fn every_kind_round_trips_through_a_line() {
        let end = AgentEnd {
            agent: AgentStart { cached: true, reuse: Some(ReuseRule::Content), ..agent(3) },
            ms: 12,
            attempts: 2,
            usage: Usage { input: 5, output: 7, estimated: true },
            worktree: Some(json!({"branch": "odw/x/3"})),
            error: Some("boom".into()),
            preview: Some("ok".into()),
        };
        let error = ScriptError {
            name: "Error".into(),
            message: "m".into(),
            stack: None,
            location: None,
            fatal: false,
            limit: None,
        };
        let events = [
            Event::RunStarted {
                run_id: "r".into(),
                workflow: "w".into(),
                args: json!({"a": 1}),
                adapter: "echo".into(),
                phases: None,
                resumed_from: Some("old".into()),
                start: StartOrigin::Cached,
            },
            Event::PhaseStarted { title: "Scan".into() },
            Event::Log { message: "hi".into() },
            // A field holding what looks like a type does not fool `kind`.
            Event::Log { message: r#"{"type":"agent_failed"}"#.into() },
            Event::AgentQueued(agent(0)),
            Event::AgentStarted(agent(0)),
            Event::AgentFinished(end.clone()),
            Event::AgentFailed(end),
            Event::RunPaused,
            Event::RunResumed,
            Event::RunFinished { ms: 1, agents: AgentCounts::default() },
            Event::RunStopped { ms: 2, agents: AgentCounts { dispatched: 1, ..AgentCounts::default() } },
            Event::RunFailed { ms: 3, error },
            Event::JournalError { index: 4, error: "disk full".into() },
        ];
        for event in events {
            let line = Stamped { ts: timestamp(), event: event.clone() }.line();
            let back: Stamped = serde_json::from_str(&line).unwrap();
            assert_eq!(back.event, event, "{line}");
            assert_eq!(Stamped::parse(&line).unwrap(), back, "{line}");
            let tag = serde_json::from_str::<Value>(&line).unwrap()["type"].as_str().map(str::to_string);
            assert_eq!(Stamped::kind(&line).map(str::to_string), tag, "{line}");
        }
    }

    #[test]
    fn a_preview_is_the_head_of_the_reply_however_large_the_value() {
        let whole = |v: &Value| -> String {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            text.chars().take(AgentEnd::PREVIEW_CHARS).collect()
        };
        let long_text = "é→x".repeat(500);
        let values = [
            json!("short"),
            json!(long_text),
            json!({"n": 1, "ok": true}),
            json!({"items": (0..20_000).map(|i| json!({"i": i, "name": format!("n→{i}")})).collect::<Vec<_>>()}),
            json!(["€".repeat(1000), "tail"]),
            json!(null),
        ];
        for value in &values {
            assert_eq!(AgentEnd::preview_of(value), whole(value));
        }
    }

    #[test]
    fn the_quick_reading_of_agent_lines_agrees_with_the_derived_one() {
        let lines = [
            r#"{"ts":"T","type":"agent_started","index":1,"label":"a","phase":"P","adapter":"x","model":"m","cached":true,"reuse":"prefix","prompt":"p"}"#,
            r#"{"ts":"T","type":"agent_queued","index":1,"label":"a","adapter":"x"}"#,
            r#"{"type":"agent_started","index":2,"ts":"T","zzz":[1],"label":"a","phase":null,"adapter":"x","model":null}"#,
            r#"{"ts":"T","type":"agent_queued","index":1,"label":"a","adapter":"x","ms":"not a number"}"#,
            r#"{"ts":"T","type":"agent_finished","index":3,"label":"a","phase":null,"adapter":"x","model":null,"ms":4,"attempts":1,"usage":{"input":2,"output":1,"estimated":true},"preview":"ok"}"#,
            r#"{"ts":"T","type":"agent_failed","index":3,"label":"a","adapter":"x","ms":4,"attempts":2,"usage":{"input":2,"output":1,"estimated":false},"error":null,"worktree":null}"#,
            r#"{"ts":"T","type":"agent_failed","index":3,"label":"a","adapter":"x","ms":4,"attempts":2,"usage":{"input":0,"output":0,"estimated":false},"error":"boom","worktree":{"branch":"b"}}"#,
            r#"{"ts":"T","type":"agent_finished","index":3,"label":"a","adapter":"x","ms":4,"attempts":1,"usage":{"input":1}}"#,
            r#"{"ts":"T","type":"agent_finished","index":3,"label":"a","adapter":"x","ms":4,"attempts":1}"#,
            r#"{"ts":"T","type":"agent_started","index":1,"label":"a","adapter":"x","cached":null}"#,
            r#"{"ts":"T","type":"agent_started","index":-1,"label":"a","adapter":"x"}"#,
            r#"{"ts":"T","type":"agent_started","index":1,"index":2,"label":"a","adapter":"x"}"#,
            r#"{"ts":"T","type":"agent_started","label":"a","adapter":"x"}"#,
            r#"{"ts":"T","type":"run_paused"}"#,
            r#"{"ts":"T","type":"log","message":"hi"}"#,
            r#"{"ts":"T","type":"no_such_event"}"#,
            r#"{"type":"agent_started","index":1,"label":"a","adapter":"x"}"#,
            r#"not json"#,
        ];
        let quick = |line| serde_json::from_str::<AgentLine>(line).ok().and_then(AgentLine::into_stamped);
        // The agent lines odw writes are read the quick way (and not all
        // lines: the rest fall through to the derived reading).
        let taken: Vec<usize> = (0..lines.len()).filter(|&i| quick(lines[i]).is_some()).collect();
        assert_eq!(taken, [0, 1, 2, 4, 5, 6]);
        for line in lines {
            let derived = serde_json::from_str::<Stamped>(line);
            match (Stamped::parse(line), derived) {
                (Ok(quick), Ok(derived)) => assert_eq!(quick, derived, "{line}"),
                (Err(_), Err(_)) => {}
                (quick, derived) => panic!("{line}: quick {quick:?}, derived {derived:?}"),
            }
        }
    }

    #[test]
    fn lines_keep_the_documented_shape() {
        let line = Stamped { ts: "T".into(), event: Event::AgentStarted(agent(1)) }.line();
        assert_eq!(
            line,
            "{\"ts\":\"T\",\"type\":\"agent_started\",\"index\":1,\"label\":\"review\",\
             \"phase\":\"Scan\",\"adapter\":\"echo\",\"model\":null}\n"
        );
        let started = Event::RunStarted {
            run_id: "r".into(),
            workflow: "w".into(),
            args: Value::Null,
            adapter: "echo".into(),
            phases: None,
            resumed_from: None,
            start: StartOrigin::Compiled,
        };
        let value = serde_json::to_value(Stamped { ts: "T".into(), event: started }).unwrap();
        assert_eq!((value["runId"].as_str(), value["start"].as_str()), (Some("r"), Some("compiled")));
        assert!(value["resumedFrom"].is_null());
    }

    #[test]
    fn held_lines_wait_for_the_last_hold_and_keep_their_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let log = EventLog::new(std::fs::File::create(&path).unwrap());
        let written = || {
            std::fs::read_to_string(&path)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<Stamped>(l).unwrap().event)
                .collect::<Vec<_>>()
        };
        let log_line = |m: &str| Event::Log { message: m.into() };
        log.append(log_line("before"));
        let outer = log.hold();
        log.append(log_line("a"));
        let inner = log.hold();
        log.append_all([log_line("b"), log_line("c")]);
        drop(inner);
        assert_eq!(written(), [log_line("before")], "held while any hold lives");
        drop(outer);
        assert_eq!(written(), ["before", "a", "b", "c"].map(log_line));
        log.append(log_line("after"));
        assert_eq!(written().len(), 5, "written at once again");
    }

    #[test]
    fn pages_hold_whole_lines_and_say_whether_more_follow() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        assert_eq!(page(&path, 0, 10).unwrap(), (vec![], false), "no file yet");
        std::fs::write(&path, "a\nb\nc\nd").unwrap();
        assert_eq!(page(&path, 0, 2).unwrap(), (vec!["a".to_string(), "b".into()], true));
        assert_eq!(page(&path, 2, 2).unwrap(), (vec!["c".to_string()], false), "d is not whole yet");
        assert_eq!(page(&path, 9, 2).unwrap(), (vec![], false));
    }

    #[test]
    fn a_tail_returns_whole_lines_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let mut tail = EventTail::new(path.clone());
        assert!(tail.read_new().unwrap().is_empty(), "no file yet");
        std::fs::write(&path, "{\"a\":1}\n{\"b\"").unwrap();
        assert_eq!(tail.read_new().unwrap(), ["{\"a\":1}"]);
        assert!(!tail.at_end());
        let mut file = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b":2}\n").unwrap();
        assert_eq!(tail.read_new().unwrap(), ["{\"b\":2}"]);
        assert!(tail.at_end());
    }
}
