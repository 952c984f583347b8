//! Sending one request with retries, and reading its reply within the cap.
//!
//! The policy, as the providers' own SDKs have it: a reply of 408, 409, 429
//! or 5xx, or a failure to connect or to read the reply, is tried again, up
//! to [`MAX_ATTEMPTS`] in all. The wait before the next attempt is the
//! server's `Retry-After` (seconds or an HTTP date) when it sends one, else
//! 0.5 s doubling. The whole exchange, waits included, stays within the
//! call's timeout: a wait that would pass it ends the retries at once with
//! the last answer, so a rate-limited call fails in time instead of hanging.
//! Any other status (400, 401, 404, …) is the caller's to report: trying it
//! again would get the same answer. So is a connection the client itself
//! refused (a certificate it does not trust, a protocol error): the next
//! attempt would refuse it again.

use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{RequestBuilder, StatusCode};

use super::MAX_REPLY_BYTES;

/// Attempts per call, the first included.
pub(super) const MAX_ATTEMPTS: u32 = 4;
/// The first backoff wait; each retry doubles it.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// The answer an exchange ended with.
#[derive(Debug)]
pub(super) struct Exchange {
    pub(super) status: StatusCode,
    pub(super) body: Vec<u8>,
    pub(super) attempts: u32,
}

/// Why an exchange got no answer.
#[derive(Debug, PartialEq)]
pub(super) enum SendError {
    /// The call's timeout passed.
    Timeout,
    /// The reply was larger than [`MAX_REPLY_BYTES`].
    TooLarge,
    /// No connection, or it broke; after `attempts` tries.
    Transport { reason: String, attempts: u32 },
}

/// Sends the request `request` builds (afresh for each attempt) until it
/// gets an answer not worth retrying, runs out of attempts, or `timeout`.
pub(super) async fn send(
    request: impl Fn() -> RequestBuilder,
    timeout: Duration,
) -> Result<Exchange, SendError> {
    let deadline = Instant::now() + timeout;
    let mut attempt = 1;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let outcome =
            tokio::time::timeout(remaining, exchange(request())).await.map_err(|_| SendError::Timeout)?;
        let (wait, last) = match outcome {
            Ok((status, headers, body)) => {
                let answer = Exchange { status, body, attempts: attempt };
                if !retryable(status) {
                    return Ok(answer);
                }
                let wait = retry_after(&headers, SystemTime::now()).unwrap_or_else(|| backoff(attempt));
                (wait, Ok(answer))
            }
            Err(Failure::TooLarge) => return Err(SendError::TooLarge),
            Err(Failure::Refused(reason)) => return Err(SendError::Transport { reason, attempts: attempt }),
            Err(Failure::Transport(reason)) => {
                (backoff(attempt), Err(SendError::Transport { reason, attempts: attempt }))
            }
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        if attempt >= MAX_ATTEMPTS || wait >= remaining {
            return last;
        }
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

enum Failure {
    TooLarge,
    /// Worth another attempt: refused, reset, unreachable.
    Transport(String),
    /// Not worth one: the client refused what the server sent.
    Refused(String),
}

impl Failure {
    /// A transport error, `Refused` when the client itself rejected the
    /// peer: rustls reports an untrusted certificate or a TLS protocol
    /// error as an I/O error of kind `InvalidData`, which hyper wraps in
    /// another I/O error (whose `source()` skips it: hence `get_ref`).
    fn of(e: &reqwest::Error) -> Failure {
        let mut next = std::error::Error::source(e);
        while let Some(cause) = next {
            let io = cause.downcast_ref::<std::io::Error>();
            if io.is_some_and(|io| io.kind() == std::io::ErrorKind::InvalidData) {
                return Failure::Refused(describe(e));
            }
            next = match io.and_then(std::io::Error::get_ref) {
                Some(inner) => Some(inner),
                None => cause.source(),
            };
        }
        Failure::Transport(describe(e))
    }
}

/// One attempt: the status, headers and body, the body read chunk by chunk
/// and refused as soon as it passes the cap (a `Content-Length` may lie, or
/// be absent).
async fn exchange(request: RequestBuilder) -> Result<(StatusCode, HeaderMap, Vec<u8>), Failure> {
    let mut response = request.send().await.map_err(|e| Failure::of(&e))?;
    let status = response.status();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| Failure::of(&e))? {
        if body.len() + chunk.len() > MAX_REPLY_BYTES {
            return Err(Failure::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, headers, body))
}

/// A reqwest error with its causes: "error sending request" alone does not
/// say that the certificate was refused or the port closed.
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Statuses that may succeed when asked again: timeout, conflict (OpenAI's
/// lock contention), rate limit, server errors (Anthropic's 529 overloaded
/// among them).
fn retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 409 | 429) || status.is_server_error()
}

/// The wait before attempt `attempt + 1`: 0.5 s, 1 s, 2 s, …
fn backoff(attempt: u32) -> Duration {
    FIRST_BACKOFF * 2u32.saturating_pow(attempt.saturating_sub(1).min(16))
}

/// The server's `Retry-After`: whole seconds, or an HTTP date (a date in
/// the past means now).
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_retry_after(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, value.parse().unwrap());
        h
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(retry_after(&with_retry_after("3"), now), Some(Duration::from_secs(3)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(20));
        assert_eq!(retry_after(&with_retry_after(&later), now), Some(Duration::from_secs(20)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(20));
        assert_eq!(retry_after(&with_retry_after(&past), now), Some(Duration::ZERO));
        assert_eq!(retry_after(&with_retry_after("soon"), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn only_transient_statuses_are_retried_with_doubling_waits() {
        for code in [408, 409, 429, 500, 502, 503, 529] {
            assert!(retryable(StatusCode::from_u16(code).unwrap()), "{code}");
        }
        for code in [200, 400, 401, 403, 404, 422] {
            assert!(!retryable(StatusCode::from_u16(code).unwrap()), "{code}");
        }
        let waits: Vec<u128> = (1..=4).map(|a| backoff(a).as_millis()).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000]);
        assert!(backoff(u32::MAX) > Duration::ZERO);
    }

    /// A connection refused every time: retried, then reported with the
    /// count; a timeout shorter than the backoff ends it early.
    #[tokio::test]
    async fn connection_errors_are_retried_within_the_timeout() {
        // A port nothing listens on: bind, note it, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let client = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{port}/");
        let started = Instant::now();
        let e = send(|| client.post(&url), Duration::from_secs(10)).await.unwrap_err();
        assert!(matches!(&e, SendError::Transport { attempts: 4, .. }), "{e:?}");
        // 0.5 + 1 + 2 s of backoff.
        assert!(started.elapsed() >= Duration::from_millis(3500), "{:?}", started.elapsed());
        let e = send(|| client.post(&url), Duration::from_millis(700)).await.unwrap_err();
        assert!(matches!(&e, SendError::Transport { attempts: 2, .. }), "{e:?}");
    }
}
