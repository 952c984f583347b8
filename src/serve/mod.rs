//! `odw serve`: a web dashboard of the runs under the runs root.
//!
//! One page (`page.html`, `page.js`, `page.css`, embedded in the binary; no
//! build step, no external assets) lists the runs and draws one as a live
//! graph: phase columns of agent cards, log lines, the result, and
//! pause/resume/stop. It folds the run's events itself, from the JSON API
//! ([`api`]) and the live stream ([`stream`]); it never polls.
//!
//! The server holds no state of its own beyond the stream's buffer: every
//! answer is read from the run directories through the engine's `RunDir`,
//! and every change goes through the same functions as the CLI (`odw run`'s
//! background start, the control file of `odw pause|resume|stop`), so runs
//! started or stopped from a terminal and from the page are the same runs.
//!
//! Security is in [`guard`]: loopback by default, writes only from this
//! machine with a same-origin JSON request and a loopback `Host`; bound off
//! loopback the server is read-only (writes answer 409) unless started with
//! `--allow-remote-control --token TOKEN`.

mod api;
mod guard;
mod stream;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::limit::RequestBodyLimitLayer;

use odw_engine::Config;
use odw_engine::sandbox::Sandbox;

use crate::cli::{Global, ServeArgs};
use crate::commands::{cache_dir, config, runs_root, sandbox};
use crate::report::{self, Exit, outln};
use guard::Exposure;

/// What every handler shares.
pub struct AppState {
    runs_root: PathBuf,
    config: Config,
    /// Where runs started from the page work: the server's directory, as
    /// for `odw run` typed there.
    workspace: PathBuf,
    exposure: Exposure,
    sandbox: &'static Sandbox,
    hub: Arc<stream::Hub>,
    /// Inline scripts of `POST /api/runs`, by hash: private to this user,
    /// under odw's cache directory (none without a home directory).
    inline_dir: Option<PathBuf>,
}

impl AppState {
    /// Stores an inline script by its hash in [`AppState::inline_dir`], as
    /// every inline script is stored ([`crate::commands::run::inline_script_in`]).
    fn store_inline(&self, source: &str) -> std::io::Result<PathBuf> {
        crate::commands::run::inline_script_in(self.inline_dir.as_deref(), source)
    }
}

/// The router: the page, the JSON API and the stream, behind the guards.
pub fn router(state: Arc<AppState>) -> Router {
    let writes = Router::new()
        .route("/api/runs", post(api::start))
        .route("/api/runs/{id}/control", post(api::control))
        .route_layer(from_fn_with_state(state.clone(), guard::writes));
    Router::new()
        .route("/", get(page))
        .route("/runs/{id}", get(page))
        .route("/runs/{id}/report", get(api::report))
        .route("/page.js", get(script))
        .route("/page.css", get(style))
        .route("/api/runs", get(api::runs))
        .route("/api/runs/{id}", get(api::one))
        .route("/api/runs/{id}/events", get(api::events))
        .route("/api/runs/{id}/result", get(api::result))
        .route("/api/runs/{id}/journal", get(api::journal))
        .route("/api/stream", get(stream::stream))
        .merge(writes)
        .layer(from_fn_with_state(state.clone(), guard::reads))
        .layer(RequestBodyLimitLayer::new(guard::MAX_BODY))
        .with_state(state)
}

const PAGE: &str = include_str!("page.html");
const SCRIPT: &str = include_str!("page.js");
const STYLE: &str = include_str!("page.css");

/// Nothing but this server's own script and style runs or loads in the
/// page, so even text that slipped past `textContent` could not execute.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

async fn page() -> Response {
    asset(PAGE, "text/html; charset=utf-8")
}

async fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}

/// `odw serve`: serves until interrupted.
pub async fn serve(global: &Global, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let exposure = match Exposure::of(args.host, args.token.clone()) {
        Ok(e) => e,
        Err(message) => return Ok(report::usage(&message)),
    };
    let config = config(global)?;
    let root = runs_root(global, &config);
    let workspace = std::env::current_dir().context("cannot read the current directory")?;
    let inline_dir = cache_dir().map(|c| c.join("inline"));
    let hub = Arc::new(stream::Hub::new());
    let stop = Arc::new(AtomicBool::new(false));
    let watcher =
        stream::watch(root.clone(), hub.clone(), stop.clone()).context("cannot start the run watcher")?;
    let state = Arc::new(AppState {
        runs_root: root.clone(),
        config,
        workspace,
        exposure,
        sandbox: sandbox(),
        hub,
        inline_dir,
    });
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(args.host, args.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
    let bound = listener.local_addr()?;
    let url = format!("http://{bound}/");
    eprintln!("odw: serving the runs in {} at {url} (Ctrl-C stops)", root.display());
    if !args.host.is_loopback() {
        report::warn(
            "bound off loopback: anyone who can reach this address can read every run's prompts and replies",
        );
    }
    outln!("{url}");
    if args.open {
        open_browser(&url);
    }
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let server = axum::serve(listener, app);
    // Live SSE clients never end by themselves: Ctrl-C ends the server at once.
    tokio::select! {
        served = server => served.context("the server stopped")?,
        _ = tokio::signal::ctrl_c() => {}
    }
    stop.store(true, Ordering::Relaxed);
    let _ = watcher.join();
    Ok(Exit::Ok.into())
}

/// `--open`: the desktop's opener; a failure is only a warning.
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    let spawned = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match spawned {
        Ok(mut child) => {
            std::thread::spawn(move || child.wait());
        }
        Err(e) => report::warn(&format!("cannot open a browser with {opener}: {e}; open {url} yourself")),
    }
}
