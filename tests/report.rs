//! `odw report`: the audit of a finished run in HTML, Markdown and JSON,
//! through the real binary and the mock agent.

mod common;

use common::Env;
use serde_json::Value;

/// Phases, a schema retry, a failing agent, logs, and an error thrown at a
/// known position. `extra` is inserted before the throw (the edit a resume
/// runs live).
fn workflow(extra: &str) -> String {
    format!(
        "phase('Scan');
         log('scanning two files');
         await parallel([
           () => agent('scan a', {{ label: 'scan-a' }}),
           () => agent('scan b', {{ label: 'scan-b', model: 'small' }}),
         ]);
         phase('Judge');
         const schema = {{ type: 'object', required: ['answer'], properties: {{ answer: {{ type: 'integer' }} }} }};
         const verdict = await agent('badjson-once give a verdict', {{ label: 'verdict', schema }});
         log('verdict is ' + verdict.answer);
         phase('Fix');
         if ((await agent('fail:no API key', {{ label: 'fixer' }})) === null) {{ log('fixer failed'); }}
         {extra}
         throw new Error('gave up after the fixer failed');"
    )
}

/// Runs the workflow, then resumes it with one more call; returns the
/// resumed run's id.
fn resumed_run(env: &Env) -> String {
    let wf = env.script("wf.js", &workflow(""));
    let first = env.run_wait(&wf, &[]);
    first.fails_with(&["gave up after the fixer failed"]);
    let wf = env.script("wf.js", &workflow("await agent('extra check', { label: 'extra' });"));
    let resumed = env.run_wait(&wf, &["--resume-from", &first.run_id()]);
    resumed.fails_with(&["gave up after the fixer failed", "reused 3 of 5 calls"]);
    resumed.run_id()
}

fn report(env: &Env, id: &str, format: &str) -> String {
    let runs = env.runs();
    let out = env.odw(&["report", id, "--format", format, "--runs-root", runs.to_str().unwrap()]);
    assert_eq!(out.code, 0, "odw report failed: {}", out.stderr);
    out.stdout
}

#[test]
fn a_resumed_failed_run_is_audited_in_json_html_and_markdown() {
    let env = Env::new();
    let id = resumed_run(&env);

    let view: Value = serde_json::from_str(&report(&env, &id, "json")).expect("JSON report");
    assert_eq!((view["state"].as_str(), view["workflow"].as_str()), (Some("failed"), Some("test")));
    assert_eq!(view["scriptHash"].as_str().map(str::len), Some(64));
    let titles: Vec<&str> =
        view["phases"].as_array().unwrap().iter().map(|p| p["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Scan", "Judge", "Fix"]);
    let agents = view["agents"].as_array().unwrap();
    let field = |key: &str| agents.iter().map(|a| a[key].clone()).collect::<Vec<_>>();
    assert_eq!(field("label"), ["scan-a", "scan-b", "verdict", "fixer", "extra"]);
    assert_eq!(field("state"), ["done", "done", "done", "failed", "done"]);
    assert_eq!(field("cached"), [true, true, true, false, false]);
    assert_eq!(agents[2]["attempts"], 2, "the schema retry");
    assert_eq!(agents[2]["reply"], serde_json::json!({"answer": 42}));
    assert_eq!(agents[1]["model"], "small");
    assert_eq!(agents[0]["promptHead"], "scan a");
    assert!(agents[3]["error"].as_str().unwrap().contains("no API key"), "{}", agents[3]);
    assert_eq!(view["error"]["location"]["line"], 15);
    assert_eq!(view["reuse"]["byPrefix"], 3);
    assert_eq!(view["reuse"]["firstLive"], serde_json::json!([3, "fixer"]));
    let logs: Vec<&str> =
        view["logs"].as_array().unwrap().iter().map(|l| l["message"].as_str().unwrap()).collect();
    // A failed agent logs `[label] failed: …` itself (as in Claude Code), before the script's own line.
    assert_eq!(logs.len(), 4, "{logs:?}");
    assert_eq!(logs[..2], ["scanning two files", "verdict is 42"]);
    assert!(logs[2].starts_with("[fixer] failed: ") && logs[2].ends_with("no API key"), "{}", logs[2]);
    assert_eq!(logs[3], "fixer failed");
    let total = view["tokens"]["total"].as_u64().unwrap();
    assert!(total > 0);
    assert_eq!(view["tokens"]["byAdapter"]["mock"].as_u64(), Some(total));

    let html = report(&env, &id, "html");
    for part in [
        "<!DOCTYPE html>",
        "<h2 id=\"timeline\">Timeline</h2>",
        "class=\"tl-bar done cached\"",
        "class=\"tl-bar failed\"",
        "wf.js:15:",
        "gave up after the fixer failed",
        "schema-checked JSON",
        "&quot;answer&quot;: 42",
        "verdict is 42",
        "reused · prefix",
        "The first live call was <code>#3</code> (fixer)",
        "@media print",
    ] {
        assert!(html.contains(part), "the HTML lacks {part:?}");
    }
    assert!(!html.contains("http://") && !html.contains("https://"), "the page loads nothing from elsewhere");
    assert!(!html.contains("<link") && !html.contains("src="), "no external asset");

    let md = report(&env, &id, "md");
    for part in [
        "## odw run report: test — failed",
        "| # | Phase | Label | Adapter | Model | Start | Duration | Attempts | State | Source | Bar |",
        "| 2 | Judge | verdict | mock | — |",
        "| 2 | done | cached |",
        "| 3 | Fix | fixer | mock |",
        "**Reply** (schema-checked JSON)\n\n```json\n{\n  \"answer\": 42\n}\n```",
        "Resumed from ",
        "the first live call was #3 (fixer)",
        "| +",
    ] {
        assert!(md.contains(part), "the Markdown lacks {part:?}:\n{md}");
    }
}

#[test]
fn text_from_scripts_and_agents_cannot_inject_markup() {
    let env = Env::new();
    let wf = env.script(
        "wf.js",
        "phase('<b>bold</b> phase');
         log('<img src=x onerror=alert(1)> and </pre><script>alert(2)</script>');
         await agent('json:<script>alert(3)</script>', { label: '<script>alert(\"label\")</script>' });
         return 'ok';",
    );
    let id = env.run_wait(&wf, &[]).run_id();
    let html = report(&env, &id, "html");
    assert_eq!(html.matches("<script>").count(), 1, "only the page's own script");
    for raw in ["<img", "alert(\"label\")", "<b>bold", "</pre><script>"] {
        assert!(!html.contains(raw), "raw {raw:?} in the HTML");
    }
    for escaped in [
        "&lt;script&gt;alert(&quot;label&quot;)&lt;/script&gt;",
        "&lt;img src=x onerror=alert(1)&gt;",
        "&lt;b&gt;bold&lt;/b&gt; phase",
        "json:&lt;script&gt;alert(3)&lt;/script&gt;",
    ] {
        assert!(html.contains(escaped), "the HTML lacks {escaped:?}");
    }
    let md = report(&env, &id, "md");
    // Prompts and replies are code blocks, where GitHub shows text as text;
    // everywhere else no markup from the run may appear.
    let mut in_code = false;
    let prose: Vec<&str> = md
        .lines()
        .filter(|l| {
            if l.starts_with("```") {
                in_code = !in_code;
            }
            !in_code && !l.starts_with("```")
        })
        .collect();
    for raw in ["<script", "<img", "<b>"] {
        assert!(!prose.iter().any(|l| l.contains(raw)), "raw {raw:?} in the Markdown:\n{md}");
    }
    assert!(md.contains("```text\n<script>alert(3)</script>\n```"), "the reply as a code block:\n{md}");
    assert!(md.contains("&lt;img src=x onerror=alert(1)&gt;"), "{md}");
}

#[test]
fn a_report_goes_to_a_file_and_an_unknown_run_is_named() {
    let env = Env::new();
    let wf = env.script("wf.js", "return await agent('hi');");
    let id = env.run_wait(&wf, &[]).run_id();
    let runs = env.runs();
    let file = env.path().join("audit.html");
    let out = env.odw(&["report", &id, "-o", file.to_str().unwrap(), "--runs-root", runs.to_str().unwrap()]);
    assert_eq!((out.code, out.stdout.as_str()), (0, ""), "{}", out.stderr);
    let html = std::fs::read_to_string(&file).unwrap();
    assert!(html.contains("mock:hi") && html.ends_with("</html>\n"));
    env.odw(&["report", "nope", "--runs-root", runs.to_str().unwrap()]).fails_with(&["no run `nope`"]);
}

/// Renders the report of the resumed run in headless Chromium, as a person
/// would open it, and keeps the screenshot for a look
/// (`target/report-screenshot.png`).
#[test]
fn the_html_renders_in_chromium() {
    let Some(chromium) = ["chromium", "chromium-browser"].into_iter().find(|c| which(c)) else {
        panic!("this test needs Chromium: apt-get install chromium (Debian's package)");
    };
    let env = Env::new();
    let id = resumed_run(&env);
    let page = env.path().join("report.html");
    std::fs::write(&page, report(&env, &id, "html")).unwrap();
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-screenshot.png");
    let _ = std::fs::remove_file(&shot);
    let profile = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1400,2000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    let png = std::fs::read(&shot).unwrap_or_default();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 50_000,
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}
