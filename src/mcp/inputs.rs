//! What each tool takes: typed structs whose JSON Schema (derived) is the
//! tool's `inputSchema`. Unknown fields are refused, so a misspelt option
//! is an error rather than silently ignored.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

/// Which workflow: exactly one of `script`, `file`, `workflow`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// The workflow's source text (stored by its hash in odw's cache).
    pub script: Option<String>,
    /// A path to a .js workflow or a .wasm module from `odw build`,
    /// relative to the directory `odw mcp` was started in.
    pub file: Option<String>,
    /// A saved workflow's name (see `list_workflows`).
    pub workflow: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Run {
    #[serde(flatten)]
    pub source: Source,
    /// The workflow's `args` (any JSON value).
    #[serde(default)]
    pub args: Value,
    /// The adapter for calls that name none (see `odw adapters`).
    pub adapter: Option<String>,
    /// The token budget of the run (`budget.total` in the script).
    pub budget: Option<u64>,
    /// Reuse the recorded calls of this earlier run: the unchanged prefix is
    /// served from its journal, the rest runs live.
    pub resume_from: Option<String>,
}

/// A run, by the id `run` returned.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunId {
    /// The run id.
    pub run: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Wait {
    /// The run id.
    pub run: String,
    /// Seconds to wait at most (default 60, at most 3600); the run goes on
    /// when the time is up.
    pub timeout_secs: Option<f64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Events {
    /// The run id.
    pub run: String,
    /// The first event to return: 0, or the `next` of the previous page.
    #[serde(default)]
    pub since: u64,
    /// The most events to return (default and maximum 500).
    pub limit: Option<u64>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Validate {
    /// The workflow's source text.
    pub script: Option<String>,
    /// Or a path to a .js workflow, relative to the directory `odw mcp` was
    /// started in.
    pub file: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListRuns {
    /// Only runs of this workflow (its meta.name).
    pub workflow: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayCheck {
    /// The recorded run.
    pub run: String,
    /// The script to check, as a path (default: the one the run was started
    /// with).
    pub file: Option<String>,
    /// The args to check with (default: the recorded ones).
    pub args: Option<Value>,
}
