//! One agent call: checked before it runs ([`Scheduler::prepare`]), then run
//! in its workspace with schema retries ([`Scheduler::run`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use odw_journal::{CallOutcome, Completed, prompt_head};
use serde_json::{Value, json};

use super::{Scheduler, now_ms};
use crate::adapters::workspace::{self, Worktree};
use crate::adapters::{Adapter, AgentCall, AgentReply, CallTag};
use crate::protocol::{AgentRequest, CallError, Completion, ErrorName, Isolation, Usage};
use crate::rundir::{AgentEnd, AgentStart, Event};
use crate::schema::{Rejection, Schema};

/// One call, checked and ready to run.
pub(super) struct Job {
    pub(super) index: u32,
    pub(super) key: String,
    pub(super) content_key: String,
    pub(super) label: String,
    pub(super) phase: Option<String>,
    pub(super) adapter_name: String,
    pub(super) adapter: Adapter,
    pub(super) prompt: String,
    pub(super) schema: Option<Arc<Schema>>,
    pub(super) model: Option<String>,
    pub(super) role: Option<String>,
    pub(super) effort: Option<String>,
    /// Runs in its own git worktree (in this repository).
    pub(super) worktree: Option<PathBuf>,
    /// Prompt bytes counted in the scheduler's `held` until it ends.
    pub(super) held: usize,
}

impl Job {
    /// The call as its events show it.
    pub(super) fn shown(&self) -> AgentStart {
        AgentStart {
            index: self.index,
            label: self.label.clone(),
            phase: self.phase.clone(),
            adapter: self.adapter_name.clone(),
            model: self.model.clone(),
            cached: false,
            reuse: None,
            prompt: None,
        }
    }
}

impl Scheduler {
    /// Checks a request before anything runs: the backstop, the adapter, the
    /// schema. Each refusal is fatal: retrying or `null`-ing it would hide a
    /// bug in the script or the setup.
    pub(super) fn prepare(
        &self,
        index: u32,
        request: Result<Box<AgentRequest>, String>,
    ) -> Result<Job, CallError> {
        let request = *request.map_err(|e| CallError::fatal(ErrorName::ProtocolError, e, None))?;
        let max = self.config.max_agents();
        if index as usize >= max {
            return Err(CallError::fatal(
                ErrorName::LimitError,
                format!(
                    "maxAgents limit: this run tried to dispatch agent #{} but the limit is {max}; \
                     raise `maxAgents` in odw.config.json if that many agents are intended",
                    index + 1
                ),
                Some("maxAgents"),
            ));
        }
        let max_prompt = self.config.max_prompt_bytes();
        if request.prompt.len() > max_prompt {
            return Err(CallError::fatal(
                ErrorName::LimitError,
                format!(
                    "prompt limit: agent #{} was given a {} MiB prompt; the limit is {} MiB (`maxPromptMb`)",
                    index + 1,
                    request.prompt.len() >> 20,
                    max_prompt >> 20
                ),
                Some("maxPromptMb"),
            ));
        }
        let held = self.held.load(std::sync::atomic::Ordering::Relaxed);
        if held + request.prompt.len() > super::MAX_HELD_PROMPTS {
            return Err(CallError::fatal(
                ErrorName::LimitError,
                format!(
                    "prompt limit: the calls waiting and running already hold {} MiB of prompts; \
                     the host holds at most {} MiB at once",
                    held >> 20,
                    super::MAX_HELD_PROMPTS >> 20
                ),
                None,
            ));
        }
        if let Some(total) = self.run.budget {
            let spent = self.spent.load(std::sync::atomic::Ordering::Relaxed);
            if spent >= total {
                return Err(CallError::fatal(
                    ErrorName::BudgetError,
                    format!(
                        "token budget exhausted: {spent} of {total} tokens spent; raise --budget to continue"
                    ),
                    None,
                ));
            }
        }
        let opts = request.opts;
        let isolation = match opts.isolation.as_deref() {
            Some(name) => Isolation::parse(name).ok_or_else(|| {
                CallError::fatal(
                    ErrorName::TypeError,
                    format!("isolation: '{name}' is not one of {}", Isolation::listed()),
                    None,
                )
            })?,
            None => self.config.workspace_mode(),
        };
        let worktree = match isolation {
            Isolation::Inplace => None,
            Isolation::Worktree => {
                Some(self.repo().map_err(|e| CallError::fatal(ErrorName::WorkspaceError, e, None))?)
            }
        };
        // Model routing (`routes`): a call that names a model and no adapter
        // goes where the first matching route says, with the model it says
        // (a stripped prefix). `--adapter`, `opts.adapter` and `pinAdapter`
        // win over it.
        let routed = match (&opts.adapter, &opts.model) {
            (None, Some(model)) if !self.run.adapter_forced && !self.config.pin_adapter => {
                self.config.route(model)
            }
            _ => None,
        };
        let model = routed.as_ref().map_or_else(|| opts.model.clone(), |(_, m)| Some(m.clone()));
        // Values that reach an agent's command line are data, never flags:
        // `model: '--yolo'` would otherwise be read by the CLI as its own
        // option. The model checked is the one the adapter gets.
        for (key, value) in [("model", &model), ("effort", &opts.effort), ("agentType", &opts.agent_type)] {
            if let Some(v) =
                value.as_deref().filter(|v| v.starts_with('-') || v.chars().any(char::is_control))
            {
                return Err(CallError::fatal(
                    ErrorName::TypeError,
                    format!("option `{key}` must not start with '-' or hold control characters, got {v:?}"),
                    None,
                ));
            }
        }
        let wanted = match (&opts.adapter, self.run.adapter_forced) {
            (Some(own), false) if self.config.pin_adapter && *own != self.run.default_adapter => {
                return Err(CallError::fatal(
                    ErrorName::ConfigError,
                    format!(
                        "this configuration pins every call to `{}` (`pinAdapter`); the script asked for `{own}`",
                        self.run.default_adapter
                    ),
                    None,
                ));
            }
            (Some(own), false) => own.as_str(),
            _ => routed.as_ref().map_or(self.run.default_adapter.as_str(), |(adapter, _)| adapter),
        };
        let (adapter_name, adapter) = Adapter::resolve(wanted, &self.config)
            .map_err(|e| CallError::fatal(ErrorName::ConfigError, e.to_string(), None))?;
        let schema = match &opts.schema {
            Some(source) => Some(
                self.schemas
                    .get(source)
                    .map_err(|e| CallError::fatal(ErrorName::SchemaError, e.to_string(), None))?,
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
            ("isolation", worktree.as_ref().map(|_| json!(Isolation::Worktree))),
        ] {
            if let Some(v) = value {
                effective.insert(key.into(), v);
            }
        }
        let effective = Value::Object(effective);
        let key = odw_journal::call_key(index, &request.prompt, &effective);
        let content_key = odw_journal::content_key(&request.prompt, &effective);
        // An adapter that runs named agents gets the name; any other is told
        // the role in the prompt.
        let prompt = match &opts.agent_type {
            Some(role) if !adapter.natives().agent_type => {
                format!("You are acting as: {role}.\n\n{}", request.prompt)
            }
            _ => request.prompt,
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
            schema,
            model,
            role: opts.agent_type,
            effort: opts.effort,
            held: prompt.len(),
            prompt,
            worktree,
        })
    }

    /// The repository worktrees are made in, looked up once per run.
    fn repo(&self) -> Result<PathBuf, String> {
        self.repo.get_or_init(|| workspace::repo_root(&self.run.workspace)).clone().map_err(|e| e.to_string())
    }

    /// Makes the call's worktree on `odw/<runId>/<index>`, when it asks for
    /// one and its executor does not make a clone of its own.
    async fn isolate(&self, job: &Job) -> Result<Option<Worktree>, String> {
        let Some(repo) = &job.worktree else { return Ok(None) };
        if job.adapter.clones() {
            return Ok(None);
        }
        let branch = format!("odw/{}/{}", self.run.run.id, job.index);
        let dir = self.run.run.worktree(job.index);
        Worktree::create(&self.run.workspace, repo, &dir, &branch).await.map(Some).map_err(|e| e.to_string())
    }

    /// Removes the worktrees of calls cancelled before they finished.
    pub(super) async fn remove_abandoned_worktrees(&self) {
        if let Some(Ok(repo)) = self.repo.get() {
            workspace::remove_abandoned(repo, &self.run.run.worktrees()).await;
        }
    }

    /// Commits an isolated agent's changes on its branch; the event field.
    async fn keep(&self, job: &Job, worktree: Option<Worktree>) -> Option<Value> {
        let worktree = worktree?;
        let message = format!("odw: agent #{} ({}) of run {}", job.index, job.label, self.run.run.id);
        let patch = self.run.run.patch_file(job.index);
        Some(match worktree.finish(&message, &patch).await {
            Ok(kept) => json!(kept),
            Err(e) => json!({ "error": e.to_string() }),
        })
    }

    /// Runs one call; the serve loop journals and delivers what it returns.
    pub(super) async fn run(self: Arc<Self>, job: Job) -> (Completion, Completed) {
        let slot = self.slot().await;
        let started = Instant::now();
        self.run.progress.agent_started(AgentStart { prompt: Some(prompt_head(&job.prompt)), ..job.shown() });
        // Boxed: the adapters' futures make this part ~23 KB, and a fan-out
        // spawns every call at once to wait for its slot; inline, each
        // waiting call held that much (a 1000-agent fan-out peaked 25 MB
        // higher). Boxed, only the calls that hold a slot pay for it.
        let (result, attempts, usage, worktree) = Box::pin(async {
            match self.isolate(&job).await {
                Ok(tree) => {
                    let workspace =
                        tree.as_ref().map_or_else(|| self.run.workspace.clone(), |t| t.workspace.clone());
                    let (result, attempts, usage) = self.attempt(&job, &workspace).await;
                    (result, attempts, usage, self.keep(&job, tree).await)
                }
                Err(e) => (Err(e), 0, Usage::default(), None),
            }
        })
        .await;
        let ms = started.elapsed().as_millis() as u64;
        let (value, error, why) = match result {
            Ok(value) => (Some(value), None, None),
            Err(message) => {
                let error = CallError::agent(format!("agent `{}` failed: {message}", job.label));
                (None, Some(error), Some(message))
            }
        };
        self.run.progress.agent_ended(AgentEnd {
            agent: job.shown(),
            ms,
            attempts,
            usage,
            worktree,
            error: why,
            preview: value.as_ref().map(AgentEnd::preview_of),
        });
        let completion = Completion {
            id: job.index,
            ok: value.is_some(),
            value,
            error,
            usage: Some(usage),
            clock: now_ms(),
        };
        let outcome = match (&completion.value, &completion.error) {
            (Some(value), _) => CallOutcome::Ok { value: value.clone() },
            (None, Some(e)) => CallOutcome::Err { name: e.name.clone(), message: e.message.clone() },
            (None, None) => CallOutcome::Ok { value: Value::Null },
        };
        drop(slot);
        self.held.fetch_sub(job.held, std::sync::atomic::Ordering::Relaxed);
        let record = Completed {
            index: job.index,
            key: job.key.clone(),
            outcome,
            attempts,
            usage,
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
        let native = job.schema.as_ref().is_some_and(|s| job.adapter.takes_schema(s.source()));
        for attempt in 1..=retries + 1 {
            let prompt = match (&job.schema, &rejection) {
                (Some(_), Some(r)) if native => Schema::native_retry_prompt(&job.prompt, r),
                (Some(schema), Some(r)) => schema.retry_prompt(&job.prompt, r),
                (Some(schema), None) if !native => schema.prompt(&job.prompt),
                _ => job.prompt.clone(),
            };
            let call = AgentCall {
                prompt,
                model: job.model.clone(),
                role: job.role.clone(),
                effort: job.effort.clone(),
                schema: job.schema.as_ref().filter(|_| native).map(|s| Arc::new(s.source().clone())),
                workspace: workspace.to_path_buf(),
                source: self.run.workspace.clone(),
                prompt_file: self.run.run.prompt_file(job.index, attempt),
                timeout,
                job: CallTag {
                    run: self.run.run.id.clone(),
                    index: job.index,
                    attempt,
                    patch_file: self.run.run.patch_file(job.index),
                    report: Some(Arc::new({
                        let progress = self.run.progress.clone();
                        move |job| progress.event(Event::AgentJob(job))
                    })),
                    control: Some(self.control.clone()),
                },
            };
            let reply: AgentReply = match job.adapter.call(&call).await {
                Ok(reply) => reply,
                Err(e) => return (Err(e.to_string()), attempt, usage),
            };
            usage = usage.plus(reply.usage);
            let Some(schema) = &job.schema else {
                return (Ok(Value::String(reply.text)), attempt, usage);
            };
            // Extraction and validation are bounded, but can still take a
            // while on a large reply: off the async workers. A native
            // structured value is validated as it came; otherwise the JSON
            // is taken from the text.
            let checking = tokio::task::spawn_blocking({
                let schema = schema.clone();
                move || match reply.structured {
                    Some(value) => schema.check(value),
                    None => schema.accept(&reply.text),
                }
            });
            match checking.await {
                Ok(Ok(value)) => return (Ok(value), attempt, usage),
                Ok(Err(r)) => rejection = Some(r),
                Err(e) => return (Err(format!("checking the reply failed: {e}")), attempt, usage),
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
