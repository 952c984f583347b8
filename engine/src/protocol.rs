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

/// The options `agent()` accepts (docs/dialect.md). Unknown keys are refused in the
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

/// Token usage of one call: the journal's record, sent to the guest as is.
pub use odw_journal::Usage;

/// Where an agent works: `opts.isolation`, and `workspaceMode` in the
/// configuration. The one definition: the prelude's check, `types/odw.d.ts`
/// and the configuration's check are tested against [`Isolation::NAMES`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// In the workspace itself.
    #[default]
    Inplace,
    /// In its own git worktree on a branch of its own; its changes are
    /// committed there and kept as a patch.
    Worktree,
}

impl Isolation {
    /// The names a script may give, in order.
    pub const NAMES: [&'static str; 2] = ["inplace", "worktree"];

    /// A script's `opts.isolation`.
    pub fn parse(name: &str) -> Option<Isolation> {
        match name {
            "inplace" => Some(Isolation::Inplace),
            "worktree" => Some(Isolation::Worktree),
            _ => None,
        }
    }

    /// The configuration's `workspaceMode`, which also takes ODW's name
    /// `copy` for a worktree (done the way that keeps the agent's edits).
    pub fn parse_config(name: &str) -> Option<Isolation> {
        Isolation::parse(name).or((name == "copy").then_some(Isolation::Worktree))
    }

    pub fn as_str(self) -> &'static str {
        Isolation::NAMES[self as usize]
    }

    /// The names as a message lists them: `'inplace', 'worktree'`.
    pub fn listed() -> String {
        Isolation::NAMES.map(|n| format!("'{n}'")).join(", ")
    }
}

/// The names of the errors odw raises, as `error.name` shows them — in the
/// script (a caught `agent()` failure) and in `error.json`. The one
/// definition: the prelude's names and `OdwErrorName` in `types/odw.d.ts`
/// are tested against [`ErrorName::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorName {
    /// The agent failed (exit, timeout, a reply that never fit the schema).
    /// The only one that is not fatal: `parallel` and `pipeline` turn it
    /// into `null`.
    AgentError,
    /// `--budget` is spent.
    BudgetError,
    /// A configured limit was hit (`maxAgents`, CPU, memory, …).
    LimitError,
    /// The guest sent something the host cannot read.
    ProtocolError,
    /// The call names an adapter the configuration cannot provide.
    ConfigError,
    /// `opts.schema` is not a schema odw can check.
    SchemaError,
    /// An isolated call's worktree could not be made.
    WorkspaceError,
    /// `odw replay --check`: the call differs from the journal.
    ReplayDivergence,
    /// An option has the wrong type or value.
    TypeError,
    /// `agent()` where no agent may run (meta, `validate`).
    Error,
    /// The run was stopped (`odw stop`, Ctrl-C).
    Stopped,
    /// A prepared run could not start.
    RunError,
    /// odw itself failed.
    InternalError,
}

impl ErrorName {
    pub const ALL: [ErrorName; 13] = [
        ErrorName::AgentError,
        ErrorName::BudgetError,
        ErrorName::LimitError,
        ErrorName::ProtocolError,
        ErrorName::ConfigError,
        ErrorName::SchemaError,
        ErrorName::WorkspaceError,
        ErrorName::ReplayDivergence,
        ErrorName::TypeError,
        ErrorName::Error,
        ErrorName::Stopped,
        ErrorName::RunError,
        ErrorName::InternalError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorName::AgentError => "AgentError",
            ErrorName::BudgetError => "BudgetError",
            ErrorName::LimitError => "LimitError",
            ErrorName::ProtocolError => "ProtocolError",
            ErrorName::ConfigError => "ConfigError",
            ErrorName::SchemaError => "SchemaError",
            ErrorName::WorkspaceError => "WorkspaceError",
            ErrorName::ReplayDivergence => "ReplayDivergence",
            ErrorName::TypeError => "TypeError",
            ErrorName::Error => "Error",
            ErrorName::Stopped => "Stopped",
            ErrorName::RunError => "RunError",
            ErrorName::InternalError => "InternalError",
        }
    }
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

impl Completion {
    /// Appends this completion as `wait_batch` stages it: the array
    /// `[id, ok, input tokens, output tokens, clock, body]`, where the body
    /// is the value (ok) or the error (not ok), and is left out when there is
    /// none, so the guest reads it as `undefined` as it read the missing
    /// field of the object `wait_next` stages. An array is parsed in half
    /// the time of that object in the guest, and a whole clock is written
    /// as an integer (`1764740623123`, not `1764740623123.0`).
    pub(crate) fn write_compact(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        use std::io::Write;
        let (input, output) = self.usage.map_or((0, 0), |u| (u.input, u.output));
        write!(out, "[{},{},{input},{output},", self.id, self.ok).map_err(serde_json::Error::io)?;
        if self.clock.fract() == 0.0 && self.clock.abs() < 9e15 {
            write!(out, "{}", self.clock as i64).map_err(serde_json::Error::io)?;
        } else {
            serde_json::to_writer(&mut *out, &self.clock)?;
        }
        match (self.ok, &self.value, &self.error) {
            (true, Some(value), _) => {
                out.push(b',');
                serde_json::to_writer(&mut *out, value)?;
            }
            (false, _, Some(error)) => {
                out.push(b',');
                serde_json::to_writer(&mut *out, error)?;
            }
            _ => {}
        }
        out.push(b']');
        Ok(())
    }
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
        CallError {
            name: ErrorName::AgentError.as_str().into(),
            message: message.into(),
            fatal: false,
            limit: None,
        }
    }

    pub fn fatal(name: ErrorName, message: impl Into<String>, limit: Option<&str>) -> Self {
        CallError {
            name: name.as_str().into(),
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

impl ScriptError {
    /// An error odw raises itself, with no position in the script.
    pub fn new(name: ErrorName, message: impl Into<String>) -> ScriptError {
        ScriptError {
            name: name.as_str().into(),
            message: message.into(),
            stack: None,
            location: None,
            fatal: false,
            limit: None,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compact_completion_is_an_array_with_its_body_last_or_left_out() {
        let compact = |c: &Completion| {
            let mut out = Vec::new();
            c.write_compact(&mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        let usage = Some(Usage { input: 3, output: 4, estimated: true });
        let ok = Completion {
            id: 7,
            ok: true,
            value: Some(serde_json::json!({"n": 1})),
            error: None,
            usage,
            clock: 1_764_740_623_123.0,
        };
        assert_eq!(compact(&ok), r#"[7,true,3,4,1764740623123,{"n":1}]"#);
        let bare = Completion { value: None, usage: None, clock: 0.5, ..ok.clone() };
        assert_eq!(compact(&bare), "[7,true,0,0,0.5]", "no value: the guest reads undefined");
        let error = CallError::fatal(ErrorName::LimitError, "too many", Some("maxAgents"));
        let failed = Completion { ok: false, value: None, error: Some(error), ..ok };
        let text = compact(&failed);
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed[1], false);
        assert_eq!(parsed[5]["name"], "LimitError");
        assert_eq!(
            (parsed[5]["fatal"].as_bool(), parsed[5]["limit"].as_str()),
            (Some(true), Some("maxAgents"))
        );
    }

    /// The guest's prelude and the script's type declarations list the same
    /// names as the host: one definition, checked like the import list.
    const PRELUDE: &str = include_str!("../../guest/src/prelude.js");
    const TYPES: &str = include_str!("../../types/odw.d.ts");

    /// The quoted names in the one line of `text` that starts with `start`.
    fn quoted_in_line<'a>(text: &'a str, start: &str) -> Vec<&'a str> {
        let line =
            text.lines().find(|l| l.trim_start().starts_with(start)).unwrap_or_else(|| panic!("{start}"));
        line.split('\'').skip(1).step_by(2).collect()
    }

    #[test]
    fn isolation_names_agree_with_the_prelude_and_the_types() {
        assert_eq!(quoted_in_line(PRELUDE, "const ISOLATION ="), Isolation::NAMES);
        assert_eq!(quoted_in_line(TYPES, "isolation?:"), Isolation::NAMES);
        for name in Isolation::NAMES {
            assert_eq!(Isolation::parse(name).map(Isolation::as_str), Some(name));
            assert_eq!(serde_json::to_value(Isolation::parse(name)).unwrap(), name);
        }
        assert_eq!(Isolation::parse("copy"), None);
        assert_eq!(Isolation::parse_config("copy"), Some(Isolation::Worktree));
    }

    #[test]
    fn error_names_agree_with_the_prelude_and_the_types() {
        let all: Vec<&str> = ErrorName::ALL.iter().map(|n| n.as_str()).collect();
        assert_eq!(quoted_in_line(TYPES, "type OdwErrorName ="), all);
        // Every name the prelude raises is one of them.
        for raised in PRELUDE.split("WorkflowError(").skip(1).filter_map(|s| s.strip_prefix('\'')) {
            let name = &raised[..raised.find('\'').unwrap()];
            assert!(all.contains(&name), "the prelude raises {name}");
        }
        for raised in PRELUDE.split("err.name || '").skip(1) {
            let name = &raised[..raised.find('\'').unwrap()];
            assert!(all.contains(&name), "the prelude defaults to {name}");
        }
    }
}
