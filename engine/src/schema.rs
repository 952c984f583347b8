//! Structured output: `agent(prompt, {schema})`.
//!
//! The schema is appended to the prompt after the literal marker
//! `JSON Schema:` (the convention ODW's adapters and the `echo` adapter rely
//! on). The reply's JSON is taken from a fenced block, else the first balanced
//! JSON value, else the whole reply, and validated with `jsonschema` (draft
//! 2020-12 unless the schema's `$schema` names another). A reply that does not
//! conform is retried with the validation errors fed back.

use serde_json::Value;

/// The marker after which the schema follows in a prompt.
pub const MARKER: &str = "JSON Schema:";
/// At most this many validation errors are fed back or reported.
const MAX_ERRORS: usize = 10;

/// A compiled schema.
pub struct Schema {
    source: Value,
    validator: jsonschema::Validator,
}

/// A schema that does not compile.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the schema does not compile: {0}")]
pub struct SchemaError(pub String);

/// Why a reply was rejected: the errors, one per line, each with its paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection(pub Vec<String>);

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("; "))
    }
}

impl Schema {
    pub fn compile(source: &Value) -> Result<Schema, SchemaError> {
        let validator = jsonschema::validator_for(source).map_err(|e| SchemaError(e.to_string()))?;
        Ok(Schema { source: source.clone(), validator })
    }

    /// The prompt for the first attempt.
    pub fn prompt(&self, prompt: &str) -> String {
        format!(
            "{prompt}\n\nReply with a single JSON value that conforms to the JSON Schema below, \
             in a ```json fenced block.\n{MARKER}\n{}",
            pretty(&self.source)
        )
    }

    /// The prompt for a retry, with what was wrong with the last reply.
    pub fn retry_prompt(&self, prompt: &str, rejection: &Rejection) -> String {
        let errors: String = rejection.0.iter().map(|e| format!("- {e}\n")).collect();
        format!(
            "{prompt}\n\nYour previous reply was rejected:\n{errors}\
             Reply again with a single JSON value that conforms to the JSON Schema below, \
             in a ```json fenced block.\n{MARKER}\n{}",
            pretty(&self.source)
        )
    }

    /// Extracts the JSON value from a reply and validates it.
    pub fn accept(&self, reply: &str) -> Result<Value, Rejection> {
        let value = extract(reply).ok_or_else(|| {
            Rejection(vec!["the reply contains no JSON value (expected a ```json fenced block)".into()])
        })?;
        let errors: Vec<String> = self
            .validator
            .iter_errors(&value)
            .take(MAX_ERRORS)
            .map(|e| {
                let at = e.instance_path.to_string();
                let at = if at.is_empty() { "/".to_string() } else { at };
                format!("at {at}: {e} (schema path {})", e.schema_path)
            })
            .collect();
        if errors.is_empty() { Ok(value) } else { Err(Rejection(errors)) }
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// The JSON in a reply: a fenced block, else the first balanced value, else
/// the whole reply.
pub fn extract(reply: &str) -> Option<Value> {
    fenced_blocks(reply)
        .find_map(|block| serde_json::from_str(block.trim()).ok())
        .or_else(|| first_balanced(reply))
        .or_else(|| serde_json::from_str(reply.trim()).ok())
}

fn fenced_blocks(text: &str) -> impl Iterator<Item = &str> {
    text.split("```").skip(1).step_by(2).map(|block| {
        // Drop an info string such as `json` on the opening line.
        match block.find('\n') {
            Some(nl) if !block[..nl].trim_start().starts_with(['{', '[']) => &block[nl + 1..],
            _ => block,
        }
    })
}

/// The first `{…}` or `[…]` in `text` that parses, tracking strings.
fn first_balanced(text: &str) -> Option<Value> {
    let bytes = text.as_bytes();
    for (start, &b) in bytes.iter().enumerate() {
        if b != b'{' && b != b'[' {
            continue;
        }
        let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
        for (i, &c) in bytes.iter().enumerate().skip(start) {
            if in_string {
                match c {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => in_string = false,
                    _ => {}
                }
                continue;
            }
            match c {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        if let Ok(v) = serde_json::from_str(&text[start..=i]) {
                            return Some(v);
                        }
                        break;
                    }
                }
                _ => {}
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn person() -> Schema {
        Schema::compile(&json!({
            "type": "object",
            "required": ["name", "age"],
            "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}}
        }))
        .unwrap()
    }

    #[test]
    fn extracts_from_fence_then_balanced_then_whole() {
        assert_eq!(extract("x\n```json\n{\"a\": 1}\n```\ny"), Some(json!({"a": 1})));
        assert_eq!(extract("```\n[1,2]\n```"), Some(json!([1, 2])));
        assert_eq!(extract("Sure! {\"a\": \"}\"} done"), Some(json!({"a": "}"})));
        assert_eq!(extract("  42 "), Some(json!(42)));
        assert_eq!(extract("no json here"), None);
    }

    #[test]
    fn accepts_conforming_and_names_the_failing_path() {
        let s = person();
        assert_eq!(s.accept("{\"name\":\"a\",\"age\":3}").unwrap(), json!({"name": "a", "age": 3}));
        let r = s.accept("{\"name\":\"a\",\"age\":-1}").unwrap_err();
        assert_eq!(r.0.len(), 1);
        assert!(r.0[0].contains("at /age") && r.0[0].contains("minimum"), "{r}");
    }

    #[test]
    fn prompts_carry_the_marker_and_the_errors() {
        let s = person();
        let p = s.prompt("Who?");
        assert!(p.starts_with("Who?") && p.contains("JSON Schema:\n{"));
        let retry = s.retry_prompt("Who?", &Rejection(vec!["at /age: bad".into()]));
        assert!(retry.contains("- at /age: bad") && retry.contains(MARKER));
    }

    #[test]
    fn broken_schema_does_not_compile() {
        let e = Schema::compile(&json!({"type": "no-such-type"})).err().unwrap();
        assert!(e.to_string().starts_with("the schema does not compile"));
    }
}
