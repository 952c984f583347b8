//! `odw report`'s documents: an audit of one run, drawn from its
//! [`RunView`] as a self-contained HTML page ([`html`]) or as Markdown for
//! a pull request ([`markdown`]). The JSON format is the `RunView` itself.
//!
//! Everything in a run's view that a script or an agent produced (labels,
//! phase titles, log lines, prompts, replies, error messages) is hostile
//! text: each renderer escapes it at the one place it writes text.

pub mod html;
pub mod markdown;

use odw_engine::{AgentView, RunView};

/// `ms` as people read a duration: `850 ms`, `12.4 s`, `3 m 05 s`, `2 h 01 m`.
pub fn duration(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{} m {:02} s", ms / 60_000, ms / 1000 % 60),
        _ => format!("{} h {:02} m", ms / 3_600_000, ms / 60_000 % 60),
    }
}

/// A count with thousands separators: `12,345`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A phase's title as shown: calls made before any `phase()` have none.
pub fn phase_title(title: &str) -> &str {
    if title.is_empty() { "(no phase)" } else { title }
}

/// `file:line:col` of a script error, if it has a position.
pub fn position(error: &odw_engine::ScriptError) -> Option<String> {
    let l = error.location.as_ref()?;
    Some(format!("{}:{}:{}", l.file.as_deref().unwrap_or("workflow"), l.line, l.column))
}

/// How a call's reply is shown: schema-checked JSON pretty-printed, text as is.
pub fn reply_text(agent: &AgentView) -> Option<(String, bool)> {
    let reply = agent.reply.as_ref()?;
    Some(match reply {
        serde_json::Value::String(text) => (text.clone(), false),
        value => (serde_json::to_string_pretty(value).unwrap_or_default(), true),
    })
}

/// The prompt as the run keeps it: the whole prompt file, else the
/// journal's head (marked as cut when it is as long as a head gets).
pub fn prompt_text(agent: &AgentView) -> Option<(String, bool)> {
    if let Some(full) = &agent.prompt {
        return Some((full.clone(), false));
    }
    let head = agent.prompt_head.as_ref()?;
    let cut = head.chars().count() >= odw_journal::PROMPT_HEAD_CHARS;
    Some((head.clone(), cut))
}

/// The run's span for the timeline: at least 1 ms, so bars never divide by zero.
pub fn span_ms(view: &RunView) -> u64 {
    let ends = view.agents.iter().filter_map(|a| Some(a.start_ms? + a.duration_ms.unwrap_or(0)));
    view.duration_ms.unwrap_or(0).max(view.last_event_ms).max(ends.max().unwrap_or(0)).max(1)
}

/// Ticks for a time axis of `span` ms: about six round steps.
pub fn ticks(span: u64) -> Vec<u64> {
    let raw = span / 6;
    let step = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000]
        .into_iter()
        .chain((1..).map(|m| m * 120_000))
        .find(|s| *s >= raw.max(1))
        .unwrap_or(1);
    (0..).map(|i| i * step).take_while(|t| *t <= span).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_counts_read_well() {
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(12_400), "12.4 s");
        assert_eq!(duration(185_000), "3 m 05 s");
        assert_eq!(duration(7_260_000), "2 h 01 m");
        assert_eq!(
            (count(0), count(999), count(12_345), count(1_000_000)),
            ("0".into(), "999".into(), "12,345".into(), "1,000,000".into())
        );
    }

    #[test]
    fn axis_ticks_are_round_and_cover_the_span() {
        assert_eq!(ticks(1), [0, 1]);
        assert_eq!(ticks(3_000), [0, 500, 1_000, 1_500, 2_000, 2_500, 3_000]);
        let long = ticks(3_600_000);
        assert_eq!((long[1], long.len()), (600_000, 7));
    }
}
