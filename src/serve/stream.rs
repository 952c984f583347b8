//! `GET /api/stream`: every event of every run, live, as Server-Sent Events.
//!
//! The model: one watcher thread ([`watch`]) reads the runs root — it lists
//! the runs every [`SCAN`] and tails the events of the unfinished ones every
//! [`TICK`] — and publishes what it finds to the [`Hub`], an ordered buffer of
//! the last [`KEEP`] messages, each numbered once. Each SSE client is a
//! cursor into that buffer, woken when it grows; nothing is sent per client
//! that is not in the buffer, so every client sees the same messages in the
//! same order, each once.
//!
//! Messages:
//! - `event`: `{"run", "n", "event"}` — line `n` (from 0) of the run's
//!   `events.jsonl`, as written. `n` is the same number `GET
//!   /api/runs/:id/events?since=` counts in, so a page can merge the two.
//! - `run`: a run's summary (as in `GET /api/runs`), when a run appears and
//!   whenever its state, phase, agent counts or tokens change.
//! - `reset`: the client's `Last-Event-ID` is from another server or older
//!   than the buffer; it should reload what it shows from the JSON API.
//!   Messages after the reset follow without a gap.
//!
//! Ids are `<boot>-<seq>`: `boot` is fixed for the life of this server, so
//! a client that reconnects with `Last-Event-ID` gets exactly the messages
//! after that one, and a client from before a restart is told to reload.

use std::collections::{HashSet, VecDeque};
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as Sse_, KeepAlive, Sse};
use futures_util::Stream;
use serde_json::{Value, json};
use tokio::sync::watch as signal;

use odw_engine::{EventTail, RunDir};

use super::AppState;
use super::api::{RunSummary, summary};

/// How often the events of unfinished runs are read: the dashboard's latency.
pub const TICK: Duration = Duration::from_millis(50);
/// How often the runs root is listed for new runs: how soon a run started
/// elsewhere shows up. Listing 1000 runs takes a few milliseconds.
pub const SCAN: Duration = Duration::from_millis(500);
/// How many messages the hub keeps for clients that reconnect.
pub const KEEP: usize = 50_000;

/// One message of the stream.
#[derive(Debug, Clone)]
pub struct Message {
    pub seq: u64,
    pub kind: &'static str,
    pub data: Arc<str>,
}

/// The ordered, numbered buffer of messages every client reads from.
pub struct Hub {
    boot: String,
    ring: Mutex<Ring>,
    grew: signal::Sender<u64>,
}

struct Ring {
    /// The seq of `messages[0]`.
    first: u64,
    messages: VecDeque<Message>,
}

impl Ring {
    fn end(&self) -> u64 {
        self.first + self.messages.len() as u64
    }
}

/// The client's cursor is before the oldest message kept.
#[derive(Debug)]
pub struct Gap;

impl Hub {
    pub fn new() -> Hub {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let mut hasher = blake3::Hasher::new();
        hasher.update(&nanos.to_le_bytes());
        hasher.update(&std::process::id().to_le_bytes());
        let boot = hasher.finalize().to_hex()[..8].to_string();
        Hub {
            boot,
            ring: Mutex::new(Ring { first: 0, messages: VecDeque::new() }),
            grew: signal::channel(0).0,
        }
    }

    /// Appends a message, numbered next.
    pub fn publish(&self, kind: &'static str, data: &Value) {
        let data: Arc<str> = data.to_string().into();
        let seq = {
            let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
            let seq = ring.end();
            ring.messages.push_back(Message { seq, kind, data });
            if ring.messages.len() > KEEP {
                ring.messages.pop_front();
                ring.first += 1;
            }
            seq
        };
        self.grew.send_replace(seq + 1);
    }

    /// The messages from seq `cursor` on.
    pub fn since(&self, cursor: u64) -> Result<Vec<Message>, Gap> {
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        if cursor < ring.first {
            return Err(Gap);
        }
        let skip = (cursor - ring.first) as usize;
        Ok(ring.messages.iter().skip(skip).cloned().collect())
    }

    /// The seq the next message will have.
    pub fn end(&self) -> u64 {
        self.ring.lock().unwrap_or_else(|p| p.into_inner()).end()
    }

    /// Where a client resumes: after its `Last-Event-ID` if that is one of
    /// ours and still kept, else (with a reset first) at the end.
    fn resume_at(&self, last_event_id: Option<&str>) -> (u64, bool) {
        let ours = last_event_id
            .and_then(|id| id.split_once('-'))
            .filter(|(boot, _)| *boot == self.boot)
            .and_then(|(_, seq)| seq.parse::<u64>().ok());
        match (last_event_id, ours) {
            (None, _) => (self.end(), false),
            (Some(_), Some(seq)) if self.since(seq + 1).is_ok() && seq < self.end() => (seq + 1, false),
            (Some(_), _) => (self.end(), true),
        }
    }
}

/// `GET /api/stream`.
pub async fn stream(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Sse<impl Stream<Item = Result<Sse_, Infallible>>> {
    let hub = state.hub.clone();
    let last = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    let (cursor, reset) = hub.resume_at(last);
    let rx = hub.grew.subscribe();
    let client = Client { hub, rx, cursor, pending: VecDeque::new(), reset };
    let stream = futures_util::stream::unfold(client, |mut c| async move {
        let event = c.next().await?;
        Some((Ok(event), c))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// One SSE client: a cursor into the hub.
struct Client {
    hub: Arc<Hub>,
    rx: signal::Receiver<u64>,
    cursor: u64,
    pending: VecDeque<Message>,
    reset: bool,
}

impl Client {
    async fn next(&mut self) -> Option<Sse_> {
        loop {
            if std::mem::take(&mut self.reset) {
                return Some(Sse_::default().event("reset").data("{}"));
            }
            if let Some(m) = self.pending.pop_front() {
                self.cursor = m.seq + 1;
                return Some(
                    Sse_::default().id(format!("{}-{}", self.hub.boot, m.seq)).event(m.kind).data(&*m.data),
                );
            }
            // Mark the current size seen before reading, so that a message
            // published after the read wakes `changed`.
            self.rx.borrow_and_update();
            match self.hub.since(self.cursor) {
                Ok(messages) if !messages.is_empty() => self.pending = messages.into(),
                Ok(_) => self.rx.changed().await.ok()?,
                Err(Gap) => {
                    self.cursor = self.hub.end();
                    self.reset = true;
                }
            }
        }
    }
}

/// A run the watcher follows.
struct Followed {
    run: RunDir,
    tail: EventTail,
    /// Lines read so far: the `n` of the next one.
    n: u64,
    /// What was last published about it (state, phase, counts, tokens).
    shown: Option<Value>,
}

/// Starts the watcher thread; it stops when `stop` is set.
pub fn watch(
    root: PathBuf,
    hub: Arc<Hub>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    // The startup scan runs here, before the server says it is serving: a
    // run begun after that is new, and published from its first event. On
    // the watcher's thread it raced such a run, which it then took for one
    // begun before startup and followed from the end of what it had written.
    let mut watcher = Watcher { root, hub, known: HashSet::new(), followed: Vec::new() };
    watcher.scan(true);
    std::thread::Builder::new().name("odw-serve-watch".into()).spawn(move || {
        let mut scanned = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(TICK);
            if scanned.elapsed() >= SCAN {
                watcher.scan(false);
                scanned = Instant::now();
            }
            watcher.tick();
        }
    })
}

struct Watcher {
    root: PathBuf,
    hub: Arc<Hub>,
    /// Every run seen, by id.
    known: HashSet<String>,
    /// The runs not yet ended.
    followed: Vec<Followed>,
}

impl Watcher {
    /// Finds runs not seen before. At startup, ended runs are only noted and
    /// unfinished ones are followed from their current end: their past is
    /// in the JSON API. A run that appears later is published from its
    /// first event.
    fn scan(&mut self, startup: bool) {
        for run in RunDir::all(&self.root) {
            if !self.known.insert(run.id.clone()) {
                continue;
            }
            let status = run.status().ok();
            if startup && status.as_ref().is_some_and(|s| s.state.is_final()) {
                continue;
            }
            let mut followed = Followed { tail: run.event_tail(), run, n: 0, shown: None };
            if startup {
                followed.n = followed.tail.read_new().map_or(0, |lines| lines.len() as u64);
            }
            self.followed.push(followed);
        }
    }

    /// Publishes new events and changed summaries; forgets ended runs once
    /// their last event is out.
    fn tick(&mut self) {
        let hub = &self.hub;
        self.followed.retain_mut(|f| {
            // Status first: a run records its final event before its final
            // state, so reading events after a final status gets them all.
            // The summary goes out first, so a client learns of a new run
            // before its events.
            let status = f.run.status().ok();
            if let Some(status) = &status {
                let summary: RunSummary = summary(&f.run, status);
                let key = json!([summary.state, summary.phase, summary.agents, summary.tokens]);
                if f.shown.as_ref() != Some(&key) {
                    hub.publish("run", &json!(summary));
                    f.shown = Some(key);
                }
            }
            for line in f.tail.read_new().unwrap_or_default() {
                let event: Value = serde_json::from_str(&line).unwrap_or(Value::String(line));
                hub.publish("event", &json!({ "run": f.run.id, "n": f.n, "event": event }));
                f.n += 1;
            }
            !status.is_some_and(|s| s.state.is_final())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_resumes_after_its_last_event_or_is_told_to_reload() {
        let hub = Hub::new();
        for i in 0..3 {
            hub.publish("event", &json!(i));
        }
        assert_eq!(hub.resume_at(None), (3, false), "a new client starts at the end");
        assert_eq!(hub.resume_at(Some(&format!("{}-0", hub.boot))), (1, false));
        assert_eq!(hub.resume_at(Some(&format!("{}-2", hub.boot))), (3, false));
        assert_eq!(hub.resume_at(Some("deadbeef-1")), (3, true), "another server's id");
        assert_eq!(hub.resume_at(Some(&format!("{}-9", hub.boot))), (3, true), "an id not issued");
        let seqs: Vec<u64> = hub.since(1).unwrap().iter().map(|m| m.seq).collect();
        assert_eq!(seqs, [1, 2]);
    }

    #[test]
    fn the_hub_keeps_the_newest_messages() {
        let hub = Hub::new();
        for i in 0..KEEP + 2 {
            hub.publish("event", &json!(i));
        }
        assert!(hub.since(1).is_err(), "seq 1 was dropped");
        assert_eq!(hub.since(2).unwrap().len(), KEEP);
        assert_eq!(hub.resume_at(Some(&format!("{}-0", hub.boot))), (KEEP as u64 + 2, true));
    }
}
