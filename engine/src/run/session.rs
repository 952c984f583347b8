//! One evaluation of a workflow body with its scheduler: the guest sends
//! `agent()` calls and events, the scheduler serves them, and how it ended
//! is recorded in the run directory and the journal.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use odw_journal::{Ending, Finished, Journal};
use serde_json::Value;
use tokio::sync::mpsc;

use super::{Controls, RunError, RunReport};
use crate::config::Config;
use crate::loader::{self, Script};
use crate::protocol::{Activation, ErrorName, Outcome, ScriptError};
use crate::replay::Plan;
use crate::rundir::{Event, Progress, RunDir, RunMeta, RunState};
use crate::sandbox::{GuestIo, Sandbox, SandboxError};
use crate::scheduler::{RunContext, Scheduler, Setup};
use crate::workflow::{Nested, Workflow};

pub(super) struct Session<'a> {
    pub(super) sandbox: &'a Sandbox,
    pub(super) config: &'a Config,
    pub(super) run: RunDir,
    pub(super) meta: RunMeta,
    pub(super) workflow: Workflow,
    /// What the scheduler serves from, possibly still being opened.
    pub(super) books: Opening,
    /// Whether the run's progress and outcome are written for others to
    /// follow; see [`Progress::unwatched`] for the run that is not, whose
    /// outcome is only returned (its directory is deleted unread).
    pub(super) watched: bool,
}

/// What a session's calls are served from.
pub(super) struct Books {
    /// This run's journal (none for `odw replay --check`).
    pub(super) journal: Option<Arc<Journal>>,
    /// What an earlier run's journal may serve.
    pub(super) plan: Option<Plan>,
}

/// [`Books`] on their way: the guest starts while they open.
pub(super) type Opening = Pin<Box<dyn Future<Output = Result<Books, RunError>> + Send>>;

impl Books {
    /// Books that are already open.
    pub(super) fn ready(journal: Option<Arc<Journal>>, plan: Option<Plan>) -> Opening {
        Box::pin(std::future::ready(Ok(Books { journal, plan })))
    }
}

impl Session<'_> {
    /// Runs the guest against its scheduler to the end. The scheduler
    /// starts when the books are open, so no call is served (nor any event
    /// of the guest's recorded) before this run's journal exists; books
    /// that cannot be opened end the run before any agent ran.
    pub(super) async fn drive(self, controls: Controls) -> Result<RunReport, RunError> {
        let Session { sandbox, config, run, meta, workflow, books, watched } = self;
        let Controls { control, stop, settled, exits_with_run } = controls;
        // From here on, however this process ends, the guardian syncs the
        // journal once it is gone (see `Controls::exits_with_run`).
        let sync_at_exit =
            exits_with_run && crate::adapters::sync_at_exit(&Journal::data_file(&run.journal_path()));
        let script = &workflow.script;
        let begun = Instant::now();
        let progress = Arc::new(if watched {
            Progress::new(run.clone(), &meta.workflow)?
        } else {
            Progress::unwatched(run.clone(), &meta.workflow)
        });
        progress.event(Event::RunStarted {
            run_id: run.id.clone(),
            workflow: meta.workflow.clone(),
            args: meta.args.clone(),
            adapter: meta.adapter.clone(),
            phases: meta.meta.get("phases").cloned(),
            resumed_from: meta.resumed_from.clone(),
            start: workflow.origin(),
        });
        // A resumed run's predecessor may have died with cluster jobs still
        // queued or running; nothing will read their results.
        if let Some(old) = &meta.resumed_from {
            for message in crate::adapters::executor::cancel_run(config, old).await {
                progress.event(Event::Log { message });
            }
        }
        let pauses = tokio::spawn({
            let progress = progress.clone();
            let mut control = control.clone();
            async move {
                while control.changed().await.is_ok() {
                    let paused = control.borrow_and_update().paused;
                    progress.paused(paused);
                }
            }
        });
        let (to_host, from_guest) = mpsc::unbounded_channel();
        let host_busy = Arc::<std::sync::atomic::AtomicBool>::default();
        let (to_guest, completions) = mpsc::unbounded_channel();
        let mut serving = tokio::spawn({
            let context = RunContext {
                default_adapter: meta.adapter.clone(),
                adapter_forced: meta.adapter_forced,
                workspace: meta.workspace.clone(),
                run: run.clone(),
                progress: progress.clone(),
                journal: None,
                budget: meta.budget,
            };
            let config = config.clone();
            let busy = host_busy.clone();
            async move {
                let Books { journal, plan } = books.await?;
                let run = RunContext { journal: journal.clone(), ..context };
                let scheduler = Arc::new(Scheduler::new(config, Setup { run, plan, control }));
                scheduler.clone().serve(from_guest, to_guest, busy).await;
                Ok::<_, RunError>((scheduler, journal))
            }
        });
        let flusher = tokio::spawn({
            let progress = progress.clone();
            async move { progress.keep_written().await }
        });
        let activation = Activation {
            source: script.body.clone(),
            filename: script.display_name(),
            line_one_shift: script.line_one_shift,
            args: meta.args.clone(),
            seed: meta.seed,
            clock: meta.clock,
            budget: meta.budget,
        };
        let workflows = Arc::new(Nested {
            config: config.clone(),
            workspace: meta.workspace.clone(),
            base: meta.script.parent().map(Path::to_path_buf).unwrap_or_default(),
        });
        let guest_io = GuestIo {
            to_host,
            completions,
            workflows: Some(workflows),
            ends_process: exits_with_run,
            host_busy,
        };
        let guest = workflow.evaluate(sandbox, &meta.meta, &activation, config.sandbox_limits(), guest_io);
        // A scheduler that ends first is one whose books could not open.
        let mut served = None;
        let (outcome, saving) = {
            let mut guest = std::pin::pin!(guest);
            let mut stop = std::pin::pin!(async move {
                match stop {
                    Some(stop) => drop(stop.await),
                    None => std::future::pending().await,
                }
            });
            loop {
                tokio::select! {
                    (outcome, saving) = &mut guest => break (Some(outcome), saving),
                    () = &mut stop => break (None, None),
                    joined = &mut serving, if served.is_none() => {
                        let failed = !matches!(joined, Ok(Ok(_)));
                        served = Some(joined);
                        if failed {
                            break (None, None);
                        }
                    }
                }
            }
        };
        // The guest is gone (dropped above, which stops a guest still
        // running); the scheduler cancels what is still running (killing
        // each agent's process group).
        let served = match served {
            Some(joined) => joined,
            None => serving.await,
        };
        flusher.abort();
        pauses.abort();
        // `error.json`, for `odw result` and the dashboards (an unwatched
        // run's error is only returned: nobody reads its directory). Best
        // effort: on a full disk it cannot be written either, and the run's
        // own error, returned, says more.
        let keep_error = |error: &ScriptError| {
            if watched {
                let _ = run.write_error(error);
            }
        };
        let (scheduler, journal) = match super::joined(served, "serving the calls") {
            Ok(served) => served,
            Err(e) => {
                let error = ScriptError::new(ErrorName::RunError, e.to_string());
                keep_error(&error);
                let ms = begun.elapsed().as_millis() as u64;
                progress.finish(RunState::Failed, Event::RunFailed { ms, error });
                return Err(e);
            }
        };

        // Every event but the end is written: a view following the run
        // reads them now, beside the journal's end and its sync (mostly a
        // wait for the disk), not after them.
        if let Some(settled) = settled {
            settled();
        }
        let (mut state, mut result) = match outcome {
            None => (RunState::Stopped, Err(ScriptError::new(ErrorName::Stopped, "the run was stopped"))),
            Some(outcome) => {
                let result = conclude(script, outcome);
                (if result.is_ok() { RunState::Done } else { RunState::Failed }, result)
            }
        };
        let elapsed_ms = begun.elapsed().as_millis() as u64;
        let agents = progress.status().agents;
        if let Some(journal) = &journal {
            let finished = match &result {
                Ok(value) => Finished { ok: true, result: value.clone() },
                Err(e) => Finished { ok: false, result: serde_json::to_value(e).unwrap_or(Value::Null) },
            };
            // A run that already failed keeps its own error (which may be
            // this same full disk); a finished one fails on it, since a
            // journal without its end cannot prove the run in `replay`.
            if let Err(e) = end_journal(journal, &finished, sync_at_exit)
                && result.is_ok()
            {
                let message = format!("the run finished, but its journal could not record the end: {e}");
                (state, result) =
                    (RunState::Failed, Err(ScriptError::new(ErrorName::InternalError, message)));
            }
        }
        let reuse = scheduler.reuse_summary();
        let divergence = scheduler.divergence();
        // Closing the journal (sled's last flush, joining its threads; the
        // sync was `finish`'s, above) is off the run's path, and starts as
        // soon as its end is written, beside the writes below: started
        // last, it was still running when the process exited, and the exit
        // waited for it.
        tokio::task::spawn_blocking(move || drop((scheduler, journal)));
        // For `odw result` and the dashboards (nobody reads an unwatched
        // run's); the journal's end, synced above, is its durable copy.
        if let Ok(value) = &result
            && watched
            && let Err(e) = run.write_result(value)
        {
            let message = format!("the run finished, but its result could not be saved: {e}");
            (state, result) = (RunState::Failed, Err(ScriptError::new(ErrorName::InternalError, message)));
        }
        let end = match &result {
            Ok(_) => Event::RunFinished { ms: elapsed_ms, agents },
            Err(error) => {
                keep_error(error);
                match state {
                    RunState::Stopped => Event::RunStopped { ms: elapsed_ms, agents },
                    _ => Event::RunFailed { ms: elapsed_ms, error: error.clone() },
                }
            }
        };
        progress.finish(state, end);
        if let Some(saving) = saving {
            let _ = saving.await;
        }
        Ok(RunReport { run, state, result, agents, elapsed_ms, reuse, divergence })
    }
}

/// Records the run's end in its journal and puts the journal on the disk:
/// synced here, or left to the guardian, which syncs it once the process is
/// gone (`synced_at_exit`, see `guardian::sync_at_exit`: the sync was the
/// last thing a process that ends with its run waited for). Flushed either
/// way, so it survives the process when this returns.
fn end_journal(
    journal: &Journal,
    finished: &Finished,
    synced_at_exit: bool,
) -> Result<(), odw_journal::JournalError> {
    match journal.end(finished)? {
        // No call completed: nothing for the guardian to sync either.
        Ending::Flushed => {
            if synced_at_exit {
                crate::adapters::no_sync_at_exit();
            }
            Ok(())
        }
        Ending::Sync if synced_at_exit => journal.hand_off_sync(),
        Ending::Sync => journal.sync(),
    }
}

/// The script's value, or the error it ended with, positions in the file.
#[allow(clippy::result_large_err)] // built once per run, never on a hot path
fn conclude(script: &Script, outcome: Result<Outcome, SandboxError>) -> Result<Value, ScriptError> {
    match outcome {
        Ok(Outcome { ok: true, value, .. }) => Ok(value.unwrap_or(Value::Null)),
        Ok(Outcome { error: Some(mut error), .. }) => {
            loader::refine_syntax_location(&script.source, &mut error);
            Err(error)
        }
        Ok(Outcome { error: None, .. }) => {
            Err(ScriptError::new(ErrorName::Error, "the workflow failed without an error"))
        }
        Err(SandboxError::Limit(hit)) => Err(ScriptError {
            limit: hit.key().map(str::to_string),
            fatal: true,
            ..ScriptError::new(ErrorName::LimitError, hit.to_string())
        }),
        Err(other) => Err(ScriptError::new(ErrorName::InternalError, other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Books, Controls, RunOptions, prepare};
    use super::*;
    use crate::replay::ReuseRule;

    /// A run of `script` on the echo adapter, kept under `dir`.
    fn echo_run(dir: &std::path::Path, script: std::path::PathBuf) -> RunOptions {
        RunOptions {
            script,
            args: Value::Null,
            adapter: Some("echo".into()),
            budget: None,
            runs_root: Some(dir.join("runs")),
            workspace: dir.to_path_buf(),
            resume_from: None,
            reuse: ReuseRule::Prefix,
            config_path: None,
        }
    }

    /// A run nobody watches (`odw replay --check`'s run) returns
    /// its outcome and writes none of it: no result, no error, no events.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unwatched_run_returns_its_outcome_and_writes_none_of_it() {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = Sandbox::new(None).unwrap();
        let config = Config::default();
        for (name, body, ok) in
            [("fine", "return 41 + 1;", true), ("broken", "throw new Error('no');", false)]
        {
            let script = dir.path().join(format!("{name}.js"));
            let source = format!("export const meta = {{ name: '{name}', description: 'd' }};\n{body}\n");
            std::fs::write(&script, source).unwrap();
            let opts = echo_run(dir.path(), script);
            let super::super::Prepared { run, meta, workflow, .. } =
                prepare(&sandbox, &config, opts).await.unwrap();
            let books = Books::ready(None, None);
            let session = Session {
                sandbox: &sandbox,
                config: &config,
                run: run.clone(),
                meta,
                workflow,
                books,
                watched: false,
            };
            let report = session.drive(Controls::default()).await.unwrap();
            assert_eq!(report.result.is_ok(), ok, "{name}");
            if ok {
                assert_eq!(report.result.unwrap(), serde_json::json!(42));
            }
            assert_eq!(run.read_result(), None, "{name}");
            assert!(run.read_error().is_none(), "{name}");
            assert!(!run.path.join("events.jsonl").exists(), "{name}");
        }
    }

    /// `Controls::settled` is told once the run's events are all written
    /// but its end: a follower woken then reads every agent's events, and
    /// the end is not there yet.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn settled_is_told_once_every_event_but_the_end_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = Sandbox::new(None).unwrap();
        let config = Config::default();
        let script = dir.path().join("two.js");
        let source = "export const meta = { name: 'two', description: 'd' };\n\
                      return await parallel([() => agent('a'), () => agent('b')]);\n";
        std::fs::write(&script, source).unwrap();
        let opts = echo_run(dir.path(), script);
        let prepared = prepare(&sandbox, &config, opts).await.unwrap();
        let run = prepared.run.clone();
        let (told, seen) = std::sync::mpsc::channel();
        let events = run.path.join("events.jsonl");
        let controls = Controls {
            settled: Some(Box::new(move || {
                let _ = told.send(std::fs::read_to_string(&events).unwrap_or_default());
            })),
            ..Controls::default()
        };
        let report = super::super::execute(&sandbox, &config, prepared, controls).await.unwrap();
        assert!(report.result.is_ok(), "{:?}", report.result);
        let at_settled = seen.try_recv().expect("settled was called");
        assert!(seen.try_recv().is_err(), "settled is called once");
        assert_eq!(at_settled.matches("\"agent_finished\"").count(), 2, "{at_settled}");
        assert!(!at_settled.contains("run_finished"), "{at_settled}");
        let at_end = std::fs::read_to_string(run.path.join("events.jsonl")).unwrap();
        assert!(at_end.contains("run_finished"), "{at_end}");
    }
}
