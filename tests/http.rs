//! End to end: `kind: "http"` adapters through the real `odw` binary against
//! the scripted model server (tests/models/server.py), over plain HTTP and
//! over TLS with a private CA made here with the `openssl` CLI: both
//! providers, native structured output, retries, model routes, and the API
//! key kept out of everything odw writes.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Env, Run, cache_dir};
use serde_json::{Value, json};

/// A recognisable key: searched for in every file a run leaves.
const KEY: &str = "odw-test-key-5d41402abc4b2a76";

/// The scripted model server, stopped when dropped.
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Server {
    fn start(dir: &Path, tls: Option<&Tls>) -> Server {
        let log = dir.join(if tls.is_some() { "tls-server.log" } else { "server.log" });
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/models/server.py");
        let mut command = Command::new("python3");
        command.arg(script).arg(&log).stdout(Stdio::piped());
        if let Some(tls) = tls {
            command.arg("--tls").arg(&tls.cert).arg(&tls.key);
        }
        let mut child = command.spawn().expect("python3 runs the model server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("port line");
        let port = line.trim().strip_prefix("port ").and_then(|p| p.parse().ok()).expect("port N");
        Server { child, port, log }
    }

    fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://127.0.0.1:{}{path}", self.port)
    }

    /// The requests it received, oldest first.
    fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("log line is JSON"))
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private CA and a certificate it signed for 127.0.0.1.
struct Tls {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn make_tls(dir: &Path) -> Tls {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    let ca = format!("req -x509 {ec} -keyout ca.key -out ca.pem -days 2 -subj /CN=odw-test-CA");
    let mut ca: Vec<&str> = ca.split(' ').collect();
    ca.extend([
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(&ca);
    let csr = format!("req {ec} -keyout server.key -out server.csr -subj /CN=localhost");
    openssl(&csr.split(' ').collect::<Vec<_>>());
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext file");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
    Tls { ca: dir.join("ca.pem"), cert: dir.join("server.pem"), key: dir.join("server.key") }
}

/// `odw` with `args` in the test's directory, the key in `ODW_TEST_KEY`,
/// `extra` in the environment and no proxy from the machine's.
fn odw(env: &Env, args: &[&str], extra: &[(&str, &str)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_odw"));
    command
        .args(args)
        .current_dir(env.path())
        .env("HOME", env.path())
        .env("ODW_CACHE_DIR", cache_dir())
        .env("ODW_TEST_KEY", KEY)
        .env_remove("ODW_CONFIG")
        .env_remove("SSL_CERT_FILE");
    for var in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
    ] {
        command.env_remove(var);
    }
    command.envs(extra.iter().copied());
    Run::from(command.output().expect("run odw"))
}

fn run_wait(env: &Env, script: &str, extra_args: &[&str], extra_env: &[(&str, &str)]) -> Run {
    let runs = env.runs();
    let mut args = vec!["run", script, "--wait", "--runs-root", runs.to_str().expect("utf-8 path")];
    args.extend_from_slice(extra_args);
    odw(env, &args, extra_env)
}

fn finished(env: &Env) -> Vec<Value> {
    env.events().into_iter().filter(|e| e["type"] == "agent_finished").collect()
}

/// The key is nowhere in what odw printed or wrote: run directory (events,
/// journal, prompts), config, home, caches under the test directory.
fn assert_key_absent(dir: &Path, run: &Run) {
    assert!(!run.stdout.contains(KEY) && !run.stderr.contains(KEY), "the key was printed");
    let mut files = 0;
    for file in walk(dir) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
            "the key leaked into {}",
            file.display()
        );
        files += 1;
    }
    assert!(files > 5, "only {files} files searched");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() { out.extend(walk(&path)) } else { out.push(path) }
    }
    out
}

const SCHEMA: &str = "{ type: 'object', properties: { n: { type: 'integer' }, tag: { type: 'string' } }, \
                      required: ['n', 'tag'] }";

#[test]
fn openai_chat_over_plain_http_with_native_schema_effort_and_usage() {
    let env = Env::new();
    let server = Server::start(env.path(), None);
    let env = Env::with_config(json!({
        "defaultAdapter": "oa",
        "adapters": { "oa": { "kind": "http", "url": server.url("http", "/v1/chat/completions"),
                              "model": "gpt-test", "apiKeyEnv": "ODW_TEST_KEY" } }
    }));
    let script = env.script(
        "wf.js",
        &format!(
            "return [await agent('TASK hello'), await agent('TASK shape', {{ schema: {SCHEMA}, effort: 'max' }})];"
        ),
    );
    let out = run_wait(&env, &script, &[], &[]);
    assert_eq!(out.json(), json!(["done: hello", { "n": 7, "tag": "r.tag-ok" }]));
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!((&requests[0]["api"], &requests[0]["model"]), (&json!("chat"), &json!("gpt-test")));
    assert_eq!((&requests[0]["auth"], &requests[0]["key_header"]), (&json!(true), &json!("authorization")));
    let structured = &requests[1]["body"];
    assert_eq!(structured["reasoning_effort"], "high");
    assert_eq!(structured["response_format"]["type"], "json_schema");
    assert_eq!(structured["response_format"]["json_schema"]["schema"]["required"], json!(["n", "tag"]));
    // Native: the schema is not also in the prompt.
    let prompt = structured["messages"][0]["content"].as_str().unwrap_or_default();
    assert!(!prompt.contains("JSON Schema:"), "{prompt}");
    for done in finished(&env) {
        assert_eq!(done["usage"], json!({"input": 21, "output": 8, "estimated": false}));
    }
    assert_key_absent(env.path(), &out);
}

#[test]
fn anthropic_over_tls_trusts_a_private_ca_from_ca_file_or_ssl_cert_file() {
    let env = Env::new();
    let tls = make_tls(env.path());
    let server = Server::start(env.path(), Some(&tls));
    let adapter = |ca: Option<&Path>| {
        let mut a = json!({ "kind": "http", "provider": "anthropic", "url": server.url("https", "/v1/messages"),
                            "model": "claude-test", "apiKeyEnv": "ODW_TEST_KEY", "maxTokens": 512 });
        if let Some(ca) = ca {
            a["caFile"] = json!(ca);
        }
        a
    };
    let env = Env::with_config(json!({
        "defaultAdapter": "an",
        "adapters": { "an": adapter(Some(&tls.ca)), "untrusted": adapter(None) }
    }));
    let script = env.script(
        "wf.js",
        &format!("return [await agent('TASK hi'), await agent('TASK shape', {{ schema: {SCHEMA}, effort: 'high' }})];"),
    );
    let out = run_wait(&env, &script, &[], &[]);
    assert_eq!(out.json(), json!(["done: hi", { "n": 7, "tag": "r.tag-ok" }]));
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    for r in &requests {
        assert_eq!(
            (&r["api"], &r["model"], &r["version"]),
            (&json!("anthropic"), &json!("claude-test"), &json!("2023-06-01"))
        );
        assert_eq!(r["key_header"], "x-api-key");
        assert_eq!(r["body"]["max_tokens"], 512);
    }
    let body = &requests[1]["body"];
    assert_eq!(body["tools"][0]["name"], "structured_output");
    assert_eq!(body["tools"][0]["input_schema"]["required"], json!(["n", "tag"]));
    assert_eq!(body["tool_choice"], json!({"type": "tool", "name": "structured_output"}));
    assert_eq!(body["output_config"], json!({"effort": "high"}));
    for done in finished(&env) {
        assert_eq!(done["usage"], json!({"input": 21, "output": 8, "estimated": false}));
    }
    assert_key_absent(env.path(), &out);

    // A failed agent() resolves null (as in Claude Code): the scripts that
    // must fail throw on null, and the progress line names the cause.
    // The bundled roots alone do not trust the private CA...
    let one = env.script(
        "one.js",
        "const r = await agent('TASK hi');\nif (r === null) throw new Error('the agent failed');\nreturn r;",
    );
    // (a schema call: its failure rejects with the whole message)
    let strict = env.script("strict.js", "return await agent('TASK hi', { schema: { type: 'object' } });");
    let refused = run_wait(&env, &strict, &["--adapter", "untrusted"], &[]);
    refused.fails_with(&["`untrusted`", "certificate"]);
    // Not retried: the next attempt would refuse the certificate again.
    assert!(!refused.stderr.contains("attempts"), "{}", refused.stderr);
    assert_eq!(server.requests().len(), 2, "no request got through");
    // ...and `SSL_CERT_FILE` adds it for every adapter.
    let ca = tls.ca.to_str().expect("utf-8 path");
    let trusted = run_wait(&env, &one, &["--adapter", "untrusted"], &[("SSL_CERT_FILE", ca)]);
    assert_eq!(trusted.json(), json!("done: hi"));
}

#[test]
fn rate_limits_wait_for_retry_after_and_server_errors_give_up_after_four_attempts() {
    let env = Env::new();
    let server = Server::start(env.path(), None);
    let env = Env::with_config(json!({
        "defaultAdapter": "oa",
        "adapters": { "oa": { "kind": "http", "url": server.url("http", "/v1/chat/completions") } }
    }));
    let busy = env.script("busy.js", "return await agent('TASK busy=2 then fine');");
    let started = Instant::now();
    let out = run_wait(&env, &busy, &[], &[]);
    assert_eq!(out.json(), json!("done: busy=2 then fine"));
    // Two 429s with `Retry-After: 1`: a second each, not the 0.5 s backoff.
    assert!(started.elapsed() >= Duration::from_secs(2), "{:?}", started.elapsed());
    assert_eq!(server.requests().len(), 3);

    let broken = env.script("broken.js", "const r = await agent('TASK status=500');\nif (r === null) throw new Error('the agent failed');\nreturn r;");
    let out = run_wait(&env, &broken, &[], &[]);
    out.fails_with(&["answered HTTP 500 (after 4 attempts): scripted status 500"]);
    assert_eq!(server.requests().len(), 3 + 4);

    // A client error is final at once.
    let bad = env.script("bad.js", "const r = await agent('TASK status=400');\nif (r === null) throw new Error('the agent failed');\nreturn r;");
    let out = run_wait(&env, &bad, &[], &[]);
    out.fails_with(&["answered HTTP 400: scripted status 400"]);
    assert_eq!(server.requests().len(), 3 + 4 + 1);
}

#[test]
fn routes_send_a_calls_model_to_its_adapter_unless_an_adapter_is_named() {
    let env = Env::new();
    let server = Server::start(env.path(), None);
    let env = Env::with_config(json!({
        "defaultAdapter": "echo",
        "adapters": {
            "anthropic": { "kind": "http", "provider": "anthropic", "url": server.url("http", "/v1/messages") },
            "local": { "kind": "http", "url": server.url("http", "/v1/chat/completions") }
        },
        "routes": [
            { "match": "claude-*", "adapter": "anthropic" },
            { "match": "ollama/*", "adapter": "local", "stripPrefix": true }
        ]
    }));
    let script = env.script(
        "wf.js",
        "return [await agent('TASK a', { model: 'claude-sonnet-4-5' }), \
                 await agent('TASK b', { model: 'ollama/llama3' }), \
                 await agent('TASK c', { model: 'claude-x', adapter: 'echo' }), \
                 await agent('TASK d', { model: 'mistral' }), await agent('TASK e')];",
    );
    let out = run_wait(&env, &script, &[], &[]);
    assert_eq!(out.json(), json!(["done: a", "done: b", "TASK c", "TASK d", "TASK e"]));
    let seen: Vec<(Value, Value)> =
        server.requests().iter().map(|r| (r["api"].clone(), r["model"].clone())).collect();
    assert_eq!(seen, [(json!("anthropic"), json!("claude-sonnet-4-5")), (json!("chat"), json!("llama3"))]);
    let adapters: Vec<Value> = finished(&env).iter().map(|e| e["adapter"].clone()).collect();
    assert_eq!(adapters, json!(["anthropic", "local", "echo", "echo", "echo"]).as_array().cloned().unwrap());

    // `--adapter` wins over the routes.
    let one = env.script("one.js", "return await agent('TASK f', { model: 'claude-sonnet-4-5' });");
    let out = run_wait(&env, &one, &["--adapter", "echo"], &[]);
    assert_eq!(out.json(), json!("TASK f"));
    assert_eq!(server.requests().len(), 2);

    let listed = odw(&env, &["adapters"], &[]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    for line in ["claude-* -> anthropic", "ollama/* -> local (prefix stripped)", "(Anthropic Messages)"] {
        assert!(listed.stdout.contains(line), "missing {line:?} in:\n{}", listed.stdout);
    }
    let listed: Value = serde_json::from_str(&odw(&env, &["adapters", "--json"], &[]).stdout).expect("json");
    assert_eq!(listed["routes"][1], json!({"match": "ollama/*", "adapter": "local", "stripPrefix": true}));
}

#[test]
fn the_proxy_from_the_environment_is_used_and_no_proxy_bypasses_it() {
    let env = Env::new();
    let server = Server::start(env.path(), None);
    // A host that does not resolve: only a proxy can answer for it.
    let env = Env::with_config(json!({
        "defaultAdapter": "far",
        "adapters": { "far": { "kind": "http", "url": "http://odw-proxy-test.invalid/v1/chat/completions" } }
    }));
    let script = env.script("wf.js", "const r = await agent('TASK through the proxy');\nif (r === null) throw new Error('the agent failed');\nreturn r;");
    let proxy = server.url("http", "");
    let out = run_wait(&env, &script, &[], &[("HTTP_PROXY", &proxy)]);
    assert_eq!(out.json(), json!("done: through the proxy"));
    // The proxy saw the absolute URL of the real host.
    assert_eq!(server.requests()[0]["path"], "http://odw-proxy-test.invalid/v1/chat/completions");
    let out = run_wait(&env, &script, &[], &[("HTTP_PROXY", &proxy), ("NO_PROXY", ".invalid")]);
    out.fails_with(&["`far`", "odw-proxy-test.invalid"]);
    assert_eq!(server.requests().len(), 1);
}
