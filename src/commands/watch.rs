//! `odw watch <id>`: a run, live and full-screen, with its controls.
//!
//! The state ([`App`]) is a [`RunView`] fed by the run's event tail, the
//! phase the person selected, and the last thing a key did; the screen
//! ([`crate::watch_ui`]) draws it; this loop reads keys. `p`, `r` and `s`
//! write the run's control file, exactly as `odw pause|resume|stop` do.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event as Input, KeyCode, KeyEventKind, KeyModifiers};

use odw_engine::{ControlRequest, EventTail, RunDir, RunView};

use super::find_run;
use crate::cli::{Global, WatchArgs};
use crate::report::Exit;

/// How long to wait for a key before reading new events.
const TICK: Duration = Duration::from_millis(100);
/// How often `status.json` is read: it says what events cannot (a worker
/// that died leaves the run `interrupted`).
const STATUS_EVERY: Duration = Duration::from_millis(500);

/// What the screen shows.
pub struct App {
    pub run: RunDir,
    pub view: RunView,
    /// The phase whose agents are listed; `None` follows the current phase.
    pub selected: Option<usize>,
    /// What the last key did (or why it could not).
    pub note: String,
}

impl App {
    /// The phases the screen lists: declared ones and those with agents.
    pub fn phases(&self) -> Vec<usize> {
        (0..self.view.phases.len())
            .filter(|p| self.view.phases[*p].declared || !self.view.phases[*p].agents.is_empty())
            .collect()
    }

    /// The listed phase whose agents are shown: the selected one, else the
    /// one the run is in.
    pub fn shown_phase(&self) -> Option<usize> {
        let phases = self.phases();
        if let Some(p) = self.selected.filter(|p| phases.contains(p)) {
            return Some(p);
        }
        let current = self.view.current_phase.as_deref().unwrap_or("");
        phases.iter().copied().find(|p| self.view.phases[*p].title == current).or(phases.last().copied())
    }

    fn step(&mut self, by: isize) {
        let phases = self.phases();
        if phases.is_empty() {
            return;
        }
        let at = self.shown_phase().and_then(|p| phases.iter().position(|q| *q == p)).unwrap_or(0);
        let next = (at as isize + by).rem_euclid(phases.len() as isize) as usize;
        self.selected = Some(phases[next]);
    }

    fn control(&mut self, request: ControlRequest) {
        if self.view.state.is_final() {
            self.note = format!("the run has ended ({})", self.view.state.name());
            return;
        }
        let (asked, done) = match request {
            ControlRequest::Pause => ("pause", "paused: agents not yet started wait"),
            ControlRequest::Resume => ("resume", "resumed"),
            ControlRequest::Stop => ("stop", "stop requested: agents are being killed"),
        };
        self.note = match self.run.request(request) {
            Ok(_) => done.to_string(),
            Err(e) => format!("cannot {asked}: {e}"),
        };
    }
}

pub fn watch(global: &Global, args: &WatchArgs) -> anyhow::Result<ExitCode> {
    let run = find_run(global, &args.run)?;
    if !std::io::stdout().is_terminal() {
        anyhow::bail!(
            "odw watch draws on a terminal; follow run {} with `odw logs {} --follow`",
            run.id,
            run.id
        );
    }
    let meta = run.read_meta()?;
    let mut app = App { view: RunView::new(&meta), run: run.clone(), selected: None, note: String::new() };
    let mut tail = run.event_tail();
    let mut terminal = ratatui::try_init()?;
    let outcome = watch_loop(&mut terminal, &mut app, &mut tail);
    ratatui::restore();
    outcome?;
    let state = app.view.state;
    Ok(if state.is_final() { Exit::ok_if(state == odw_engine::RunState::Done) } else { Exit::Ok.into() })
}

fn watch_loop(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    tail: &mut EventTail,
) -> anyhow::Result<()> {
    let mut status_read: Option<Instant> = None;
    let mut outcome = false;
    loop {
        for line in tail.read_new()? {
            app.view.apply_line(&line);
        }
        if status_read.is_none_or(|at| at.elapsed() >= STATUS_EVERY) {
            if let Ok(status) = app.run.status() {
                app.view.apply_status(&status);
            }
            status_read = Some(Instant::now());
        }
        if app.view.state.is_final() && !outcome {
            // The result or the error, once the run has ended. (Not the
            // journal: the worker may still hold it, and the screen shows
            // no replies.)
            app.view.result = app.run.read_result();
            if app.view.error.is_none() {
                app.view.error = app.run.read_error();
            }
            outcome = true;
        }
        terminal.draw(|frame| crate::watch_ui::draw(frame, app))?;
        if !event::poll(TICK)? {
            continue;
        }
        let Input::Key(key) = event::read()? else { continue };
        if key.kind != KeyEventKind::Press {
            continue;
        }
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => return Ok(()),
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => return Ok(()),
            KeyCode::Char('p') => app.control(ControlRequest::Pause),
            KeyCode::Char('r') => app.control(ControlRequest::Resume),
            KeyCode::Char('s') => app.control(ControlRequest::Stop),
            KeyCode::Down | KeyCode::Tab | KeyCode::Char('j') => app.step(1),
            KeyCode::Up | KeyCode::BackTab | KeyCode::Char('k') => app.step(-1),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use odw_engine::PhaseView;

    fn app(current: Option<&str>) -> App {
        let mut view = RunView::default();
        for (title, declared, agents) in
            [("Scan", true, vec![0]), ("Empty", false, vec![]), ("Fix", true, vec![])]
        {
            view.phases.push(PhaseView { title: title.into(), declared, agents, ..PhaseView::default() });
        }
        view.current_phase = current.map(str::to_string);
        App {
            run: RunDir::at(std::path::Path::new("/nonexistent")),
            view,
            selected: None,
            note: String::new(),
        }
    }

    #[test]
    fn the_shown_phase_follows_the_run_until_one_is_selected() {
        let mut a = app(Some("Scan"));
        assert_eq!(a.phases(), [0, 2], "a phase neither declared nor used is not listed");
        assert_eq!(a.shown_phase(), Some(0));
        a.view.current_phase = Some("Fix".into());
        assert_eq!(a.shown_phase(), Some(2));
        a.step(1);
        assert_eq!((a.selected, a.shown_phase()), (Some(0), Some(0)), "down from the last wraps");
        a.step(-1);
        assert_eq!(a.shown_phase(), Some(2));
        a.view.current_phase = Some("Scan".into());
        assert_eq!(a.shown_phase(), Some(2), "a selection stays");
    }

    #[test]
    fn controls_are_refused_once_the_run_has_ended() {
        let mut a = app(None);
        a.view.state = odw_engine::RunState::Done;
        a.control(ControlRequest::Pause);
        assert_eq!(a.note, "the run has ended (done)");
    }
}
