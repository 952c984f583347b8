//! The messages that cross the guest/host boundary, as JSON.
//!
//! The guest's side is `guest/src/prelude.js`; the field names here are the
//! ones it reads and writes. Everything the guest sends is untrusted input:
//! it is parsed strictly and a malformed message fails the run, never the host.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the guest evaluates and the values that make it deterministic.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Activation {
    /// The code to evaluate (a wrapped body, or a meta literal).
    pub source: String,
    /// The name shown in stack traces.
    pub filename: String,
    /// Columns the async wrapper added in front of line 1.
    pub line_one_shift: u32,
    /// The workflow's `args` (`null` when none were given).
    pub args: Value,
    /// The run's PRNG seed for `Math.random`, as two 32-bit halves.
    pub seed: [u32; 2],
    /// The logical clock at the start of the run (ms since the Unix epoch).
    pub clock: f64,
    /// The token budget, or `null`.
    pub budget: Option<u64>,
}

/// One `agent(prompt, opts)` call as the guest issued it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentRequest {
    pub prompt: String,
    #[serde(default)]
    pub opts: AgentOpts,
    /// The phase the call belongs to (`opts.phase`, else the current phase).
    #[serde(default)]
    pub phase: Option<String>,
}

/// The options `agent()` accepts (DIALECT.md). Unknown keys are refused in the
/// prelude with a TypeError at the caller's line, and again here.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AgentOpts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effort: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
}

/// Token usage of one call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
    /// True when the adapter reported nothing and odw estimated (chars / 4).
    pub estimated: bool,
}

/// The end of one agent call, delivered to the guest.
#[derive(Debug, Clone, Serialize)]
pub struct Completion {
    pub id: u32,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<CallError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The logical clock after this completion (ms since the Unix epoch).
    pub clock: f64,
}

/// Why an agent call failed, as the script sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallError {
    pub name: String,
    pub message: String,
    /// Fatal conditions end the run even inside `parallel`/`pipeline`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fatal: bool,
    /// The config key of the limit that was hit, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

impl CallError {
    pub fn agent(message: impl Into<String>) -> Self {
        CallError { name: "AgentError".into(), message: message.into(), fatal: false, limit: None }
    }

    pub fn fatal(name: &str, message: impl Into<String>, limit: Option<&str>) -> Self {
        CallError {
            name: name.into(),
            message: message.into(),
            fatal: true,
            limit: limit.map(str::to_string),
        }
    }
}

/// A notification from the guest.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum GuestEvent {
    Phase { title: String },
    Log { message: String },
}

/// How the guest ended: the script's value, or the error it failed with.
#[derive(Debug, Clone, Deserialize)]
pub struct Outcome {
    pub ok: bool,
    #[serde(default)]
    pub value: Option<Value>,
    #[serde(default)]
    pub error: Option<ScriptError>,
}

/// An error raised in the script (or a fatal condition it ran into).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScriptError {
    pub name: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fatal: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

/// A 1-based position in the workflow file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// The workflow file, as named on the command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub line: u32,
    pub column: u32,
}
