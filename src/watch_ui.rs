//! The screen of `odw watch`: a header, the phases with their bars, the
//! agents of the selected phase, the last log lines, then the result or
//! the error once the run has ended, and the keys.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, TableState, Wrap};

use odw_engine::{AgentState, RunState, RunView, now_epoch_ms};

use crate::audit::{count, duration, phase_title, position};
use crate::commands::watch::App;
use crate::progress::{bar_widths, phase_elapsed};
use crate::report::shown;

/// The width of a phase's bar, in cells.
const BAR: usize = 20;

pub fn draw(frame: &mut Frame, app: &App) {
    let view = &app.view;
    let phases = app.phases();
    let ended = view.state.is_final();
    let outcome_height = if ended { 8 } else { 0 };
    let [header, phase_area, agent_area, log_area, outcome_area, keys] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(phases.len() as u16 + 3),
        Constraint::Min(6),
        Constraint::Length(6),
        Constraint::Length(outcome_height),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let now = now_epoch_ms();
    frame.render_widget(header_text(view, now), header);
    draw_phases(frame, app, &phases, phase_area, now);
    draw_agents(frame, app, agent_area, now);
    draw_logs(frame, view, log_area);
    if ended {
        draw_outcome(frame, view, outcome_area);
    }
    let mut help = vec![
        Span::styled(" ↑↓/tab", Style::new().bold()),
        Span::raw(" phase  "),
        Span::styled("p", Style::new().bold()),
        Span::raw(" pause  "),
        Span::styled("r", Style::new().bold()),
        Span::raw(" resume  "),
        Span::styled("s", Style::new().bold()),
        Span::raw(" stop  "),
        Span::styled("q", Style::new().bold()),
        Span::raw(" quit"),
    ];
    if !app.note.is_empty() {
        help.push(Span::raw("   "));
        help.push(Span::styled(app.note.clone(), Style::new().fg(Color::Yellow)));
    }
    frame.render_widget(Paragraph::new(Line::from(help)).style(Style::new().reversed()), keys);
}

fn state_style(state: RunState) -> Style {
    match state {
        RunState::Done => Style::new().fg(Color::Green).bold(),
        RunState::Failed => Style::new().fg(Color::Red).bold(),
        RunState::Paused => Style::new().fg(Color::Yellow).bold(),
        RunState::Running => Style::new().fg(Color::Blue).bold(),
        _ => Style::new().fg(Color::DarkGray).bold(),
    }
}

fn header_text(view: &RunView, now: u64) -> Paragraph<'static> {
    let c = view.counts();
    let title = Line::from(vec![
        Span::styled(format!(" odw ▸ {}", shown(&view.workflow)), Style::new().bold()),
        Span::styled(format!("  {}  ", view.run_id), Style::new().fg(Color::DarkGray)),
        Span::styled(view.state.name().to_uppercase(), state_style(view.state)),
    ]);
    let figures = Line::from(format!(
        " {} elapsed · {} agents ({} done, {} failed, {} running, {} queued) · {} tokens{} · {} cached / {} live",
        duration(view.elapsed_ms(now)),
        c.total(),
        c.done,
        c.failed,
        c.running,
        c.queued,
        count(view.tokens.total),
        view.budget.map_or(String::new(), |b| format!(" of {}", count(b))),
        c.cached,
        c.live
    ));
    Paragraph::new(vec![title, figures])
}

fn draw_phases(frame: &mut Frame, app: &App, phases: &[usize], area: Rect, now: u64) {
    let view = &app.view;
    let rows = phases.iter().map(|p| {
        let c = view.phase_counts(*p);
        let widths = bar_widths([c.done, c.failed, c.running, c.queued + c.cancelled], BAR);
        let mut bar: Vec<Span> = widths
            .iter()
            .zip([(Color::Green, "█"), (Color::Red, "█"), (Color::Blue, "▓"), (Color::DarkGray, "░")])
            .filter(|(w, _)| **w > 0)
            .map(|(w, (colour, glyph))| Span::styled(glyph.repeat(*w), Style::new().fg(colour)))
            .collect();
        if bar.is_empty() {
            bar.push(Span::styled("·".repeat(BAR), Style::new().fg(Color::DarkGray)));
        }
        let mut states = vec![format!("{} done", c.done)];
        for (n, what) in
            [(c.failed, "failed"), (c.running, "running"), (c.queued, "queued"), (c.cancelled, "cancelled")]
        {
            if n > 0 {
                states.push(format!("{n} {what}"));
            }
        }
        if c.total() == 0 {
            states = vec!["not started".into()];
        }
        Row::new(vec![
            Cell::from(shown(phase_title(&view.phases[*p].title)).into_owned()),
            Cell::from(Line::from(bar)),
            Cell::from(format!("{}/{}", c.done + c.failed, c.total())),
            Cell::from(states.join(" · ")),
            Cell::from(phase_elapsed(view, *p, now).map_or(String::new(), duration)),
            Cell::from(format!("{} tok", count(c.tokens))),
            Cell::from(format!("{} cached · {} live", c.cached, c.live)),
        ])
    });
    let table = Table::new(
        rows,
        // The title and the states share what is left, each with a floor:
        // fixed widths alone left no room for the title at 100 columns.
        [
            Constraint::Min(16),
            Constraint::Length(BAR as u16),
            Constraint::Length(7),
            Constraint::Min(20),
            Constraint::Length(9),
            Constraint::Length(10),
            Constraint::Length(18),
        ],
    )
    .header(
        Row::new(["phase", "progress", "ended", "agents", "elapsed", "tokens", "source"])
            .style(Style::new().fg(Color::DarkGray)),
    )
    .block(Block::bordered().title(" Phases "))
    .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
    .highlight_symbol("▸ ");
    let selected = app.shown_phase().and_then(|p| phases.iter().position(|q| *q == p));
    frame.render_stateful_widget(table, area, &mut TableState::default().with_selected(selected));
}

fn draw_agents(frame: &mut Frame, app: &App, area: Rect, now: u64) {
    let view = &app.view;
    let Some(p) = app.shown_phase() else {
        frame
            .render_widget(Paragraph::new(" no agents yet").block(Block::bordered().title(" Agents ")), area);
        return;
    };
    let phase = &view.phases[p];
    let rows: Vec<Row> = phase
        .agents
        .iter()
        .filter_map(|i| view.agents.get(*i as usize))
        .map(|a| {
            let style = match a.state {
                AgentState::Done => Style::new().fg(Color::Green),
                AgentState::Failed => Style::new().fg(Color::Red),
                AgentState::Running => Style::new().fg(Color::Blue),
                AgentState::Queued => Style::new().fg(Color::Yellow),
                AgentState::Cancelled => Style::new().fg(Color::DarkGray),
            };
            let detail = a.error.as_deref().map(|e| e.lines().next().unwrap_or("")).unwrap_or("");
            Row::new(vec![
                Cell::from(format!("#{}", a.index)),
                Cell::from(shown(&a.label).into_owned()),
                Cell::from(shown(&a.adapter).into_owned()),
                Cell::from(Span::styled(a.state.name(), style)),
                Cell::from(view.agent_elapsed_ms(a, now).map_or(String::new(), duration)),
                Cell::from(count(a.usage.total())),
                Cell::from(if a.cached { "cached" } else { "live" }),
                Cell::from(shown(detail).into_owned()).style(Style::new().fg(Color::Red)),
            ])
        })
        .collect();
    // Keep the newest agents in sight in a long phase.
    let visible = area.height.saturating_sub(3) as usize;
    let first = rows.len().saturating_sub(visible);
    let title = format!(" Agents · {} ({}) ", shown(phase_title(&phase.title)), phase.agents.len());
    let table = Table::new(
        rows.into_iter().skip(first),
        [
            Constraint::Length(5),
            Constraint::Length(24),
            Constraint::Length(10),
            Constraint::Length(9),
            Constraint::Length(9),
            Constraint::Length(8),
            Constraint::Length(7),
            Constraint::Fill(1),
        ],
    )
    .header(
        Row::new(["#", "label", "adapter", "state", "elapsed", "tokens", "source", ""])
            .style(Style::new().fg(Color::DarkGray)),
    )
    .block(Block::bordered().title(title));
    frame.render_widget(table, area);
}

fn draw_logs(frame: &mut Frame, view: &RunView, area: Rect) {
    let keep = area.height.saturating_sub(2) as usize;
    let lines: Vec<Line> = view.logs[view.logs.len().saturating_sub(keep)..]
        .iter()
        .map(|l| {
            Line::from(vec![
                Span::styled(format!("+{:<9}", duration(l.at_ms)), Style::new().fg(Color::DarkGray)),
                Span::raw(shown(&l.message).into_owned()),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(Block::bordered().title(" Log ")), area);
}

fn draw_outcome(frame: &mut Frame, view: &RunView, area: Rect) {
    let (title, text, style) = match (&view.error, &view.result) {
        (Some(e), _) => {
            let at = position(e).map_or(String::new(), |p| format!("{p}: "));
            (
                " Error ",
                Text::from(format!("{at}{}: {}", shown(&e.name), crate::report::shown_lines(&e.message))),
                Style::new().fg(Color::Red),
            )
        }
        (None, Some(value)) => {
            let json = serde_json::to_string_pretty(value).unwrap_or_default();
            (" Result ", Text::from(crate::report::shown_lines(&json)), Style::new())
        }
        (None, None) => (" Ended ", Text::from(format!("the run ended {}", view.state.name())), Style::new()),
    };
    frame.render_widget(
        Paragraph::new(text).style(style).wrap(Wrap { trim: false }).block(Block::bordered().title(title)),
        area,
    );
}
