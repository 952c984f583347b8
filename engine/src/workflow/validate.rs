//! `odw validate` and the script-side `validate(source)`: compile a workflow
//! without running it.
//!
//! Everything `odw run` would refuse before the first agent is reported:
//! the loader's refusals (`import`, other exports, a missing meta), a meta
//! without `name`/`description`, and syntax errors in the body — each with
//! its line and column in the file. Nothing in the body runs: the body is
//! compiled as an async function that is never called.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::{WorkflowError, evaluate_alone, read_meta};
use crate::config::Config;
use crate::loader::{self, Script};
use crate::protocol::{ErrorName, ScriptError};
use crate::sandbox::Sandbox;

/// The verdict on a workflow.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Validation {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
    pub errors: Vec<Problem>,
    /// What would not stop odw but would stop Claude Code (meta not first
    /// or not a plain literal, clock and randomness): the script runs here
    /// but is not portable. Warnings never make `ok` false.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Problem>,
}

/// One reason the workflow would not run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub line: u32,
    pub column: u32,
    pub message: String,
}

impl Validation {
    fn failed(line: u32, column: u32, message: String) -> Validation {
        Validation {
            ok: false,
            meta: None,
            errors: vec![Problem { line, column, message }],
            warnings: Vec::new(),
        }
    }
}

/// Validates the workflow in file `path`.
pub async fn validate_file(sandbox: &Sandbox, config: &Config, path: &Path) -> Validation {
    match std::fs::read_to_string(path) {
        Ok(source) => validate_source(sandbox, config, path, source).await,
        Err(e) => Validation::failed(0, 0, format!("cannot read {}: {e}", path.display())),
    }
}

/// Validates workflow text; `path` names it in positions.
pub async fn validate_source(sandbox: &Sandbox, config: &Config, path: &Path, source: String) -> Validation {
    match Script::parse(path, source) {
        Ok(script) => validate_script(sandbox, config, &script).await,
        Err(e) => Validation::failed(e.line as u32, e.column as u32, e.message),
    }
}

/// Validates a loaded script, with its portability warnings.
pub async fn validate_script(sandbox: &Sandbox, config: &Config, script: &Script) -> Validation {
    let mut verdict = validate_compiled(sandbox, config, script).await;
    verdict.warnings = loader::portability_warnings(&script.source)
        .into_iter()
        .map(|(line, column, message)| Problem { line: line as u32, column: column as u32, message })
        .collect();
    verdict
}

async fn validate_compiled(sandbox: &Sandbox, config: &Config, script: &Script) -> Validation {
    let meta = match read_meta(sandbox, config, script).await {
        Ok(m) => m,
        Err(WorkflowError::Meta { message, .. }) => return Validation::failed(1, 1, message),
        Err(other) => return Validation::failed(0, 0, other.to_string()),
    };
    match evaluate_alone(sandbox, config, &script.compile_activation()).await {
        Ok(outcome) if outcome.ok => {
            Validation { ok: true, meta: Some(meta.raw), errors: Vec::new(), warnings: Vec::new() }
        }
        Ok(outcome) => {
            let mut error = outcome
                .error
                .unwrap_or_else(|| ScriptError::new(ErrorName::Error, "the workflow does not compile"));
            loader::refine_syntax_location(&script.source, &mut error);
            let (line, column) = error.location.as_ref().map_or((0, 0), |l| (l.line, l.column));
            Validation {
                ok: false,
                meta: Some(meta.raw),
                errors: vec![Problem { line, column, message: format!("{}: {}", error.name, error.message) }],
                warnings: Vec::new(),
            }
        }
        Err(e) => Validation::failed(0, 0, e.to_string()),
    }
}
