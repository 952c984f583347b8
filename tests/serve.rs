//! `odw serve` through the real binary on 127.0.0.1: the JSON API, the SSE
//! stream (in order, exactly once, across a reconnect), each security
//! refusal, and the page in headless Chromium (`tests/browser/`).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Env, cache_dir, read_events};
use serde_json::{Value, json};

/// A running `odw serve`, killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    /// `odw serve --port 0` in `env`'s directory, plus `extra` flags.
    fn start(env: &Env, extra: &[&str]) -> Server {
        let runs = env.runs();
        let mut child = Command::new(env!("CARGO_BIN_EXE_odw"))
            .args(["serve", "--port", "0", "--runs-root", runs.to_str().expect("utf-8")])
            .args(extra)
            .current_dir(env.path())
            .env("HOME", env.path())
            .env("ODW_CACHE_DIR", cache_dir())
            .env("MOCK_LOG", env.mock_log())
            .env_remove("ODW_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start odw serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("the URL line");
        let port = line
            .trim()
            .trim_end_matches('/')
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("odw serve printed no URL: {line:?}"));
        Server { child, port }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn get(&self, path: &str) -> (u16, Value) {
        let (status, body) = request(self.port, "GET", path, &[("Host", &self.host())], None);
        (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
    }

    fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let headers = [("Host", self.host()), ("Content-Type", "application/json".into())];
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, body) = request(self.port, "POST", path, &headers, Some(&body.to_string()));
        (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request over a fresh connection: (status, body). Headers
/// are sent exactly as given (no Host unless given).
fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = body.unwrap_or("");
    if method != "GET" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("send head");
    // A refused request may be answered before its body is read.
    let _ = stream.write_all(body.as_bytes());
    let mut reader = BufReader::new(stream);
    let (status, chunked) = read_head(&mut reader);
    let mut bytes = Vec::new();
    if chunked {
        while let Some(chunk) = read_chunk(&mut reader) {
            bytes.extend(chunk);
        }
    } else {
        let _ = reader.read_to_end(&mut bytes);
    }
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// Reads a response's status line and headers: (status, chunked?).
fn read_head(reader: &mut impl BufRead) -> (u16, bool) {
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    let status =
        line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("status: {line:?}"));
    let mut chunked = false;
    loop {
        line.clear();
        reader.read_line(&mut line).expect("header");
        if line == "\r\n" || line.is_empty() {
            return (status, chunked);
        }
        if line.to_ascii_lowercase().starts_with("transfer-encoding: chunked") {
            chunked = true;
        }
    }
}

/// The next chunk of a chunked body; `None` at its end.
fn read_chunk(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let size = usize::from_str_radix(line.trim(), 16).ok()?;
    if size == 0 {
        return None;
    }
    let mut chunk = vec![0; size + 2];
    reader.read_exact(&mut chunk).ok()?;
    chunk.truncate(size);
    Some(chunk)
}

/// One SSE message.
#[derive(Debug, Clone)]
struct Sse {
    id: Option<String>,
    kind: String,
    data: Value,
}

/// A client of `GET /api/stream`.
struct Stream {
    reader: BufReader<TcpStream>,
    text: String,
}

impl Stream {
    fn open(server: &Server, last_event_id: Option<&str>) -> Stream {
        let stream = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
        let mut head =
            format!("GET /api/stream HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n", server.host());
        if let Some(id) = last_event_id {
            head.push_str(&format!("Last-Event-ID: {id}\r\n"));
        }
        head.push_str("\r\n");
        (&stream).write_all(head.as_bytes()).expect("send");
        let mut reader = BufReader::new(stream);
        let (status, chunked) = read_head(&mut reader);
        assert_eq!((status, chunked), (200, true));
        Stream { reader, text: String::new() }
    }

    /// The next message (keep-alive comments skipped).
    fn next(&mut self) -> Sse {
        loop {
            if let Some(end) = self.text.find("\n\n") {
                let block: String = self.text.drain(..end + 2).collect();
                let (mut id, mut kind, mut data) = (None, "message".to_string(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("event:") {
                        kind = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    }
                }
                if data.is_empty() {
                    continue;
                }
                return Sse { id, kind, data: serde_json::from_str(&data).expect("data is JSON") };
            }
            let chunk = read_chunk(&mut self.reader).expect("the stream ended");
            self.text.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Messages until `stop` returns true for one (included).
    fn until(&mut self, mut stop: impl FnMut(&Sse) -> bool) -> Vec<Sse> {
        let mut out = Vec::new();
        loop {
            let m = self.next();
            let done = stop(&m);
            out.push(m);
            if done {
                return out;
            }
        }
    }
}

/// Waits for `check` to hold, up to `secs`.
fn eventually(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run_dir(env: &Env, id: &str) -> std::path::PathBuf {
    std::fs::read_dir(env.runs())
        .expect("runs root")
        .map(|w| w.expect("entry").path().join(id))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| panic!("no run dir for {id}"))
}

const FANOUT: &str = "phase('One');\nlog('hello');\n\
    await parallel([1, 2, 3].map(i => () => agent(`a${i} sleep:0.3`, { label: `a${i}` })));\n\
    phase('Two');\nconst b = await agent('b sleep:0.3', { label: 'b' });\nreturn { b };";

#[test]
fn the_api_lists_runs_and_serves_their_events_result_and_journal() {
    let env = Env::new();
    let script = env.script("fanout.js", FANOUT);
    let run = env.run_wait(&script, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let id = run.run_id();
    let server = Server::start(&env, &[]);

    let (status, runs) = server.get("/api/runs");
    assert_eq!(status, 200, "{runs}");
    let row = &runs[0];
    assert_eq!(
        (row["id"].as_str(), row["workflow"].as_str(), row["state"].as_str()),
        (Some(&*id), Some("test"), Some("done"))
    );
    assert_eq!(row["agents"]["done"], 4);
    assert!(row["tokens"].as_u64().unwrap() > 0 && row["durationMs"].as_u64().unwrap() >= 600, "{row}");

    let (status, one) = server.get(&format!("/api/runs/{id}"));
    assert_eq!(status, 200);
    assert_eq!((one["meta"]["workflow"].as_str(), one["summary"]["id"].as_str()), (Some("test"), Some(&*id)));

    let written = read_events(&run_dir(&env, &id));
    let (_, first) = server.get(&format!("/api/runs/{id}/events?since=0&limit=3"));
    assert_eq!((first["next"].as_u64(), first["more"].as_bool()), (Some(3), Some(true)));
    let (_, rest) = server.get(&format!("/api/runs/{id}/events?since=3"));
    assert_eq!(rest["more"], false);
    let mut paged = first["events"].as_array().unwrap().clone();
    paged.extend(rest["events"].as_array().unwrap().iter().cloned());
    assert_eq!(paged, written, "the pages put together are events.jsonl");
    let started = paged.iter().find(|e| e["type"] == "agent_started" && e["label"] == "b").unwrap();
    assert_eq!(started["prompt"], "b sleep:0.3", "the prompt, shown on demand");
    let finished = paged.iter().find(|e| e["type"] == "agent_finished" && e["label"] == "b").unwrap();
    assert_eq!(finished["preview"], "mock:b sleep:0.3", "the reply's preview");

    let (status, result) = server.get(&format!("/api/runs/{id}/result"));
    assert_eq!(
        (status, &result["state"], &result["value"]),
        (200, &json!("done"), &json!({"b": "mock:b sleep:0.3"}))
    );

    let (status, journal) = server.get(&format!("/api/runs/{id}/journal"));
    assert_eq!(status, 200, "{journal}");
    let cli = env.odw(&["journal", &id, "--json", "--runs-root", env.runs().to_str().unwrap()]);
    assert_eq!(
        journal,
        serde_json::from_str::<Value>(&cli.stdout).unwrap(),
        "the same rows as odw journal --json"
    );

    // The audit `odw report` writes, linked from the page.
    let (status, report) = server.get(&format!("/runs/{id}/report"));
    let report = report.as_str().unwrap_or_default().to_string();
    assert_eq!(status, 200, "{report}");
    let cli = env.odw(&["report", &id, "--runs-root", env.runs().to_str().unwrap()]);
    let strip = |html: &str| html.lines().filter(|l| !l.contains("Generated")).collect::<Vec<_>>().join("\n");
    assert!(report.contains("<html") && report.contains("mock:b sleep:0.3"), "{report}");
    assert_eq!(strip(&report).len(), strip(&cli.stdout).len(), "the same report as odw report");

    let (status, missing) = server.get("/api/runs/20990101-000000-abcdef");
    assert_eq!(status, 404, "{missing}");
    let (status, _) = server.get("/api/runs/..%2F..%2Fetc/result");
    assert_eq!(status, 404);
}

#[test]
fn runs_start_pause_resume_and_stop_through_the_api() {
    let env = Env::new();
    std::fs::create_dir_all(env.path().join(".odw/workflows")).unwrap();
    std::fs::write(
        env.path().join(".odw/workflows/greet.js"),
        format!("{}return await agent(`hi ${{args.who}}`, {{ label: 'greet' }});\n", common::HEADER),
    )
    .unwrap();
    let server = Server::start(&env, &[]);

    let (status, started) = server.post("/api/runs", &json!({"workflow": "greet", "args": {"who": "ann"}}));
    assert_eq!(status, 201, "{started}");
    let id = started["id"].as_str().unwrap().to_string();
    eventually(20, "the saved workflow to finish", || {
        server.get(&format!("/api/runs/{id}/result")).1["state"] == "done"
    });
    assert_eq!(server.get(&format!("/api/runs/{id}/result")).1["value"], "mock:hi ann");

    for (body, why) in [
        (json!({"workflow": "../../etc/passwd"}), "a path is not a name"),
        (json!({"workflow": "greet", "script": "x"}), "one or the other"),
        (json!({}), "neither"),
    ] {
        assert_eq!(server.post("/api/runs", &body).0, 400, "{why}");
    }
    assert_eq!(server.post("/api/runs", &json!({"workflow": "nope"})).0, 404);

    // An inline script: stored by the server, slow enough to pause and stop.
    let slow = format!(
        "{}phase('Slow');\nfor (let i = 0; i < 20; i++) await agent(`s${{i}} sleep:0.5`, {{ label: `s${{i}}` }});\nreturn 1;",
        common::HEADER
    );
    let (status, started) = server.post("/api/runs", &json!({"script": slow}));
    assert_eq!(status, 201, "{started}");
    let slow_id = started["id"].as_str().unwrap().to_string();
    let script = run_dir(&env, &slow_id).join("meta.json");
    let meta: Value = serde_json::from_str(&std::fs::read_to_string(script).unwrap()).unwrap();
    assert!(meta["script"].as_str().unwrap().contains("/inline/"), "{meta}");
    let state = || {
        server.get(&format!("/api/runs/{slow_id}")).1["summary"]["state"].as_str().unwrap_or("").to_string()
    };
    eventually(20, "the inline run to start", || state() == "running");

    let control =
        |action: &str| server.post(&format!("/api/runs/{slow_id}/control"), &json!({ "action": action }));
    let (status, asked) = control("pause");
    assert_eq!((status, &asked["paused"]), (200, &json!(true)), "{asked}");
    eventually(10, "the pause", || state() == "paused");
    assert_eq!(control("resume").0, 200);
    eventually(10, "the resume", || state() == "running");
    assert_eq!(control("dance").0, 400);
    assert_eq!(control("stop").0, 200);
    eventually(10, "the stop", || state() == "stopped");
    let (status, ended) = control("pause");
    assert_eq!(status, 409, "an ended run refuses: {ended}");
    assert_eq!(server.post("/api/runs/20990101-000000-abcdef/control", &json!({"action": "stop"})).0, 404);
}

#[test]
fn the_stream_delivers_every_event_in_order_once_across_a_reconnect() {
    let env = Env::new();
    let script = env.script("fanout.js", FANOUT);
    let server = Server::start(&env, &[]);
    let mut first = Stream::open(&server, None);
    let started = env.odw(&["run", &script, "--runs-root", env.runs().to_str().unwrap()]);
    assert_eq!(started.code, 0, "{}", started.stderr);
    let id = started.stdout.trim().to_string();

    // Read until the run's first agent finished, then drop the connection.
    let before = first.until(|m| {
        m.kind == "event" && m.data["run"] == id.as_str() && m.data["event"]["type"] == "agent_finished"
    });
    let last_id = before.last().and_then(|m| m.id.clone()).expect("messages have ids");
    drop(first);
    std::thread::sleep(Duration::from_millis(400));
    let mut second = Stream::open(&server, Some(&last_id));
    // Until both the last event and the final state are out: the run writes
    // its `run_finished` line before its final status, so the stream may
    // send them in either order (status and new lines are read in turn).
    let (mut finished, mut done) = (false, false);
    let after = second.until(|m| {
        if m.kind == "event" && m.data["run"] == id.as_str() && m.data["event"]["type"] == "run_finished" {
            finished = true;
        }
        if m.kind == "run" && m.data["id"] == id.as_str() && m.data["state"] == "done" {
            done = true;
        }
        finished && done
    });

    let all: Vec<&Sse> = before.iter().chain(&after).collect();
    let ids: Vec<&str> = all.iter().map(|m| m.id.as_deref().unwrap()).collect();
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(unique, ids, "no message twice");
    let seqs: Vec<u64> = ids.iter().map(|i| i.rsplit('-').next().unwrap().parse().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "no message missed across the reconnect: {seqs:?}");
    let events: Vec<&Sse> = all.iter().copied().filter(|m| m.kind == "event").collect();
    let ns: Vec<u64> = events.iter().map(|m| m.data["n"].as_u64().unwrap()).collect();
    assert_eq!(ns, (0..ns.len() as u64).collect::<Vec<_>>(), "every line, in order, once");
    let streamed: Vec<Value> = events.iter().map(|m| m.data["event"].clone()).collect();
    assert_eq!(streamed, read_events(&run_dir(&env, &id)), "the stream is events.jsonl");
    let runs: Vec<&Sse> = all.iter().copied().filter(|m| m.kind == "run").collect();
    assert_eq!(runs.first().map(|m| &m.data["id"]), Some(&json!(id)), "the run is announced");
    assert_eq!(runs.last().map(|m| &m.data["state"]), Some(&json!("done")));
    assert!(
        all.iter().position(|m| m.kind == "run").unwrap()
            < all.iter().position(|m| m.kind == "event").unwrap(),
        "the run is announced before its events"
    );

    // An id from another server (or a restart) is told to reload.
    let mut stale = Stream::open(&server, Some("00000000-5"));
    assert_eq!(stale.next().kind, "reset");
}

/// Sends a POST with exactly these headers.
fn post_raw(server: &Server, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    request(server.port, "POST", "/api/runs/20990101-000000-abcdef/control", headers, Some(body))
}

#[test]
fn writes_are_refused_without_json_same_origin_and_a_loopback_host() {
    let env = Env::new();
    let server = Server::start(&env, &[]);
    let host = server.host();
    let body = r#"{"action":"stop"}"#;
    let json = ("Content-Type", "application/json");
    // The baseline passes every check and reaches the handler (no such run).
    assert_eq!(post_raw(&server, &[("Host", &host), json], body).0, 404);
    let (status, why) = post_raw(&server, &[("Host", &host), ("Content-Type", "text/plain")], body);
    assert_eq!(status, 415, "{why}");
    assert_eq!(post_raw(&server, &[("Host", &host)], body).0, 415, "no content type");
    let (status, why) = post_raw(&server, &[("Host", &host), json, ("Origin", "http://evil.example")], body);
    assert_eq!(status, 403, "{why}");
    assert!(why.contains("cross-origin"), "{why}");
    let own = format!("http://{host}");
    assert_eq!(
        post_raw(&server, &[("Host", &host), json, ("Origin", &own)], body).0,
        404,
        "its own origin passes"
    );
    let (status, why) = post_raw(&server, &[("Host", "evil.example:4317"), json], body);
    assert_eq!(status, 403, "DNS rebinding: {why}");
    let (status, _) = request(server.port, "GET", "/api/runs", &[("Host", "evil.example")], None);
    assert_eq!(status, 403, "reads check Host too");
    let (status, _) = request(server.port, "GET", "/", &[("Host", "rebind.evil:80")], None);
    assert_eq!(status, 403, "so does the page");
    let big = format!(r#"{{"script": "{}"}}"#, "x".repeat(2 * 1024 * 1024));
    let (status, _) = request(server.port, "POST", "/api/runs", &[("Host", &host), json], Some(&big));
    assert_eq!(status, 413, "bodies are capped");
}

#[test]
fn off_loopback_the_server_is_read_only_unless_given_a_token() {
    let env = Env::new();
    let body = r#"{"action":"stop"}"#;
    let json = ("Content-Type", "application/json");
    let server = Server::start(&env, &["--host", "0.0.0.0"]);
    let host = server.host();
    let (status, why) = post_raw(&server, &[("Host", &host), json], body);
    assert_eq!(status, 409, "{why}");
    assert!(why.contains("read-only"), "{why}");
    assert_eq!(server.get("/api/runs").0, 200, "reads are served");
    drop(server);

    let token = "s3cret-token-0123456789";
    let server = Server::start(&env, &["--host", "0.0.0.0", "--allow-remote-control", "--token", token]);
    let host = server.host();
    assert_eq!(post_raw(&server, &[("Host", &host), json], body).0, 401, "no token");
    assert_eq!(post_raw(&server, &[("Host", &host), json, ("Authorization", "Bearer wrong")], body).0, 401);
    let bearer = format!("Bearer {token}");
    assert_eq!(
        post_raw(&server, &[("Host", &host), json, ("Authorization", &bearer)], body).0,
        404,
        "accepted"
    );
    drop(server);

    let short = env.odw(&["serve", "--host", "0.0.0.0", "--allow-remote-control", "--token", "short"]);
    assert_eq!(short.code, 2, "{}", short.stderr);
    let loopback = env.odw(&["serve", "--allow-remote-control", "--token", token]);
    assert_eq!(loopback.code, 2, "{}", loopback.stderr);
}

/// What the browser test needs, or how to install it.
fn browser_tools(dir: &Path) {
    let missing = |what: &str, how: &str| panic!("the browser test needs {what}: {how}");
    if Command::new("node").arg("--version").output().is_err() {
        missing("node", "apt-get install -y nodejs npm");
    }
    if !Path::new("/usr/bin/chromium").exists() {
        missing("/usr/bin/chromium", "apt-get install -y chromium");
    }
    if !dir.join("node_modules/playwright-core").is_dir() {
        missing("playwright-core", "(cd tests/browser && npm ci)");
    }
}

#[test]
fn the_page_shows_runs_live_and_stops_one() {
    let browser = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    browser_tools(&browser);
    let env = Env::new();
    let saved = env.path().join(".odw/workflows");
    std::fs::create_dir_all(&saved).unwrap();
    std::fs::write(
        saved.join("quick.js"),
        format!(
            "{}phase('Gather');\nlog('gathering sources');\n\
             await parallel([1, 2, 3, 4, 5, 6].map(i => () => agent(`source ${{i}} sleep:0.${{i}}`, {{ label: `source ${{i}}` }})));\n\
             phase('Review');\nfor (let i = 1; i <= 6; i++) await agent(`check ${{i}} sleep:0.2`, {{ label: `check ${{i}}` }});\n\
             log('all checked');\nreturn {{ verdict: 'ship it' }};\n",
            common::HEADER
        ),
    )
    .unwrap();
    std::fs::write(
        saved.join("slow.js"),
        format!(
            "{}phase('Slow');\nfor (let i = 0; i < 30; i++) await agent(`slow ${{i}} sleep:1`, {{ label: `slow ${{i}}` }});\n",
            common::HEADER
        ),
    )
    .unwrap();
    env.script(
        "inject.js",
        "phase('<b>phase</b>');\nlog('<script>window.__pwned = 2</script><img src=x onerror=\"window.__pwned=3\">');\n\
         await agent('x', { label: '<img src=x onerror=\"window.__pwned=1\">' });\nreturn '<i>done</i>';",
    );
    let server = Server::start(&env, &[]);
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/serve-artifacts");
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).unwrap();
    let out = Command::new("node")
        .arg(browser.join("dashboard.mjs"))
        .env("ODW_URL", format!("http://127.0.0.1:{}/", server.port))
        .env("ODW_BIN", env!("CARGO_BIN_EXE_odw"))
        .env("ODW_DIR", env.path())
        .env("ODW_RUNS", env.runs())
        .env("ODW_CACHE_DIR", cache_dir())
        .env("MOCK_LOG", env.mock_log())
        .env("ARTIFACTS", &artifacts)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the browser test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("latency median"), "{stdout}");
    assert!(artifacts.join("dashboard.png").is_file());
}

#[test]
fn open_hands_the_url_to_the_desktop_opener() {
    let env = Env::new();
    let bin = env.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let opened = env.path().join("opened.txt");
    let opener = bin.join("xdg-open");
    std::fs::write(&opener, format!("#!/bin/sh\nprintf '%s' \"$1\" > '{}'\n", opened.display())).unwrap();
    std::fs::set_permissions(&opener, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let runs = env.runs();
    let mut child = Command::new(env!("CARGO_BIN_EXE_odw"))
        .args(["serve", "--port", "0", "--open", "--runs-root", runs.to_str().unwrap()])
        .current_dir(env.path())
        .env("HOME", env.path())
        .env("ODW_CACHE_DIR", cache_dir())
        .env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default()))
        .stdout(Stdio::piped())
        .spawn()
        .expect("start odw serve");
    let mut url = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut url).unwrap();
    eventually(10, "the opener to run", || std::fs::read_to_string(&opened).is_ok_and(|u| !u.is_empty()));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(std::fs::read_to_string(&opened).unwrap(), url.trim());
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
}
