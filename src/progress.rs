//! Progress of a run on stderr while `odw run --wait` waits for it.
//!
//! It follows the run the way every view does: it tails `events.jsonl` and
//! folds each event into a [`RunView`], whether the run is in this process
//! or in a worker. On a terminal it draws a live block (indicatif's
//! `MultiProgress`: a header line, then a line per phase with a bar of its
//! agents done, failed, running and queued); elsewhere it prints plain
//! lines, one per phase change and per agent end, with no escape codes.
//! The lines `--wait` printed before (`odw: run <id> …`, the reuse summary)
//! are printed after it, unchanged: scripts read them.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use odw_engine::{Event, EventTail, RunDir, RunState, RunView, Stamped, now_epoch_ms};

use crate::audit::{count, duration, phase_title};
use crate::report::shown;

/// How often the view is brought up to date.
const TICK: Duration = Duration::from_millis(100);
/// The first wait between two reads, doubled after each up to [`TICK`]: a
/// run that ends within its first poll had all its events read after its
/// end, while the command waited (a resume serving a thousand calls from the
/// journal: 2000 events, ~2.5 ms). Reads early in a run overlap its work
/// instead, and cost little when there is nothing new.
const FIRST_TICK: Duration = Duration::from_millis(4);
/// The most phase lines drawn at once.
const MAX_PHASE_LINES: usize = 16;
/// The width of a phase's bar, in cells.
const BAR: usize = 20;

/// How progress shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Redrawn lines with bars: stderr is a terminal.
    Live,
    /// One plain line per phase change and agent end.
    Plain,
    /// Nothing.
    Quiet,
}

impl Mode {
    /// `--progress`/`--quiet` and whether stderr is a terminal.
    pub fn choose(plain: bool, quiet: bool) -> Mode {
        match (quiet, plain) {
            (true, _) => Mode::Quiet,
            (false, true) => Mode::Plain,
            (false, false) if std::io::stderr().is_terminal() => Mode::Live,
            (false, false) => Mode::Plain,
        }
    }
}

/// Following a run's progress in the background; [`Follow::finish`] draws
/// its last state.
pub struct Follow {
    state: Arc<Mutex<State>>,
    /// Wakes the follower to read what is new before its next tick.
    read_now: Arc<Notify>,
    task: JoinHandle<()>,
    run: RunDir,
    mode: Mode,
}

/// Where the following is, shared by the background task and `finish`.
enum State {
    /// The task has not read anything yet.
    Pending,
    Following(Box<Follower>),
    /// `finish` took it over.
    Finished,
}

/// What following a run keeps between reads.
struct Follower {
    /// Plain lines are made from their events alone; only the live block
    /// draws from a view of the whole run.
    live: bool,
    view: RunView,
    tail: EventTail,
    screen: Screen,
}

impl Follower {
    fn new(run: &RunDir, mode: Mode) -> Follower {
        let live = mode == Mode::Live;
        let view = if live {
            run.read_meta().map(|m| RunView::new(&m)).unwrap_or_default()
        } else {
            RunView::default()
        };
        Follower { live, view, tail: run.event_tail(), screen: Screen::new(mode) }
    }

    /// Reads the events written since the last read and draws them.
    fn read(&mut self) {
        // Plain lines go out in one write per batch of events: a resume
        // serving a thousand calls prints a thousand lines.
        let mut lines = String::new();
        for line in self.tail.read_new().unwrap_or_default() {
            // Plain progress parses only the lines it shows: a resume's
            // thousand `agent_started` were read to be dropped.
            if !self.live && !Stamped::kind(&line).is_some_and(Screen::shows) {
                continue;
            }
            let Ok(stamped) = Stamped::parse(&line) else { continue };
            if self.live {
                self.view.apply(&stamped);
            } else {
                self.screen.event(&stamped.event, &mut lines);
            }
        }
        if !lines.is_empty() {
            let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), lines.as_bytes());
        }
        self.screen.draw(&self.view);
    }
}

impl Follow {
    /// Starts following `run` (nothing in [`Mode::Quiet`]).
    pub fn start(run: &RunDir, mode: Mode) -> Option<Follow> {
        if mode == Mode::Quiet {
            return None;
        }
        let state = Arc::new(Mutex::new(State::Pending));
        let read_now = Arc::new(Notify::new());
        let task = tokio::spawn({
            let (state, woken, run) = (state.clone(), read_now.clone(), run.clone());
            async move {
                let mut tick = FIRST_TICK;
                loop {
                    {
                        let mut state = lock(&state);
                        match &mut *state {
                            State::Pending => {
                                let mut follower = Follower::new(&run, mode);
                                follower.read();
                                *state = State::Following(Box::new(follower));
                            }
                            State::Following(follower) => follower.read(),
                            State::Finished => return,
                        }
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(tick) => {}
                        _ = woken.notified() => {}
                    }
                    tick = (tick * 2).min(TICK);
                }
            }
        });
        Some(Follow { state, read_now, task, run: run.clone(), mode })
    }

    /// Has the follower read what is new now rather than at its next tick,
    /// without waiting for it: for [`odw_engine::Controls::settled`], called
    /// when a run has written all its events but its end.
    pub fn reader(&self) -> Box<dyn FnOnce() + Send> {
        let read_now = self.read_now.clone();
        Box::new(move || read_now.notify_one())
    }

    /// Reads the last events and draws the final state, here: the task is
    /// stopped rather than told to and waited for, which cost a run's end
    /// two wake-ups of threads (~0.1 ms on a 2-core VM). A read the task is
    /// in the middle of ends first (it holds the state).
    pub fn finish(self) {
        self.task.abort();
        let taken = std::mem::replace(&mut *lock(&self.state), State::Finished);
        let mut follower = match taken {
            State::Following(follower) => *follower,
            State::Pending | State::Finished => Follower::new(&self.run, self.mode),
        };
        follower.read();
        follower.screen.finish(&follower.view);
    }
}

/// The state, even if a read panicked while holding it.
fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Appends one line of plain progress to `out`.
fn push_line(out: &mut String, text: std::fmt::Arguments) {
    use std::fmt::Write;
    let _ = writeln!(out, "{text}");
}

/// Where progress is drawn.
enum Screen {
    Live { multi: MultiProgress, header: ProgressBar, phases: Vec<ProgressBar> },
    Plain,
}

impl Screen {
    fn new(mode: Mode) -> Screen {
        if mode != Mode::Live {
            return Screen::Plain;
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        let header = multi.add(line());
        Screen::Live { multi, header, phases: Vec::new() }
    }

    /// The kinds of event [`Screen::event`] prints a line for.
    fn shows(kind: &str) -> bool {
        matches!(kind, "phase_started" | "agent_finished" | "agent_failed" | "run_paused" | "run_resumed")
    }

    /// Plain lines for the events that change what a person follows.
    fn event(&self, event: &Event, out: &mut String) {
        if !matches!(self, Screen::Plain) {
            return;
        }
        match event {
            Event::PhaseStarted { title } => push_line(out, format_args!("odw: ▸ phase {}", shown(title))),
            Event::AgentFinished(end) | Event::AgentFailed(end) => {
                let a = &end.agent;
                let what = match (&end.error, a.cached) {
                    (Some(e), _) => format!("failed after {}: {}", duration(end.ms), first_line(e)),
                    (None, true) => "reused from the journal".to_string(),
                    (None, false) => {
                        format!("done in {} · {} tokens", duration(end.ms), count(end.usage.total()))
                    }
                };
                push_line(out, format_args!("odw:   #{} {} {}", a.index, shown(&a.label), shown(&what)));
            }
            Event::RunPaused => out.push_str("odw: paused\n"),
            Event::RunResumed => out.push_str("odw: resumed\n"),
            _ => {}
        }
    }

    fn draw(&mut self, view: &RunView) {
        let Screen::Live { multi, header, phases } = self else { return };
        let now = now_epoch_ms();
        header.set_message(header_line(view, now));
        let listed: Vec<usize> = (0..view.phases.len())
            .filter(|p| view.phases[*p].declared || !view.phases[*p].agents.is_empty())
            .collect();
        // A block taller than the terminal cannot be redrawn in place: past
        // MAX_PHASE_LINES, the earliest phases fold into one line.
        let hidden = listed.len().saturating_sub(MAX_PHASE_LINES);
        let visible = &listed[hidden..];
        let mut lines = Vec::with_capacity(visible.len() + 1);
        if hidden > 0 {
            lines.push(format!("  {DIM}… {hidden} earlier phases{RESET}"));
        }
        let width =
            visible.iter().map(|p| phase_title(&view.phases[*p].title).chars().count()).max().unwrap_or(0);
        lines.extend(visible.iter().map(|p| phase_line(view, *p, width.min(28), now)));
        while phases.len() < lines.len() {
            phases.push(multi.add(line()));
        }
        for (bar, text) in phases.iter().zip(lines) {
            bar.set_message(text);
        }
    }

    fn finish(self, view: &RunView) {
        if let Screen::Live { header, phases, .. } = self {
            header.set_message(header_line(view, now_epoch_ms()));
            header.finish();
            phases.iter().for_each(ProgressBar::finish);
        }
    }
}

/// A line of the live block: its whole text is the message.
fn line() -> ProgressBar {
    let style = ProgressStyle::with_template("{wide_msg}").unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::new(1).with_style(style)
}

const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const BLUE: &str = "\x1b[34m";
const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

fn header_line(view: &RunView, now: u64) -> String {
    let c = view.counts();
    let state = match view.state {
        RunState::Done => format!("{GREEN}done{RESET}"),
        RunState::Failed => format!("{RED}failed{RESET}"),
        RunState::Paused => format!("{BOLD}paused{RESET}"),
        state => state.name().to_string(),
    };
    // What matters first: a narrow terminal cuts the end of the line.
    format!(
        "{BOLD}odw ▸ {}{RESET} · {state} · {} · {} tokens · {} cached / {} live {DIM}{}{RESET}",
        shown(&view.workflow),
        duration(view.elapsed_ms(now)),
        count(view.tokens.total),
        c.cached,
        c.live,
        view.run_id,
    )
}

/// `  ▸ Scan   ████▓▓░░  3/8     1.2 s  340 tok  2 done · 1 failed · 2 running · 3 queued  1 cached/7 live`
/// (a narrow terminal cuts the end: the cached/live split is also in the header)
fn phase_line(view: &RunView, p: usize, width: usize, now: u64) -> String {
    let phase = &view.phases[p];
    let c = view.phase_counts(p);
    let total = c.total();
    let open = c.queued + c.running > 0;
    let current = view.current_phase.as_deref() == Some(phase.title.as_str()) && !view.state.is_final();
    let mark = if open || current {
        format!("{BLUE}▸{RESET}")
    } else if total > 0 && c.failed > 0 {
        format!("{RED}✗{RESET}")
    } else if total > 0 {
        format!("{GREEN}✓{RESET}")
    } else {
        format!("{DIM}·{RESET}")
    };
    let title: String = phase_title(&phase.title).chars().take(width).collect();
    let mut states = vec![if total == 0 { "not started".to_string() } else { format!("{} done", c.done) }];
    for (n, what) in
        [(c.failed, "failed"), (c.running, "running"), (c.queued, "queued"), (c.cancelled, "cancelled")]
    {
        if n > 0 {
            states.push(format!("{n} {what}"));
        }
    }
    let elapsed = phase_elapsed(view, p, now).map_or(String::new(), duration);
    format!(
        "  {mark} {:<width$}  {} {:>3}/{:<3}{:>7}  {:>6} tok  {:<32}  {} cached/{} live",
        shown(&title),
        bar(c.done, c.failed, c.running, c.queued + c.cancelled),
        c.done + c.failed,
        total,
        elapsed,
        count(c.tokens),
        states.join(" · "),
        c.cached,
        c.live,
    )
}

/// From the phase's start (or its first call) to its last call's end, or now.
pub fn phase_elapsed(view: &RunView, p: usize, now: u64) -> Option<u64> {
    let phase = &view.phases[p];
    let agents: Vec<_> = phase.agents.iter().filter_map(|i| view.agents.get(*i as usize)).collect();
    let start =
        phase.started_ms.into_iter().chain(agents.iter().filter_map(|a| a.queued_ms.or(a.start_ms))).min()?;
    let running = agents.iter().any(|a| a.duration_ms.is_none()) && !view.state.is_final();
    let end = if running {
        now.saturating_sub(view.started_epoch_ms?)
    } else {
        agents.iter().filter_map(|a| Some(a.start_ms? + a.duration_ms?)).max().unwrap_or(start)
    };
    Some(end.saturating_sub(start))
}

/// A bar of [`BAR`] cells: done, failed, running, then waiting. Each
/// state present gets at least a cell, so one failure among hundreds shows.
fn bar(done: u32, failed: u32, running: u32, waiting: u32) -> String {
    if done + failed + running + waiting == 0 {
        return format!("{DIM}{}{RESET}", "·".repeat(BAR));
    }
    let widths = bar_widths([done, failed, running, waiting], BAR);
    let mut out = String::new();
    for (width, (colour, glyph)) in widths.iter().zip([(GREEN, "█"), (RED, "█"), (BLUE, "▓"), (DIM, "░")])
    {
        if *width > 0 {
            out.push_str(&format!("{colour}{}{RESET}", glyph.repeat(*width)));
        }
    }
    out
}

/// How many of `width` cells each part gets: proportional, and at least
/// one for a part that is not zero. All zero: no cells.
pub fn bar_widths(parts: [u32; 4], width: usize) -> [usize; 4] {
    let total: usize = parts.iter().map(|n| *n as usize).sum();
    let present = parts.iter().filter(|n| **n > 0).count();
    if total == 0 || width < present {
        return [0; 4];
    }
    let spare = width - present;
    let mut widths = parts.map(|n| if n == 0 { 0 } else { 1 + n as usize * spare / total });
    let largest = (0..parts.len()).max_by_key(|i| parts[*i]).unwrap_or(0);
    widths[largest] += width - widths.iter().sum::<usize>();
    widths
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    if line.chars().count() > 160 {
        format!("{}…", line.chars().take(160).collect::<String>())
    } else {
        line.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use odw_engine::{AgentEnd, AgentStart};

    /// Plain progress skips a line by its kind before parsing it, so the
    /// kinds it keeps must be exactly those it prints a line for.
    #[test]
    fn plain_progress_reads_exactly_the_kinds_it_prints() {
        let end = end_of(3);
        let events = [
            Event::PhaseStarted { title: "Scan".into() },
            Event::Log { message: "hi".into() },
            Event::AgentQueued(end.agent.clone()),
            Event::AgentStarted(end.agent.clone()),
            Event::AgentFinished(end.clone()),
            Event::AgentFailed(AgentEnd { error: Some("no".into()), ..end.clone() }),
            Event::RunPaused,
            Event::RunResumed,
            Event::RunFinished { ms: 1, agents: Default::default() },
        ];
        for event in events {
            let stamped = Stamped { ts: "2026-12-04T00:00:00.000Z".into(), event: event.clone() };
            let line = serde_json::to_string(&stamped).unwrap();
            let mut out = String::new();
            Screen::Plain.event(&event, &mut out);
            let kind = Stamped::kind(&line).unwrap();
            assert_eq!(Screen::shows(kind), !out.is_empty(), "{line}");
        }
        let mut out = String::new();
        Screen::Plain.event(&Event::AgentFinished(end), &mut out);
        assert_eq!(out, "odw:   #3 cat reused from the journal\n");
    }

    fn end_of(index: u32) -> AgentEnd {
        AgentEnd {
            agent: AgentStart {
                index,
                label: "cat".into(),
                phase: None,
                adapter: "cat".into(),
                model: None,
                cached: true,
                reuse: None,
                prompt: None,
            },
            ms: 0,
            attempts: 1,
            usage: Default::default(),
            worktree: None,
            error: None,
            preview: None,
        }
    }

    fn cells(bar: &str, glyph: char) -> usize {
        bar.chars().filter(|c| *c == glyph).count()
    }

    #[test]
    fn a_bar_is_always_its_width_and_shows_every_state_present() {
        for (d, f, r, w) in [(0, 0, 0, 0), (1, 0, 0, 0), (3, 1, 2, 6), (100, 1, 1, 1), (0, 0, 0, 7)] {
            let b = bar(d, f, r, w);
            let width = cells(&b, '█') + cells(&b, '▓') + cells(&b, '░') + cells(&b, '·');
            assert_eq!(width, BAR, "{d} {f} {r} {w}");
            assert_eq!(cells(&b, '▓') > 0, r > 0);
        }
        // Done and failed both show, even when one is small.
        assert!(bar(100, 1, 0, 0).contains(&format!("{RED}█")));
    }
}
