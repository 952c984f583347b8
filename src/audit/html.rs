//! The HTML audit: one self-contained page (inline CSS, CSS bars for the
//! timeline, no external asset), readable printed. Every piece of text from
//! the run goes through [`esc`]; numbers and the page's own class names
//! are the only unescaped text.

use std::fmt::Write as _;

use odw_engine::{AgentState, AgentView, RunState, RunView};

use super::{count, duration, phase_title, position, prompt_text, reply_text, span_ms, ticks};

const PAGE: &str = include_str!("page.html");
const STYLE: &str = include_str!("page.css");

/// Text made safe to put in an element or a quoted attribute.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Shown, not obeyed: it would reorder the page's text.
            c if crate::report::reorders(c) => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    out
}

/// The page for `view`; `rundir` and `generated` go in the footer.
pub fn render(view: &RunView, rundir: &str, generated: &str) -> String {
    let mut body = String::new();
    header(&mut body, view);
    outcome(&mut body, view);
    timeline(&mut body, view);
    usage(&mut body, view);
    reuse(&mut body, view);
    trail(&mut body, view);
    calls(&mut body, view);
    let title = format!("odw report · {} · {}", view.workflow, view.run_id);
    fill(
        PAGE,
        &[
            ("title", &esc(&title)),
            ("style", STYLE),
            ("body", &body),
            ("version", env!("CARGO_PKG_VERSION")),
            ("generated", &esc(generated)),
            ("rundir", &esc(rundir)),
        ],
    )
}

/// Replaces each `{{name}}` of `template` in one pass, so that a value that
/// itself holds `{{…}}` is never expanded again.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find("{{") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        match after
            .find("}}")
            .and_then(|end| values.iter().find(|(n, _)| *n == &after[..end]).map(|v| (end, v)))
        {
            Some((end, (_, value))) => {
                out.push_str(value);
                rest = &after[end + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn state_class(state: RunState) -> &'static str {
    state.name()
}

fn header(out: &mut String, v: &RunView) {
    let _ = write!(
        out,
        "<h1>{} <span class=\"badge {}\">{}</span></h1>",
        esc(&v.workflow),
        state_class(v.state),
        v.state.name()
    );
    if !v.description.is_empty() {
        let _ = write!(out, "<p class=\"desc\">{}</p>", esc(&v.description));
    }
    out.push_str("<dl class=\"facts\">");
    let mut fact = |k: &str, value: String| {
        let _ = write!(out, "<dt>{k}</dt><dd>{value}</dd>");
    };
    fact("Run", format!("<code>{}</code>", esc(&v.run_id)));
    if let Some(script) = &v.script {
        fact("Script", format!("<code>{}</code>", esc(script)));
    }
    if let Some(hash) = &v.script_hash {
        fact("Script hash", format!("<code>{}</code>", esc(hash)));
    }
    if let Some(adapter) = &v.adapter {
        fact("Default adapter", esc(adapter));
    }
    let started = v.started_at.as_deref().unwrap_or("not started");
    let ended = v.ended_at.as_deref().map_or(String::new(), |e| format!(" → {}", esc(e)));
    fact("Started", format!("{}{ended}", esc(started)));
    if let Some(from) = &v.reuse.resumed_from {
        fact("Resumed from", format!("<code>{}</code>", esc(from)));
    }
    let args = serde_json::to_string_pretty(&v.args).unwrap_or_default();
    fact("Args", format!("<pre>{}</pre>", esc(&args)));
    out.push_str("</dl>");

    let c = v.counts();
    out.push_str("<div class=\"cards\">");
    let mut card = |k: &str, value: String, sub: String| {
        let _ = write!(
            out,
            "<div class=\"card\"><div class=\"k\">{k}</div><div class=\"v\">{value}</div><div class=\"s\">{sub}</div></div>"
        );
    };
    card("Duration", duration(v.duration_ms.unwrap_or(v.last_event_ms)), v.state.name().to_string());
    card(
        "Agents",
        count(u64::from(c.total())),
        format!(
            "{} done · {} failed{}",
            c.done,
            c.failed,
            if c.cancelled > 0 { format!(" · {} cancelled", c.cancelled) } else { String::new() }
        ),
    );
    card("Cached / live", format!("{} / {}", c.cached, c.live), "served from a journal / ran now".into());
    let estimated = if v.tokens.estimated { " (some estimated)" } else { "" };
    card(
        "Tokens",
        count(v.tokens.total),
        format!("{} in · {} out{estimated}", count(v.tokens.input), count(v.tokens.output)),
    );
    match v.budget {
        Some(budget) => {
            let pct = v.tokens.total as f64 * 100.0 / budget.max(1) as f64;
            card(
                "Budget",
                format!("{pct:.0}%"),
                format!("{} of {} tokens", count(v.tokens.total), count(budget)),
            );
        }
        None => card("Budget", "—".into(), "no --budget".into()),
    }
    out.push_str("</div>");
}

fn outcome(out: &mut String, v: &RunView) {
    if let Some(e) = &v.error {
        out.push_str("<h2 id=\"error\">Error</h2><div class=\"error\">");
        let at = position(e).map_or(String::new(), |p| format!("<code>{}</code> · ", esc(&p)));
        let _ = write!(out, "<p>{at}<span class=\"what\">{}</span>: {}</p>", esc(&e.name), esc(&e.message));
        if let Some(limit) = &e.limit {
            let _ = write!(out, "<p class=\"muted\">Raised by the limit <code>{}</code>.</p>", esc(limit));
        }
        if let Some(stack) = e.stack.as_deref().filter(|s| !s.trim().is_empty()) {
            let _ = write!(out, "<details><summary>Stack</summary><pre>{}</pre></details>", esc(stack));
        }
        out.push_str("</div>");
    }
    if let Some(result) = &v.result {
        let text = serde_json::to_string_pretty(result).unwrap_or_default();
        let _ = write!(
            out,
            "<h2 id=\"result\">Result</h2><details open><summary>The value the workflow returned</summary><pre>{}</pre></details>",
            esc(&text)
        );
    }
    if let Some(why) = &v.details_missing {
        let _ = write!(out, "<p class=\"muted\">Prompts and replies are not shown: {}</p>", esc(why));
    }
}

fn timeline(out: &mut String, v: &RunView) {
    if v.agents.is_empty() {
        return;
    }
    let span = span_ms(v);
    let pct = |ms: u64| ms as f64 * 100.0 / span as f64;
    out.push_str("<h2 id=\"timeline\">Timeline</h2><div class=\"timeline\">");
    out.push_str("<div class=\"tl-row tl-axis\"><div class=\"tl-label\">agent</div><div class=\"tl-track\">");
    let marks = ticks(span);
    for (i, t) in marks.iter().enumerate() {
        let class = if i == 0 {
            " first"
        } else if i + 1 == marks.len() && pct(*t) > 92.0 {
            " last"
        } else {
            ""
        };
        let _ = write!(
            out,
            "<span class=\"tl-tick{class}\" style=\"left:{:.3}%\">{}</span>",
            pct(*t),
            duration(*t)
        );
    }
    out.push_str("</div><div class=\"tl-dur\">duration</div></div>");
    let grid: String = marks
        .iter()
        .skip(1)
        .map(|t| format!("<span class=\"tl-grid\" style=\"left:{:.3}%\"></span>", pct(*t)))
        .collect();
    for (p, phase) in v.phases.iter().enumerate() {
        if phase.agents.is_empty() {
            continue;
        }
        let c = v.phase_counts(p);
        let _ = write!(
            out,
            "<div class=\"tl-row tl-phase\"><div class=\"tl-label\">{}</div><div class=\"tl-track\">{grid}</div><div class=\"tl-dur\">{} agent{}</div></div>",
            esc(phase_title(&phase.title)),
            c.total(),
            if c.total() == 1 { "" } else { "s" }
        );
        for index in &phase.agents {
            let Some(a) = v.agents.get(*index as usize) else { continue };
            let start = a.start_ms.or(a.queued_ms).unwrap_or(0);
            let width = pct(a.duration_ms.unwrap_or_else(|| v.last_event_ms.saturating_sub(start)));
            let class = format!("{}{}", a.state.name(), if a.cached { " cached" } else { "" });
            let title = format!(
                "#{} {} · {} · {} · {}{}",
                a.index,
                a.label,
                a.adapter,
                a.state.name(),
                a.duration_ms.map_or("unfinished".into(), duration),
                if a.cached { " · cached" } else { "" }
            );
            let model = a.model.as_deref().map_or(String::new(), |m| format!(" · {}", esc(m)));
            // The wait for a concurrency slot (or a pause), before the bar.
            let wait = match (a.queued_ms, a.start_ms) {
                (Some(q), Some(s)) if s > q => format!(
                    "<div class=\"tl-wait\" style=\"left:{:.3}%;width:{:.3}%\" title=\"queued {}\"></div>",
                    pct(q),
                    pct(s - q),
                    duration(s - q)
                ),
                _ => String::new(),
            };
            let _ = write!(
                out,
                "<div class=\"tl-row\"><div class=\"tl-label\" title=\"{}\"><span class=\"idx\">#{}</span>{}<span class=\"sub\">{}{model}</span></div>\
                 <div class=\"tl-track\">{grid}{wait}<div class=\"tl-bar {class}\" style=\"left:{:.3}%;width:{:.3}%\" title=\"{}\"></div></div>\
                 <div class=\"tl-dur\">{}{}</div></div>",
                esc(&title),
                a.index,
                esc(&a.label),
                esc(&a.adapter),
                pct(start).min(99.7),
                width,
                esc(&title),
                a.duration_ms.map_or("—".into(), duration),
                if a.attempts > 1 { format!(" ×{}", a.attempts) } else { String::new() }
            );
        }
    }
    out.push_str("</div><div class=\"legend\">");
    for (class, name) in [
        ("done", "done"),
        ("failed", "failed"),
        ("cancelled", "cancelled"),
        ("cached", "cached (from a journal)"),
        ("wait", "waiting for a slot"),
    ] {
        let _ = write!(out, "<span><i class=\"tl-bar {class}\" style=\"position:static\"></i>{name}</span>");
    }
    out.push_str("<span>×N: attempts (schema retries)</span></div>");
}

fn usage(out: &mut String, v: &RunView) {
    if v.agents.is_empty() {
        return;
    }
    out.push_str("<h2 id=\"phases-tokens\">Phases and tokens</h2><table><thead><tr><th>Phase</th><th class=\"n\">Agents</th><th class=\"n\">Done</th><th class=\"n\">Failed</th><th class=\"n\">Cached</th><th class=\"n\">Tokens</th><th>Share</th></tr></thead><tbody>");
    let total = v.tokens.total.max(1);
    for (p, phase) in v.phases.iter().enumerate() {
        let c = v.phase_counts(p);
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            esc(phase_title(&phase.title)),
            c.total(),
            c.done,
            c.failed,
            c.cached,
            count(c.tokens),
            meter(c.tokens as f64 / total as f64, false)
        );
    }
    out.push_str("</tbody></table><div class=\"split\"><div><h3>Tokens by adapter</h3><table><thead><tr><th>Adapter</th><th class=\"n\">Tokens</th><th>Share</th></tr></thead><tbody>");
    for (adapter, tokens) in &v.tokens.by_adapter {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            esc(adapter),
            count(*tokens),
            meter(*tokens as f64 / total as f64, false)
        );
    }
    out.push_str("</tbody></table></div><div><h3>Budget</h3>");
    match v.budget {
        Some(budget) => {
            let used = v.tokens.total as f64 / budget.max(1) as f64;
            let _ = write!(
                out,
                "<p>{} of {} tokens ({:.0}%)</p>{}",
                count(v.tokens.total),
                count(budget),
                used * 100.0,
                meter(used, used > 1.0)
            );
        }
        None => out.push_str("<p class=\"muted\">The run had no token budget (<code>--budget</code>).</p>"),
    }
    out.push_str("</div></div>");
}

fn meter(share: f64, over: bool) -> String {
    let width = (share * 100.0).clamp(0.0, 100.0);
    format!(
        "<div class=\"meter{}\"><span style=\"width:{width:.1}%\"></span></div>",
        if over { " over" } else { "" }
    )
}

fn reuse(out: &mut String, v: &RunView) {
    let Some(from) = &v.reuse.resumed_from else { return };
    let c = v.counts();
    let _ = write!(
        out,
        "<h2 id=\"reuse\">Reuse</h2><p>Resumed from <code>{}</code>: {} of {} calls were served from its journal ({} by prefix, {} by content); {} ran live.</p>",
        esc(from),
        c.cached,
        c.total(),
        v.reuse.by_prefix,
        v.reuse.by_content,
        c.live
    );
    match &v.reuse.first_live {
        Some((index, label)) => {
            let _ = write!(out, "<p>The first live call was <code>#{index}</code> ({}).</p>", esc(label));
        }
        None => out.push_str("<p>No call ran live.</p>"),
    }
    out.push_str(
        "<table><thead><tr><th>#</th><th>Label</th><th>Phase</th><th>Served</th></tr></thead><tbody>",
    );
    for a in &v.agents {
        let served = match (a.cached, a.reuse) {
            (true, Some(odw_engine::ReuseRule::Content)) => {
                "<span class=\"badge cached\">reused · content</span>"
            }
            (true, _) => "<span class=\"badge cached\">reused · prefix</span>",
            (false, _) => "<span class=\"badge live\">live</span>",
        };
        let _ = write!(
            out,
            "<tr><td class=\"mono\">{}</td><td>{}</td><td>{}</td><td>{served}</td></tr>",
            a.index,
            esc(&a.label),
            esc(phase_title(a.phase.as_deref().unwrap_or("")))
        );
    }
    out.push_str("</tbody></table>");
}

fn trail(out: &mut String, v: &RunView) {
    if v.logs.is_empty() && v.journal_errors.is_empty() {
        return;
    }
    out.push_str("<h2 id=\"decision-trail\">Decision trail</h2><ol class=\"trail\">");
    for line in &v.logs {
        let phase =
            line.phase.as_deref().map_or(String::new(), |p| format!("<span class=\"ph\">{}</span>", esc(p)));
        let _ = write!(
            out,
            "<li><span class=\"t\">+{}</span>{phase}<span class=\"msg\">{}</span></li>",
            duration(line.at_ms),
            esc(&line.message)
        );
    }
    for (index, error) in &v.journal_errors {
        let _ = write!(
            out,
            "<li><span class=\"t\">journal</span><span class=\"msg\">call #{index} was not journalled: {}</span></li>",
            esc(error)
        );
    }
    out.push_str("</ol>");
}

fn calls(out: &mut String, v: &RunView) {
    if v.agents.is_empty() {
        return;
    }
    out.push_str("<h2 id=\"calls\">Calls</h2>");
    for a in &v.agents {
        call(out, a);
    }
}

fn call(out: &mut String, a: &AgentView) {
    let open = if a.state == AgentState::Failed { " open" } else { "" };
    let source = if a.cached {
        "<span class=\"badge cached\">cached</span>"
    } else {
        "<span class=\"badge live\">live</span>"
    };
    let model = a.model.as_deref().map_or(String::new(), |m| format!(" · {}", esc(m)));
    let attempts = if a.attempts > 1 { format!(" · {} attempts", a.attempts) } else { String::new() };
    let _ = write!(
        out,
        "<details class=\"call\"{open}><summary><span class=\"idx\">#{}</span><span class=\"label\">{}</span>\
         <span class=\"badge {}\">{}</span>{source}<span class=\"meta\">{} · {}{model} · {}{attempts} · {} tokens</span></summary><div class=\"call-body\">",
        a.index,
        esc(&a.label),
        a.state.name(),
        a.state.name(),
        esc(phase_title(a.phase.as_deref().unwrap_or(""))),
        esc(&a.adapter),
        a.duration_ms.map_or("—".into(), duration),
        count(a.usage.total()),
    );
    match prompt_text(a) {
        Some((text, cut)) => {
            let note = if cut {
                "<span class=\"muted\">(its first characters, as the journal keeps them)</span>"
            } else {
                ""
            };
            let _ = write!(out, "<h3>Prompt {note}</h3><pre>{}</pre>", esc(&text));
        }
        None => out.push_str("<p class=\"muted\">No prompt recorded.</p>"),
    }
    if let Some((text, json)) = reply_text(a) {
        let tag = if json { " <span class=\"badge json\">schema-checked JSON</span>" } else { "" };
        let _ = write!(out, "<h3>Reply{tag}</h3><pre>{}</pre>", esc(&text));
    }
    if let Some(error) = &a.error {
        let _ = write!(out, "<h3>Error</h3><div class=\"error\"><pre>{}</pre></div>", esc(error));
    }
    if let Some(tree) = &a.worktree {
        let _ = write!(
            out,
            "<h3>Worktree</h3><pre>{}</pre>",
            esc(&serde_json::to_string_pretty(tree).unwrap_or_default())
        );
    }
    out.push_str("</div></details>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_for_elements_and_attributes() {
        assert_eq!(
            esc("<img src=x onerror='a()'> & \"q\""),
            "&lt;img src=x onerror=&#39;a()&#39;&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(esc("ok \u{202e}exe.txt"), "ok \\u{202e}exe.txt");
    }

    #[test]
    fn placeholders_are_filled_once() {
        let page =
            fill("<t>{{title}}</t><b>{{body}}</b>{{unknown}}", &[("title", "{{body}}"), ("body", "x")]);
        assert_eq!(page, "<t>{{body}}</t><b>x</b>{{unknown}}");
    }
}
