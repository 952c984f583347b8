//! The JSON endpoints. Each reads or changes a run only through the
//! engine's [`RunDir`] and the CLI's own command functions, so the dashboard
//! and the terminal always agree.
//!
//! | endpoint | answers |
//! |---|---|
//! | `GET /api/runs` | every run's [`RunSummary`], newest first |
//! | `GET /api/runs/:id` | `{summary, meta}`: the summary and what ran (`meta.json`) |
//! | `GET /api/runs/:id/events?since=N&limit=M` | `{since, events, next, more}`: lines `N…` of `events.jsonl` |
//! | `GET /api/runs/:id/result` | `{state, value?, error?}` |
//! | `GET /api/runs/:id/journal` | the rows of `odw journal --json`; 409 while the worker holds it |
//! | `POST /api/runs` | starts `{workflow, args?, adapter?, budget?}` or `{script, args?, …}`: 201 `{id}` |
//! | `POST /api/runs/:id/control` | `{action: pause|resume|stop}`: 200 `{id, paused, stop}`; 409 if it ended |

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use odw_engine::{ControlRequest, ReuseRule, RunDir, RunOptions, RunState, Status, library};
use odw_journal::{Journal, JournalError};

use super::AppState;
use crate::commands::control::{Asked, ask};
pub use crate::commands::inspect::{RunSummary, summary};
use crate::commands::{journal, run};

/// An error answered as `{"error": message}`.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> ApiError {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))
    }
}

type ApiResult<T> = Result<T, ApiError>;

fn find(state: &AppState, id: &str) -> ApiResult<RunDir> {
    RunDir::find(&state.runs_root, id)
        .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no run `{id}`")))
}

fn status(run: &RunDir) -> ApiResult<Status> {
    run.status().map_err(|e| ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))
}

/// Runs blocking file work off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> ApiResult<T> + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
}

/// `GET /api/runs`.
pub async fn runs(State(state): State<Arc<AppState>>) -> ApiResult<Json<Vec<RunSummary>>> {
    blocking(move || {
        let mut rows: Vec<RunSummary> = RunDir::all(&state.runs_root)
            .iter()
            .filter_map(|r| Some(summary(r, &r.status().ok()?)))
            .collect();
        rows.reverse();
        Ok(Json(rows))
    })
    .await
}

/// `GET /api/runs/:id`.
pub async fn one(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    blocking(move || {
        let run = find(&state, &id)?;
        let meta = run.read_meta().map_err(|e| ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
        Ok(Json(json!({ "summary": summary(&run, &status(&run)?), "meta": meta })))
    })
    .await
}

#[derive(Debug, Deserialize)]
pub struct Page {
    #[serde(default)]
    since: u64,
    limit: Option<u64>,
}

/// The most events one page holds.
const MAX_PAGE: u64 = 5_000;

/// `GET /api/runs/:id/events?since=N&limit=M`.
pub async fn events(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(page): Query<Page>,
) -> ApiResult<Json<Value>> {
    blocking(move || {
        let run = find(&state, &id)?;
        let limit = page.limit.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE);
        let (lines, more) =
            run.events_page(page.since as usize, limit as usize).context("cannot read the events")?;
        let next = page.since + lines.len() as u64;
        let events: Vec<Value> =
            lines.into_iter().map(|l| serde_json::from_str(&l).unwrap_or(Value::String(l))).collect();
        Ok(Json(json!({ "since": page.since, "events": events, "next": next, "more": more })))
    })
    .await
}

/// `GET /api/runs/:id/result`.
pub async fn result(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    blocking(move || {
        let run = find(&state, &id)?;
        let s = status(&run)?;
        let mut out = json!({ "state": s.state });
        if s.state == RunState::Done
            && let Some(value) = run.read_result()
        {
            out["value"] = value;
        }
        if let Some(error) = run.read_error() {
            out["error"] = json!(error);
        }
        Ok(Json(out))
    })
    .await
}

/// `GET /runs/:id/report`: the HTML audit `odw report` writes. Read-only,
/// and the page it returns runs no script (its CSP allows inline style only),
/// so a label or reply in it can neither run nor load anything.
pub async fn report(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult<Response> {
    blocking(move || {
        let run = find(&state, &id)?;
        let view = odw_engine::RunView::load(&run).with_context(|| format!("cannot read run {}", run.id))?;
        let generated = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        let html = crate::audit::html::render(&view, &run.path.display().to_string(), &generated);
        let headers = [
            (axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (axum::http::header::CONTENT_SECURITY_POLICY, "default-src 'none'; style-src 'unsafe-inline'"),
        ];
        Ok((headers, html).into_response())
    })
    .await
}

/// `GET /api/runs/:id/journal`: as `odw journal --json`.
pub async fn journal(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    blocking(move || {
        let run = find(&state, &id)?;
        let rows = Journal::open_read_only(&run.journal_path()).and_then(|j| journal::rows(&j));
        match rows {
            Ok(rows) => Ok(Json(json!(rows))),
            Err(JournalError::Locked { .. }) => Err(ApiError(
                StatusCode::CONFLICT,
                "the run's worker holds its journal; it can be read when the run ends".into(),
            )),
            Err(e) => Err(ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
        }
    })
    .await
}

/// What `POST /api/runs` starts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Start {
    /// A saved workflow's name (`odw workflows list`).
    workflow: Option<String>,
    /// Or an inline script.
    script: Option<String>,
    #[serde(default)]
    args: Value,
    adapter: Option<String>,
    budget: Option<u64>,
}

/// `POST /api/runs`: starts a run in the background, exactly as `odw run`
/// does ([`run::start_detached`]), in the directory the server was started
/// in. The client names a saved workflow or sends the script's text; it
/// never names a path: an inline script is stored by its hash in the
/// server's private directory ([`AppState::inline_dir`]).
pub async fn start(State(state): State<Arc<AppState>>, Json(start): Json<Start>) -> ApiResult<Response> {
    let bad = |m: &str| ApiError(StatusCode::BAD_REQUEST, m.to_string());
    let script: PathBuf = match (&start.workflow, &start.script) {
        (Some(name), None) => {
            if !library::valid_name(name) {
                return Err(bad("`workflow` must be a saved workflow's name (see `odw workflows list`)"));
            }
            run::saved_workflow(&state.config, &state.workspace, name)
                .map_err(|e| ApiError(StatusCode::NOT_FOUND, format!("{e:#}")))?
        }
        (None, Some(source)) => state.store_inline(source).context("cannot store the inline script")?,
        _ => return Err(bad("send either `workflow` (a saved workflow's name) or `script` (its source)")),
    };
    let opts = RunOptions {
        script,
        args: start.args,
        adapter: start.adapter,
        budget: start.budget,
        runs_root: Some(state.runs_root.clone()),
        workspace: state.workspace.clone(),
        resume_from: None,
        reuse: ReuseRule::Prefix,
        config_path: state.config.path.clone(),
    };
    // Preparing evaluates the script's meta in the sandbox: on a thread of
    // its own, as `odw run` would in its own process.
    let started = {
        let state = state.clone();
        let runtime = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            runtime.block_on(run::start_detached(state.sandbox, &state.config, opts))
        })
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    };
    let (run, mut worker) =
        started.map_err(|e| ApiError(StatusCode::UNPROCESSABLE_ENTITY, format!("{e:#}")))?;
    // The worker outlives nothing but must not stay a zombie of this server.
    std::thread::spawn(move || {
        let _ = worker.wait();
    });
    Ok((StatusCode::CREATED, Json(json!({ "id": run.id }))).into_response())
}

/// What `POST /api/runs/:id/control` asks.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlBody {
    action: String,
}

/// `POST /api/runs/:id/control`: the control file, as `odw pause|resume|stop`.
pub async fn control(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Json(body): Json<ControlBody>,
) -> ApiResult<Json<Value>> {
    let request = match body.action.as_str() {
        "pause" => ControlRequest::Pause,
        "resume" => ControlRequest::Resume,
        "stop" => ControlRequest::Stop,
        other => {
            return Err(ApiError(
                StatusCode::BAD_REQUEST,
                format!("unknown action {other:?}: pause, resume or stop"),
            ));
        }
    };
    blocking(move || {
        let run = find(&state, &id)?;
        match ask(&run, request).map_err(|e| ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))? {
            Asked::Sent(c) => Ok(Json(json!({ "id": run.id, "paused": c.paused, "stop": c.stop }))),
            Asked::Ended(s) => {
                Err(ApiError(StatusCode::CONFLICT, format!("run {} has already ended ({s})", run.id)))
            }
        }
    })
    .await
}
