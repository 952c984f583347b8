//! The tools: one method each, on the one server struct. Every tool reads
//! or changes runs through the same functions as the CLI command of the same
//! name (`crate::commands::*`, the engine's `RunDir`), so a run started here
//! is the run `odw status`, `odw watch` and `odw serve` show, and an error
//! says what the CLI would say.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::ProgressNotificationParam;
use rmcp::service::RequestContext;
use rmcp::{ErrorData, Json, RoleServer, tool, tool_router};

use odw_engine::{ControlRequest, ReuseRule, RunDir, RunOptions, Status, library, validate_file};

use super::State;
use super::{inputs, outputs};
use crate::commands::control::{self, Asked, ask};
use crate::commands::inspect::{self, summary};
use crate::commands::run::Failure;
use crate::commands::{journal, run, workflows};
use crate::report;

/// The caller asked for something that cannot be done (no such run, a run
/// that has ended, a bad combination of inputs): the CLI's message.
fn refused(message: impl Into<String>) -> ErrorData {
    ErrorData::invalid_params(message.into(), None)
}

/// odw could not do it (a file it could not read or write, a script that
/// would not prepare): the CLI's message, causes included.
fn failed(e: anyhow::Error) -> ErrorData {
    ErrorData::internal_error(report::chain(&e), None)
}

/// How often `wait` looks at the run, and how often at most it reports
/// progress when nothing changed.
const POLL: Duration = Duration::from_millis(100);
const HEARTBEAT: Duration = Duration::from_secs(1);
/// `wait`'s default and longest wait: long enough for most runs, short
/// enough that a client's own request timeout does not fire first.
const WAIT_DEFAULT_SECS: f64 = 60.0;
const WAIT_MAX_SECS: f64 = 3600.0;
/// The most events one `events` page holds: a page must fit in the host
/// agent's context.
const EVENTS_PAGE: u64 = 500;

/// The server: its state and the tool table the macros build.
#[derive(Clone)]
pub struct Odw {
    pub(super) state: Arc<State>,
    pub(super) tool_router: ToolRouter<Odw>,
}

#[tool_router]
impl Odw {
    pub fn new(state: Arc<State>) -> Odw {
        Odw { state, tool_router: Self::tool_router() }
    }

    /// Starts a workflow in the background, as `odw run` without `--wait`.
    #[tool(
        description = "Start a workflow in the background and return its run id at once. Give exactly one of \
                       `script` (source text), `file` (a path) or `workflow` (a saved workflow's name). \
                       Then `wait` for it, or poll `status`, and read `result`."
    )]
    async fn run(
        &self,
        Parameters(input): Parameters<inputs::Run>,
    ) -> Result<Json<outputs::Started>, ErrorData> {
        let script = self.script(input.source)?;
        let opts = RunOptions {
            script,
            args: input.args,
            adapter: input.adapter,
            budget: input.budget,
            runs_root: Some(self.state.runs_root.clone()),
            workspace: self.state.workspace.clone(),
            resume_from: input.resume_from,
            reuse: ReuseRule::Prefix,
            config_path: self.state.config.path.clone(),
        };
        // Preparing evaluates the script's meta in the sandbox: on a thread
        // of its own, as `odw serve` does, so the protocol keeps flowing.
        let state = self.state.clone();
        let runtime = tokio::runtime::Handle::current();
        let started = tokio::task::spawn_blocking(move || {
            runtime.block_on(run::start_detached(state.sandbox, &state.config, opts))
        })
        .await
        .map_err(|e| failed(e.into()))?;
        let (run, mut worker) = started.map_err(failed)?;
        // The worker outlives nothing, but must not stay a zombie of this server.
        std::thread::spawn(move || {
            let _ = worker.wait();
        });
        let workflow = run.status().map(|s| s.workflow).unwrap_or_default();
        Ok(Json(outputs::Started { run: run.id.clone(), workflow, path: run.path.display().to_string() }))
    }

    #[tool(description = "A run's state, phase, agent counts, tokens and duration (as `odw status`).")]
    async fn status(
        &self,
        Parameters(input): Parameters<inputs::RunId>,
    ) -> Result<Json<outputs::Status>, ErrorData> {
        let run = self.find(&input.run)?;
        let status = self.status_of(&run)?;
        Ok(Json(outputs::Status { status: summary(&run, &status) }))
    }

    #[tool(description = "Wait until a run ends or `timeoutSecs` pass (default 60), sending progress \
                       notifications meanwhile; returns the result or error if it ended, else its current state \
                       (the run goes on; call `wait` again).")]
    async fn wait(
        &self,
        Parameters(input): Parameters<inputs::Wait>,
        context: RequestContext<RoleServer>,
    ) -> Result<Json<outputs::Outcome>, ErrorData> {
        let run = self.find(&input.run)?;
        let timeout = input.timeout_secs.unwrap_or(WAIT_DEFAULT_SECS);
        if !timeout.is_finite() || timeout < 0.0 {
            return Err(refused("`timeoutSecs` must be a number of seconds, 0 or more"));
        }
        let timeout = timeout.min(WAIT_MAX_SECS);
        let token = context.meta.get_progress_token();
        let begun = Instant::now();
        let mut reported: Option<(String, Instant)> = None;
        loop {
            let status = self.status_of(&run)?;
            if status.state.is_final() || begun.elapsed().as_secs_f64() >= timeout {
                return Ok(Json(outcome(&run, status)));
            }
            if let Some(token) = &token {
                let message = progress_message(&status);
                let due = reported.as_ref().is_none_or(|(m, at)| *m != message || at.elapsed() >= HEARTBEAT);
                if due {
                    // Progress is the seconds waited, so it only grows and
                    // reaches `total` when the wait ends.
                    let note = ProgressNotificationParam::new(token.clone(), begun.elapsed().as_secs_f64())
                        .with_total(timeout)
                        .with_message(message.clone());
                    // A client that stopped listening ends the session; the
                    // wait itself needs no answer.
                    let _ = context.peer.notify_progress(note).await;
                    reported = Some((message, Instant::now()));
                }
            }
            // A client that cancels the request (notifications/cancelled)
            // ends the wait; the run goes on.
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                () = context.ct.cancelled() => {
                    return Err(ErrorData::invalid_request("the wait was cancelled", None));
                }
            }
        }
    }

    #[tool(
        description = "A run's result (its return value) or its error, once it has ended (as `odw result`); \
                       an error while it is still running."
    )]
    async fn result(
        &self,
        Parameters(input): Parameters<inputs::RunId>,
    ) -> Result<Json<outputs::Outcome>, ErrorData> {
        let run = self.find(&input.run)?;
        let status = self.status_of(&run)?;
        if !status.state.is_final() {
            return Err(refused(inspect::not_ended(&run, status.state)));
        }
        Ok(Json(outcome(&run, status)))
    }

    #[tool(
        description = "A page of a run's events (phases, logs, agents started and finished, the end), from \
                       `since` (0, or the previous page's `next`)."
    )]
    async fn events(
        &self,
        Parameters(input): Parameters<inputs::Events>,
    ) -> Result<Json<outputs::Events>, ErrorData> {
        let run = self.find(&input.run)?;
        let limit = input.limit.unwrap_or(EVENTS_PAGE).clamp(1, EVENTS_PAGE);
        let since = usize::try_from(input.since).map_err(|_| refused("`since` is out of range"))?;
        let (lines, more) =
            run.events_page(since, limit as usize).context("cannot read the events").map_err(failed)?;
        let next = input.since + lines.len() as u64;
        let events = lines
            .into_iter()
            .map(|l| serde_json::from_str(&l).unwrap_or(serde_json::Value::String(l)))
            .collect();
        Ok(Json(outputs::Events { since: input.since, events, next, more }))
    }

    #[tool(
        description = "Stop a run: kill its agents' process groups and end it `stopped` (as `odw stop`); \
                       returns once the run confirms."
    )]
    async fn stop(
        &self,
        Parameters(input): Parameters<inputs::RunId>,
    ) -> Result<Json<outputs::Control>, ErrorData> {
        self.control(&input.run, ControlRequest::Stop).await
    }

    #[tool(description = "Hold every agent of a run not yet started, queued ones too (as `odw pause`).")]
    async fn pause(
        &self,
        Parameters(input): Parameters<inputs::RunId>,
    ) -> Result<Json<outputs::Control>, ErrorData> {
        self.control(&input.run, ControlRequest::Pause).await
    }

    #[tool(description = "Release a paused run (as `odw resume`).")]
    async fn resume(
        &self,
        Parameters(input): Parameters<inputs::RunId>,
    ) -> Result<Json<outputs::Control>, ErrorData> {
        self.control(&input.run, ControlRequest::Resume).await
    }

    #[tool(
        description = "Compile-check a workflow without running it (as `odw validate`): `ok`, its meta, and \
                       every error with its line and column. Give `script` (source text) or `file` (a path)."
    )]
    async fn validate(
        &self,
        Parameters(input): Parameters<inputs::Validate>,
    ) -> Result<Json<outputs::Validation>, ErrorData> {
        let path = self.script(inputs::Source { script: input.script, file: input.file, workflow: None })?;
        let verdict = validate_file(self.state.sandbox, &self.state.config, &path).await;
        let errors = verdict
            .errors
            .into_iter()
            .map(|p| outputs::Problem { line: p.line, column: p.column, message: p.message })
            .collect();
        Ok(Json(outputs::Validation { ok: verdict.ok, meta: verdict.meta, errors }))
    }

    #[tool(description = "Every run, oldest first, or only those of one workflow (as `odw list`).")]
    async fn list_runs(
        &self,
        Parameters(input): Parameters<inputs::ListRuns>,
    ) -> Result<Json<outputs::Runs>, ErrorData> {
        let runs = inspect::runs(&self.state.runs_root, input.workflow.as_deref());
        Ok(Json(outputs::Runs { runs: runs.iter().map(|(run, s)| summary(run, s)).collect() }))
    }

    #[tool(
        description = "Saved workflows (and those built into odw) with their description and where they come \
                       from (as `odw workflows list`); `run` takes their names."
    )]
    async fn list_workflows(&self) -> Result<Json<outputs::Workflows>, ErrorData> {
        let rows = workflows::saved(&self.state.config, &self.state.workspace, self.state.sandbox).await;
        let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
        let workflows = rows
            .iter()
            .map(|r| outputs::Workflow {
                name: text(&r["name"]),
                description: text(&r["description"]),
                path: r["path"].as_str().map(str::to_string),
                source: text(&r["source"]),
            })
            .collect();
        Ok(Json(outputs::Workflows { workflows }))
    }

    #[tool(
        description = "Replay a recorded run against its journal with no agents (as `odw replay --check`): \
                       whether the script (default: the recorded one) reproduces it, else the first divergence."
    )]
    async fn replay_check(
        &self,
        Parameters(input): Parameters<inputs::ReplayCheck>,
    ) -> Result<Json<outputs::Replay>, ErrorData> {
        let script = input.file.map(|f| self.state.workspace.join(f));
        let verdict = odw_engine::run::check(
            self.state.sandbox,
            &self.state.config,
            &self.state.runs_root,
            &input.run,
            script,
            input.args,
        )
        .await
        .map_err(|e| failed(e.into()))?;
        Ok(Json(outputs::Replay {
            reproduced: verdict.reproduced(),
            calls: verdict.calls,
            message: journal::verdict_message(&input.run, &verdict),
        }))
    }
}

impl Odw {
    /// The file a `Source` names. A client of `odw mcp` is the user's own
    /// host agent, started by the user with the user's rights, so a path may
    /// name any file the user can read, as `odw run` on its shell would.
    fn script(&self, source: inputs::Source) -> Result<PathBuf, ErrorData> {
        let state = &self.state;
        match (source.script, source.file, source.workflow) {
            (Some(text), None, None) => {
                run::inline_script(&text).context("cannot store the inline script").map_err(failed)
            }
            (None, Some(file), None) => Ok(state.workspace.join(file)),
            (None, None, Some(name)) => {
                if !library::valid_name(&name) {
                    return Err(refused("`workflow` must be a saved workflow's name (see `list_workflows`)"));
                }
                run::saved_workflow(&state.config, &state.workspace, &name)
                    .map_err(|e| refused(report::chain(&e)))
            }
            _ => Err(refused(
                "give exactly one of `script` (the source text), `file` (a path) or `workflow` (a saved \
                 workflow's name)",
            )),
        }
    }

    /// The run `id`, or the CLI's message for an unknown one.
    fn find(&self, id: &str) -> Result<RunDir, ErrorData> {
        let root = &self.state.runs_root;
        RunDir::find(root, id).ok_or_else(|| refused(format!("no run `{id}` under {}", root.display())))
    }

    fn status_of(&self, run: &RunDir) -> Result<Status, ErrorData> {
        run.status().map_err(|e| failed(e.into()))
    }

    /// Pause, resume or stop through the control file, as `odw
    /// pause|resume|stop`; a stop waits (off the async workers) for the run
    /// to confirm.
    async fn control(&self, id: &str, request: ControlRequest) -> Result<Json<outputs::Control>, ErrorData> {
        let run = self.find(id)?;
        let file = match ask(&run, request).map_err(|e| failed(e.into()))? {
            Asked::Sent(file) => file,
            Asked::Ended(state) => return Err(refused(control::ended(&run, state))),
        };
        if request == ControlRequest::Stop {
            let waited = run.clone();
            let confirmed = tokio::task::spawn_blocking(move || control::confirm_stop(&waited))
                .await
                .map_err(|e| failed(e.into()))?
                .map_err(|e| failed(e.into()))?;
            if !confirmed {
                return Err(failed(anyhow::anyhow!(control::unconfirmed_stop(&run))));
            }
        }
        let state = self.status_of(&run)?.state;
        Ok(Json(outputs::Control {
            run: run.id.clone(),
            paused: file.paused,
            stop: file.stop,
            state: state.to_string(),
        }))
    }
}

/// What `result` and `wait` answer for a run in `status`.
fn outcome(run: &RunDir, status: Status) -> outputs::Outcome {
    let ended = status.state.is_final();
    let (result, error) = if ended {
        match run::outcome(run, status.state) {
            Ok(value) => (Some(value), None),
            Err(Failure::Script(error)) => (None, Some(report::script_error_line(&error))),
            Err(Failure::Unrecorded(message)) => (None, Some(message)),
        }
    } else {
        (None, None)
    };
    outputs::Outcome {
        run: run.id.clone(),
        state: status.state.to_string(),
        ended,
        result,
        error,
        status: summary(run, &status),
    }
}

/// One progress line: `running · Review · 3/5 agents done`.
fn progress_message(s: &Status) -> String {
    let mut parts = vec![s.state.to_string()];
    if let Some(phase) = &s.phase {
        parts.push(phase.clone());
    }
    let a = s.agents;
    let mut agents = format!("{}/{} agents done", a.done, a.dispatched);
    if a.failed > 0 {
        agents.push_str(&format!(", {} failed", a.failed));
    }
    parts.push(agents);
    parts.join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use odw_engine::RunState;

    #[test]
    fn progress_names_state_phase_and_agents() {
        let mut s = Status::new("r1", "wf", RunState::Running, 0);
        assert_eq!(progress_message(&s), "running · 0/0 agents done");
        s.phase = Some("Review".into());
        s.agents.dispatched = 5;
        s.agents.done = 3;
        s.agents.failed = 1;
        assert_eq!(progress_message(&s), "running · Review · 3/5 agents done, 1 failed");
    }
}
