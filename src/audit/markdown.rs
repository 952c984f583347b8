//! The Markdown audit, for a pull request: tables, fenced blocks, and
//! `<details>` written by odw around them. Text from the run never becomes
//! markup: in running text and table cells it is escaped ([`cell`]), and in
//! code blocks it sits behind a fence longer than any it contains
//! ([`fenced`]).

use std::fmt::Write as _;

use odw_engine::RunView;

use super::{count, duration, phase_title, position, prompt_text, reply_text, span_ms};

/// Width of the text bars of the timeline, in characters.
const BAR: usize = 32;

/// Text made inert in Markdown running text or a table cell: HTML and
/// Markdown punctuation escaped, one line.
pub fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' | '\r' => out.push(' '),
            '|' | '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '!' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c if crate::report::hidden(c) => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// `text` as a fenced code block whose fence no line of it can close.
pub fn fenced(text: &str, lang: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}{lang}\n{}\n{fence}\n", text.trim_end_matches('\n'))
}

pub fn render(view: &RunView) -> String {
    let v = view;
    let mut out = String::new();
    let c = v.counts();
    let _ = writeln!(out, "## odw run report: {} — {}\n", cell(&v.workflow), v.state.name());
    if !v.description.is_empty() {
        let _ = writeln!(out, "{}\n", cell(&v.description));
    }
    out.push_str("| | |\n|---|---|\n");
    let _ = writeln!(out, "| Run | `{}` |", v.run_id.replace('`', ""));
    if let Some(script) = &v.script {
        let _ = writeln!(out, "| Script | {} |", cell(script));
    }
    if let Some(hash) = &v.script_hash {
        let _ = writeln!(out, "| Script hash | {} |", cell(hash));
    }
    let _ = writeln!(out, "| Started | {} |", cell(v.started_at.as_deref().unwrap_or("not started")));
    let _ = writeln!(out, "| Duration | {} |", duration(v.duration_ms.unwrap_or(v.last_event_ms)));
    let _ = writeln!(
        out,
        "| Agents | {} ({} done, {} failed, {} cached, {} live) |",
        c.total(),
        c.done,
        c.failed,
        c.cached,
        c.live
    );
    let budget = v.budget.map_or("no budget".to_string(), |b| format!("budget {}", count(b)));
    let _ = writeln!(out, "| Tokens | {} ({budget}) |", count(v.tokens.total));
    if let Some(from) = &v.reuse.resumed_from {
        let _ = writeln!(out, "| Resumed from | {} |", cell(from));
    }
    let args = serde_json::to_string(&v.args).unwrap_or_default();
    let _ = writeln!(out, "| Args | {} |\n", cell(&args));

    if let Some(e) = &v.error {
        let at = position(e).map_or(String::new(), |p| format!("{} · ", cell(&p)));
        let _ = writeln!(out, "### Error\n\n{at}**{}**: {}\n", cell(&e.name), cell(&e.message));
    }
    if let Some(result) = &v.result {
        let text = serde_json::to_string_pretty(result).unwrap_or_default();
        let _ = writeln!(out, "### Result\n\n{}", fenced(&text, "json"));
    }

    if !v.agents.is_empty() {
        let span = span_ms(v);
        let _ = writeln!(out, "### Timeline (0 – {})\n", duration(span));
        out.push_str(
            "| # | Phase | Label | Adapter | Model | Start | Duration | Attempts | State | Source | Bar |\n",
        );
        out.push_str("|--:|---|---|---|---|--:|--:|--:|---|---|---|\n");
        for phase in &v.phases {
            for index in &phase.agents {
                let Some(a) = v.agents.get(*index as usize) else { continue };
                let start = a.start_ms.or(a.queued_ms).unwrap_or(0);
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | +{} | {} | {} | {} | {} | `{}` |",
                    a.index,
                    cell(phase_title(&phase.title)),
                    cell(&a.label),
                    cell(&a.adapter),
                    cell(a.model.as_deref().unwrap_or("—")),
                    duration(start),
                    a.duration_ms.map_or("—".into(), duration),
                    a.attempts,
                    a.state.name(),
                    if a.cached { "cached" } else { "live" },
                    bar(start, a.duration_ms.unwrap_or(0), span)
                );
            }
        }
        out.push('\n');

        out.push_str(
            "### Tokens\n\n| Phase | Agents | Done | Failed | Cached | Tokens |\n|---|--:|--:|--:|--:|--:|\n",
        );
        for (p, phase) in v.phases.iter().enumerate() {
            let c = v.phase_counts(p);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                cell(phase_title(&phase.title)),
                c.total(),
                c.done,
                c.failed,
                c.cached,
                count(c.tokens)
            );
        }
        out.push_str("\n| Adapter | Tokens |\n|---|--:|\n");
        for (adapter, tokens) in &v.tokens.by_adapter {
            let _ = writeln!(out, "| {} | {} |", cell(adapter), count(*tokens));
        }
        out.push('\n');
    }

    if let Some(from) = &v.reuse.resumed_from {
        let first = v.reuse.first_live.as_ref().map_or("no call ran live".to_string(), |(i, l)| {
            format!("the first live call was #{i} ({})", cell(l))
        });
        let _ = writeln!(
            out,
            "### Reuse\n\nResumed from {}: {} of {} calls served from its journal ({} by prefix, {} by content); {first}.\n",
            cell(from),
            c.cached,
            c.total(),
            v.reuse.by_prefix,
            v.reuse.by_content
        );
    }

    if !v.logs.is_empty() {
        out.push_str("### Decision trail\n\n| At | Phase | Log |\n|--:|---|---|\n");
        for line in &v.logs {
            let _ = writeln!(
                out,
                "| +{} | {} | {} |",
                duration(line.at_ms),
                cell(line.phase.as_deref().unwrap_or("")),
                cell(&line.message)
            );
        }
        out.push('\n');
    }

    if !v.agents.is_empty() {
        out.push_str("### Calls\n\n");
        for a in &v.agents {
            let _ = writeln!(
                out,
                "<details><summary>#{} {} — {}{}</summary>\n",
                a.index,
                cell(&a.label),
                a.state.name(),
                if a.cached { ", cached" } else { "" }
            );
            if let Some((text, cut)) = prompt_text(a) {
                let note = if cut { " (first characters)" } else { "" };
                let _ = writeln!(out, "**Prompt**{note}\n\n{}", fenced(&text, "text"));
            }
            if let Some((text, json)) = reply_text(a) {
                let (note, lang) = if json { (" (schema-checked JSON)", "json") } else { ("", "text") };
                let _ = writeln!(out, "**Reply**{note}\n\n{}", fenced(&text, lang));
            }
            if let Some(error) = &a.error {
                let _ = writeln!(out, "**Error**\n\n{}", fenced(error, "text"));
            }
            out.push_str("</details>\n\n");
        }
    }
    out
}

/// A text bar of the call's span on the run's time axis.
fn bar(start: u64, ms: u64, span: u64) -> String {
    let from = (start as f64 / span as f64 * BAR as f64).floor() as usize;
    let len = ((ms as f64 / span as f64 * BAR as f64).round() as usize).max(1);
    let from = from.min(BAR - 1);
    let len = len.min(BAR - from);
    format!("{}{}{}", "·".repeat(from), "█".repeat(len), "·".repeat(BAR - from - len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_carry_no_markup() {
        assert_eq!(cell("<b>a|b</b>\n*x*"), "&lt;b&gt;a\\|b&lt;/b&gt; \\*x\\*");
        assert_eq!(cell("a\u{202e}b\u{2066}c"), "a b c");
    }

    #[test]
    fn a_fence_is_longer_than_any_inside() {
        assert_eq!(fenced("a", "text"), "```text\na\n```\n");
        assert_eq!(fenced("x ```` y", ""), "`````\nx ```` y\n`````\n");
    }

    #[test]
    fn bars_stay_in_their_width() {
        assert_eq!(bar(0, 100, 100).chars().count(), BAR);
        assert_eq!(bar(100, 0, 100).chars().filter(|c| *c == '█').count(), 1);
        assert_eq!(bar(50, 50, 100), format!("{}{}", "·".repeat(16), "█".repeat(16)));
    }
}
