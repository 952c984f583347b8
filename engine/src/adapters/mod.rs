//! Adapters run one agent call: a prompt in, the agent's final text out.
//!
//! Built in: the agent CLIs claude, codex, gemini, qwen and kimi with their
//! non-interactive command lines ([`builtin`]), and `echo`, which needs no
//! account: it answers with the prompt, or with a valid instance of the
//! schema the prompt carries, so every example runs on a fresh machine.
//! Adapters from `odw.config.json` run a command as a subprocess in its own
//! process group ([`command`]) or, with `kind: "http"`, post to a model
//! API, OpenAI-compatible chat completions or Anthropic Messages ([`http`]). Which adapter a call gets is
//! decided in [`select`].

mod builtin;
mod command;
mod echo;
pub mod executor;
mod guardian;
mod http;
mod select;
pub mod workspace;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::config::{AdapterConfig, AdapterKind, Config};
use crate::protocol::Usage;

pub use builtin::BUILTIN_CLIS;
pub use command::CommandAdapter;
#[cfg(feature = "fuzzing")]
pub(crate) use echo::reply as echo_reply;
pub use executor::{CallTag, ExecutorKind};
pub use guardian::start_early as start_guardian;
pub(crate) use guardian::{no_sync_at_exit, sync_at_exit};
pub use http::HttpAdapter;
pub use select::{AdapterInfo, ChoiceError, catalogue, select_default};

/// The name of the built-in adapter that needs no account.
pub const ECHO: &str = "echo";

/// One adapter, ready to run calls.
#[derive(Debug, Clone)]
pub enum Adapter {
    Echo,
    Command(CommandAdapter),
    Http(HttpAdapter),
}

/// What an adapter does natively with a call's options. Where it does not,
/// the scheduler does it in the prompt (schema instructions, persona line).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Natives {
    /// Enforces `opts.schema` itself (a flag, a response format, a tool).
    pub schema: bool,
    /// Passes `opts.effort` on.
    pub effort: bool,
    /// Runs `opts.agentType` as a named agent of its own.
    pub agent_type: bool,
}

/// One call, with everything the command line may refer to.
#[derive(Debug, Clone)]
pub struct AgentCall {
    /// The full prompt (persona line and schema instructions already added
    /// where the adapter has no native way).
    pub prompt: String,
    pub model: Option<String>,
    /// `agentType`, shown to command lines as `{role}` and `{agent_type}`.
    pub role: Option<String>,
    /// `opts.effort`, as the script wrote it.
    pub effort: Option<String>,
    /// The JSON schema, set only when the adapter enforces it natively
    /// ([`Natives::schema`]); otherwise it is in the prompt.
    pub schema: Option<Arc<Value>>,
    /// Where the agent works (`{workspace}`, its working directory).
    pub workspace: PathBuf,
    /// The project the workflow runs for (`{source}`).
    pub source: PathBuf,
    /// Where `{prompt_file}` is written.
    pub prompt_file: PathBuf,
    pub timeout: Duration,
    /// Which call of which run this is: names and reports its cluster job.
    pub job: CallTag,
}

/// What an agent answered.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AgentReply {
    pub text: String,
    pub usage: Usage,
    /// The value of a native structured output, when the agent reported one
    /// apart from its text (claude's `structured_output`); odw validates it.
    pub structured: Option<Value>,
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AdapterError {
    #[error("`{adapter}` could not start `{program}`: {reason}")]
    Spawn { adapter: String, program: String, reason: String },
    #[error("`{adapter}` timed out after {secs}s{} (raise `timeout` in odw.config.json)", timeout_end(*.killed, .job))]
    Timeout {
        adapter: String,
        secs: f64,
        /// A subprocess was killed (a request is only abandoned).
        killed: bool,
        /// The cluster job that was cancelled with it.
        job: Option<String>,
    },
    #[error("`{adapter}` exited with {status}{}", tail_suffix(.stderr_tail))]
    Exit { adapter: String, status: String, stderr_tail: String },
    #[error("`{adapter}` replied with more than {limit_mb} MiB (the per-result limit)")]
    TooLarge { adapter: String, limit_mb: usize },
    #[error("`{adapter}`: {reason}")]
    Io { adapter: String, reason: String },
    #[error("`{adapter}` replied with something odw cannot use: {reason}")]
    Reply { adapter: String, reason: String },
}

fn timeout_end(killed: bool, job: &Option<String>) -> String {
    match (killed, job) {
        (_, Some(job)) => format!(" and its cluster job {job} was cancelled"),
        (true, None) => " and was killed with its process group".into(),
        (false, None) => String::new(),
    }
}

fn tail_suffix(tail: &str) -> String {
    if tail.is_empty() { String::new() } else { format!(": {tail}") }
}

impl Adapter {
    /// Looks an adapter up by name: configured adapters first (a config may
    /// redefine a built-in, or with no `command` change only some of its
    /// settings), then the built-in CLIs, then `echo`.
    pub fn resolve(name: &str, config: &Config) -> Result<(String, Adapter), ChoiceError> {
        if let Some(cfg) = config.adapters.get(name) {
            let is_command = cfg.kind.unwrap_or_default() == AdapterKind::Command;
            if is_command && cfg.command.is_empty() {
                let base =
                    builtin::config(name).ok_or_else(|| ChoiceError::NoCommand { name: name.into() })?;
                return Ok((name.to_string(), Adapter::Command(CommandAdapter::new(name, base.with(cfg)))));
            }
            return Ok((name.to_string(), Adapter::from_config(name, cfg)));
        }
        if let Some(cfg) = builtin::config(name) {
            return Ok((name.to_string(), Adapter::Command(CommandAdapter::new(name, cfg))));
        }
        if name == ECHO {
            return Ok((ECHO.to_string(), Adapter::Echo));
        }
        Err(ChoiceError::Unknown { name: name.to_string(), known: known_names(config) })
    }

    fn from_config(name: &str, cfg: &AdapterConfig) -> Adapter {
        match cfg.kind.unwrap_or_default() {
            AdapterKind::Command => Adapter::Command(CommandAdapter::new(name, cfg.clone())),
            AdapterKind::Http => Adapter::Http(HttpAdapter::new(name, cfg.clone())),
        }
    }

    /// The per-call timeout this adapter asks for, if it sets one.
    pub fn timeout(&self) -> Option<Duration> {
        match self {
            Adapter::Echo => None,
            Adapter::Command(c) => c.timeout(),
            Adapter::Http(h) => h.timeout(),
        }
    }

    /// Whether each call works in a clone the executor makes (SLURM
    /// `workspace: "clone"`), so odw makes no worktree for it.
    pub fn clones(&self) -> bool {
        matches!(self, Adapter::Command(c) if c.executor().clones())
    }

    /// Where this adapter's processes run.
    pub fn executor(&self) -> ExecutorKind {
        match self {
            Adapter::Command(c) => c.executor().kind(),
            _ => ExecutorKind::Local,
        }
    }

    /// What this adapter handles natively.
    pub fn natives(&self) -> Natives {
        match self {
            // echo reads the schema from the prompt, like any text agent.
            Adapter::Echo => Natives::default(),
            Adapter::Command(c) => c.natives(),
            Adapter::Http(h) => h.natives(),
        }
    }

    /// Whether `schema` is enforced by the adapter itself (some native
    /// channels take only some schemas); if not, it goes in the prompt.
    pub fn takes_schema(&self, schema: &Value) -> bool {
        match self {
            Adapter::Command(c) => c.takes_schema(schema),
            _ => self.natives().schema,
        }
    }

    /// Runs one call.
    pub async fn call(&self, call: &AgentCall) -> Result<AgentReply, AdapterError> {
        match self {
            // Off the async workers: a schema can make the instance large.
            Adapter::Echo => {
                let prompt = call.prompt.clone();
                let adapter = ECHO.to_string();
                tokio::task::spawn_blocking(move || echo::reply(&prompt))
                    .await
                    .map_err(|e| AdapterError::Io { adapter: adapter.clone(), reason: e.to_string() })?
                    .map_err(|reason| AdapterError::Io { adapter, reason })
            }
            Adapter::Command(c) => c.call(call).await,
            Adapter::Http(h) => h.call(call).await,
        }
    }

    /// What running `call` does, as one line a person can read (and, for a
    /// command, paste into a shell).
    pub fn describe(&self, call: &AgentCall) -> String {
        match self {
            Adapter::Echo => "(built in: answers with the prompt, or a valid instance of its schema)".into(),
            Adapter::Command(c) => c.describe(call),
            Adapter::Http(h) => {
                let mut line = format!("POST {}", h.url());
                if h.provider() == crate::config::Provider::Anthropic {
                    line.push_str(" (Anthropic Messages)");
                }
                if let Some(model) = h.model(call) {
                    line.push_str(&format!(" model={model}"));
                }
                if let Some(var) = h.api_key_env() {
                    line.push_str(&format!(" (key from ${var})"));
                }
                line
            }
        }
    }
}

/// Every adapter name a call may use, configured ones first.
fn known_names(config: &Config) -> Vec<String> {
    let mut known: Vec<String> = config.adapters.keys().cloned().collect();
    for name in BUILTIN_CLIS.iter().chain([&ECHO]) {
        if !known.iter().any(|k| k == name) {
            known.push(name.to_string());
        }
    }
    known
}

/// Quotes `arg` for a POSIX shell when it needs it.
pub(crate) fn shell_quote(arg: &str) -> String {
    let plain =
        !arg.is_empty() && arg.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+{}%".contains(c));
    if plain { arg.to_string() } else { format!("'{}'", arg.replace('\'', "'\\''")) }
}

/// Token usage estimated from text (chars / 4), for adapters that report none.
pub fn estimate_usage(prompt: &str, reply: &str) -> Usage {
    let tokens = |s: &str| (s.chars().count() as u64).div_ceil(4);
    Usage { input: tokens(prompt), output: tokens(reply), estimated: true }
}
