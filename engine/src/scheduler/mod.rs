//! The scheduler: turns the guest's `agent()` requests into adapter calls.
//!
//! Requests arrive in the order the script issued them; each gets its
//! dispatch index (the id the guest already holds). The `maxAgents` backstop
//! is counted here, at dispatch. Calls then wait for a slot of the
//! `concurrency` semaphore, run their adapter (with schema retries), and send
//! their completion back to the guest. When the guest ends, every call still
//! running is cancelled, which kills its process group.

mod call;
mod scribe;

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use odw_journal::{CallOutcome, Completed, Issued, Journal};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use crate::adapters::workspace::WorktreeError;
use crate::config::Config;
use crate::protocol::{CallError, Completion, ErrorName, GuestEvent};
use crate::replay::{Decision, Divergence, Plan, ReuseRule, ReuseSummary, Sequencer};
use crate::rundir::{AgentEnd, Event, Progress, RunDir};
use crate::sandbox::GuestMsg;

use call::Job;
use scribe::Scribe;

/// The run a scheduler serves.
pub struct RunContext {
    /// The adapter used when a call names none.
    pub default_adapter: String,
    /// `--adapter` was given: `default_adapter` serves every call.
    pub adapter_forced: bool,
    /// Where agents work (`{workspace}`) and the project (`{source}`).
    pub workspace: PathBuf,
    /// The run directory, for prompt files, patches and worktrees.
    pub run: RunDir,
    pub progress: Arc<Progress>,
    /// This run's journal (none for `odw replay --check`).
    pub journal: Option<Arc<Journal>>,
    /// `--budget`: total tokens. Enforced here, from the usage the host
    /// measured; the prelude's check only gives the script a good stack.
    pub budget: Option<u64>,
}

/// What every call of one run shares.
pub struct Scheduler {
    pub config: Config,
    pub run: RunContext,
    /// Recorded calls to reuse, when resuming or checking.
    plan: Option<Mutex<Plan>>,
    /// A resume's journal writer for the records it copies (see [`Scribe`]);
    /// a run without a plan writes its few records itself.
    scribe: Option<Scribe>,
    sequencer: Mutex<Sequencer<(Completion, Option<Record>)>>,
    divergence: Mutex<Option<Divergence>>,
    control: watch::Receiver<Control>,
    slots: Semaphore,
    /// Tokens of the completions delivered so far: what the guest has seen
    /// spent (the same figure the prelude keeps, but out of its reach).
    spent: std::sync::atomic::AtomicU64,
    /// Bytes of the prompts of calls dispatched and not yet finished: the
    /// host holds them all, so their sum is bounded ([`MAX_HELD_PROMPTS`]).
    held: std::sync::atomic::AtomicUsize,
    /// Bytes of `log()` messages kept so far ([`MAX_LOGGED_BYTES`]).
    logged: std::sync::atomic::AtomicUsize,
    /// The schemas calls gave, compiled once each.
    schemas: crate::schema::Schemas,
    /// The git repository of the workspace, looked up at the first call
    /// that asks for a worktree.
    repo: std::sync::OnceLock<Result<PathBuf, WorktreeError>>,
}

/// What a scheduler is built from, besides the configuration.
pub struct Setup {
    pub run: RunContext,
    pub plan: Option<Plan>,
    pub control: watch::Receiver<Control>,
}

pub use crate::rundir::Control;

/// What makes a journalled completion durable.
#[derive(Clone, Copy)]
enum Durability {
    /// It is: it is on disk in the run it was copied from (or there is no
    /// journal).
    Already,
    /// The journal's next flush; the call's index.
    AfterFlush(u32),
}

/// A completion to journal.
enum Record {
    /// From an agent that ran in this run.
    Live(Completed),
    /// Served from an earlier run's journal, with the call's issued record:
    /// both are written once the guest has the call ([`Journal::copy`]).
    Copied(Issued, Completed),
}

impl Scheduler {
    pub fn new(config: Config, setup: Setup) -> Self {
        let Setup { run, plan, control } = setup;
        let slots = Semaphore::new(config.concurrency());
        let order = plan.as_ref().map(|p| p.order().to_vec()).unwrap_or_default();
        // Without a thread (none could be started) the scheduler writes
        // every record itself, as a run without a plan does.
        let scribe = match (&plan, &run.journal) {
            (Some(_), Some(journal)) => Scribe::start(journal.clone(), run.progress.clone()).ok(),
            _ => None,
        };
        Scheduler {
            config,
            run,
            plan: plan.map(Mutex::new),
            scribe,
            sequencer: Mutex::new(Sequencer::new(order)),
            divergence: Mutex::new(None),
            control,
            slots,
            spent: std::sync::atomic::AtomicU64::new(0),
            held: std::sync::atomic::AtomicUsize::new(0),
            logged: std::sync::atomic::AtomicUsize::new(0),
            schemas: crate::schema::Schemas::default(),
            repo: std::sync::OnceLock::new(),
        }
    }

    /// The first call a `replay --check` could not serve, if any.
    pub fn divergence(&self) -> Option<Divergence> {
        lock(&self.divergence).clone()
    }

    /// What was reused from the journal, when resuming.
    pub fn reuse_summary(&self) -> Option<ReuseSummary> {
        self.plan.as_ref().map(|p| lock(p).summary())
    }

    /// Serves the guest until it ends (its sender is dropped), then cancels
    /// the calls that are still running and removes their worktrees. `busy`
    /// is set while a burst of the guest's messages is handled (see
    /// `GuestIo::host_busy`).
    pub async fn serve(
        self: Arc<Self>,
        mut from_guest: mpsc::UnboundedReceiver<GuestMsg>,
        to_guest: mpsc::UnboundedSender<Completion>,
        busy: Arc<std::sync::atomic::AtomicBool>,
    ) {
        let mut calls: JoinSet<(Completion, Completed)> = JoinSet::new();
        // Completions are journalled and sent here, in order, so the
        // journal's completion order is exactly the order the guest sees.
        // Those that end together are written, then flushed once (a group
        // commit), then sent.
        let sent = std::sync::atomic::AtomicU64::new(0);
        let deliver = |items: Vec<(Completion, Option<Record>)>| {
            let mut items: Vec<_> = items
                .into_iter()
                .map(|(completion, record)| {
                    let written = record.map(|record| self.record(record));
                    (completion, written)
                })
                .collect();
            // After a copy the journal refused, nothing more is delivered:
            // the run ends as if that copy had failed (see `Scribe`).
            if let Some((index, error)) = self.scribe.as_ref().and_then(Scribe::failure) {
                for (_, written) in &mut items {
                    *written = Some(Err(unjournalled_error(index, &error)));
                }
            }
            let live = |written: &Option<Result<Durability, CallError>>| match written {
                Some(Ok(Durability::AfterFlush(index))) => Some(*index),
                _ => None,
            };
            if items.iter().any(|(_, written)| live(written).is_some())
                && let Some(journal) = &self.run.journal
                && let Err(e) = journal.flush()
            {
                for (_, written) in &mut items {
                    if let Some(index) = live(written) {
                        *written = Some(Err(self.unjournalled(index, &e)));
                    }
                }
            }
            for (mut completion, written) in items {
                if let Some(Err(error)) = written {
                    // Not on disk, so not delivered: the run ends here, and
                    // what was journalled before serves a resumed run.
                    completion = failed(completion.id, error);
                }
                if let Some(usage) = &completion.usage {
                    let _ =
                        self.spent.fetch_update(Relaxed, Relaxed, |s| Some(s.saturating_add(usage.total())));
                }
                let _ = to_guest.send(completion);
                sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        };
        let handle = |msg: GuestMsg, calls: &mut JoinSet<(Completion, Completed)>| match msg {
            GuestMsg::Event(GuestEvent::Phase { title }) => {
                self.run.progress.phase(&capped(title, MAX_PHASE_BYTES))
            }
            GuestMsg::Event(GuestEvent::Log { message }) => self.log(message),
            // Blocked with nothing on its way: keeping the recorded order
            // would wait forever. (An Idle sent before a completion we
            // have since sent, or while live calls run, is stale.)
            GuestMsg::Idle { received }
                if received == sent.load(std::sync::atomic::Ordering::Relaxed) && calls.is_empty() =>
            {
                deliver(lock(&self.sequencer).idle())
            }
            GuestMsg::Idle { .. } => {}
            GuestMsg::Agent { id, request } => match self.prepare(id, request) {
                Ok(job) => match self.decide(&job) {
                    Decision::Live => {
                        let mut sequencer = lock(&self.sequencer);
                        let mut released = sequencer.skip(job.index);
                        if self.plan.as_ref().is_some_and(|p| lock(p).diverged()) {
                            // After the first divergence the recorded order no longer applies.
                            released.extend(sequencer.release_all());
                        }
                        drop(sequencer);
                        deliver(released);
                        // Held until the call ends (see `run`).
                        self.held.fetch_add(job.held, Relaxed);
                        self.run.progress.agent_queued(job.shown());
                        calls.spawn(self.clone().run(job));
                    }
                    Decision::Reuse { completed, from_index, rule } => {
                        let served = self.reuse(&job, completed, rule);
                        let released = if rule == ReuseRule::Prefix {
                            lock(&self.sequencer).offer(from_index, served)
                        } else {
                            vec![served]
                        };
                        deliver(released);
                    }
                    Decision::Diverged(d) => {
                        let error = CallError::fatal(ErrorName::ReplayDivergence, d.to_string(), None);
                        lock(&self.divergence).get_or_insert(d);
                        deliver(vec![(failed(id, error), None)]);
                    }
                },
                Err(error) => deliver(vec![(failed(id, error), None)]),
            },
        };
        loop {
            let msg = tokio::select! {
                msg = from_guest.recv() => match msg {
                    Some(msg) => msg,
                    None => break,
                },
                Some(Ok(first)) = calls.join_next(), if !calls.is_empty() => {
                    // With every other call that has ended by now, to share
                    // the journal's flush.
                    let mut ended = vec![first];
                    while let Some(Ok(next)) = calls.try_join_next() {
                        ended.push(next);
                    }
                    // The logical clock moves when the guest receives a
                    // completion, so it never runs backwards.
                    let clock = now_ms();
                    let items = ended.into_iter().map(|(mut completion, mut record)| {
                        completion.clock = clock;
                        record.clock = clock;
                        (completion, Some(Record::Live(record)))
                    });
                    deliver(items.collect());
                    continue;
                }
            };
            // What else the guest has sent by now is handled in the same
            // burst, its events written together when the burst ends: a
            // fan-out's requests arrive together, and a resume serves them
            // all from the journal at once.
            let _held = self.run.progress.hold();
            busy.store(true, Relaxed);
            handle(msg, &mut calls);
            for _ in 1..BURST {
                match from_guest.try_recv() {
                    Ok(msg) => handle(msg, &mut calls),
                    Err(_) => break,
                }
            }
            // A message sent after the last look waits in the channel,
            // where the next `recv` finds it without sleeping.
            busy.store(false, Relaxed);
            if let Some(scribe) = &self.scribe {
                scribe.wake();
            }
        }
        calls.shutdown().await;
        // The run's end is written once this returns: every copy first.
        if let Some(scribe) = &self.scribe {
            scribe.finish();
        }
        self.remove_abandoned_worktrees().await;
    }

    /// Keeps a `log()` message, cut to [`MAX_LOG_BYTES`]; past
    /// [`MAX_LOGGED_BYTES`] in a run, later messages are dropped (said once).
    fn log(&self, message: String) {
        let message = capped(message, MAX_LOG_BYTES);
        let before = self.logged.fetch_add(message.len(), Relaxed);
        if before + message.len() <= MAX_LOGGED_BYTES {
            self.run.progress.event(Event::Log { message });
        } else if before <= MAX_LOGGED_BYTES {
            let note = format!(
                "odw: later log messages are dropped: this run logged {} MiB",
                MAX_LOGGED_BYTES >> 20
            );
            self.run.progress.event(Event::Log { message: note });
        }
    }

    /// Decides whether a recorded completion serves the call, and journals
    /// the call unless one does: a served call's issued record is written
    /// with its completion, once the guest has it ([`Record::Copied`]). After
    /// a crash the journal has both or neither, and a call issued but never
    /// completed is run again in any case.
    fn decide(&self, job: &Job) -> Decision {
        let decision = match &self.plan {
            Some(plan) => lock(plan).decide(job.index, &job.key, &job.content_key, &job.label, &job.prompt),
            None => Decision::Live,
        };
        if !matches!(decision, Decision::Reuse { .. })
            && let Some(journal) = &self.run.journal
        {
            match &self.scribe {
                Some(scribe) => scribe.issue(issued(job)),
                None => {
                    if let Err(e) = journal.issue(&issued(job)) {
                        self.run
                            .progress
                            .event(Event::JournalError { index: job.index, error: e.to_string() });
                    }
                }
            }
        }
        decision
    }

    /// Serves a call from a recorded completion: journalled again in this
    /// run (so this run can be resumed in turn) and shown as cached.
    fn reuse(&self, job: &Job, completed: Completed, rule: ReuseRule) -> (Completion, Option<Record>) {
        let usage = completed.usage;
        let (ok, value, error) = match &completed.outcome {
            CallOutcome::Ok { value } => (true, Some(value.clone()), None),
            CallOutcome::Err { name, message } => (
                false,
                None,
                Some(CallError { name: name.clone(), message: message.clone(), fatal: false, limit: None }),
            ),
        };
        let progress = &self.run.progress;
        if progress.watched() {
            let agent = crate::rundir::AgentStart { cached: true, reuse: Some(rule), ..job.shown() };
            let prompt = Some(odw_journal::prompt_head(&job.prompt));
            let start = crate::rundir::AgentStart { prompt, ..agent.clone() };
            let end = AgentEnd {
                agent,
                ms: 0,
                attempts: completed.attempts,
                usage,
                worktree: None,
                error: error.as_ref().map(|e| e.message.clone()),
                preview: value.as_ref().map(AgentEnd::preview_of),
            };
            progress.agent_reused(start, end);
        } else {
            progress.count_reused(!ok, usage.total());
        }
        let clock = completed.clock;
        let record = Completed { index: job.index, key: job.key.clone(), ..completed };
        (
            Completion { id: job.index, ok, value, error, usage: Some(usage), clock },
            Some(Record::Copied(issued(job), record)),
        )
    }

    /// Journals a completion before the guest may see it, and says what
    /// makes it durable: a live one needs the journal's flush (which
    /// `serve` makes once for all that end together); a copied one is
    /// already on disk in the run it came from, so a resume's [`Scribe`]
    /// may write it after the guest has it. A completion that cannot be
    /// journalled (a full disk) is a fatal error for the call: the guest
    /// must never see a result the journal lacks.
    fn record(&self, record: Record) -> Result<Durability, CallError> {
        let Some(journal) = &self.run.journal else { return Ok(Durability::Already) };
        let c = match record {
            Record::Live(c) => c,
            Record::Copied(issued, c) => {
                match &self.scribe {
                    Some(scribe) => scribe.copy(issued, c),
                    None => {
                        let index = c.index;
                        journal.copy(&[(issued, c)]).map_err(|e| self.unjournalled(index, &e))?;
                    }
                }
                return Ok(Durability::Already);
            }
        };
        let written = match &self.scribe {
            Some(scribe) => scribe.now(|journal| journal.complete_unflushed(&c)),
            None => journal.complete_unflushed(&c),
        };
        written.map_err(|e| self.unjournalled(c.index, &e))?;
        Ok(Durability::AfterFlush(c.index))
    }

    /// The error of call `index`, whose completion the journal could not
    /// take (`e`); the run's events say so too.
    fn unjournalled(&self, index: u32, e: &odw_journal::JournalError) -> CallError {
        self.run.progress.event(Event::JournalError { index, error: e.to_string() });
        unjournalled_error(index, e)
    }

    /// Waits while the run is paused, then for a concurrency slot. A call
    /// that got its slot while a pause began gives it back and waits again,
    /// so a pause holds queued calls too.
    async fn slot(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        let mut control = self.control.clone();
        loop {
            control.wait_for(|c| !c.paused).await.ok()?;
            let slot = self.slots.acquire().await.ok()?;
            if !control.borrow().paused {
                return Some(slot);
            }
        }
    }
}

/// The most guest messages handled in one burst (see [`Scheduler::serve`]),
/// so a reader of `events.jsonl` is never far behind.
const BURST: usize = 256;
/// The longest `log()` message kept in `events.jsonl`; the rest is cut, so a
/// script cannot fill the disk through its event log.
const MAX_LOG_BYTES: usize = 64 * 1024;
/// Log bytes one run keeps in `events.jsonl`.
const MAX_LOGGED_BYTES: usize = 64 << 20;
/// Prompt bytes the host holds at once for calls queued or running.
pub(super) const MAX_HELD_PROMPTS: usize = 256 << 20;
/// The longest phase title kept.
const MAX_PHASE_BYTES: usize = 1024;

/// `text`, cut to at most `max` bytes (at a character boundary) with a
/// note of how much went.
fn capped(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut at = max;
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let cut = text.len() - at;
    text.truncate(at);
    text.push_str(&format!("… ({cut} more bytes not kept)"));
    text
}

/// The issued record of `job`.
fn issued(job: &Job) -> Issued {
    Issued {
        index: job.index,
        key: job.key.clone(),
        content_key: job.content_key.clone(),
        label: job.label.clone(),
        phase: job.phase.clone(),
        prompt_head: odw_journal::prompt_head(&job.prompt),
    }
}

/// The error every completion from call `index` on gets once the journal
/// could not take that call's result (`e`).
fn unjournalled_error(index: u32, e: &dyn std::fmt::Display) -> CallError {
    let message = format!(
        "cannot journal the result of call #{index}, so the run stops here ({e}); \
         resume it with --resume-from once there is room"
    );
    CallError::fatal(ErrorName::InternalError, message, None)
}

fn failed(id: u32, error: CallError) -> Completion {
    Completion { id, ok: false, value: None, error: Some(error), usage: None, clock: now_ms() }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Wall-clock ms since the Unix epoch: the logical clock of live completions.
pub fn now_ms() -> f64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or(Duration::ZERO).as_millis() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{AgentOpts, AgentRequest};
    use crate::rundir::{Event, RunState, Stamped};
    use serde_json::json;

    fn request(prompt: &str, opts: AgentOpts) -> GuestMsg {
        GuestMsg::Agent {
            id: 0,
            request: Ok(Box::new(AgentRequest { prompt: prompt.into(), opts, phase: Some("P".into()) })),
        }
    }

    /// The start of a journal made for a test.
    pub(super) fn started() -> odw_journal::Started {
        odw_journal::Started {
            version: odw_journal::FORMAT_VERSION,
            seed: [0, 0],
            clock: 0.0,
            script_hash: String::new(),
            args_hash: String::new(),
            resumed_from: None,
            odw_version: String::new(),
            context: serde_json::Value::Null,
        }
    }

    /// A scheduler on the echo adapter with a fresh run directory and journal.
    fn scheduler(
        config: Config,
        root: &std::path::Path,
    ) -> (Arc<Scheduler>, RunDir, Arc<Progress>, Arc<Journal>) {
        let run = RunDir::create(root, "t").unwrap();
        let progress = Arc::new(Progress::new(run.clone(), "t").unwrap());
        let journal = Arc::new(Journal::create(&run.journal_path(), started()).unwrap());
        let (_control_tx, control) = watch::channel(Control::default());
        let scheduler = Arc::new(Scheduler::new(
            config,
            Setup {
                run: RunContext {
                    default_adapter: "echo".into(),
                    adapter_forced: false,
                    workspace: root.to_path_buf(),
                    run: run.clone(),
                    progress: progress.clone(),
                    journal: Some(journal.clone()),
                    budget: None,
                },
                plan: None,
                control,
            },
        ));
        (scheduler, run, progress, journal)
    }

    /// Serves `calls` (ids in order) on the echo adapter; returns the
    /// completions by id, the run's events and its journal.
    async fn serve(config: Config, calls: Vec<GuestMsg>) -> (Vec<Completion>, Vec<Event>, Journal) {
        let root = tempfile::tempdir().unwrap();
        let (scheduler, run, progress, journal) = scheduler(config, root.path());
        let (to_host, from_guest) = mpsc::unbounded_channel();
        let (to_guest, mut completions) = mpsc::unbounded_channel();
        let serving = tokio::spawn(scheduler.serve(from_guest, to_guest, Arc::default()));
        let expected = calls.iter().filter(|m| matches!(m, GuestMsg::Agent { .. })).count();
        let mut next_id = 0;
        for msg in calls {
            let msg = match msg {
                GuestMsg::Agent { request, .. } => {
                    next_id += 1;
                    GuestMsg::Agent { id: next_id - 1, request }
                }
                other => other,
            };
            to_host.send(msg).unwrap();
        }
        let mut got = Vec::new();
        while got.len() < expected {
            got.push(completions.recv().await.expect("a completion for every call"));
        }
        drop(to_host);
        serving.await.unwrap();
        progress.finish(RunState::Done, Event::RunFinished { ms: 0, agents: progress.status().agents });
        got.sort_by_key(|c| c.id);
        let events = run
            .event_tail()
            .read_new()
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str::<Stamped>(l).unwrap().event)
            .collect();
        let journal = Arc::try_unwrap(journal).map_err(|_| "the scheduler kept the journal").unwrap();
        (got, events, journal)
    }

    /// A fan-out spawns every call at once, each to wait for its slot; what
    /// a waiting call holds is its future, so that must stay small whatever
    /// the adapters' futures weigh (they made it 23 KB: 25 MB for 1000
    /// waiting calls).
    #[test]
    fn a_call_waiting_for_its_slot_holds_little_memory() {
        let root = tempfile::tempdir().unwrap();
        let (scheduler, ..) = scheduler(Config::default(), root.path());
        let GuestMsg::Agent { id, request } = request("hello", AgentOpts::default()) else { unreachable!() };
        let job = scheduler.prepare(id, request).unwrap();
        let waiting = scheduler.clone().run(job);
        let bytes = std::mem::size_of_val(&waiting);
        assert!(bytes <= 4096, "a call waiting for its slot is a {bytes}-byte future");
    }

    #[tokio::test]
    async fn serves_calls_on_the_echo_adapter_and_journals_them() {
        let schema = AgentOpts {
            schema: Some(
                json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}),
            ),
            label: Some("shaped".into()),
            ..AgentOpts::default()
        };
        let calls = vec![
            request("hello", AgentOpts::default()),
            GuestMsg::Event(GuestEvent::Log { message: "between".into() }),
            request("give me n", schema),
        ];
        let (completions, events, journal) = serve(Config::default(), calls).await;
        assert_eq!(completions.len(), 2);
        assert!(
            completions[0].ok && completions[0].value.as_ref().unwrap().as_str().unwrap().contains("hello")
        );
        assert!(completions[1].ok && completions[1].value.as_ref().unwrap()["n"].is_i64(), "{completions:?}");
        let finished: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::AgentFinished(end) => Some((end.agent.index, end.agent.label.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(finished.len(), 2);
        assert!(finished.contains(&(1, "shaped")), "{finished:?}");
        assert!(events.contains(&Event::Log { message: "between".into() }));
        // Journalled in the order the guest saw them.
        let journalled: Vec<u32> = journal.completions().unwrap().into_iter().map(|(_, c)| c.index).collect();
        let mut sorted = journalled.clone();
        sorted.sort();
        assert_eq!(sorted, [0, 1]);
        assert_eq!(journal.issued().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn the_prompts_the_host_holds_at_once_are_bounded() {
        let root = tempfile::tempdir().unwrap();
        let run = RunDir::create(root.path(), "t").unwrap();
        let progress = Arc::new(Progress::new(run.clone(), "t").unwrap());
        // Paused: no call starts, so every dispatched prompt stays held.
        let (_pause, control) = watch::channel(Control { paused: true });
        let context = RunContext {
            default_adapter: "echo".into(),
            adapter_forced: false,
            workspace: root.path().to_path_buf(),
            run,
            progress,
            journal: None,
            budget: None,
        };
        let scheduler =
            Arc::new(Scheduler::new(Config::default(), Setup { run: context, plan: None, control }));
        let (to_host, from_guest) = mpsc::unbounded_channel();
        let (to_guest, mut completions) = mpsc::unbounded_channel();
        tokio::spawn(scheduler.serve(from_guest, to_guest, Arc::default()));
        let big = "p".repeat(8 << 20);
        for id in 0..40 {
            let request = AgentRequest { prompt: big.clone(), opts: AgentOpts::default(), phase: None };
            to_host.send(GuestMsg::Agent { id, request: Ok(Box::new(request)) }).unwrap();
        }
        // 32 × 8 MiB fit in 256 MiB; the next ones are refused at once.
        let refused = completions.recv().await.unwrap();
        assert_eq!(refused.id, 32);
        let error = refused.error.unwrap();
        assert!(error.name == "LimitError" && error.message.contains("256 MiB"), "{error:?}");
    }

    #[test]
    fn long_texts_are_cut_at_a_character_boundary() {
        assert_eq!(capped("short".into(), 10), "short");
        let cut = capped("ééééé".into(), 5);
        assert_eq!(cut, "éé… (6 more bytes not kept)");
    }

    #[tokio::test]
    async fn refusals_are_fatal_and_name_their_cause() {
        let config = Config { max_agents: Some(1), ..Config::default() };
        let bad_isolation = AgentOpts { isolation: Some("elsewhere".into()), ..AgentOpts::default() };
        let bad_schema = AgentOpts { schema: Some(json!({"type": 12})), ..AgentOpts::default() };
        let calls = vec![
            request("fine", AgentOpts::default()),
            request("too many", AgentOpts::default()),
            GuestMsg::Agent { id: 0, request: Err("not JSON".into()) },
        ];
        let (completions, _, _) = serve(config, calls).await;
        let names: Vec<(bool, Option<&str>)> =
            completions.iter().map(|c| (c.ok, c.error.as_ref().map(|e| e.name.as_str()))).collect();
        assert_eq!(names, [(true, None), (false, Some("LimitError")), (false, Some("ProtocolError"))]);
        assert!(completions[1..].iter().all(|c| c.error.as_ref().unwrap().fatal));

        let (completions, _, _) =
            serve(Config::default(), vec![request("a", bad_isolation), request("b", bad_schema)]).await;
        let first = completions[0].error.as_ref().unwrap();
        assert_eq!(first.name, "TypeError");
        assert_eq!(first.message, "isolation: 'elsewhere' is not one of 'inplace', 'worktree'");
        assert_eq!(completions[1].error.as_ref().unwrap().name, "SchemaError");

        let flag = AgentOpts { model: Some("--yolo".into()), ..AgentOpts::default() };
        let other = AgentOpts { adapter: Some("claude".into()), ..AgentOpts::default() };
        let pinned = Config { pin_adapter: true, ..Config::default() };
        let (completions, _, _) = serve(pinned, vec![request("a", flag), request("b", other)]).await;
        let flag = completions[0].error.as_ref().unwrap();
        assert!(
            flag.name == "TypeError" && flag.message.contains("`model` must not start with '-'"),
            "{flag:?}"
        );
        let pinned = completions[1].error.as_ref().unwrap();
        assert!(pinned.name == "ConfigError" && pinned.message.contains("pinAdapter"), "{pinned:?}");
    }
}
