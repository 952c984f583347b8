//! Which adapter a call gets, and what `odw adapters` shows.
//!
//! Order: `--adapter` (it overrides even a call's own `opts.adapter`, so one
//! flag moves a whole workflow onto another agent), then the call's
//! `opts.adapter`, then `defaultAdapter`, then the only configured adapter,
//! then the only built-in CLI found on PATH. Several CLIs on PATH and nothing
//! chosen is an error that lists them, because picking one silently would
//! spend the wrong account's tokens. With none on PATH odw falls back to the
//! built-in `echo`, so a fresh machine still runs every example.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Adapter, AgentCall, BUILTIN_CLIS, ECHO, ExecutorKind, Natives, builtin};
use crate::config::Config;

/// The adapter for calls that name none, and why it was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    pub name: String,
    /// Chosen with `--adapter`: it applies to every call, even those that
    /// name another adapter.
    pub forced: bool,
    /// Why this one, for people (`odw adapters`).
    pub reason: String,
}

/// Why no adapter could be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChoiceError {
    #[error("unknown adapter `{name}`; known: {}", known.join(", "))]
    Unknown { name: String, known: Vec<String> },
    #[error(
        "`adapters.{name}.command` must be a non-empty array of strings (only an entry named \
         after a built-in CLI may leave it out, to change some of the built-in's settings)"
    )]
    NoCommand { name: String },
    #[error(
        "several agent CLIs are on PATH ({}); pick one with `--adapter NAME` or \
         `\"defaultAdapter\": \"NAME\"` in odw.config.json",
        found.join(", ")
    )]
    Ambiguous { found: Vec<String> },
}

/// Picks the adapter for calls that name none (see the module docs).
pub fn select_default(config: &Config, flag: Option<&str>) -> Result<Selected, ChoiceError> {
    select_with(config, flag, &|program| on_path(program).is_some())
}

fn select_with(
    config: &Config,
    flag: Option<&str>,
    installed: &dyn Fn(&str) -> bool,
) -> Result<Selected, ChoiceError> {
    let chosen = |name: &str, forced: bool, reason: String| -> Result<Selected, ChoiceError> {
        let (name, _) = Adapter::resolve(name, config)?;
        Ok(Selected { name, forced, reason })
    };
    if let Some(name) = flag {
        return chosen(name, true, "--adapter".into());
    }
    if let Some(name) = &config.default_adapter {
        return chosen(name, false, "defaultAdapter in the configuration".into());
    }
    if config.adapters.len() == 1
        && let Some(name) = config.adapters.keys().next()
    {
        return chosen(name, false, "the only configured adapter".into());
    }
    let found: Vec<String> =
        BUILTIN_CLIS.iter().filter(|cli| installed(cli)).map(|cli| cli.to_string()).collect();
    match found.as_slice() {
        [] => chosen(ECHO, false, "no agent CLI on PATH, so the built-in echo".into()),
        [only] => chosen(only, false, "the only agent CLI on PATH".into()),
        _ => Err(ChoiceError::Ambiguous { found }),
    }
}

/// The executable `program` runs as: a path as given, else the first match
/// on `$PATH`.
pub fn on_path(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        return executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| executable(p))
}

/// Whether `path` is a file someone may execute, as a `PATH` search asks.
pub(super) fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// One line of `odw adapters`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AdapterInfo {
    pub name: String,
    /// `built-in`, `config`, or `config (replaces the built-in)`.
    pub origin: String,
    /// `command`, `http` or `echo`.
    pub kind: String,
    /// Where a call's process runs: `local`, `slurm` or `kubernetes`.
    pub executor: ExecutorKind,
    /// The executable odw starts for a call: the agent CLI, or the
    /// scheduler's command (`srun`, `kubectl`) for a cluster executor,
    /// whose nodes need the CLI instead.
    pub program: Option<String>,
    /// Where that executable is, if it is installed.
    pub found: Option<PathBuf>,
    /// What one call runs, with the call's workspace filled in.
    pub command_line: String,
    /// The flag that forwards `opts.model`, if any.
    pub model_flag: Option<String>,
    /// Each call option the adapter passes on natively, with its flag
    /// (`effort: "--effort {effort}"`); the others odw handles in the
    /// prompt (schema, agentType) or drops (effort).
    pub options: BTreeMap<String, String>,
    pub natives: Natives,
}

/// Every adapter a call can use, as `odw adapters` lists them.
pub fn catalogue(config: &Config, sample: &AgentCall) -> Vec<AdapterInfo> {
    let mut names: Vec<String> = BUILTIN_CLIS.iter().map(|s| s.to_string()).collect();
    names.push(ECHO.into());
    names.extend(config.adapters.keys().filter(|k| !names.contains(k)).cloned().collect::<Vec<_>>());
    names
        .into_iter()
        .filter_map(|name| {
            let (_, adapter) = Adapter::resolve(&name, config).ok()?;
            // With this adapter's own timeout, as a call would have it.
            let sample =
                &AgentCall { timeout: adapter.timeout().unwrap_or(sample.timeout), ..sample.clone() };
            let configured = config.adapters.contains_key(&name);
            let builtin = builtin::config(&name).is_some() || name == ECHO;
            let changes_only = config.adapters.get(&name).is_some_and(|a| a.command.is_empty());
            let origin = match (configured, builtin) {
                (true, true) if changes_only => "built-in, with settings from config",
                (true, true) => "config (replaces the built-in)",
                (true, false) => "config",
                _ => "built-in",
            };
            let mut options = BTreeMap::new();
            let (kind, program) = match &adapter {
                Adapter::Echo => ("echo", None),
                Adapter::Command(c) => {
                    let f = &c.config().flags;
                    for (option, flag, placeholder) in [
                        ("model", &f.model, "{model}"),
                        ("effort", &f.effort, "{effort}"),
                        ("agentType", &f.agent_type, "{agent_type}"),
                        ("schema", &f.schema, "{schema}"),
                    ] {
                        if let Some(shown) = flag.as_ref().and_then(|t| t.shown(placeholder)) {
                            options.insert(option.to_string(), shown);
                        }
                    }
                    let program = match c.executor().kind() {
                        ExecutorKind::Local => c.config().command.first().cloned(),
                        ExecutorKind::Slurm => Some("srun".into()),
                        ExecutorKind::Kubernetes => Some("kubectl".into()),
                    };
                    ("command", program)
                }
                Adapter::Http(_) => ("http", None),
            };
            let model_flag = options.get("model").cloned();
            Some(AdapterInfo {
                origin: origin.into(),
                kind: kind.into(),
                executor: adapter.executor(),
                found: program.as_deref().and_then(on_path),
                program,
                command_line: adapter.describe(sample),
                model_flag,
                options,
                natives: adapter.natives(),
                name,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        Config::parse(text).unwrap()
    }

    #[test]
    fn the_flag_then_default_then_the_only_configured_adapter() {
        let none = |_: &str| false;
        let c = config(r#"{"defaultAdapter": "codex", "adapters": {"mine": {"command": ["x"]}}}"#);
        let s = select_with(&c, Some("mine"), &none).unwrap();
        assert_eq!((s.name.as_str(), s.forced), ("mine", true));
        assert_eq!(select_with(&c, None, &none).unwrap().name, "codex");
        let c = config(r#"{"adapters": {"mine": {"command": ["x"]}}}"#);
        assert_eq!(select_with(&c, None, &none).unwrap().name, "mine");
        let e = select_with(&c, Some("nope"), &none).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown adapter `nope`; known: mine, claude, codex, gemini, qwen, kimi, echo"
        );
    }

    #[test]
    fn the_only_cli_on_path_else_an_error_listing_them_else_echo() {
        let c = Config::default();
        let only_codex = |p: &str| p == "codex";
        assert_eq!(select_with(&c, None, &only_codex).unwrap().name, "codex");
        let two = |p: &str| p == "claude" || p == "kimi";
        let e = select_with(&c, None, &two).unwrap_err();
        assert_eq!(e, ChoiceError::Ambiguous { found: vec!["claude".into(), "kimi".into()] });
        assert!(e.to_string().contains("--adapter NAME") && e.to_string().contains("defaultAdapter"));
        let s = select_with(&c, None, &|_: &str| false).unwrap();
        assert_eq!(s.name, "echo");
        assert!(s.reason.contains("no agent CLI on PATH"));
    }

    #[test]
    fn finds_executables_on_path() {
        assert!(on_path("sh").is_some());
        assert!(on_path("/bin/sh").is_some());
        assert!(on_path("no-such-odw-agent").is_none());
    }
}
