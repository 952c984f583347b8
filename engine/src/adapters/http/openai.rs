//! OpenAI-compatible chat completions (`provider: "openai"`, the default):
//! the request body and the reply.

use serde_json::{Value, json};

use super::super::{AgentCall, AgentReply, estimate_usage};
use crate::protocol::Usage;

/// The request: the prompt as one user message; the model when one is
/// named (a local server may serve just one); the effort as
/// `reasoning_effort`; the schema as a JSON-schema response format.
pub(super) fn body(call: &AgentCall, model: Option<&str>, effort: Option<&str>) -> Value {
    let mut body = json!({
        "messages": [{ "role": "user", "content": call.prompt }],
        "stream": false,
    });
    if let Some(model) = model {
        body["model"] = json!(model);
    }
    if let Some(effort) = effort {
        body["reasoning_effort"] = json!(reasoning_effort(effort));
    }
    if let Some(schema) = &call.schema {
        // Not `strict`: strict mode accepts only a subset of JSON Schema
        // (every property required, no `additionalProperties: true`), and
        // odw validates the value against the full schema anyway.
        body["response_format"] = json!({
            "type": "json_schema",
            "json_schema": { "name": "output", "schema": schema.as_ref(), "strict": false },
        });
    }
    body
}

/// Claude Code's effort words above OpenAI's top level (`max`, `xhigh`) map
/// to `high`; the others (`minimal`, `low`, `medium`, `high`) pass as they are.
fn reasoning_effort(effort: &str) -> &str {
    match effort {
        "max" | "xhigh" => "high",
        other => other,
    }
}

/// The text, usage and (with a schema) the JSON value of a reply. A content
/// that does not parse leaves `structured` empty: the scheduler then looks
/// for JSON in the text and, failing that, asks again.
pub(super) fn reply(doc: &Value, call: &AgentCall) -> Result<AgentReply, String> {
    let message = &doc["choices"][0]["message"];
    let text = match &message["content"] {
        Value::String(text) => text.clone(),
        _ if message["refusal"].is_string() => {
            return Err(format!("the model refused: {}", message["refusal"].as_str().unwrap_or_default()));
        }
        _ => return Err("the response has no `choices[0].message.content`".into()),
    };
    let usage = match doc["usage"].as_object() {
        Some(u) => Usage {
            input: u.get("prompt_tokens").and_then(Value::as_u64).unwrap_or(0),
            output: u.get("completion_tokens").and_then(Value::as_u64).unwrap_or(0),
            estimated: false,
        },
        None => estimate_usage(&call.prompt, &text),
    };
    let structured = call.schema.as_ref().and_then(|_| serde_json::from_str(text.trim()).ok());
    Ok(AgentReply { text, usage, structured })
}

#[cfg(test)]
pub(super) mod tests {
    use std::sync::Arc;

    use super::*;

    pub(in super::super) fn call(schema: Option<Value>) -> AgentCall {
        AgentCall {
            prompt: "p".into(),
            model: None,
            role: None,
            effort: None,
            schema: schema.map(Arc::new),
            workspace: ".".into(),
            source: ".".into(),
            prompt_file: "p.txt".into(),
            timeout: std::time::Duration::from_secs(1),
            job: Default::default(),
        }
    }

    #[test]
    fn the_body_carries_model_effort_and_response_format() {
        let plain = body(&call(None), None, None);
        assert_eq!(plain, json!({"messages": [{"role": "user", "content": "p"}], "stream": false}));
        let schema = json!({"type": "object", "properties": {"n": {"type": "integer"}}});
        let full = body(&call(Some(schema.clone())), Some("gpt-5"), Some("max"));
        assert_eq!((&full["model"], &full["reasoning_effort"]), (&json!("gpt-5"), &json!("high")));
        assert_eq!(
            full["response_format"],
            json!({"type": "json_schema", "json_schema": {"name": "output", "schema": schema, "strict": false}})
        );
        assert_eq!(body(&call(None), None, Some("low"))["reasoning_effort"], "low");
    }

    #[test]
    fn reply_takes_content_usage_and_the_structured_value() {
        let doc = json!({"choices": [{"message": {"role": "assistant", "content": "{\"n\": 7}"}}],
                         "usage": {"prompt_tokens": 12, "completion_tokens": 3}});
        let r = reply(&doc, &call(None)).unwrap();
        assert_eq!(
            (r.text.as_str(), r.usage),
            ("{\"n\": 7}", Usage { input: 12, output: 3, estimated: false })
        );
        assert_eq!(r.structured, None);
        let r = reply(&doc, &call(Some(json!({"type": "object"})))).unwrap();
        assert_eq!(r.structured, Some(json!({"n": 7})));
        let prose = json!({"choices": [{"message": {"content": "sure: n is 7"}}]});
        let r = reply(&prose, &call(Some(json!({"type": "object"})))).unwrap();
        assert_eq!((r.structured, r.usage.estimated), (None, true));
        assert!(reply(&json!({"choices": []}), &call(None)).is_err());
        let refused = json!({"choices": [{"message": {"content": null, "refusal": "no"}}]});
        assert_eq!(reply(&refused, &call(None)).unwrap_err(), "the model refused: no");
    }
}
