//! `odw mcp`: an MCP server on stdio, so that a host coding agent (Claude
//! Code, Codex, Gemini CLI, Cursor…) drives odw with typed tool calls
//! instead of shelling out and scraping text.
//!
//! The model is the one of `odw run` without `--wait`: `run` prepares the
//! run and hands it to a detached worker, then returns its id at once; the
//! host agent goes on with its work and later calls `wait` (which blocks up
//! to a timeout, sending progress notifications) or `status`, then `result`.
//! The plan and the agents' replies stay out of the host's context; it
//! reads back only what it asks for (`events` is paged).
//!
//! Every tool ([`tools`]) has a JSON Schema for its input ([`inputs`]) and
//! for its structured result ([`outputs`]), derived from the types. The
//! server holds no state of its own beyond the configuration it was started
//! with: runs are the same run directories the CLI, `odw watch` and `odw
//! serve` see, and errors are MCP errors with the CLI's messages.
//!
//! stdout carries the protocol and nothing else: odw's warnings go to
//! stderr, workers write to their run's `worker.log`, and rmcp logs through
//! `tracing`, which has no subscriber here.
//!
//! Attack surface: the transport is the stdio of a process the user's own
//! host agent starts, so the peer already has the user's rights (it can run
//! `odw` or anything else in a shell). No port is opened; nothing here is
//! reachable from another user or machine.

mod inputs;
mod outputs;
mod tools;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
use rmcp::{ServerHandler, ServiceExt, tool_handler};

use odw_engine::Config;
use odw_engine::sandbox::Sandbox;

use crate::cli::Global;
use crate::commands::{config, runs_root, sandbox};
use crate::report::Exit;
use tools::Odw;

/// What every tool shares, fixed when the server starts.
pub struct State {
    config: Config,
    runs_root: PathBuf,
    /// Where runs work and relative paths resolve: the directory `odw mcp`
    /// was started in (the host agent's project), as for `odw run` there.
    workspace: PathBuf,
    sandbox: &'static Sandbox,
}

/// Told to the host agent at initialisation.
const INSTRUCTIONS: &str = "odw runs dynamic workflows: JavaScript files that orchestrate many coding-agent \
calls (parallel fan-out, pipelines, verification loops) in a sandbox with a replay journal. Write the script \
(`odw skill show` prints the authoring guide), check it with `validate`, start it with `run` (it returns a run id \
at once), then `wait` for it (repeat while `ended` is false) and read its `result`. `events` pages through what \
happened; `stop`, `pause` and `resume` control a run; `list_runs` and `list_workflows` show what exists.";

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Odw {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("odw", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }
}

/// `odw mcp`: serves one session on stdin/stdout until the client closes it.
pub async fn mcp(global: &Global) -> anyhow::Result<ExitCode> {
    let config = config(global)?;
    let state = State {
        runs_root: runs_root(global, &config),
        workspace: std::env::current_dir().context("cannot read the current directory")?,
        sandbox: sandbox(),
        config,
    };
    let server = Odw::new(Arc::new(state));
    let session = server.serve(rmcp::transport::stdio()).await.context("the MCP session did not start")?;
    session.waiting().await.context("the MCP session failed")?;
    Ok(Exit::Ok.into())
}
