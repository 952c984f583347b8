//! The built-in `echo` adapter: deterministic, offline, instant.
//!
//! Without a schema it answers with the prompt itself. When the prompt
//! carries a schema (after the `JSON Schema:` marker) it answers with a
//! minimal instance of that schema in a fenced block, so structured-output
//! workflows run end to end without an account.

use serde_json::{Map, Value, json};

use super::{AgentReply, estimate_usage};
use crate::schema::MARKER;

/// The largest instance echo makes, in bytes of JSON (about): a schema
/// that asks for more (`minItems: 4e9`, `minLength: 1e8`) fails the call
/// instead of exhausting the host.
pub const MAX_INSTANCE_BYTES: usize = 4 << 20;

pub(crate) fn reply(prompt: &str) -> Result<AgentReply, String> {
    let schema = prompt
        .rfind(MARKER)
        .and_then(|at| serde_json::from_str::<Value>(prompt[at + MARKER.len()..].trim()).ok());
    let text = match schema {
        Some(schema) => {
            let mut left = MAX_INSTANCE_BYTES;
            let value = instance(&schema, 0, &mut left).ok_or_else(|| {
                format!("echo: the schema asks for an instance larger than {MAX_INSTANCE_BYTES} bytes")
            })?;
            format!("```json\n{value}\n```")
        }
        None => prompt.to_string(),
    };
    Ok(AgentReply { usage: estimate_usage(prompt, &text), text, structured: None })
}

/// Takes `n` bytes from the budget, or says the instance is too large.
fn spend(left: &mut usize, n: usize) -> Option<()> {
    *left = left.checked_sub(n)?;
    Some(())
}

/// A small value that satisfies the common keywords of `schema`, within
/// `left` bytes; `None` when it cannot fit.
fn instance(schema: &Value, depth: usize, left: &mut usize) -> Option<Value> {
    spend(left, 8)?;
    let Some(s) = schema.as_object() else {
        return Some(Value::Null);
    };
    if depth > 16 {
        return Some(Value::Null);
    }
    let copy = |v: &Value, left: &mut usize| {
        spend(left, serde_json::to_vec(v).map_or(usize::MAX, |b| b.len()))?;
        Some(v.clone())
    };
    if let Some(v) = s.get("const") {
        return copy(v, left);
    }
    if let Some(v) = s.get("enum").and_then(|e| e.as_array()).and_then(|e| e.first()) {
        return copy(v, left);
    }
    if let Some(v) = s.get("default") {
        return copy(v, left);
    }
    if let Some(v) = s.get("examples").and_then(|e| e.as_array()).and_then(|e| e.first()) {
        return copy(v, left);
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(first) = s.get(key).and_then(|v| v.as_array()).and_then(|v| v.first()) {
            return instance(first, depth + 1, left);
        }
    }
    let ty = match s.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => {
            ts.iter().filter_map(Value::as_str).find(|t| *t != "null").unwrap_or("null")
        }
        _ if s.contains_key("properties") => "object",
        _ if s.contains_key("items") => "array",
        _ => "null",
    };
    Some(match ty {
        "object" => {
            let mut out = Map::new();
            if let Some(props) = s.get("properties").and_then(Value::as_object) {
                for (name, prop) in props {
                    spend(left, name.len())?;
                    out.insert(name.clone(), instance(prop, depth + 1, left)?);
                }
            }
            Value::Object(out)
        }
        "array" => {
            let min = s.get("minItems").and_then(Value::as_u64).unwrap_or(1).max(1);
            let min = min.min(s.get("maxItems").and_then(Value::as_u64).unwrap_or(min));
            let min = usize::try_from(min).ok()?;
            let before = *left;
            let item = match s.get("items") {
                Some(i) => instance(i, depth + 1, left)?,
                None => Value::Null,
            };
            // Every copy costs what the first did (at least `null,`).
            let each = (before - *left).max(5);
            spend(left, each.checked_mul(min.saturating_sub(1))?)?;
            Value::Array(vec![item; min])
        }
        "string" => {
            let min = usize::try_from(s.get("minLength").and_then(Value::as_u64).unwrap_or(0)).ok()?;
            spend(left, min.max(4))?;
            let mut text = String::from("echo");
            if min > 4 {
                text.push_str(&"o".repeat(min - 4));
            }
            Value::String(text)
        }
        "integer" | "number" => {
            let low = s
                .get("minimum")
                .and_then(Value::as_f64)
                .or_else(|| s.get("exclusiveMinimum").and_then(Value::as_f64).map(|m| m.floor() + 1.0))
                .unwrap_or(0.0)
                .max(0.0);
            let high = s.get("maximum").and_then(Value::as_f64).unwrap_or(f64::MAX);
            let n = low.min(high).ceil();
            json!(n as i64)
        }
        "boolean" => Value::Bool(true),
        _ => Value::Null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Schema;

    #[test]
    fn answers_with_the_prompt_without_a_schema() {
        assert_eq!(reply("hello").unwrap().text, "hello");
        assert!(reply("hello").unwrap().usage.estimated);
    }

    #[test]
    fn answers_with_a_valid_instance_of_the_schema() {
        let schema = Schema::compile(&json!({
            "type": "object",
            "required": ["title", "score", "tags", "kind", "ok"],
            "properties": {
                "title": {"type": "string", "minLength": 6},
                "score": {"type": "integer", "minimum": 3, "maximum": 9},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
                "kind": {"enum": ["bug", "feature"]},
                "ok": {"type": "boolean"},
                "maybe": {"type": ["null", "number"]}
            },
            "additionalProperties": false
        }))
        .unwrap();
        let out = reply(&schema.prompt("Summarise")).unwrap();
        let value = schema.accept(&out.text).unwrap();
        assert_eq!(value["kind"], "bug");
        assert_eq!(value["tags"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn a_schema_that_asks_for_too_much_fails_the_call() {
        for schema in [
            json!({"type": "array", "minItems": 4e9 as u64}),
            json!({"type": "string", "minLength": 100_000_000u64}),
            json!({"type": "array", "minItems": 2000, "items": {"type": "array", "minItems": 2000}}),
        ] {
            let prompt = format!("x\n{MARKER}\n{schema}");
            assert!(reply(&prompt).unwrap_err().contains("larger than"), "{schema}");
        }
        let fits = json!({"type": "string", "minLength": 1000});
        let text = reply(&format!("x\n{MARKER}\n{fits}")).unwrap().text;
        assert!(text.contains(&"o".repeat(990)));
    }
}
