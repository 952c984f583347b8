//! The scheduler: turns the guest's `agent()` requests into adapter calls.
//!
//! Requests arrive in the order the script issued them; each gets its
//! dispatch index (the id the guest already holds). The `maxAgents` backstop
//! is counted here, at dispatch. Calls then wait for a slot of the
//! `concurrency` semaphore, run their adapter (with schema retries), and send
//! their completion back to the guest. When the guest ends, every call still
//! running is cancelled, which kills its process group.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use odw_journal::{CallOutcome, Completed, Issued, Journal};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use crate::adapters::workspace::{self, Worktree, WorktreeError};
use crate::adapters::{Adapter, AgentCall, AgentReply};
use crate::config::Config;
use crate::progress::Progress;
use crate::protocol::{AgentRequest, CallError, Completion, GuestEvent, Usage};
use crate::replay::{self, Decision, Divergence, Plan, ReuseSummary, Sequencer};
use crate::sandbox::GuestMsg;
use crate::schema::{Rejection, Schema};

/// What every call of one run shares.
pub struct Scheduler {
    pub config: Config,
    /// The adapter used when a call names none.
    pub default_adapter: String,
    /// `--adapter` was given: `default_adapter` serves every call.
    pub adapter_forced: bool,
    /// Where agents work (`{workspace}`) and the project (`{source}`).
    pub workspace: PathBuf,
    /// The run directory, for prompt files.
    pub run_path: PathBuf,
    pub progress: Arc<Progress>,
    /// This run's journal (none for `odw replay --check`).
    pub journal: Option<Arc<Journal>>,
    /// Recorded calls to reuse, when resuming or checking.
    plan: Option<Mutex<Plan>>,
    sequencer: Mutex<Sequencer<(Completion, Option<Record>)>>,
    divergence: Mutex<Option<Divergence>>,
    control: watch::Receiver<Control>,
    slots: Semaphore,
    /// The git repository of the workspace, looked up at the first call
    /// that asks for a worktree.
    repo: std::sync::OnceLock<Result<PathBuf, WorktreeError>>,
}

/// What a scheduler is built from, besides the configuration.
pub struct Setup {
    pub default_adapter: String,
    pub adapter_forced: bool,
    pub workspace: PathBuf,
    pub run_path: PathBuf,
    pub progress: Arc<Progress>,
    pub journal: Option<Arc<Journal>>,
    pub plan: Option<Plan>,
    pub control: watch::Receiver<Control>,
}

/// What `odw pause|resume|stop` asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Control {
    /// Agents not yet started (queued ones included) wait.
    pub paused: bool,
}

/// A completion to journal.
enum Record {
    /// From an agent that ran in this run.
    Live(Completed),
    /// Served from an earlier run's journal.
    Copied(Completed),
}

/// One call, checked and ready to run.
struct Job {
    index: u32,
    key: String,
    content_key: String,
    label: String,
    phase: Option<String>,
    adapter_name: String,
    adapter: Adapter,
    prompt: String,
    schema: Option<Schema>,
    model: Option<String>,
    role: Option<String>,
    /// Runs in its own git worktree (in this repository).
    worktree: Option<PathBuf>,
}

impl Scheduler {
    pub fn new(config: Config, setup: Setup) -> Self {
        let Setup { default_adapter, adapter_forced, workspace, run_path, progress, journal, plan, control } =
            setup;
        let slots = Semaphore::new(config.concurrency());
        let order = plan.as_ref().map(|p| p.order().to_vec()).unwrap_or_default();
        Scheduler {
            config,
            default_adapter,
            adapter_forced,
            workspace,
            run_path,
            progress,
            journal,
            plan: plan.map(Mutex::new),
            sequencer: Mutex::new(Sequencer::new(order)),
            divergence: Mutex::new(None),
            control,
            slots,
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
    /// the calls that are still running.
    pub async fn serve(
        self: Arc<Self>,
        mut from_guest: mpsc::UnboundedReceiver<GuestMsg>,
        to_guest: mpsc::UnboundedSender<Completion>,
    ) {
        let mut calls: JoinSet<(Completion, Completed)> = JoinSet::new();
        // Completions are journalled and sent here, one at a time, so the
        // journal's completion order is exactly the order the guest sees.
        let sent = std::sync::atomic::AtomicU64::new(0);
        let deliver = |items: Vec<(Completion, Option<Record>)>| {
            for (completion, record) in items {
                if let Some(record) = record {
                    self.record(&record);
                }
                let _ = to_guest.send(completion);
                sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        };
        loop {
            let msg = tokio::select! {
                msg = from_guest.recv() => match msg {
                    Some(msg) => msg,
                    None => break,
                },
                Some(Ok((mut completion, mut record))) = calls.join_next(), if !calls.is_empty() => {
                    // The logical clock moves when the guest receives a
                    // completion, so it never runs backwards.
                    completion.clock = now_ms();
                    record.clock = completion.clock;
                    deliver(vec![(completion, Some(Record::Live(record)))]);
                    continue;
                }
            };
            match msg {
                GuestMsg::Event(GuestEvent::Phase { title }) => self.progress.phase(&title),
                GuestMsg::Event(GuestEvent::Log { message }) => {
                    self.progress.event("log", json!({ "message": message }));
                }
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
                            calls.spawn(self.clone().run(job));
                        }
                        Decision::Reuse { completed, from_index, rule } => {
                            let served = self.reuse(&job, completed, rule);
                            let released = if rule == "prefix" {
                                lock(&self.sequencer).offer(from_index, served)
                            } else {
                                vec![served]
                            };
                            deliver(released);
                        }
                        Decision::Diverged(d) => {
                            let error = CallError::fatal("ReplayDivergence", d.to_string(), None);
                            lock(&self.divergence).get_or_insert(d);
                            deliver(vec![(failed(id, error), None)]);
                        }
                    },
                    Err(error) => deliver(vec![(failed(id, error), None)]),
                },
            }
        }
        calls.shutdown().await;
    }

    /// Journals the call and decides whether a recorded completion serves it.
    fn decide(&self, job: &Job) -> Decision {
        if let Some(journal) = &self.journal {
            let issued = Issued {
                index: job.index,
                key: job.key.clone(),
                content_key: job.content_key.clone(),
                label: job.label.clone(),
                phase: job.phase.clone(),
                prompt_head: replay::head(&job.prompt),
            };
            if let Err(e) = journal.issue(&issued) {
                self.progress.event("journal_error", json!({ "index": job.index, "error": e.to_string() }));
            }
        }
        let Some(plan) = &self.plan else { return Decision::Live };
        lock(plan).decide(job.index, &job.key, &job.content_key, &job.label, &job.prompt)
    }

    /// Serves a call from a recorded completion: journalled again in this
    /// run (so this run can be resumed in turn) and shown as cached.
    fn reuse(&self, job: &Job, completed: Completed, rule: &'static str) -> (Completion, Option<Record>) {
        let usage = from_journal_usage(completed.usage);
        let fields = |extra: Value| {
            let mut base = json!({
                "index": job.index, "label": job.label, "phase": job.phase,
                "adapter": job.adapter_name, "model": job.model, "cached": true, "reuse": rule,
            });
            if let (Value::Object(b), Value::Object(e)) = (&mut base, extra) {
                b.extend(e);
            }
            base
        };
        self.progress.agent_started(fields(json!({})));
        let (ok, value, error) = match &completed.outcome {
            CallOutcome::Ok { value } => (true, Some(value.clone()), None),
            CallOutcome::Err { name, message } => (
                false,
                None,
                Some(CallError { name: name.clone(), message: message.clone(), fatal: false, limit: None }),
            ),
        };
        let done = fields(json!({ "ms": 0, "attempts": completed.attempts, "usage": usage }));
        if ok {
            self.progress.agent_finished(&usage, done);
        } else {
            self.progress.agent_failed(&usage, done);
        }
        let record = Completed { index: job.index, key: job.key.clone(), ..completed.clone() };
        (
            Completion { id: job.index, ok, value, error, usage: Some(usage), clock: completed.clock },
            Some(Record::Copied(record)),
        )
    }

    /// Journals a completion before the guest may see it: a live one is on
    /// disk first; a copied one is already on disk in the run it came from.
    fn record(&self, record: &Record) {
        let Some(journal) = &self.journal else { return };
        let (result, index) = match record {
            Record::Live(c) => (journal.complete(c), c.index),
            Record::Copied(c) => (journal.complete_copied(c), c.index),
        };
        if let Err(e) = result {
            self.progress.event("journal_error", json!({ "index": index, "error": e.to_string() }));
        }
    }

    /// Checks a request before anything runs: the backstop, the adapter, the
    /// schema. Each refusal is fatal: retrying or `null`-ing it would hide a
    /// bug in the script or the setup.
    fn prepare(&self, index: u32, request: Result<Box<AgentRequest>, String>) -> Result<Job, CallError> {
        let request = *request.map_err(|e| CallError::fatal("ProtocolError", e, None))?;
        let max = self.config.max_agents();
        if index as usize >= max {
            return Err(CallError::fatal(
                "LimitError",
                format!(
                    "maxAgents limit: this run tried to dispatch agent #{} but the limit is {max}; \
                     raise `maxAgents` in odw.config.json if that many agents are intended",
                    index + 1
                ),
                Some("maxAgents"),
            ));
        }
        let opts = request.opts;
        let isolation =
            opts.isolation.as_deref().or(self.config.workspace_mode.as_deref()).unwrap_or("inplace");
        let worktree = match isolation {
            "inplace" => None,
            // ODW's copy mode, done the way that keeps the agent's edits.
            "worktree" | "copy" => {
                Some(self.repo().map_err(|e| CallError::fatal("WorkspaceError", e, None))?)
            }
            other => {
                return Err(CallError::fatal(
                    "TypeError",
                    format!("isolation: '{other}' is not one of 'inplace', 'worktree'"),
                    None,
                ));
            }
        };
        let wanted = match (&opts.adapter, self.adapter_forced) {
            (Some(own), false) => own.as_str(),
            _ => &self.default_adapter,
        };
        let (adapter_name, adapter) = Adapter::resolve(wanted, &self.config)
            .map_err(|e| CallError::fatal("ConfigError", e.to_string(), None))?;
        let schema = match &opts.schema {
            Some(source) => Some(
                Schema::compile(source).map_err(|e| CallError::fatal("SchemaError", e.to_string(), None))?,
            ),
            None => None,
        };
        // Everything that changes the answer is part of the key; label and
        // phase only change how the call is shown.
        let mut effective = serde_json::Map::new();
        effective.insert("adapter".into(), json!(adapter_name));
        for (key, value) in [
            ("model", opts.model.as_ref().map(|m| json!(m))),
            ("schema", opts.schema.clone()),
            ("agentType", opts.agent_type.as_ref().map(|a| json!(a))),
            ("effort", opts.effort.as_ref().map(|e| json!(e))),
            ("isolation", worktree.as_ref().map(|_| json!("worktree"))),
        ] {
            if let Some(v) = value {
                effective.insert(key.into(), v);
            }
        }
        let effective = Value::Object(effective);
        let key = odw_journal::call_key(index, &request.prompt, &effective);
        let content_key = odw_journal::content_key(&request.prompt, &effective);
        let prompt = match &opts.agent_type {
            Some(role) => format!("You are acting as: {role}.\n\n{}", request.prompt),
            None => request.prompt,
        };
        let label = opts
            .label
            .clone()
            .or_else(|| self.config.adapters.get(&adapter_name).and_then(|a| a.label.clone()))
            .unwrap_or_else(|| adapter_name.clone());
        Ok(Job {
            index,
            key,
            content_key,
            label,
            phase: request.phase,
            adapter_name,
            adapter,
            prompt,
            schema,
            model: opts.model,
            role: opts.agent_type,
            worktree,
        })
    }

    /// The repository worktrees are made in, looked up once per run.
    fn repo(&self) -> Result<PathBuf, String> {
        self.repo.get_or_init(|| workspace::repo_root(&self.workspace)).clone().map_err(|e| e.to_string())
    }

    /// Makes the call's worktree on `odw/<runId>/<index>`, when it asks for one.
    async fn isolate(&self, job: &Job) -> Result<Option<Worktree>, String> {
        let Some(repo) = &job.worktree else { return Ok(None) };
        let run_id = self.run_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let branch = format!("odw/{run_id}/{}", job.index);
        let dir = self.run_path.join("worktrees").join(job.index.to_string());
        Worktree::create(&self.workspace, repo, &dir, &branch).await.map(Some).map_err(|e| e.to_string())
    }

    /// Commits an isolated agent's changes on its branch; the event field.
    async fn keep(&self, job: &Job, worktree: Option<Worktree>) -> Option<Value> {
        let worktree = worktree?;
        let message = format!(
            "odw: agent #{} ({}) of run {}",
            job.index,
            job.label,
            self.run_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
        );
        let patch = self.run_path.join("patches").join(format!("{}.patch", job.index));
        Some(match worktree.finish(&message, &patch).await {
            Ok(kept) => json!(kept),
            Err(e) => json!({ "error": e.to_string() }),
        })
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

    /// Runs one call; the serve loop journals and delivers what it returns.
    async fn run(self: Arc<Self>, job: Job) -> (Completion, Completed) {
        let slot = self.slot().await;
        let started = Instant::now();
        self.progress.agent_started(json!({
            "index": job.index,
            "label": job.label,
            "phase": job.phase,
            "adapter": job.adapter_name,
            "model": job.model,
        }));
        let (result, attempts, usage, worktree) = match self.isolate(&job).await {
            Ok(tree) => {
                let workspace = tree.as_ref().map_or_else(|| self.workspace.clone(), |t| t.workspace.clone());
                let (result, attempts, usage) = self.attempt(&job, &workspace).await;
                (result, attempts, usage, self.keep(&job, tree).await)
            }
            Err(e) => (Err(e), 0, Usage::default(), None),
        };
        let ms = started.elapsed().as_millis() as u64;
        let completion = match result {
            Ok(value) => {
                self.progress.agent_finished(
                    &usage,
                    json!({
                        "index": job.index, "label": job.label, "phase": job.phase,
                        "ms": ms, "attempts": attempts, "usage": usage, "worktree": worktree,
                    }),
                );
                Completion {
                    id: job.index,
                    ok: true,
                    value: Some(value),
                    error: None,
                    usage: Some(usage),
                    clock: now_ms(),
                }
            }
            Err(message) => {
                self.progress.agent_failed(
                    &usage,
                    json!({
                        "index": job.index, "label": job.label, "phase": job.phase,
                        "ms": ms, "attempts": attempts, "usage": usage, "error": message,
                        "worktree": worktree,
                    }),
                );
                let error = CallError::agent(format!("agent `{}` failed: {message}", job.label));
                Completion {
                    id: job.index,
                    ok: false,
                    value: None,
                    error: Some(error),
                    usage: Some(usage),
                    clock: now_ms(),
                }
            }
        };
        let outcome = match (&completion.value, &completion.error) {
            (Some(value), _) => CallOutcome::Ok { value: value.clone() },
            (None, Some(e)) => CallOutcome::Err { name: e.name.clone(), message: e.message.clone() },
            (None, None) => CallOutcome::Ok { value: Value::Null },
        };
        drop(slot);
        let record = Completed {
            index: job.index,
            key: job.key.clone(),
            outcome,
            attempts,
            usage: to_journal_usage(usage),
            clock: completion.clock,
            ms,
        };
        (completion, record)
    }

    /// Runs the call, retrying a reply that does not conform to the schema.
    /// Returns the value, the number of attempts and the summed usage.
    async fn attempt(&self, job: &Job, workspace: &std::path::Path) -> (Result<Value, String>, u32, Usage) {
        let timeout = job.adapter.timeout().unwrap_or_else(|| self.config.agent_timeout());
        let mut usage = Usage::default();
        let mut rejection: Option<Rejection> = None;
        let retries = if job.schema.is_some() { self.config.schema_retries() } else { 0 };
        for attempt in 1..=retries + 1 {
            let prompt = match (&job.schema, &rejection) {
                (Some(schema), Some(r)) => schema.retry_prompt(&job.prompt, r),
                (Some(schema), None) => schema.prompt(&job.prompt),
                (None, _) => job.prompt.clone(),
            };
            let call = AgentCall {
                prompt,
                model: job.model.clone(),
                role: job.role.clone(),
                workspace: workspace.to_path_buf(),
                source: self.workspace.clone(),
                prompt_file: self.run_path.join("prompts").join(format!("{}-{attempt}.txt", job.index)),
                timeout,
            };
            let reply: AgentReply = match job.adapter.call(&call).await {
                Ok(reply) => reply,
                Err(e) => return (Err(e.to_string()), attempt, usage),
            };
            usage = add_usage(usage, reply.usage);
            let Some(schema) = &job.schema else {
                return (Ok(Value::String(reply.text)), attempt, usage);
            };
            match schema.accept(&reply.text) {
                Ok(value) => return (Ok(value), attempt, usage),
                Err(r) => rejection = Some(r),
            }
        }
        let why = rejection.map(|r| r.to_string()).unwrap_or_default();
        (
            Err(format!(
                "the reply did not conform to the schema after {} attempts (`schemaRetries` = {retries}): {why}",
                retries + 1
            )),
            retries + 1,
            usage,
        )
    }
}

fn failed(id: u32, error: CallError) -> Completion {
    Completion { id, ok: false, value: None, error: Some(error), usage: None, clock: now_ms() }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn to_journal_usage(u: Usage) -> odw_journal::Usage {
    odw_journal::Usage { input: u.input, output: u.output, estimated: u.estimated }
}

fn from_journal_usage(u: odw_journal::Usage) -> Usage {
    Usage { input: u.input, output: u.output, estimated: u.estimated }
}

fn add_usage(a: Usage, b: Usage) -> Usage {
    Usage { input: a.input + b.input, output: a.output + b.output, estimated: a.estimated || b.estimated }
}

/// Wall-clock ms since the Unix epoch: the logical clock of live completions.
pub fn now_ms() -> f64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or(Duration::ZERO).as_millis() as f64
}
