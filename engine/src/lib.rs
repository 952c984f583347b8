//! The odw engine: runs dynamic workflows — JavaScript in Claude Code's
//! Workflow dialect — sandboxed in QuickJS-in-WebAssembly, with their agent
//! calls running concurrently as subprocesses.
//!
//! Data flows one way: the CLI calls [`run`] (`prepare`, then `execute`, in
//! the same process or a detached worker); the engine loads the script
//! ([`loader`], [`library`] for saved workflows), evaluates it in the
//! [`sandbox`], and serves the guest's `agent()` calls with the
//! [`scheduler`], which runs [`adapters`], checks structured output
//! ([`schema`]) and journals every call (`odw-journal`), reusing recorded
//! ones when resuming or checking ([`replay`]). What happens is recorded in
//! the run directory ([`runs`], [`progress`]). [`validate`] compiles a
//! workflow without running it; [`module`] compiles it ahead of time into a
//! pre-initialised WebAssembly module (`odw build`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use odw_engine::{config::Config, run::{RunOptions, run_workflow}, sandbox::Sandbox};
//! let sandbox = Sandbox::new(None)?;
//! let config = Config::default();
//! let opts = RunOptions {
//!     script: "examples/hello.js".into(),
//!     args: serde_json::json!({"name": "world"}),
//!     adapter: None,
//!     budget: None,
//!     runs_root: None,
//!     workspace: std::env::current_dir()?,
//!     resume_from: None,
//!     reuse: odw_engine::replay::ReuseRule::Prefix,
//!     config_path: None,
//! };
//! let report = run_workflow(&sandbox, &config, opts).await?;
//! println!("{:?}", report.result);
//! # Ok(()) }
//! ```

pub mod adapters;
pub mod config;
pub mod library;
pub mod loader;
pub mod module;
pub mod progress;
pub mod protocol;
pub mod replay;
pub mod run;
pub mod runs;
pub mod sandbox;
pub mod scheduler;
pub mod schema;
pub mod validate;
