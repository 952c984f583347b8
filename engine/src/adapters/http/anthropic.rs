//! Anthropic's Messages API (`provider: "anthropic"`): the request body and
//! the reply.

use serde_json::{Value, json};

use super::super::{AgentCall, AgentReply};
use crate::protocol::Usage;

/// The API version odw speaks (the `anthropic-version` header).
pub(super) const VERSION: &str = "2023-06-01";
/// `max_tokens` when the adapter sets no `maxTokens`: the API requires one;
/// this is room for a long answer on every current model, and a limit on
/// what one call can spend on output.
pub(super) const DEFAULT_MAX_TOKENS: u32 = 8192;
/// The forced tool that carries a structured answer.
const TOOL: &str = "structured_output";
/// The property a non-object schema is wrapped in: a tool's input must be
/// an object.
const WRAPPED: &str = "value";

/// The request: the prompt as one user message; the effort as
/// `output_config.effort` (what Claude Code sends); the schema as a tool the
/// model must call, whose input is the answer.
pub(super) fn body(call: &AgentCall, model: &str, effort: Option<&str>, max_tokens: u32) -> Value {
    let mut body = json!({
        "model": model,
        "max_tokens": max_tokens,
        "messages": [{ "role": "user", "content": call.prompt }],
    });
    if let Some(effort) = effort {
        body["output_config"] = json!({ "effort": effort });
    }
    if let Some(schema) = &call.schema {
        let input_schema = if is_object(schema) {
            schema.as_ref().clone()
        } else {
            json!({ "type": "object", "properties": { WRAPPED: schema.as_ref() }, "required": [WRAPPED] })
        };
        body["tools"] = json!([{
            "name": TOOL,
            "description": "Report the final answer. Its input is the answer, conforming to the schema.",
            "input_schema": input_schema,
        }]);
        body["tool_choice"] = json!({ "type": "tool", "name": TOOL });
    }
    body
}

fn is_object(schema: &Value) -> bool {
    schema["type"] == "object"
}

/// The text (the text blocks, joined), usage (input counts the cache reads
/// and writes: they are input the account pays for) and, with a schema, the
/// forced tool's input.
pub(super) fn reply(doc: &Value, call: &AgentCall) -> Result<AgentReply, String> {
    let blocks = doc["content"].as_array().ok_or("the response has no `content` blocks")?;
    let text: String = blocks
        .iter()
        .filter(|b| b["type"] == "text")
        .filter_map(|b| b["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let structured = call.schema.as_ref().and_then(|schema| {
        let input = blocks.iter().find(|b| b["type"] == "tool_use" && b["name"] == TOOL)?["input"].clone();
        if is_object(schema) { Some(input) } else { input.get(WRAPPED).cloned() }
    });
    if text.is_empty() && structured.is_none() && doc["stop_reason"] == "max_tokens" {
        return Err("the model stopped at `max_tokens` before answering (raise `maxTokens`)".into());
    }
    let u = &doc["usage"];
    let count = |key: &str| u[key].as_u64().unwrap_or(0);
    let usage = Usage {
        input: count("input_tokens")
            + count("cache_creation_input_tokens")
            + count("cache_read_input_tokens"),
        output: count("output_tokens"),
        estimated: false,
    };
    // The value is the answer; as text it shows in previews and logs.
    let text = match (&structured, text.is_empty()) {
        (Some(value), true) => value.to_string(),
        _ => text,
    };
    Ok(AgentReply { text, usage, structured })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::http::openai::tests::call;

    #[test]
    fn the_body_forces_the_schema_tool_and_passes_effort() {
        let plain = body(&call(None), "claude-sonnet-4-5", None, 100);
        assert_eq!(
            plain,
            json!({"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [{"role": "user", "content": "p"}]})
        );
        let schema = json!({"type": "object", "properties": {"n": {"type": "integer"}}});
        let full = body(&call(Some(schema.clone())), "m", Some("max"), 100);
        assert_eq!(full["output_config"], json!({"effort": "max"}));
        assert_eq!(full["tools"][0]["input_schema"], schema);
        assert_eq!(full["tool_choice"], json!({"type": "tool", "name": "structured_output"}));
        let list = body(&call(Some(json!({"type": "array"}))), "m", None, 100);
        assert_eq!(list["tools"][0]["input_schema"]["properties"]["value"], json!({"type": "array"}));
    }

    #[test]
    fn reply_reads_text_tool_input_and_cache_tokens() {
        let doc = json!({"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 5, "cache_creation_input_tokens": 7, "cache_read_input_tokens": 11,
                      "output_tokens": 3}});
        let r = reply(&doc, &call(None)).unwrap();
        assert_eq!((r.text.as_str(), r.usage), ("a\nb", Usage { input: 23, output: 3, estimated: false }));
        let tool = json!({"content": [{"type": "tool_use", "id": "t", "name": "structured_output",
            "input": {"n": 7}}], "usage": {"input_tokens": 1, "output_tokens": 2}});
        let r = reply(&tool, &call(Some(json!({"type": "object"})))).unwrap();
        assert_eq!((r.structured, r.text.as_str()), (Some(json!({"n": 7})), r#"{"n":7}"#));
        let wrapped = json!({"content": [{"type": "tool_use", "name": "structured_output",
            "input": {"value": [1, 2]}}], "usage": {}});
        assert_eq!(
            reply(&wrapped, &call(Some(json!({"type": "array"})))).unwrap().structured,
            Some(json!([1, 2]))
        );
        let cut = json!({"content": [], "stop_reason": "max_tokens", "usage": {}});
        assert!(reply(&cut, &call(None)).unwrap_err().contains("maxTokens"));
        assert!(reply(&json!({}), &call(None)).is_err());
    }
}
