//! The odw engine: runs dynamic workflows — JavaScript in Claude Code's
//! Workflow dialect — sandboxed in QuickJS-in-WebAssembly, with their agent
//! calls running concurrently as subprocesses.
//!
//! Data flows one way. The CLI calls [`run`]: `prepare`, then `execute`, in
//! the same process or a detached worker. From the bottom up — each module
//! uses only those above it:
//!
//! | module | owns |
//! |---|---|
//! | `protocol` | the messages that cross the guest/host boundary, and the vocabulary both sides share: [`Isolation`], [`ErrorName`] |
//! | `wasm` | reading WebAssembly binaries: sections, custom sections, imports |
//! | `fsio` | [`atomic_write`]: how every file another process reads is written |
//! | `helpers` | threads that work beside the guest's, kept off its CPU |
//! | `schema` | structured output: compiling a schema, the prompt suffix, checking a reply |
//! | `replay` | what a recorded run may serve: the reuse rules and the recorded completion order |
//! | `loader` | the host-side scan of a script: meta literal, body, refusals with positions |
//! | [`sandbox`] | wasmtime and the guest: one evaluation, bounded; knows no adapter, journal or run directory |
//! | `config` | `odw.config.json`: reading and checking it |
//! | `rundir` | the run directory's layout, alone: `meta.json`, `status.json` and the liveness rule, `control.json`, the typed events, progress, and [`RunView`]: what a run looks like |
//! | `workflow` | a workflow apart from any run: how it starts (source, compile cache, module), meta, validate, `odw build`, saved workflows, nested-workflow resolution |
//! | `adapters` | running one agent call: built-in CLIs, echo, commands, HTTP |
//! | `scheduler` | serving the guest's calls: dispatch, concurrency, retries, journalling |
//! | [`run`] | one run: prepare, execute (a session of guest and scheduler), check, import |
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use odw_engine::{Config, ReuseRule, RunOptions, run_workflow, sandbox::Sandbox};
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
//!     reuse: ReuseRule::Prefix,
//!     config_path: None,
//! };
//! let report = run_workflow(&sandbox, &config, opts).await?;
//! println!("{:?}", report.result);
//! # Ok(()) }
//! ```

mod adapters;
mod config;
mod fsio;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzz;
mod helpers;
mod loader;
mod protocol;
mod replay;
pub mod run;
mod rundir;
pub mod sandbox;
mod scheduler;
mod schema;
mod wasm;
mod workflow;

pub use adapters::{
    AdapterInfo, AgentCall, BUILTIN_CLIS, CallTag, ExecutorKind, catalogue, select_default, start_guardian,
};
pub use config::{Config, home_dir};
pub use fsio::atomic_write;
pub use loader::{LoadError, Script};
pub use protocol::{Activation, ErrorName, Isolation, ScriptError, Usage};
pub use replay::{Divergence, ReuseRule, ReuseSummary};
pub use run::{CheckReport, Controls, Prepared, RunError, RunOptions, RunReport, run_workflow};
pub use rundir::{
    AgentCounts, AgentEnd, AgentStart, AgentState, AgentView, ControlFile, ControlRequest, Counts, Event,
    EventTail, LogLine, PhaseView, Reuse, RunDir, RunDirError, RunMeta, RunState, RunView, Stamped, Status,
    Tokens, now_epoch_ms,
};
pub use scheduler::Control;
pub use workflow::{
    Meta, ModuleError, Problem, Validation, WorkflowError, WorkflowModule, build, built_here, is_module,
    library, read_meta, validate_file,
};

#[cfg(test)]
mod tests {
    /// The order of the table above, bottom first: each module may use only
    /// the ones before it, so the chain stays one-way.
    const LAYERS: [&str; 13] = [
        "protocol",
        "wasm",
        "fsio",
        "schema",
        "replay",
        "loader",
        "sandbox",
        "config",
        "rundir",
        "workflow",
        "adapters",
        "scheduler",
        "run",
    ];

    fn sources(path: &std::path::Path, out: &mut String) {
        if path.is_dir() {
            for entry in std::fs::read_dir(path).unwrap() {
                sources(&entry.unwrap().path(), out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push_str(&std::fs::read_to_string(path).unwrap());
        }
    }

    #[test]
    fn modules_use_only_the_layers_below_them() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        for (at, module) in LAYERS.iter().enumerate() {
            let mut text = String::new();
            let (dir, file) = (src.join(module), src.join(format!("{module}.rs")));
            sources(if dir.is_dir() { &dir } else { &file }, &mut text);
            for above in &LAYERS[at + 1..] {
                assert!(
                    !text.contains(&format!("crate::{above}::")),
                    "`{module}` uses `{above}`, which is above it"
                );
            }
        }
    }
}
