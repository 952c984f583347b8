//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing` only):
//! the host computations on script-controlled input that live in private
//! modules. Each must return, within a bound, without panicking, on any input.

use serde_json::Value;

use crate::config::Config;
use crate::schema::{Schema, extract};

/// A schema from the script and a reply from an agent: compiling the
/// schema, the prompt, echo's instance of it, extracting and checking a reply.
pub fn schema_and_reply(schema: &[u8], reply: &str) {
    let _ = extract(reply);
    let Ok(source) = serde_json::from_slice::<Value>(schema) else { return };
    let Ok(schema) = Schema::compile(&source) else { return };
    let prompt = schema.prompt("fuzz");
    if let Ok(echoed) = crate::adapters::echo_reply(&prompt) {
        let _ = schema.accept(&echoed.text);
    }
    if let Err(rejection) = schema.accept(reply) {
        let _ = schema.retry_prompt("fuzz", &rejection);
    }
}

/// An `odw.config.json`: parsing and range checks, then every derived limit.
pub fn config(text: &str) {
    let Ok(config) = Config::parse(text) else { return };
    let _ = (config.concurrency(), config.max_agents(), config.max_prompt_bytes(), config.schema_retries());
    let _ = (config.agent_timeout(), config.sandbox_limits(), config.workspace_mode(), config.runs_root());
}
