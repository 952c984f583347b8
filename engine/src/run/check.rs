//! `odw replay <runId> --check`: does the script reproduce the recorded run?
//!
//! The script runs against the journal with no adapter at all: every
//! `agent()` call must be served from the journal, in the recorded order, and
//! the result must equal the recorded one. The first call that cannot be
//! served is a divergence, reported with its index, what the journal expected
//! and what the script asked for — Temporal's replayer does the same for
//! workflow code.

use std::path::PathBuf;

use odw_journal::Journal;
use serde_json::Value;

use super::{Books, Controls, RunError, Session, find};
use crate::config::Config;
use crate::replay::{Divergence, Mode, Plan};
use crate::rundir::{RunDir, RunMeta, RunState};
use crate::sandbox::Sandbox;
use crate::workflow::Workflow;

/// The verdict of a replay check.
#[derive(Debug)]
pub struct CheckReport {
    /// The first call the journal could not serve.
    pub divergence: Option<Divergence>,
    /// The recorded result differs from the replayed one (both as JSON).
    pub result_mismatch: Option<(Value, Value)>,
    /// Calls served from the journal.
    pub calls: u64,
    pub state: RunState,
}

impl CheckReport {
    pub fn reproduced(&self) -> bool {
        self.divergence.is_none() && self.result_mismatch.is_none()
    }
}

/// Replays run `id` (under `root`) with `script` (default: the recorded
/// script) and `args` (default: the recorded args), with zero live calls.
pub async fn check(
    sandbox: &Sandbox,
    config: &Config,
    root: &std::path::Path,
    id: &str,
    script: Option<PathBuf>,
    args: Option<Value>,
) -> Result<CheckReport, RunError> {
    let recorded = find(root, id)?;
    let meta = recorded.read_meta()?;
    // The recorded journal is read on a blocking thread while the guest
    // starts, as a run opens its books (`run::open`): reading a thousand
    // completions took as long as the guest's whole first burst of calls,
    // which queue meanwhile. How the run ended is wanted only at the end.
    let journal_path = recorded.journal_path();
    let (ended_tx, ended) = tokio::sync::oneshot::channel();
    let (read_tx, read) = tokio::sync::oneshot::channel();
    let reading = tokio::task::spawn_blocking(move || {
        let opened = Journal::open_read_only(&journal_path).map_err(RunError::from);
        let plan = opened.and_then(|journal| {
            let plan = Plan::load(&journal, Mode::Check)?;
            let _ = ended_tx.send(journal.finished()?);
            Ok((plan, journal))
        });
        // The plan goes first; the journal is closed after, off the run's
        // path (closing sled held up the first call by 0.2-0.8 ms).
        let (plan, journal) = match plan {
            Ok((plan, journal)) => (Ok(plan), Some(journal)),
            Err(e) => (Err(e), None),
        };
        let _ = read_tx.send(plan);
        drop(journal);
    });
    let books = Box::pin(async move {
        let plan = match read.await {
            Ok(plan) => plan?,
            // The reader ended without a word: it panicked, and the panic
            // goes on unwinding here.
            Err(_) => {
                return super::joined(
                    reading
                        .await
                        .map(|()| Err(super::cancelled("reading the recorded journal", "no result"))),
                    "reading the recorded journal",
                );
            }
        };
        Ok(Books { journal: None, plan: Some(plan) })
    });

    let script = match script {
        Some(script) => script,
        None if meta.imported => return Err(RunError::ImportedScript { id: id.into() }),
        None => meta.script.clone(),
    };
    let workflow = Workflow::load(sandbox, &script)?;
    let config = &with_recorded_adapter(config, &meta.adapter);
    let run = RunDir::unmade(&meta.workflow);
    let meta = RunMeta { args: args.unwrap_or(meta.args), run_id: run.id.clone(), ..meta };
    // Nobody watches the replayed run: its progress stays in memory.
    let session = Session { sandbox, config, run, meta, workflow, books, watched: false };
    let report = session.drive(Controls::default()).await?;
    let divergence = report.divergence.clone();
    // Sent before the plan was handed over, so before the run could end.
    let finished = ended.await.map_err(|e| RunError::Io {
        context: "reading the recorded journal".into(),
        source: std::io::Error::other(e),
    })?;

    let replayed = match &report.result {
        Ok(v) => (true, v.clone()),
        Err(e) => (false, serde_json::to_value(e).unwrap_or(Value::Null)),
    };
    let result_mismatch = match finished {
        Some(f)
            if divergence.is_none()
                && (f.ok, comparable(&f.result)) != (replayed.0, comparable(&replayed.1)) =>
        {
            Some((f.result, replayed.1))
        }
        None if divergence.is_none() => Some((Value::Null, replayed.1)),
        _ => None,
    };
    Ok(CheckReport { divergence, result_mismatch, calls: report.agents.dispatched, state: report.state })
}

/// `config`, plus a stand-in for the run's default adapter when `config`
/// does not define it: a check serves every call from the journal and never
/// starts an agent, so a CI check needs only the journal and the script,
/// not the configuration that defined the agents. The adapter's name is
/// kept (it is part of each call's key); the stand-in's command is `false`,
/// in case anything ever tried to run it.
fn with_recorded_adapter(config: &Config, name: &str) -> Config {
    let mut config = config.clone();
    if crate::adapters::Adapter::resolve(name, &config).is_err() {
        let stand_in = crate::config::AdapterConfig { command: vec!["false".into()], ..Default::default() };
        config.adapters.insert(name.to_string(), stand_in);
    }
    config
}

/// A result as compared: an error's stack is not part of it.
fn comparable(v: &Value) -> Value {
    let mut v = v.clone();
    if let Value::Object(o) = &mut v {
        o.remove("stack");
    }
    v
}
