//! Who may read and who may act: the checks every request passes before a
//! handler sees it.
//!
//! The dashboard controls real processes (agents that edit code, spend
//! tokens) and shows prompts and replies about private code, so the server
//! assumes the browser that talks to it also visits hostile pages. What each
//! check stops:
//!
//! | check | on | refusal | stops |
//! |---|---|---|---|
//! | bound off loopback without `--allow-remote-control` | writes | 409 | anyone on the network acting on runs: such a server is read-only |
//! | `Authorization: Bearer <token>` with `--allow-remote-control` | writes | 401 | network clients without the token |
//! | peer address is loopback (bound to loopback) | writes | 403 | a proxy or forward that relays others' requests in |
//! | `Host` is `localhost` or a loopback literal (bound to loopback) | all | 403 | DNS rebinding: a hostile page whose name resolves to 127.0.0.1 sends its own name as `Host` |
//! | `Origin`, when sent, is this server's own | writes | 403 | cross-site requests from a page in the user's browser (CSRF) |
//! | `Content-Type: application/json` | writes | 415 | "simple" cross-site form posts, which browsers send without a CORS preflight |
//! | bodies at most [`MAX_BODY`] | all | 413 | memory exhaustion (applied as a layer in [`super::router`]) |
//!
//! A request without `Origin` is not a browser's cross-site request
//! (browsers send `Origin` on every cross-origin request and every POST), so
//! it passes that check: curl and scripts on this machine could write the
//! control file themselves anyway. The server never sends CORS headers, so
//! no other origin can read its answers either.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::api::ApiError;

/// The largest request body: an inline workflow script with its args.
pub const MAX_BODY: usize = 1024 * 1024;

/// How far the server is exposed, from `--host` and `--allow-remote-control`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exposure {
    /// Bound to a loopback address: reads and writes, from this machine only.
    Loopback,
    /// Bound off loopback: reads only; writes are refused with 409.
    ReadOnly,
    /// Bound off loopback with `--allow-remote-control`: writes need this
    /// bearer token.
    RemoteControl { token: String },
}

impl Exposure {
    /// The exposure of a server bound to `ip`, or why the flags do not fit.
    pub fn of(ip: IpAddr, token: Option<String>) -> Result<Exposure, String> {
        match (ip.is_loopback(), token) {
            (true, None) => Ok(Exposure::Loopback),
            (true, Some(_)) => Err("--allow-remote-control needs a --host that is not loopback".into()),
            (false, None) => Ok(Exposure::ReadOnly),
            (false, Some(t)) if t.chars().count() < 16 => {
                Err("--token must be at least 16 characters (it guards control of your runs)".into())
            }
            (false, Some(token)) => Ok(Exposure::RemoteControl { token }),
        }
    }
}

/// A refusal: the status and a message saying what to change.
type Refusal = (StatusCode, String);

/// Every request: when bound to loopback, `Host` must name loopback.
pub async fn reads(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    if state.exposure == Exposure::Loopback
        && let Err((status, message)) = check_host(request.headers())
    {
        return ApiError(status, message).into_response();
    }
    next.run(request).await
}

/// Requests that change something: start a run, pause, resume or stop one.
pub async fn writes(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    match check_write(&state.exposure, peer.ip(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err((status, message)) => ApiError(status, message).into_response(),
    }
}

/// The write checks, in the order of the table in the module doc.
pub fn check_write(exposure: &Exposure, peer: IpAddr, headers: &HeaderMap) -> Result<(), Refusal> {
    match exposure {
        Exposure::ReadOnly => {
            return Err((
                StatusCode::CONFLICT,
                "this server is read-only: it is bound off loopback; restart it with \
                 --allow-remote-control --token TOKEN to accept changes"
                    .into(),
            ));
        }
        Exposure::RemoteControl { token } => {
            let given = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or("");
            // Compared as hashes: constant time, whatever the lengths.
            if blake3::hash(given.as_bytes()) != blake3::hash(token.as_bytes()) {
                return Err((StatusCode::UNAUTHORIZED, "a write needs `Authorization: Bearer TOKEN`".into()));
            }
        }
        Exposure::Loopback => {
            if !peer.to_canonical().is_loopback() {
                return Err((StatusCode::FORBIDDEN, "writes are accepted from this machine only".into()));
            }
            check_host(headers)?;
        }
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        if !same_origin(origin, host) {
            return Err((StatusCode::FORBIDDEN, format!("cross-origin request refused (Origin {origin:?})")));
        }
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the body as Content-Type: application/json".into(),
        ));
    }
    Ok(())
}

fn check_host(headers: &HeaderMap) -> Result<(), Refusal> {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    if loopback_host(host) {
        Ok(())
    } else {
        Err((
            StatusCode::FORBIDDEN,
            format!(
                "Host {host:?} is not this machine: open the dashboard as http://127.0.0.1 or http://localhost"
            ),
        ))
    }
}

/// Whether a `Host` header names this machine: `localhost` or a loopback
/// address, with any port. Any other name could be an attacker's DNS name
/// rebound to 127.0.0.1.
pub fn loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((inside, port)) if port.is_empty() || is_port(port) => inside,
            _ => return false,
        },
        None => match host.rsplit_once(':') {
            Some((name, port)) if is_port(port) => name,
            Some(_) => return false,
            None => host,
        },
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn is_port(text: &str) -> bool {
    text.strip_prefix(':').unwrap_or(text).parse::<u16>().is_ok()
}

/// Whether `origin` is the origin of the page this server served under
/// `host` (the server speaks plain HTTP only).
fn same_origin(origin: &str, host: &str) -> bool {
    !host.is_empty() && origin.eq_ignore_ascii_case(&format!("http://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn only_loopback_names_pass_the_host_check() {
        for ok in ["127.0.0.1:4317", "localhost:4317", "LOCALHOST", "[::1]:80", "127.9.9.9", "[::1]"] {
            assert!(loopback_host(ok), "{ok}");
        }
        for bad in ["evil.example:4317", "", "10.0.0.1:4317", "localhost.evil:1", "[::1]x", "127.0.0.1:http"]
        {
            assert!(!loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn writes_are_refused_in_the_documented_order() {
        use header::{AUTHORIZATION, CONTENT_TYPE, HOST, ORIGIN};
        let good = [(HOST, "127.0.0.1:1"), (CONTENT_TYPE, "application/json; charset=utf-8")];
        assert_eq!(check_write(&Exposure::Loopback, LOCAL, &headers(&good)), Ok(()));
        let status = |e: &Exposure, peer, h: &[(header::HeaderName, &str)]| {
            check_write(e, peer, &headers(h)).err().map(|(s, _)| s.as_u16())
        };
        let remote: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(status(&Exposure::ReadOnly, LOCAL, &good), Some(409));
        assert_eq!(status(&Exposure::Loopback, remote, &good), Some(403));
        assert_eq!(status(&Exposure::Loopback, LOCAL, &[(HOST, "evil:1"), good[1].clone()]), Some(403));
        let cross = [good[0].clone(), good[1].clone(), (ORIGIN, "http://evil.example")];
        assert_eq!(status(&Exposure::Loopback, LOCAL, &cross), Some(403));
        let same = [good[0].clone(), good[1].clone(), (ORIGIN, "http://127.0.0.1:1")];
        assert_eq!(status(&Exposure::Loopback, LOCAL, &same), None);
        assert_eq!(
            status(&Exposure::Loopback, LOCAL, &[(HOST, "127.0.0.1:1"), (CONTENT_TYPE, "text/plain")]),
            Some(415)
        );
        let control = Exposure::RemoteControl { token: "0123456789abcdef".into() };
        let on_net = [(HOST, "dash.example:4317"), good[1].clone()];
        assert_eq!(status(&control, remote, &on_net), Some(401));
        let bearer = [on_net[0].clone(), on_net[1].clone(), (AUTHORIZATION, "Bearer 0123456789abcdef")];
        assert_eq!(status(&control, remote, &bearer), None);
    }

    #[test]
    fn remote_control_needs_a_long_token_and_a_network_address() {
        let net: IpAddr = "0.0.0.0".parse().unwrap();
        assert_eq!(Exposure::of(LOCAL, None), Ok(Exposure::Loopback));
        assert_eq!(Exposure::of(net, None), Ok(Exposure::ReadOnly));
        assert!(Exposure::of(net, Some("short".into())).is_err());
        assert!(Exposure::of(LOCAL, Some("0123456789abcdef".into())).is_err());
    }
}
