//! The built-in `echo` adapter: deterministic, offline, instant.
//!
//! Without a schema it answers with the prompt itself. When the prompt
//! carries a schema (after the `JSON Schema:` marker) it answers with a
//! minimal instance of that schema in a fenced block, so structured-output
//! workflows run end to end without an account.

use serde_json::{Map, Value, json};

use super::{AgentReply, estimate_usage};
use crate::schema::MARKER;

pub(super) fn reply(prompt: &str) -> AgentReply {
    let schema = prompt
        .rfind(MARKER)
        .and_then(|at| serde_json::from_str::<Value>(prompt[at + MARKER.len()..].trim()).ok());
    let text = match schema {
        Some(schema) => format!("```json\n{}\n```", instance(&schema, 0)),
        None => prompt.to_string(),
    };
    AgentReply { usage: estimate_usage(prompt, &text), text }
}

/// A small value that satisfies the common keywords of `schema`.
fn instance(schema: &Value, depth: usize) -> Value {
    let Some(s) = schema.as_object() else {
        return Value::Null;
    };
    if depth > 16 {
        return Value::Null;
    }
    if let Some(v) = s.get("const") {
        return v.clone();
    }
    if let Some(v) = s.get("enum").and_then(|e| e.as_array()).and_then(|e| e.first()) {
        return v.clone();
    }
    if let Some(v) = s.get("default") {
        return v.clone();
    }
    if let Some(v) = s.get("examples").and_then(|e| e.as_array()).and_then(|e| e.first()) {
        return v.clone();
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(first) = s.get(key).and_then(|v| v.as_array()).and_then(|v| v.first()) {
            return instance(first, depth + 1);
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
    match ty {
        "object" => {
            let mut out = Map::new();
            if let Some(props) = s.get("properties").and_then(Value::as_object) {
                for (name, prop) in props {
                    out.insert(name.clone(), instance(prop, depth + 1));
                }
            }
            Value::Object(out)
        }
        "array" => {
            let min = s.get("minItems").and_then(Value::as_u64).unwrap_or(1).max(1) as usize;
            let min = min.min(s.get("maxItems").and_then(Value::as_u64).map_or(min, |m| m as usize));
            let item = s.get("items").map_or(Value::Null, |i| instance(i, depth + 1));
            Value::Array(vec![item; min])
        }
        "string" => {
            let min = s.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
            let mut text = String::from("echo");
            while text.chars().count() < min {
                text.push('o');
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Schema;

    #[test]
    fn answers_with_the_prompt_without_a_schema() {
        assert_eq!(reply("hello").text, "hello");
        assert!(reply("hello").usage.estimated);
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
        let out = reply(&schema.prompt("Summarise"));
        let value = schema.accept(&out.text).unwrap();
        assert_eq!(value["kind"], "bug");
        assert_eq!(value["tags"].as_array().unwrap().len(), 2);
    }
}
