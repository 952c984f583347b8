//! A table of event sequences and the views they fold into.

use serde_json::json;

use super::*;
use crate::rundir::{AgentCounts, RunDir, StartOrigin};

/// `ms` after 12:00:00.000 as an event time.
fn ts(ms: u64) -> String {
    format!("2026-01-01T12:00:{:02}.{:03}Z", ms / 1000, ms % 1000)
}

fn start(index: u32, label: &str, phase: Option<&str>) -> AgentStart {
    AgentStart {
        index,
        label: label.into(),
        phase: phase.map(str::to_string),
        adapter: "echo".into(),
        model: None,
        cached: false,
        reuse: None,
        prompt: None,
    }
}

fn end(agent: AgentStart, ms: u64, tokens: u64, error: Option<&str>) -> AgentEnd {
    AgentEnd {
        agent,
        ms,
        attempts: 1,
        usage: Usage { input: tokens, output: 0, estimated: false },
        worktree: None,
        error: error.map(str::to_string),
        preview: None,
    }
}

fn run_started(phases: Option<Value>, resumed_from: Option<&str>) -> Event {
    Event::RunStarted {
        run_id: "r1".into(),
        workflow: "flow".into(),
        args: json!({"q": 1}),
        adapter: "echo".into(),
        phases,
        resumed_from: resumed_from.map(str::to_string),
        start: StartOrigin::Compiled,
    }
}

fn fold(events: &[(u64, Event)]) -> RunView {
    let mut view = RunView::default();
    for (ms, event) in events {
        view.apply(&Stamped { ts: ts(*ms), event: event.clone() });
    }
    view
}

/// (what the sequence is, the events at their ms, what the view must show)
type Case = (&'static str, Vec<(u64, Event)>, fn(&RunView));

#[test]
fn event_sequences_fold_into_views() {
    let cases: Vec<Case> = vec![
        ("nothing yet", vec![], |v| {
            assert_eq!(v.state, RunState::Pending);
            assert!(v.phases.is_empty() && v.agents.is_empty());
        }),
        (
            "declared phases come first, in meta order, before any starts",
            vec![(
                0,
                run_started(Some(json!([{"title": "Scan", "detail": "look"}, {"title": "Fix"}])), None),
            )],
            |v| {
                assert_eq!(v.state, RunState::Running);
                let titles: Vec<_> = v.phases.iter().map(|p| (p.title.as_str(), p.declared)).collect();
                assert_eq!(titles, [("Scan", true), ("Fix", true)]);
                assert_eq!(v.phases[0].detail.as_deref(), Some("look"));
                assert_eq!((v.workflow.as_str(), &v.args), ("flow", &json!({"q": 1})));
            },
        ),
        (
            "a queued, a running, a done and a failed agent in one phase",
            vec![
                (0, run_started(None, None)),
                (10, Event::PhaseStarted { title: "Scan".into() }),
                (20, Event::AgentQueued(start(0, "a", Some("Scan")))),
                (20, Event::AgentQueued(start(1, "b", Some("Scan")))),
                (20, Event::AgentQueued(start(2, "c", Some("Scan")))),
                (20, Event::AgentQueued(start(3, "d", Some("Scan")))),
                (30, Event::AgentStarted(start(0, "a", Some("Scan")))),
                (30, Event::AgentStarted(start(1, "b", Some("Scan")))),
                (40, Event::AgentStarted(start(2, "c", Some("Scan")))),
                (530, Event::AgentFinished(end(start(0, "a", Some("Scan")), 500, 7, None))),
                (600, Event::AgentFailed(end(start(1, "b", Some("Scan")), 570, 3, Some("exit 3")))),
            ],
            |v| {
                let states: Vec<_> = v.agents.iter().map(|a| a.state).collect();
                use AgentState::*;
                assert_eq!(states, [Done, Failed, Running, Queued]);
                let c = v.phase_counts(0);
                assert_eq!((c.queued, c.running, c.done, c.failed, c.live, c.tokens), (1, 1, 1, 1, 4, 10));
                assert_eq!(v.phases[0].started_ms, Some(10));
                assert_eq!((v.agents[0].start_ms, v.agents[0].duration_ms), (Some(30), Some(500)));
                assert_eq!(v.agents[1].error.as_deref(), Some("exit 3"));
                assert_eq!(v.agents[3].queued_ms, Some(20));
                assert_eq!(v.tokens.by_phase["Scan"], 10);
                assert_eq!(v.tokens.by_adapter["echo"], 10);
                // Running agents' elapsed time comes from the wall clock.
                let start = v.started_epoch_ms.unwrap();
                assert_eq!(v.agent_elapsed_ms(&v.agents[2], start + 1040), Some(1000));
                assert_eq!(v.elapsed_ms(start + 2000), 2000);
            },
        ),
        (
            "an old run without agent_queued: started means queued then running",
            vec![
                (0, run_started(None, None)),
                (5, Event::AgentStarted(start(0, "a", None))),
                (9, Event::AgentFinished(end(start(0, "a", None), 4, 1, None))),
                (10, Event::RunFinished { ms: 10, agents: AgentCounts::default() }),
            ],
            |v| {
                assert_eq!(v.state, RunState::Done);
                assert_eq!((v.agents[0].queued_ms, v.agents[0].state), (Some(5), AgentState::Done));
                // Calls before any phase() are in a phase with no title.
                assert_eq!((v.phases.len(), v.phases[0].title.as_str()), (1, ""));
                assert_eq!((v.duration_ms, v.elapsed_ms(u64::MAX)), (Some(10), 10));
            },
        ),
        (
            "logs carry the phase they were written in",
            vec![
                (0, run_started(None, None)),
                (1, Event::Log { message: "before".into() }),
                (2, Event::PhaseStarted { title: "Plan".into() }),
                (3, Event::Log { message: "chose b".into() }),
            ],
            |v| {
                let logs: Vec<_> =
                    v.logs.iter().map(|l| (l.phase.as_deref(), l.message.as_str(), l.at_ms)).collect();
                assert_eq!(logs, [(None, "before", 1), (Some("Plan"), "chose b", 3)]);
            },
        ),
        (
            "a resumed run: cached calls by rule, the first live call",
            vec![
                (0, run_started(None, Some("r0"))),
                (
                    1,
                    Event::AgentStarted(AgentStart {
                        cached: true,
                        reuse: Some(ReuseRule::Prefix),
                        ..start(0, "a", None)
                    }),
                ),
                (
                    1,
                    Event::AgentFinished(end(
                        AgentStart { cached: true, reuse: Some(ReuseRule::Prefix), ..start(0, "a", None) },
                        0,
                        5,
                        None,
                    )),
                ),
                (2, Event::AgentQueued(start(1, "b", None))),
                (
                    2,
                    Event::AgentStarted(AgentStart {
                        cached: true,
                        reuse: Some(ReuseRule::Content),
                        ..start(2, "c", None)
                    }),
                ),
                (
                    2,
                    Event::AgentFinished(end(
                        AgentStart { cached: true, reuse: Some(ReuseRule::Content), ..start(2, "c", None) },
                        0,
                        5,
                        None,
                    )),
                ),
            ],
            |v| {
                assert_eq!(v.reuse.resumed_from.as_deref(), Some("r0"));
                assert_eq!((v.reuse.by_prefix, v.reuse.by_content), (1, 1));
                assert_eq!(v.reuse.first_live, Some((1, "b".to_string())));
                let c = v.counts();
                assert_eq!((c.cached, c.live, c.done, c.queued), (2, 1, 2, 1));
            },
        ),
        (
            "pause, resume, then a failure: its error and position; unfinished calls cancelled",
            vec![
                (0, run_started(None, None)),
                (1, Event::AgentQueued(start(0, "a", None))),
                (2, Event::RunPaused),
                (3, Event::RunResumed),
                (4, Event::AgentStarted(start(0, "a", None))),
                (
                    9,
                    Event::RunFailed {
                        ms: 9,
                        error: ScriptError {
                            name: "Error".into(),
                            message: "boom".into(),
                            stack: None,
                            location: Some(crate::protocol::Location {
                                file: Some("wf.js".into()),
                                line: 4,
                                column: 7,
                            }),
                            fatal: false,
                            limit: None,
                        },
                    },
                ),
            ],
            |v| {
                assert_eq!(v.state, RunState::Failed);
                let at = v.error.as_ref().and_then(|e| e.location.as_ref()).map(|l| (l.line, l.column));
                assert_eq!(at, Some((4, 7)));
                assert_eq!(v.agents[0].state, AgentState::Cancelled);
            },
        ),
        (
            "a duplicate end is counted once; a gap in indices is filled",
            vec![
                (0, run_started(None, None)),
                (1, Event::AgentFinished(end(start(2, "c", None), 1, 4, None))),
                (2, Event::AgentFinished(end(start(2, "c", None), 1, 4, None))),
                (3, Event::JournalError { index: 2, error: "disk full".into() }),
            ],
            |v| {
                assert_eq!(v.agents.iter().map(|a| a.index).collect::<Vec<_>>(), [0, 1, 2]);
                assert_eq!(v.tokens.total, 4);
                assert_eq!(v.journal_errors, [(2, "disk full".to_string())]);
            },
        ),
    ];
    for (what, events, check) in cases {
        let view = fold(&events);
        let outcome = std::panic::catch_unwind(|| check(&view));
        assert!(outcome.is_ok(), "case failed: {what}\n{view:#?}");
    }
}

#[test]
fn paused_state_follows_the_events() {
    let mut view = fold(&[(0, run_started(None, None)), (1, Event::RunPaused)]);
    assert_eq!(view.state, RunState::Paused);
    view.apply(&Stamped { ts: ts(2), event: Event::RunResumed });
    assert_eq!(view.state, RunState::Running);
}

#[test]
fn the_status_adds_what_events_cannot_say() {
    let mut view = fold(&[(0, run_started(None, None)), (1, Event::AgentStarted(start(0, "a", None)))]);
    let mut status = Status::new("r1", "flow", RunState::Interrupted, 0);
    view.apply_status(&status);
    assert_eq!((view.state, view.agents[0].state), (RunState::Interrupted, AgentState::Cancelled));
    // A final state from events is not overridden.
    let mut done = fold(&[(0, Event::RunFinished { ms: 0, agents: AgentCounts::default() })]);
    done.apply_status(&status);
    assert_eq!(done.state, RunState::Done);
    // Before any event, the status tells whether the run is pending.
    status.state = RunState::Pending;
    let mut empty = RunView::default();
    empty.apply_status(&status);
    assert_eq!(empty.state, RunState::Pending);
}

#[test]
fn unreadable_lines_are_skipped() {
    let mut view = RunView::default();
    view.apply_line("{\"ts\":\"x\",\"type\":\"from_the_future\"}");
    view.apply_line("not json");
    assert_eq!(view, RunView::default());
}

#[test]
fn a_run_directory_loads_with_prompts_and_replies() {
    let root = tempfile::tempdir().unwrap();
    let run = RunDir::create(root.path(), "flow").unwrap();
    let meta = RunMeta {
        run_id: run.id.clone(),
        workflow: "flow".into(),
        description: "d".into(),
        meta: json!({"name": "flow", "phases": [{"title": "Scan"}]}),
        script: "wf.js".into(),
        script_hash: "abc".into(),
        args: json!(null),
        adapter: "echo".into(),
        adapter_forced: false,
        budget: Some(100),
        workspace: root.path().into(),
        config: None,
        seed: [0, 0],
        clock: 0.0,
        resumed_from: None,
        reuse: ReuseRule::Prefix,
        created_at: ts(0),
        odw_version: "0".into(),
        imported: false,
    };
    run.write_meta(&meta).unwrap();
    {
        let journal =
            odw_journal::Journal::create(&run.journal_path(), crate::rundir::tests::started()).unwrap();
        let issued = odw_journal::Issued {
            index: 0,
            key: "k".into(),
            content_key: "c".into(),
            label: "a".into(),
            phase: Some("Scan".into()),
            prompt_head: "review the code".into(),
        };
        journal.issue(&issued).unwrap();
        let completed = odw_journal::Completed {
            index: 0,
            key: "k".into(),
            outcome: odw_journal::CallOutcome::Ok { value: json!({"ok": true}) },
            attempts: 2,
            usage: Usage::default(),
            clock: 1.0,
            ms: 3,
        };
        journal.complete(&completed).unwrap();
    }
    let file = run.prompt_file(0, 1);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "review the code, all of it").unwrap();
    let progress = super::super::Progress::new(run.clone(), "flow").unwrap();
    progress.agent_started(start(0, "a", Some("Scan")));
    progress.agent_ended(end(start(0, "a", Some("Scan")), 3, 2, None));
    progress.finish(RunState::Done, Event::RunFinished { ms: 5, agents: AgentCounts::default() });
    run.write_result(&json!("fine")).unwrap();
    drop(progress);

    let view = RunView::load(&run).unwrap();
    assert_eq!(
        (view.state, view.script_hash.as_deref(), view.budget),
        (RunState::Done, Some("abc"), Some(100))
    );
    assert_eq!(view.result, Some(json!("fine")));
    let a = &view.agents[0];
    assert_eq!(a.prompt_head.as_deref(), Some("review the code"));
    assert_eq!(a.prompt.as_deref(), Some("review the code, all of it"));
    assert_eq!(a.reply, Some(json!({"ok": true})));
    assert_eq!((view.phases.len(), view.phases[0].agents.as_slice()), (1, &[0][..]));
    assert_eq!(view.details_missing, None);
}
