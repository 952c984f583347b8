//! One module per group of commands; each takes parsed flags and returns the
//! exit code.

mod adapters;
pub mod control;
mod import;
pub mod inspect;
pub mod journal;
mod modules;
mod report;
pub mod run;
pub mod skill;
pub(crate) mod watch;
pub mod workflows;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::CommandFactory;
use serde_json::Value;

use odw_engine::sandbox::Sandbox;
use odw_engine::{Config, ControlRequest, RunDir, home_dir};

use crate::cli::{Cli, Command, Global};

/// What a command starts as soon as its command line is parsed, before the
/// async runtime exists: a resume's read of the journal it reuses.
pub struct Early {
    recorded: Option<odw_engine::run::Recorded>,
}

/// Starts what `cli`'s command can start before the runtime (see [`Early`]).
pub fn start_early(cli: &Cli) -> Early {
    let recorded = match &cli.command {
        Command::Run(args) => run::read_recorded(&cli.global, args),
        _ => None,
    };
    Early { recorded }
}

pub async fn execute(cli: Cli, early: Early) -> anyhow::Result<ExitCode> {
    let global = cli.global;
    match cli.command {
        Command::Run(args) => run::run(&global, args, early.recorded).await,
        Command::Worker { run_dir } => run::worker(&run_dir).await,
        Command::Status(r) => inspect::status(&global, &r),
        Command::Logs(args) => inspect::logs(&global, &args).await,
        Command::Result(r) => inspect::result(&global, &r),
        Command::List(args) => inspect::list(&global, &args),
        Command::Report(args) => report::report(&global, &args),
        Command::Watch(args) => watch::watch(&global, &args),
        Command::Pause(r) => control::send(&global, &r, ControlRequest::Pause),
        Command::Resume(r) => control::send(&global, &r, ControlRequest::Resume),
        Command::Stop(r) => control::send(&global, &r, ControlRequest::Stop),
        Command::Adapters(args) => adapters::adapters(&global, &args),
        Command::Workflows(cmd) => workflows::workflows(&global, cmd).await,
        Command::Validate(args) => workflows::validate(&global, &args).await,
        Command::Build(args) => modules::build(&global, &args).await,
        Command::Inspect(args) => modules::inspect(&global, &args).await,
        Command::Replay(args) => journal::replay(&global, &args).await,
        Command::Journal(args) => journal::journal(&global, &args),
        Command::Import(crate::cli::ImportCommand::Claude(args)) => import::claude(&global, &args).await,
        Command::Skill(cmd) => skill::skill(cmd),
        Command::Mcp => crate::mcp::mcp(&global).await,
        Command::Generate(args) => crate::generate::generate(&global, args).await,
        Command::Serve(args) => crate::serve::serve(&global, &args).await,
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "odw", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The configuration, with its warnings printed once.
pub fn config(global: &Global) -> anyhow::Result<Config> {
    let config = Config::discover(global.config.as_deref()).context("cannot read the configuration")?;
    for w in &config.warnings {
        let file = config.path.as_deref().map_or(String::new(), |p| format!("{}: ", p.display()));
        crate::report::warn(&format!("{file}{w}"));
    }
    Ok(config)
}

/// The runs root: `--runs-root`, else `runsRoot`, else `~/.odw/runs`.
pub fn runs_root(global: &Global, config: &Config) -> PathBuf {
    global.runs_root.clone().unwrap_or_else(|| config.runs_root())
}

/// Finds a run by id, or explains where it looked.
pub fn find_run(global: &Global, id: &str) -> anyhow::Result<RunDir> {
    let config = config(global)?;
    let root = runs_root(global, &config);
    RunDir::find(&root, id).with_context(|| format!("no run `{id}` under {}", root.display()))
}

/// The process's sandbox, with the precompiled guest cached. It may still
/// be loading (see [`Sandbox::start`]): a run reads its configuration,
/// makes its directory and finds its script in the compile cache meanwhile,
/// and only its evaluation waits for the load.
///
/// One per process, and it lives as long as the process: a command that
/// uses it uses it to its end, and the process exits then. Dropped, it
/// unmapped the guest's code on the way out (0.25 ms of every run's exit);
/// left to the exit, the address space goes whole, after odw is gone (see
/// the guardian).
pub fn sandbox() -> &'static Sandbox {
    SANDBOX.get_or_init(|| Sandbox::start(cache_dir()))
}

static SANDBOX: std::sync::OnceLock<Sandbox> = std::sync::OnceLock::new();

/// Starts loading the sandbox now, for a command that needs it first thing:
/// loading it (the engine, the precompiled guest, its linking: ~1 ms on a
/// 2-core VM) is the longest step of a run's start, and needs nothing from
/// the command line but the command's name. A command that fails before it
/// uses the sandbox exits without waiting for it.
pub fn preload_sandbox() {
    sandbox();
}

/// Waits for what the sandbox, if this command started it, is still
/// writing ([`Sandbox::settle`]); the process ends once this returns.
pub fn settle_sandbox() {
    if let Some(sandbox) = SANDBOX.get() {
        sandbox.settle();
    }
}

/// Where the precompiled guest is cached.
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("ODW_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(xdg) = std::env::var_os("XDG_CACHE_HOME").filter(|x| Path::new(x).is_absolute()) {
        return Some(PathBuf::from(xdg).join("odw"));
    }
    home_dir().map(|h| h.join(".cache/odw"))
}

/// `--args`: JSON, `@file`, or a plain string. Text that looks like JSON
/// (starts with `{`, `[` or `"`) must parse, so a typo is an error rather
/// than a silently different string.
pub fn parse_args(raw: Option<&str>) -> Result<Value, String> {
    let Some(raw) = raw else { return Ok(Value::Null) };
    let (text, origin) = match raw.strip_prefix('@') {
        Some(file) => (
            std::fs::read_to_string(file).map_err(|e| format!("--args @{file}: {e}"))?,
            format!("--args @{file}"),
        ),
        None => (raw.to_string(), "--args".to_string()),
    };
    match serde_json::from_str(&text) {
        Ok(v) => Ok(v),
        Err(e) if text.trim_start().starts_with(['{', '[', '"']) => {
            Err(format!("{origin} is not valid JSON: {e}"))
        }
        Err(_) => Ok(Value::String(text)),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_args;
    use serde_json::json;

    #[test]
    fn args_are_json_or_a_plain_string() {
        assert_eq!(parse_args(None).unwrap(), json!(null));
        assert_eq!(parse_args(Some(r#"{"q": 1}"#)).unwrap(), json!({"q": 1}));
        assert_eq!(parse_args(Some("42")).unwrap(), json!(42));
        assert_eq!(parse_args(Some("what is odw?")).unwrap(), json!("what is odw?"));
        let e = parse_args(Some(r#"{"q": }"#)).unwrap_err();
        assert!(e.starts_with("--args is not valid JSON: expected value at line 1 column 7"), "{e}");
        assert!(parse_args(Some("@/no/such/file")).unwrap_err().starts_with("--args @/no/such/file"));
    }
}
