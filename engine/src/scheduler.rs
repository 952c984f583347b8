//! The scheduler: turns the guest's `agent()` requests into adapter calls.
//!
//! Requests arrive in the order the script issued them; each gets its
//! dispatch index (the id the guest already holds). The `maxAgents` backstop
//! is counted here, at dispatch. Calls then wait for a slot of the
//! `concurrency` semaphore, run their adapter (with schema retries), and send
//! their completion back to the guest. When the guest ends, every call still
//! running is cancelled, which kills its process group.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::adapters::{Adapter, AgentCall, AgentReply};
use crate::config::Config;
use crate::progress::Progress;
use crate::protocol::{AgentRequest, CallError, Completion, GuestEvent, Usage};
use crate::sandbox::GuestMsg;
use crate::schema::{Rejection, Schema};

/// What every call of one run shares.
pub struct Scheduler {
    pub config: Config,
    /// The adapter used when a call names none.
    pub default_adapter: String,
    /// Where agents work (`{workspace}`) and the project (`{source}`).
    pub workspace: PathBuf,
    /// The run directory, for prompt files.
    pub run_path: PathBuf,
    pub progress: Arc<Progress>,
    slots: Semaphore,
}

/// One call, checked and ready to run.
struct Job {
    index: u32,
    label: String,
    phase: Option<String>,
    adapter_name: String,
    adapter: Adapter,
    prompt: String,
    schema: Option<Schema>,
    model: Option<String>,
    role: Option<String>,
}

impl Scheduler {
    pub fn new(
        config: Config,
        default_adapter: String,
        workspace: PathBuf,
        run_path: PathBuf,
        progress: Arc<Progress>,
    ) -> Self {
        let slots = Semaphore::new(config.concurrency());
        Scheduler { config, default_adapter, workspace, run_path, progress, slots }
    }

    /// Serves the guest until it ends (its sender is dropped), then cancels
    /// the calls that are still running.
    pub async fn serve(
        self: Arc<Self>,
        mut from_guest: mpsc::UnboundedReceiver<GuestMsg>,
        to_guest: mpsc::UnboundedSender<Completion>,
    ) {
        let mut calls = JoinSet::new();
        while let Some(msg) = from_guest.recv().await {
            match msg {
                GuestMsg::Event(GuestEvent::Phase { title }) => self.progress.phase(&title),
                GuestMsg::Event(GuestEvent::Log { message }) => {
                    self.progress.event("log", json!({ "message": message }));
                }
                GuestMsg::Agent { id, request } => match self.prepare(id, request) {
                    Ok(job) => {
                        calls.spawn(self.clone().run(job, to_guest.clone()));
                    }
                    Err(error) => {
                        let _ = to_guest.send(Completion {
                            id,
                            ok: false,
                            value: None,
                            error: Some(error),
                            usage: None,
                            clock: now_ms(),
                        });
                    }
                },
            }
            while calls.try_join_next().is_some() {}
        }
        calls.shutdown().await;
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
        if let Some(isolation) = opts.isolation.as_deref().filter(|i| *i != "inplace") {
            return Err(CallError::fatal(
                "UnsupportedError",
                format!(
                    "isolation: '{isolation}' is not supported by this build of odw yet; remove it to run in place"
                ),
                None,
            ));
        }
        let wanted = opts.adapter.as_deref().unwrap_or(&self.default_adapter);
        let (adapter_name, adapter) = Adapter::resolve(wanted, &self.config)
            .map_err(|e| CallError::fatal("ConfigError", e.to_string(), None))?;
        let schema = match &opts.schema {
            Some(source) => Some(
                Schema::compile(source).map_err(|e| CallError::fatal("SchemaError", e.to_string(), None))?,
            ),
            None => None,
        };
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
            label,
            phase: request.phase,
            adapter_name,
            adapter,
            prompt,
            schema,
            model: opts.model,
            role: opts.agent_type,
        })
    }

    async fn run(self: Arc<Self>, job: Job, to_guest: mpsc::UnboundedSender<Completion>) {
        let Ok(_slot) = self.slots.acquire().await else {
            return;
        };
        let started = Instant::now();
        self.progress.agent_started(json!({
            "index": job.index,
            "label": job.label,
            "phase": job.phase,
            "adapter": job.adapter_name,
            "model": job.model,
        }));
        let (result, attempts, usage) = self.attempt(&job).await;
        let ms = started.elapsed().as_millis() as u64;
        let completion = match result {
            Ok(value) => {
                self.progress.agent_finished(
                    &usage,
                    json!({
                        "index": job.index, "label": job.label, "phase": job.phase,
                        "ms": ms, "attempts": attempts, "usage": usage,
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
                        "ms": ms, "attempts": attempts, "error": message,
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
        let _ = to_guest.send(completion);
    }

    /// Runs the call, retrying a reply that does not conform to the schema.
    /// Returns the value, the number of attempts and the summed usage.
    async fn attempt(&self, job: &Job) -> (Result<Value, String>, u32, Usage) {
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
                workspace: self.workspace.clone(),
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

fn add_usage(a: Usage, b: Usage) -> Usage {
    Usage { input: a.input + b.input, output: a.output + b.output, estimated: a.estimated || b.estimated }
}

/// Wall-clock ms since the Unix epoch: the logical clock of live completions.
pub fn now_ms() -> f64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or(Duration::ZERO).as_millis() as f64
}
