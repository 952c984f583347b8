//! `kind: "http"`: a model API as an agent, for runs without any CLI: an
//! OpenAI-compatible chat-completions endpoint (`provider: "openai"`, the
//! default: OpenAI, Ollama, llama.cpp's server, vLLM, LM Studio, …) or
//! Anthropic's Messages API (`provider: "anthropic"`).
//!
//! The client is reqwest over rustls ([`client`]): one pooled client per
//! trust setting, shared by every call of the process, so calls to one host
//! reuse their connections. Proxies come from the usual environment
//! variables (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`), which reqwest
//! honours by itself. Trust is the bundled Mozilla roots plus, when set, the
//! PEM bundles of `SSL_CERT_FILE` and the adapter's `caFile`.
//!
//! A call is one POST, retried on 408/409/429/5xx and on connection errors
//! with exponential backoff or the server's `Retry-After`, at most
//! [`retry::MAX_ATTEMPTS`] times and never past the call's `timeout`
//! ([`retry`]). The reply is read in chunks and refused past
//! [`MAX_REPLY_BYTES`], whatever its `Content-Length` says.
//!
//! The API key is read from the environment variable `apiKeyEnv` names, at
//! call time, and only ever goes into a request header marked sensitive (so
//! no `Debug` print shows it): never into the config, events, journal or run
//! files. The engine makes no network connection unless such an adapter is
//! configured and a call uses it.
//!
//! Both providers enforce `opts.schema` natively (a JSON-schema response
//! format; a forced tool) and pass `opts.effort` on, so the scheduler leaves
//! both out of the prompt ([`HttpAdapter::natives`]).

mod anthropic;
mod openai;
mod retry;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use super::executor::MAX_REPLY_BYTES;
use super::{AdapterError, AgentCall, AgentReply};
use crate::config::{AdapterConfig, Provider};
use retry::{Exchange, SendError};

/// A configured model endpoint.
#[derive(Debug, Clone)]
pub struct HttpAdapter {
    name: String,
    config: AdapterConfig,
}

/// How long establishing a connection (TCP and TLS) may take, per attempt:
/// a host that does not answer within this is down or unreachable, and the
/// attempt is retried instead of eating the whole call's timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

impl HttpAdapter {
    pub fn new(name: &str, config: AdapterConfig) -> Self {
        HttpAdapter { name: name.to_string(), config }
    }

    pub fn timeout(&self) -> Option<Duration> {
        self.config.timeout.map(Duration::from_secs_f64)
    }

    /// Both APIs enforce a schema themselves (OpenAI's `response_format`,
    /// Anthropic's forced tool) and take an effort level; neither runs named
    /// agents, so `agentType` stays a persona line in the prompt.
    pub fn natives(&self) -> super::Natives {
        super::Natives { schema: true, effort: true, agent_type: false }
    }

    pub fn url(&self) -> &str {
        self.config.url.as_deref().unwrap_or_default()
    }

    pub fn provider(&self) -> Provider {
        self.config.provider.unwrap_or_default()
    }

    /// The model a call uses: its own, else the adapter's.
    pub fn model<'a>(&'a self, call: &'a AgentCall) -> Option<&'a str> {
        call.model.as_deref().or(self.config.model.as_deref())
    }

    pub fn api_key_env(&self) -> Option<&str> {
        self.config.api_key_env.as_deref()
    }

    fn error(&self, reason: impl Into<String>) -> AdapterError {
        AdapterError::Io { adapter: self.name.clone(), reason: reason.into() }
    }

    /// The script's effort word, through `effortLevels` when it lists it.
    fn effort<'a>(&'a self, call: &'a AgentCall) -> Option<&'a str> {
        let word = call.effort.as_deref()?;
        Some(self.config.effort_levels.get(word).map_or(word, String::as_str))
    }

    pub async fn call(&self, call: &AgentCall) -> Result<AgentReply, AdapterError> {
        let url = reqwest::Url::parse(self.url())
            .map_err(|e| self.error(format!("`adapters.{}.url` {:?}: {e}", self.name, self.url())))?;
        let key =
            match self.api_key_env() {
                Some(var) => Some(std::env::var(var).map_err(|_| {
                    self.error(format!("the API key variable `{var}` (apiKeyEnv) is not set"))
                })?),
                None => None,
            };
        let model = self.model(call);
        let provider = self.provider();
        let body = match provider {
            Provider::Openai => openai::body(call, model, self.effort(call)),
            Provider::Anthropic => {
                let model = model.ok_or_else(|| {
                    self.error(format!(
                        "the Anthropic API needs a model: set `adapters.{}.model` or the call's `model`",
                        self.name
                    ))
                })?;
                let max_tokens = self.config.max_tokens.unwrap_or(anthropic::DEFAULT_MAX_TOKENS);
                anthropic::body(call, model, self.effort(call), max_tokens)
            }
        };
        let headers = headers(provider, key.as_deref()).map_err(|e| self.error(e))?;
        let ca_key = format!("`adapters.{}.caFile`", self.name);
        let client = client(self.config.ca_file.as_deref(), &ca_key).map_err(|e| self.error(e))?;
        let body = body.to_string();
        let request = || client.post(url.clone()).headers(headers.clone()).body(body.clone());
        let exchange = retry::send(request, call.timeout).await.map_err(|e| match e {
            SendError::Timeout => AdapterError::Timeout {
                adapter: self.name.clone(),
                secs: call.timeout.as_secs_f64(),
                killed: false,
                job: None,
            },
            SendError::TooLarge => {
                AdapterError::TooLarge { adapter: self.name.clone(), limit_mb: MAX_REPLY_BYTES >> 20 }
            }
            SendError::Transport { reason, attempts } => {
                self.error(format!("{}: {reason}{}", self.url(), after(attempts)))
            }
        })?;
        let Exchange { status, body, attempts } = exchange;
        let doc: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if !status.is_success() {
            let why = doc["error"]["message"].as_str().map_or_else(
                || String::from_utf8_lossy(&body).trim().chars().take(300).collect(),
                str::to_string,
            );
            return Err(self.error(format!(
                "{} answered HTTP {}{}: {why}",
                self.url(),
                status.as_u16(),
                after(attempts)
            )));
        }
        let reply = match provider {
            Provider::Openai => openai::reply(&doc, call),
            Provider::Anthropic => anthropic::reply(&doc, call),
        };
        reply.map_err(|reason| AdapterError::Reply { adapter: self.name.clone(), reason })
    }
}

fn after(attempts: u32) -> String {
    if attempts > 1 { format!(" (after {attempts} attempts)") } else { String::new() }
}

/// The request headers of `provider`; the key's value is marked sensitive.
fn headers(provider: Provider, key: Option<&str>) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    headers.insert(reqwest::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(reqwest::header::ACCEPT, HeaderValue::from_static("application/json"));
    let (name, value) = match provider {
        Provider::Openai => (reqwest::header::AUTHORIZATION, key.map(|k| format!("Bearer {k}"))),
        Provider::Anthropic => {
            headers.insert("anthropic-version", HeaderValue::from_static(anthropic::VERSION));
            (HeaderName::from_static("x-api-key"), key.map(str::to_string))
        }
    };
    if let Some(value) = value {
        // The error must not quote the value: it is the key.
        let mut value = HeaderValue::from_str(&value)
            .map_err(|_| "the API key holds characters an HTTP header cannot carry".to_string())?;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    Ok(headers)
}

/// The shared client for one trust setting (`caFile`, `SSL_CERT_FILE`),
/// built on first use. reqwest's `Client` is a handle on a connection pool:
/// every call through the same setting reuses its connections.
///
/// An error names the file and where it came from (`ca_key` for `caFile`).
fn client(ca_file: Option<&Path>, ca_key: &str) -> Result<reqwest::Client, String> {
    type Clients = HashMap<(Option<PathBuf>, Option<PathBuf>), reqwest::Client>;
    static CLIENTS: OnceLock<Mutex<Clients>> = OnceLock::new();
    let cert_file = std::env::var_os("SSL_CERT_FILE").filter(|v| !v.is_empty()).map(PathBuf::from);
    let key = (ca_file.map(Path::to_path_buf), cert_file);
    let mut clients = CLIENTS.get_or_init(Mutex::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(client) = clients.get(&key) {
        return Ok(client.clone());
    }
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("odw/", env!("CARGO_PKG_VERSION")));
    for (file, name) in [(&key.1, "SSL_CERT_FILE"), (&key.0, ca_key)] {
        let Some(file) = file else { continue };
        for cert in pem_bundle(file).map_err(|e| format!("{name} {}: {e}", file.display()))? {
            builder = builder.add_root_certificate(cert);
        }
    }
    let client = builder.build().map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
    clients.insert(key, client.clone());
    Ok(client)
}

/// The certificates of a PEM bundle (one or more `BEGIN CERTIFICATE` blocks).
fn pem_bundle(file: &Path) -> Result<Vec<reqwest::Certificate>, String> {
    let pem = std::fs::read(file).map_err(|e| e.to_string())?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| format!("not a PEM bundle: {e}"))?;
    if certs.is_empty() {
        return Err("holds no PEM certificate".into());
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_goes_into_its_providers_header_marked_sensitive() {
        let h = headers(Provider::Openai, Some("k-1")).unwrap();
        assert_eq!(h["authorization"], "Bearer k-1");
        assert!(h["authorization"].is_sensitive());
        assert!(format!("{h:?}").contains("Sensitive") && !format!("{h:?}").contains("k-1"));
        let h = headers(Provider::Anthropic, Some("k-2")).unwrap();
        assert_eq!(
            (&h["x-api-key"], &h["anthropic-version"]),
            (&"k-2".parse().unwrap(), &"2023-06-01".parse().unwrap())
        );
        assert!(!h.contains_key("authorization"));
        assert!(!headers(Provider::Openai, None).unwrap().contains_key("authorization"));
        let e = headers(Provider::Openai, Some("bad\nkey")).unwrap_err();
        assert!(!e.contains("bad"), "{e}");
    }

    #[test]
    fn a_ca_file_must_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        assert_eq!(pem_bundle(&empty).unwrap_err(), "holds no PEM certificate");
        let e = client(Some(&dir.path().join("missing.pem")), "`adapters.x.caFile`").unwrap_err();
        assert!(e.starts_with("`adapters.x.caFile` ") && e.contains("missing.pem"), "{e}");
    }
}
