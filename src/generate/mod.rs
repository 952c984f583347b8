//! `odw generate "<task>"`: an agent writes a workflow for a task.
//!
//! Generation is itself a workflow, `generate` (built in, [`crate::builtin`];
//! a saved `generate.js` replaces it). It runs like any other — journalled,
//! visible in `odw list`/`watch`/`serve` — with the task and the authoring
//! guide (skill/SKILL.md) as its args. It asks an agent for a script, checks
//! it with the dialect's `validate(source)` (the host's loader and the
//! sandbox's compiler: odw's own validation, not the agent's word), and
//! sends every error back until the script compiles or the attempts run out.
//!
//! odw then validates the script once more itself (the generator may be a
//! user's replacement), and shows it before anything runs: its meta and
//! what it may do ([`reach`]: adapters, models, isolation, how many agents).
//! The script is written where asked (`-o`, `--save`, else stdout), and
//! `--run` runs it only after a yes on the terminal or `--yes`.

mod reach;

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use serde::Deserialize;
use serde_json::{Value, json};

use odw_engine::run::{execute, prepare};
use odw_engine::{Config, Controls, ReuseRule, RunOptions, library, validate_file};

use crate::cli::{GenerateArgs, Global, ProgressFlag, Reuse, RunArgs};
use crate::commands::{config, parse_args, run, runs_root, sandbox, skill::SKILL};
use crate::progress::{Follow, Mode};
use crate::report::{self, Exit, outln};
use reach::{COMPUTED, Reach};

/// What the generator workflow returns (see generate.js).
#[derive(Debug, Deserialize)]
struct Generated {
    ok: bool,
    source: Option<String>,
    attempts: u32,
    #[serde(default)]
    errors: Vec<Problem>,
}

#[derive(Debug, Deserialize)]
struct Problem {
    #[serde(default)]
    line: u32,
    #[serde(default)]
    column: u32,
    message: String,
}

pub async fn generate(global: &Global, args: GenerateArgs) -> anyhow::Result<ExitCode> {
    if let Some(name) = args.save.as_deref().filter(|n| !library::valid_name(n)) {
        return Ok(report::usage(&format!(
            "--save {name:?}: a workflow name is letters, digits, `-`, `_` and inner dots"
        )));
    }
    if args.run && !args.yes && !std::io::stdin().is_terminal() {
        return Ok(report::usage("--run asks before running the script: answer on a terminal, or add --yes"));
    }
    if let Err(message) = parse_args(args.args.as_deref()) {
        return Ok(report::usage(&message));
    }
    let config = config(global)?;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let generated = match write_script(global, &config, &cwd, &args).await? {
        Ok(generated) => generated,
        Err(code) => return Ok(code),
    };
    let Some(source) = generated.source.filter(|_| generated.ok) else {
        eprintln!("odw: error: no script compiled after {} attempt(s); the last errors:", generated.attempts);
        for e in &generated.errors {
            eprintln!("  {}{}", position(e.line, e.column), report::shown(&e.message));
        }
        return Ok(Exit::Failed.into());
    };
    // odw's own check of what it is about to show and save: the generator
    // may be a user's replacement that claims more than it checked.
    let stored = run::inline_script(&source).context("cannot store the generated script")?;
    let verdict = validate_file(sandbox(), &config, &stored).await;
    if !verdict.ok {
        eprintln!("odw: error: the generator returned a script that does not compile:");
        for e in &verdict.errors {
            eprintln!("  {}{}", position(e.line, e.column), report::shown(&e.message));
        }
        return Ok(Exit::Failed.into());
    }
    let meta = verdict.meta.unwrap_or(Value::Null);
    let shows_script = args.output.is_some() || args.save.is_some() || args.run;
    preview(&source, &meta, reach::analyse(&source).as_ref(), &config, generated.attempts, shows_script);
    let mut written = None;
    if let Some(path) = &args.output {
        write_new(path, &source, args.force)?;
        eprintln!("odw: wrote {}", path.display());
        written = Some(path.clone());
    }
    if let Some(name) = &args.save {
        let path = cwd.join(".odw/workflows").join(format!("{name}.js"));
        write_new(&path, &source, args.force)?;
        eprintln!("odw: saved as `{name}` ({}); run it with `odw run {name}`", path.display());
        written.get_or_insert(path);
    }
    if !shows_script {
        outln!("{}", source.trim_end());
    }
    if !args.run {
        return Ok(Exit::Ok.into());
    }
    if !args.yes && !confirm()? {
        eprintln!("odw: not run");
        return Ok(Exit::Ok.into());
    }
    let script = written.unwrap_or(stored);
    let run_args = RunArgs {
        script: script.display().to_string(),
        args: args.args,
        adapter: args.adapter,
        wait: true,
        progress: ProgressFlag::Auto,
        quiet: false,
        timeout: None,
        budget: None,
        resume_from: None,
        reuse: Reuse::Prefix,
        foreground: false,
    };
    run::run(global, run_args, None).await
}

/// Runs the generator workflow here and now; its result, or the exit code
/// of a run that failed (its error already printed).
async fn write_script(
    global: &Global,
    config: &Config,
    cwd: &Path,
    args: &GenerateArgs,
) -> anyhow::Result<Result<Generated, ExitCode>> {
    let generator = run::saved_workflow(config, cwd, "generate")?;
    let sandbox = sandbox();
    let opts = RunOptions {
        script: generator,
        args: json!({ "task": args.task, "skill": SKILL, "maxAttempts": args.attempts }),
        adapter: args.adapter.clone(),
        budget: None,
        runs_root: Some(runs_root(global, config)),
        workspace: cwd.to_path_buf(),
        resume_from: None,
        reuse: ReuseRule::Prefix,
        config_path: config.path.clone(),
    };
    let prepared = prepare(sandbox, config, opts).await?;
    let run = prepared.run.clone();
    eprintln!("odw: writing a workflow for the task (run {})", run.id);
    let follow = Follow::start(&run, Mode::choose(false, false));
    let controls = Controls::follow(&run);
    let outcome = execute(sandbox, config, prepared, controls).await;
    if let Some(follow) = follow {
        follow.finish();
    }
    let outcome = outcome.inspect_err(|_| report::run_failed(&run))?;
    match outcome.result {
        Ok(value) => {
            let generated = serde_json::from_value(value).with_context(|| {
                format!("run {}: the generator's result is not {{ok, source, attempts, errors}}", run.id)
            })?;
            Ok(Ok(generated))
        }
        Err(e) => {
            report::script_error(&e);
            report::run_failed(&run);
            Ok(Err(Exit::Failed.into()))
        }
    }
}

/// `line:column: ` when the error has a position.
fn position(line: u32, column: u32) -> String {
    if line == 0 { String::new() } else { format!("{line}:{column}: ") }
}

/// What a person sees before anything runs, on stderr: the script (when it
/// does not go to stdout), its meta, and what it may do.
fn preview(source: &str, meta: &Value, reach: Option<&Reach>, config: &Config, attempts: u32, script: bool) {
    let text = |key: &str| report::shown(meta.get(key).and_then(Value::as_str).unwrap_or("")).into_owned();
    let mut lines = Vec::new();
    if script {
        lines.push("── script ──".to_string());
        lines.extend(source.trim_end().lines().map(|l| report::shown(l).into_owned()));
        lines.push("────────────".to_string());
    }
    lines.push(format!("workflow     {}", text("name")));
    lines.push(format!("description  {}", text("description")));
    if let Some(phases) = meta.get("phases").and_then(Value::as_array) {
        let titles: Vec<&str> = phases.iter().filter_map(|p| p["title"].as_str()).collect();
        lines.push(format!("phases       {}", report::shown(&titles.join(" · "))));
    }
    lines.push(format!("compiled     after {attempts} attempt(s)"));
    match reach {
        Some(r) => lines.extend(may_do(r, config.max_agents())),
        None => lines.push("may do       (the script could not be read)".into()),
    }
    let mut err = std::io::stderr().lock();
    for line in lines {
        let _ = writeln!(err, "{line}");
    }
}

/// The "may do" lines of the preview.
fn may_do(r: &Reach, max_agents: usize) -> Vec<String> {
    let list = |set: &std::collections::BTreeSet<String>, none: &str| {
        if set.is_empty() {
            none.to_string()
        } else {
            set.iter().map(|s| report::shown(s).into_owned()).collect::<Vec<_>>().join(", ")
        }
    };
    let agents = match (r.agent_calls, r.repeated) {
        (0, _) => "none".to_string(),
        (n, false) => format!("at most {n} (one per call site, none in a loop or callback)"),
        (n, true) => {
            format!("{n} call site(s), some in a loop or callback: up to maxAgents ({max_agents}) per run")
        }
    };
    let mut out = vec![
        format!("agents       {agents}"),
        format!("adapters     {}", list(&r.adapters, "the run's adapter (--adapter, else defaultAdapter)")),
        format!("models       {}", list(&r.models, "the adapter's default")),
        format!("isolation    {}", list(&r.isolation, "none (agents work in the current directory)")),
    ];
    if !r.workflows.is_empty() {
        out.push(format!("workflows    {} (run inline)", list(&r.workflows, "")));
    }
    if r.opaque_options {
        out.push(format!("note         some calls pass options that are {COMPUTED}"));
    }
    out
}

/// Writes `path`, refusing to replace an existing file unless `force`.
fn write_new(path: &Path, source: &str, force: bool) -> anyhow::Result<()> {
    if path.exists() && !force {
        anyhow::bail!("{} exists; add --force to replace it", path.display());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let text = format!("{}\n", source.trim_end());
    odw_engine::atomic_write(path, text.as_bytes(), false)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Asks on the terminal whether to run the script.
fn confirm() -> anyhow::Result<bool> {
    eprint!("odw: run this workflow now? [y/N] ");
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).context("cannot read the answer")?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_bound_says_when_only_max_agents_bounds_it() {
        let bounded = Reach { agent_calls: 2, ..Reach::default() };
        assert!(may_do(&bounded, 50)[0].contains("at most 2"));
        let looped = Reach { agent_calls: 1, repeated: true, ..Reach::default() };
        assert!(may_do(&looped, 50)[0].contains("maxAgents (50)"));
        let mut named = Reach::default();
        named.adapters.insert("claude".into());
        assert!(may_do(&named, 50).iter().any(|l| l == "adapters     claude"));
    }
}
