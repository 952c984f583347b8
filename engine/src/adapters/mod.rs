//! Adapters run one agent call: a prompt in, the agent's final text out.
//!
//! `echo` is built in and needs no account: it answers with the prompt, or
//! with a valid instance of the schema the prompt carries, so every example
//! runs on a fresh machine. Custom adapters from `odw.config.json` run a
//! command as a subprocess in its own process group (see [`command`]).

mod command;
mod echo;

use std::path::PathBuf;
use std::time::Duration;

use crate::config::{AdapterConfig, Config};
use crate::protocol::Usage;

pub use command::CommandAdapter;

/// The name of the built-in adapter that needs no account.
pub const ECHO: &str = "echo";

/// One adapter, ready to run calls.
#[derive(Debug, Clone)]
pub enum Adapter {
    Echo,
    Command(CommandAdapter),
}

/// One call, with everything the command line may refer to.
#[derive(Debug, Clone)]
pub struct AgentCall {
    /// The full prompt (persona line and schema already added).
    pub prompt: String,
    pub model: Option<String>,
    /// `agentType`, shown to command lines as `{role}`.
    pub role: Option<String>,
    /// Where the agent works (`{workspace}`, its working directory).
    pub workspace: PathBuf,
    /// The project the workflow runs for (`{source}`).
    pub source: PathBuf,
    /// Where `{prompt_file}` is written.
    pub prompt_file: PathBuf,
    pub timeout: Duration,
}

/// What an agent answered.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentReply {
    pub text: String,
    pub usage: Usage,
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AdapterError {
    #[error("`{adapter}` could not start `{program}`: {reason}")]
    Spawn { adapter: String, program: String, reason: String },
    #[error(
        "`{adapter}` timed out after {secs}s and was killed with its process group (raise `timeout` in odw.config.json)"
    )]
    Timeout { adapter: String, secs: f64 },
    #[error("`{adapter}` exited with {status}{}", tail_suffix(.stderr_tail))]
    Exit { adapter: String, status: String, stderr_tail: String },
    #[error("`{adapter}` replied with more than {limit_mb} MiB (the per-result limit)")]
    TooLarge { adapter: String, limit_mb: usize },
    #[error("`{adapter}`: {reason}")]
    Io { adapter: String, reason: String },
}

fn tail_suffix(tail: &str) -> String {
    if tail.is_empty() { String::new() } else { format!(": {tail}") }
}

/// Why no adapter could be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown adapter `{name}`; known: {}", known.join(", "))]
pub struct UnknownAdapter {
    pub name: String,
    pub known: Vec<String>,
}

impl Adapter {
    /// Looks an adapter up by name: configured adapters first (a config may
    /// redefine a built-in), then the built-ins.
    pub fn resolve(name: &str, config: &Config) -> Result<(String, Adapter), UnknownAdapter> {
        if let Some(cfg) = config.adapters.get(name) {
            return Ok((name.to_string(), Adapter::from_config(name, cfg)));
        }
        if name == ECHO {
            return Ok((ECHO.to_string(), Adapter::Echo));
        }
        let mut known: Vec<String> = config.adapters.keys().cloned().collect();
        known.push(ECHO.into());
        Err(UnknownAdapter { name: name.to_string(), known })
    }

    fn from_config(name: &str, cfg: &AdapterConfig) -> Adapter {
        Adapter::Command(CommandAdapter::new(name, cfg.clone()))
    }

    /// The per-call timeout this adapter asks for, if it sets one.
    pub fn timeout(&self) -> Option<Duration> {
        match self {
            Adapter::Echo => None,
            Adapter::Command(c) => c.timeout(),
        }
    }

    /// Runs one call.
    pub async fn call(&self, call: &AgentCall) -> Result<AgentReply, AdapterError> {
        match self {
            Adapter::Echo => Ok(echo::reply(&call.prompt)),
            Adapter::Command(c) => c.call(call).await,
        }
    }
}

/// Token usage estimated from text (chars / 4), for adapters that report none.
pub fn estimate_usage(prompt: &str, reply: &str) -> Usage {
    let tokens = |s: &str| (s.chars().count() as u64).div_ceil(4);
    Usage { input: tokens(prompt), output: tokens(reply), estimated: true }
}
