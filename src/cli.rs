//! Flags and commands. Each flag is defined once here, with its help text;
//! `--help` and the shell completions are generated from these definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub const AFTER_HELP: &str = "\
Exit codes:
  0    the workflow finished (with --wait its result is printed)
  1    the workflow failed or was stopped, or odw could not run it
  2    usage error (bad flags or flag values, bad --args JSON)
  3    odw replay --check: the script diverged from the journal
  124  odw run --wait --timeout: the time ran out (the run goes on)

Files:
  config     --config, $ODW_CONFIG, ./odw.config.json, ~/.config/odw/config.json
  runs       <runsRoot>/<workflow>/<runId>/ (default ~/.odw/runs)
  workflows  .odw/workflows, .claude/workflows, ~/.odw/workflows, ~/.claude/workflows
  cache      $ODW_CACHE_DIR, else $XDG_CACHE_HOME/odw, else ~/.cache/odw
  claude     Claude Code's runs (odw list, odw import claude): $CLAUDE_CONFIG_DIR, ~/.claude";

/// Sandboxed, replayable dynamic workflows for coding-agent CLIs.
#[derive(Debug, Parser)]
#[command(name = "odw", version, after_help = AFTER_HELP, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts.
#[derive(Debug, Args)]
pub struct Global {
    /// The configuration file (default: $ODW_CONFIG, ./odw.config.json,
    /// ~/.config/odw/config.json).
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Where run directories are (overrides `runsRoot`).
    #[arg(long, value_name = "DIR", global = true)]
    pub runs_root: Option<PathBuf>,
}

/// Deferred (`defer`): a command's flags are defined only when it is the one
/// invoked (or for `--help`, `help` and the completions, which expand every
/// command). Defining all of them, ~150 flags with their help texts, cost
/// every start 0.1-0.17 ms, `odw run` and `odw --version` included.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Run a workflow: a .js file, a module from `odw build`, or the name of
    /// a saved workflow.
    Run(RunArgs),
    /// Show a run's state, agent counts, elapsed time and tokens.
    Status(RunRef),
    /// Print a run's events; --follow streams them until the run ends.
    Logs(LogsArgs),
    /// Print a run's result as JSON (exit 1 with its error if it failed).
    Result(RunRef),
    /// Write an audit of a run: workflow, timeline of every agent, prompts
    /// and replies, decision trail, errors, tokens, budget, reuse.
    Report(ReportArgs),
    /// Watch a run live, full-screen: phases with bars, the agents of the
    /// selected phase, keys to pause, resume and stop, and the result.
    Watch(WatchArgs),
    /// Hold every agent not yet started (queued ones too).
    Pause(RunRef),
    /// Release a paused run.
    Resume(RunRef),
    /// Stop a run: kill its agents' process groups and end it `stopped`.
    Stop(RunRef),
    /// List runs, newest last.
    List(ListArgs),
    /// Built-in and configured adapters, whether each CLI is installed, and
    /// the command line one call runs.
    Adapters(AdaptersArgs),
    /// Saved workflows: `list`, or `where NAME`.
    #[command(subcommand)]
    Workflows(WorkflowsCommand),
    /// Compile-check a workflow without running it (exit 0 ok, 1 errors).
    Validate(ValidateArgs),
    /// Compile a workflow into a self-contained, pre-initialised WebAssembly
    /// module that `odw run` runs.
    Build(BuildArgs),
    /// Print a workflow module's meta, script hash and imports (the complete
    /// list of what it can call); a .js file shows what it would be built into.
    Inspect(InspectArgs),
    /// Replay a recorded run against its journal with no agents.
    Replay(ReplayArgs),
    /// Inspect, export or import a run's journal.
    Journal(JournalArgs),
    /// Turn another engine's run into an odw run, to continue it with
    /// `odw run SCRIPT --resume-from ID`.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Serve a web dashboard of the runs: a live view of each run, with
    /// pause/resume/stop, and a JSON API. Loopback only unless --host says
    /// otherwise; off loopback it is read-only unless --allow-remote-control.
    Serve(ServeArgs),
    /// Serve odw to a host coding agent over MCP on stdio (tools: run,
    /// status, wait, result, events, stop, pause, resume, validate,
    /// list_runs, list_workflows, replay_check). Register it with `claude
    /// mcp add odw -- odw mcp`.
    Mcp,
    /// Write a workflow for a task with an agent: validate it, feed the
    /// errors back until it compiles, show it and what it may do, then
    /// save it, write it, or run it.
    Generate(GenerateArgs),
    /// The skill that teaches a coding agent to write and run odw workflows.
    #[command(subcommand)]
    Skill(SkillCommand),
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Run a prepared run directory (started by `odw run`; not for people).
    #[command(hide = true)]
    Worker { run_dir: PathBuf },
}

/// Whether the command named `word` evaluates a workflow first thing (`run`,
/// the worker, `replay`), so that its sandbox is best loaded from the
/// process's first instruction on (`commands::preload_sandbox`): read from
/// the command line's first word, before clap has parsed the rest. A
/// command named after global options is not recognised, and loads its
/// sandbox when it first uses it.
pub fn evaluates_first(word: &std::ffi::OsStr) -> bool {
    matches!(word.to_str(), Some("run" | "worker" | "replay"))
}

impl Command {
    /// Whether this command runs agents in this process: a run that does
    /// not start a worker, or a worker.
    pub fn runs_agents(&self) -> bool {
        match self {
            Command::Run(args) => args.in_process(),
            Command::Worker { .. } => true,
            _ => false,
        }
    }

    /// Whether this command starts the guardian: one that runs agents, and
    /// `odw replay`, which runs none but maps the sandbox and a guest's
    /// memory and then ends. Holding the address space, the guardian tears
    /// it down once odw is gone instead of odw's exit doing it (the second
    /// of its reasons to exist, see the guardian): a check of 100 calls
    /// ended 0.3-0.4 ms sooner.
    pub fn starts_guardian(&self) -> bool {
        self.runs_agents() || matches!(self, Command::Replay(_))
    }
}

impl RunArgs {
    /// Whether the run runs in this process rather than in a worker: a
    /// `--wait` with no `--timeout` to give up at, or `--foreground`.
    pub fn in_process(&self) -> bool {
        (self.wait && self.timeout.is_none()) || self.foreground
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The workflow: a path to a .js file or a .wasm module from `odw
    /// build`, or a saved workflow's name.
    pub script: String,
    /// The workflow's `args`: JSON, @file with JSON, or a plain string.
    #[arg(long, value_name = "JSON|@FILE")]
    pub args: Option<String>,
    /// The adapter for calls that name none (overrides `defaultAdapter`).
    #[arg(long, value_name = "NAME")]
    pub adapter: Option<String>,
    /// Wait for the run to end and print its result as JSON.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: how progress shows on stderr. auto: live bars per phase
    /// on a terminal, plain lines otherwise; plain: one line per phase
    /// change and agent end, no escape codes.
    #[arg(long, value_enum, default_value_t = ProgressFlag::Auto, value_name = "HOW")]
    pub progress: ProgressFlag,
    /// With --wait: no progress on stderr (the closing summary and errors stay).
    #[arg(long, short, conflicts_with = "progress")]
    pub quiet: bool,
    /// With --wait: give up waiting after this many seconds (exit 124).
    #[arg(long, value_name = "SECS", requires = "wait")]
    pub timeout: Option<f64>,
    /// The token budget of the run (`budget.total` in the script).
    #[arg(long, value_name = "TOKENS")]
    pub budget: Option<u64>,
    /// Reuse the recorded calls of an earlier run: the longest unchanged
    /// prefix is served from its journal, the rest runs live.
    #[arg(long, value_name = "RUN_ID")]
    pub resume_from: Option<String>,
    /// With --resume-from: after the first changed call, also reuse calls
    /// whose prompt and options are unchanged (`content`).
    #[arg(long, value_enum, default_value_t = Reuse::Prefix, requires = "resume_from")]
    pub reuse: Reuse,
    /// Run in this process, printing the run id when it ends (no worker).
    #[arg(long, hide = true)]
    pub foreground: bool,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// What the workflow should do, in words.
    pub task: String,
    /// The adapter of the agent that writes it (and of the run, with --run).
    #[arg(long, value_name = "NAME")]
    pub adapter: Option<String>,
    /// Write the script to FILE (else, without --save or --run, it goes to
    /// stdout).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Save it as a named workflow in ./.odw/workflows (`odw run NAME`).
    #[arg(long, value_name = "NAME")]
    pub save: Option<String>,
    /// Replace a file --output or --save would overwrite.
    #[arg(long)]
    pub force: bool,
    /// Run it once written: after a yes on the terminal, or with --yes.
    #[arg(long)]
    pub run: bool,
    /// With --run: run without asking.
    #[arg(long, short, requires = "run")]
    pub yes: bool,
    /// With --run: the workflow's `args` (JSON, @file, or a plain string).
    #[arg(long, value_name = "JSON|@FILE", requires = "run")]
    pub args: Option<String>,
    /// How many times the agent may try to write a script that compiles.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10), value_name = "N")]
    pub attempts: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressFlag {
    /// Live on a terminal, plain lines otherwise.
    Auto,
    /// Plain lines.
    Plain,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Reuse {
    /// Only the unchanged prefix of calls.
    Prefix,
    /// The prefix, then any unchanged call (first in, first out).
    Content,
}

#[derive(Debug, Args)]
pub struct RunRef {
    /// The run id (as printed by `odw run`).
    pub run: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The run id.
    pub run: String,
    /// Keep printing new events until the run ends; exit with its state.
    #[arg(long, short)]
    pub follow: bool,
    /// Print the raw JSON events.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The run id.
    pub run: String,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run id.
    pub run: String,
    /// html: one self-contained page (opens offline, prints); md: for a pull
    /// request; json: the run's view as data.
    #[arg(long, value_enum, default_value_t = ReportFormat::Html)]
    pub format: ReportFormat,
    /// Write to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Html,
    Md,
    Json,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only runs of this workflow (its meta.name).
    #[arg(long, value_name = "NAME")]
    pub workflow: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AdaptersArgs {
    /// Show command lines with this model forwarded.
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,
    /// Show which adapter `odw run --adapter NAME` would use.
    #[arg(long, value_name = "NAME")]
    pub adapter: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum WorkflowsCommand {
    /// Saved workflows with their description and where they come from.
    List {
        #[arg(long)]
        json: bool,
    },
    /// The file a saved workflow's name resolves to.
    Where { name: String },
}

#[derive(Debug, Subcommand)]
pub enum SkillCommand {
    /// Copy SKILL.md into an agent's skills directory (default: Claude Code's).
    Install {
        /// Claude Code: $CLAUDE_CONFIG_DIR/skills or ~/.claude/skills.
        #[arg(long, conflicts_with = "codex")]
        claude: bool,
        /// Codex: $CODEX_HOME/skills or ~/.codex/skills.
        #[arg(long)]
        codex: bool,
        /// Replace a different SKILL.md that is already there.
        #[arg(long)]
        force: bool,
    },
    /// Print SKILL.md.
    Show,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The workflow file.
    pub script: PathBuf,
    /// Print JSON: {ok, meta?, errors: [{line, column, message}]}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The workflow file (.js).
    pub script: PathBuf,
    /// Where to write the module (default: beside the script, as .wasm).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The workflow module (.wasm) or script (.js).
    pub workflow: PathBuf,
    /// Print JSON: {file, meta, scriptHash, imports, …}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The recorded run.
    pub run: String,
    /// Check that the script reproduces the run with zero live calls
    /// (exit 0), or print the first divergence (exit 3).
    #[arg(long)]
    pub check: bool,
    /// The script to check (default: the one the run was started with).
    #[arg(long, value_name = "FILE")]
    pub script: Option<PathBuf>,
    /// The args to check with (default: the recorded ones).
    #[arg(long, value_name = "JSON|@FILE")]
    pub args: Option<String>,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct JournalArgs {
    #[command(subcommand)]
    pub import: Option<JournalCommand>,
    /// The run whose journal to show.
    pub run: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Print the versioned JSONL export (independent of the storage format).
    #[arg(long, conflicts_with = "json")]
    pub export: bool,
}

#[derive(Debug, Subcommand)]
pub enum JournalCommand {
    /// Recreate a run from a journal export (e.g. one committed for CI).
    Import { file: PathBuf },
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// A Claude Code workflow run: its finished calls are journalled with
    /// odw's keys (prompts and options as the script passes them), so a
    /// resume re-runs only what Claude Code had not finished. Prints the
    /// new run id and the script's path.
    Claude(ImportClaudeArgs),
}

#[derive(Debug, Args)]
pub struct ImportClaudeArgs {
    /// The run: its id (`wf_…`, as `odw list` shows it), looked up in
    /// $CLAUDE_CONFIG_DIR and ~/.claude (projects/*/*/workflows/), or the
    /// path of its `wf_<id>.json` or `subagents/workflows/wf_<id>` directory.
    pub run: String,
    /// The adapter the resume will use (default: as `odw run` picks it). It
    /// is part of every call's key, so resume with the same one.
    #[arg(long, value_name = "NAME")]
    pub adapter: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The TCP port (0: any free port; the URL is printed on stdout).
    #[arg(long, default_value_t = 4317)]
    pub port: u16,
    /// The address to listen on. Anything but a loopback address publishes
    /// every run's prompts and replies to that network, read-only.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    /// Open the dashboard in the default browser.
    #[arg(long)]
    pub open: bool,
    /// Off loopback: accept pause/resume/stop and new runs from remote
    /// clients that send `Authorization: Bearer TOKEN`.
    #[arg(long, requires = "token")]
    pub allow_remote_control: bool,
    /// The bearer token --allow-remote-control requires (at least 16 characters).
    #[arg(long, value_name = "TOKEN", requires = "allow_remote_control")]
    pub token: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every command's flags, deferred until it is invoked, are checked
    /// here (clap's own assertions: conflicting names, bad `requires`...).
    #[test]
    fn every_command_is_well_defined() {
        Cli::command().debug_assert();
    }

    /// The words [`evaluates_first`] knows are the names clap gives the
    /// commands that evaluate first, and no other command's.
    #[test]
    fn the_first_word_names_exactly_the_commands_that_evaluate_first() {
        let command = |words: &[&str]| Cli::try_parse_from([&["odw"], words].concat()).unwrap().command;
        for words in [&["run", "flow.js"][..], &["worker", "/tmp/run"], &["replay", "some-run"]] {
            assert!(evaluates_first(std::ffi::OsStr::new(words[0])), "{words:?}");
            let parsed = command(words);
            assert!(
                matches!(parsed, Command::Run(_) | Command::Worker { .. } | Command::Replay(_)),
                "{words:?}"
            );
        }
        for words in [&["status", "some-run"][..], &["validate", "flow.js"], &["list"]] {
            assert!(!evaluates_first(std::ffi::OsStr::new(words[0])), "{words:?}");
            command(words);
        }
    }
}
