//! What each tool returns: typed structs whose JSON Schema is the tool's
//! `outputSchema`; the value is the result's `structuredContent` (and its
//! text, for clients that read only text).

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use crate::commands::inspect::RunSummary;

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Started {
    /// The new run's id: pass it to `wait`, `status`, `result`, `events`, `stop`.
    pub run: String,
    /// The workflow's meta.name.
    pub workflow: String,
    /// The run directory.
    pub path: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Status {
    pub status: RunSummary,
}

/// A run's outcome (`result`), or where it stands (`wait` when the time ran out).
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub run: String,
    /// pending, running, paused, done, failed, stopped or interrupted.
    pub state: String,
    /// Whether the run has ended (`state` is final).
    pub ended: bool,
    /// The workflow's return value, when it is `done`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// Why it failed: `file:line:column: Name: message`, as `odw result` says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub status: RunSummary,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Events {
    /// The `since` asked for.
    pub since: u64,
    /// The events, as `odw logs --json` prints them ({ts, type, …}).
    pub events: Vec<Value>,
    /// The `since` of the next page.
    pub next: u64,
    /// Whether more events are already there.
    pub more: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Control {
    pub run: String,
    /// Whether the run is now held.
    pub paused: bool,
    /// Whether the run is asked to stop (for `stop`: it has stopped).
    pub stop: bool,
    /// The run's state after the request.
    pub state: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Problem {
    /// 1-based; 0 when the error has no position.
    pub line: u32,
    pub column: u32,
    pub message: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Validation {
    pub ok: bool,
    /// The evaluated `meta`, when it could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
    /// Every reason it would not run, with positions in the script.
    pub errors: Vec<Problem>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Runs {
    /// Oldest first.
    pub runs: Vec<RunSummary>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Workflow {
    pub name: String,
    pub description: String,
    /// The file; none for a workflow built into odw.
    pub path: Option<String>,
    /// Where it comes from (project .odw, personal .claude, built-in, …).
    pub source: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Workflows {
    pub workflows: Vec<Workflow>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Replay {
    /// Whether the script reproduces the run with zero live calls.
    pub reproduced: bool,
    /// Calls served from the journal.
    pub calls: u64,
    /// What `odw replay --check` says: the first divergence, or that it reproduced.
    pub message: String,
}
