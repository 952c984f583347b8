//! `kind: "http"`: an OpenAI-compatible chat-completions endpoint (Ollama,
//! llama.cpp's server, vLLM, LM Studio, …) as an agent, for local-first runs
//! without any CLI.
//!
//! The client is a minimal HTTP/1.1 POST written here over tokio's
//! `TcpStream`, for `http://` URLs only: the endpoints this is for listen on
//! plain HTTP on the local machine or network, and a TLS stack would double
//! odw's dependency tree for it. An `https://` URL is a clear error (a local
//! TLS-terminating proxy bridges to hosted APIs). The API key is read from
//! the named environment variable at call time and only ever goes into the
//! request header: never into the config, events, journal or run files.
//!
//! The engine makes no network connection unless such an adapter is
//! configured and a call uses it.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::command::MAX_REPLY_BYTES;
use super::{AdapterError, AgentCall, AgentReply, estimate_usage};
use crate::config::AdapterConfig;
use crate::protocol::Usage;

/// A configured chat endpoint.
#[derive(Debug, Clone)]
pub struct HttpAdapter {
    name: String,
    config: AdapterConfig,
}

/// The parts of an `http://host[:port]/path` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    host: String,
    port: u16,
    path: String,
}

impl HttpAdapter {
    pub fn new(name: &str, config: AdapterConfig) -> Self {
        HttpAdapter { name: name.to_string(), config }
    }

    pub fn timeout(&self) -> Option<Duration> {
        self.config.timeout.map(Duration::from_secs_f64)
    }

    /// Chat completions carry no option natively here yet: the schema goes
    /// in the prompt.
    pub fn natives(&self) -> super::Natives {
        super::Natives::default()
    }

    pub fn url(&self) -> &str {
        self.config.url.as_deref().unwrap_or_default()
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

    pub async fn call(&self, call: &AgentCall) -> Result<AgentReply, AdapterError> {
        let target = parse_url(self.url()).map_err(|e| self.error(e))?;
        let key =
            match self.api_key_env() {
                Some(var) => Some(std::env::var(var).map_err(|_| {
                    self.error(format!("the API key variable `{var}` (apiKeyEnv) is not set"))
                })?),
                None => None,
            };
        let mut body = json!({
            "messages": [{ "role": "user", "content": call.prompt }],
            "stream": false,
        });
        if let Some(model) = self.model(call) {
            body["model"] = json!(model);
        }
        let body = body.to_string();
        let mut request = format!(
            "POST {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: odw/{}\r\nContent-Type: application/json\r\n\
             Accept: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
            target.path,
            target.host,
            target.port,
            env!("CARGO_PKG_VERSION"),
            body.len()
        );
        if let Some(key) = &key {
            request.push_str(&format!("Authorization: Bearer {key}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(&body);

        let exchange = async {
            let mut stream = TcpStream::connect((target.host.as_str(), target.port))
                .await
                .map_err(|e| self.error(format!("cannot connect to {}: {e}", self.url())))?;
            stream.write_all(request.as_bytes()).await.map_err(|e| self.error(format!("sending: {e}")))?;
            let mut raw = Vec::new();
            (&mut stream)
                .take(MAX_REPLY_BYTES as u64 + 1)
                .read_to_end(&mut raw)
                .await
                .map_err(|e| self.error(format!("reading the response: {e}")))?;
            Ok::<_, AdapterError>(raw)
        };
        let raw = tokio::time::timeout(call.timeout, exchange).await.map_err(|_| {
            AdapterError::Timeout { adapter: self.name.clone(), secs: call.timeout.as_secs_f64() }
        })??;
        if raw.len() > MAX_REPLY_BYTES {
            return Err(AdapterError::TooLarge {
                adapter: self.name.clone(),
                limit_mb: MAX_REPLY_BYTES >> 20,
            });
        }
        let (status, body) = parse_response(&raw).map_err(|e| self.error(e))?;
        let doc: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            let why = doc["error"]["message"].as_str().map_or_else(
                || String::from_utf8_lossy(&body).trim().chars().take(300).collect(),
                str::to_string,
            );
            return Err(self.error(format!("{} answered HTTP {status}: {why}", self.url())));
        }
        reply(&doc, &call.prompt).map_err(|e| self.error(e))
    }
}

/// The reply and usage of a chat-completions response.
fn reply(doc: &Value, prompt: &str) -> Result<AgentReply, String> {
    let message = &doc["choices"][0]["message"];
    let text = message["content"]
        .as_str()
        .ok_or_else(|| "the response has no `choices[0].message.content`".to_string())?
        .to_string();
    let usage = match doc["usage"].as_object() {
        Some(u) => Usage {
            input: u.get("prompt_tokens").and_then(Value::as_u64).unwrap_or(0),
            output: u.get("completion_tokens").and_then(Value::as_u64).unwrap_or(0),
            estimated: false,
        },
        None => estimate_usage(prompt, &text),
    };
    Ok(AgentReply { text, usage, structured: None })
}

fn parse_url(url: &str) -> Result<Target, String> {
    if url.starts_with("https://") {
        return Err(format!(
            "{url}: odw's http adapter speaks plain HTTP only (for local endpoints); \
             use an http:// URL, or a local TLS-terminating proxy for a hosted API"
        ));
    }
    let rest =
        url.strip_prefix("http://").ok_or_else(|| format!("{url}: the url must start with http://"))?;
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
            (h, p.parse::<u16>().map_err(|_| format!("{url}: bad port `{p}`"))?)
        }
        _ => (authority, 80),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("{url}: no host"));
    }
    Ok(Target { host: host.to_string(), port, path: path.to_string() })
}

/// The status code and body of an HTTP/1.1 response read to its end.
fn parse_response(raw: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let end =
        raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or("the endpoint sent no complete HTTP response")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or("the endpoint sent a malformed status line")?;
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked") {
            chunked = true;
        } else if name.eq_ignore_ascii_case("content-length") {
            length = value.parse::<usize>().ok();
        }
    }
    let body = &raw[end + 4..];
    let body = if chunked {
        dechunk(body)?
    } else {
        body[..length.map_or(body.len(), |n| n.min(body.len()))].to_vec()
    };
    Ok((status, body))
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").ok_or("truncated chunked body")?;
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| "bad chunk size")?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size {
            return Err("truncated chunked body".into());
        }
        out.extend_from_slice(&body[..size]);
        body = body.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_plain_http_only() {
        assert_eq!(
            parse_url("http://127.0.0.1:11434/v1/chat/completions").unwrap(),
            Target { host: "127.0.0.1".into(), port: 11434, path: "/v1/chat/completions".into() }
        );
        assert_eq!(parse_url("http://localhost").unwrap().port, 80);
        assert!(parse_url("https://api.example.com/v1").unwrap_err().contains("plain HTTP only"));
        assert!(parse_url("ftp://x").is_err());
    }

    #[test]
    fn responses_with_length_or_chunks_are_read() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}junk";
        assert_eq!(parse_response(plain).unwrap(), (200, b"{}".to_vec()));
        let chunked =
            b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap(), (404, b"abcde".to_vec()));
    }

    #[test]
    fn reply_takes_content_and_usage() {
        let doc = json!({"choices": [{"message": {"role": "assistant", "content": "hi"}}],
                         "usage": {"prompt_tokens": 12, "completion_tokens": 3}});
        let r = reply(&doc, "p").unwrap();
        assert_eq!((r.text.as_str(), r.usage), ("hi", Usage { input: 12, output: 3, estimated: false }));
        assert!(reply(&json!({"choices": []}), "p").is_err());
    }
}
