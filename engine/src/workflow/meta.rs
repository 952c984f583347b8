//! `export const meta = {…}`: evaluated in the sandbox, then checked.

use serde_json::Value;

use super::WorkflowError;
use crate::config::Config;
use crate::loader::Script;
use crate::protocol::{Activation, Outcome};
use crate::sandbox::{GuestIo, Sandbox, SandboxError};

/// `meta` as the workflow declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    pub name: String,
    pub description: String,
    /// The whole object, other keys included.
    pub raw: Value,
}

/// Evaluates `meta` in the sandbox (never on the host) and checks it.
pub async fn read_meta(sandbox: &Sandbox, config: &Config, script: &Script) -> Result<Meta, WorkflowError> {
    let path = script.display_name();
    let activation = Activation {
        source: script.meta_source.clone(),
        filename: path.clone(),
        line_one_shift: 0,
        args: Value::Null,
        seed: [0, 0],
        clock: 0.0,
        budget: None,
    };
    let outcome = evaluate_alone(sandbox, config, &activation).await?;
    let raw = match outcome {
        Outcome { ok: true, value: Some(v), .. } => v,
        Outcome { error: Some(e), .. } => {
            return Err(WorkflowError::Meta { path, message: format!("meta: {}: {}", e.name, e.message) });
        }
        _ => return Err(WorkflowError::Meta { path, message: "meta did not evaluate to a value".into() }),
    };
    Meta::check(&path, raw)
}

impl Meta {
    /// Checks an evaluated `meta` object: `name`, `description`, `phases`.
    ///
    /// `phases` entries that are not `{title, …}` objects (plain strings,
    /// say) are dropped rather than refused: Claude Code drops them and runs
    /// the script, so a script written for it must run here too.
    pub fn check(path: &str, mut raw: Value) -> Result<Meta, WorkflowError> {
        let meta_error = |message: String| WorkflowError::Meta { path: path.to_string(), message };
        let name = match raw.get("name") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            _ => return Err(meta_error("`meta.name` must be a non-empty string".into())),
        };
        let description = match raw.get("description") {
            Some(Value::String(s)) => s.clone(),
            _ => return Err(meta_error("`meta.description` must be a string".into())),
        };
        if let Some(phases) = raw.get_mut("phases") {
            let Some(list) = phases.as_array_mut() else {
                return Err(meta_error("`meta.phases` must be an array of `{title, detail?}`".into()));
            };
            list.retain(|p| p.get("title").is_some_and(Value::is_string));
        }
        Ok(Meta { name, description, raw })
    }
}

/// Runs an activation that may not call agents (meta, compile checks).
pub async fn evaluate_alone(
    sandbox: &Sandbox,
    config: &Config,
    activation: &Activation,
) -> Result<Outcome, SandboxError> {
    let (io, refuse) = GuestIo::isolated();
    let outcome = sandbox.run(activation, config.sandbox_limits(), io).await;
    refuse.abort();
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn phases_that_are_not_titled_objects_are_dropped() {
        let raw = json!({"name": "n", "description": "d", "phases": [{"title": "A"}, "b", 7, {"title": "C", "detail": "x"}]});
        let meta = Meta::check("wf.js", raw).unwrap();
        assert_eq!(meta.raw["phases"], json!([{"title": "A"}, {"title": "C", "detail": "x"}]));
    }

    #[test]
    fn phases_that_are_not_a_list_are_refused() {
        let raw = json!({"name": "n", "description": "d", "phases": "A, B"});
        let e = Meta::check("wf.js", raw).unwrap_err();
        assert!(e.to_string().contains("`meta.phases` must be an array"), "{e}");
    }
}
