//! The built-in agent CLIs and how their output is read.
//!
//! Each built-in is an ordinary command adapter (so it gets the same process
//! group, timeout and stderr handling as a configured one) whose command line
//! is the CLI's documented non-interactive mode, with the prompt on stdin so
//! that no prompt ever shows up in `ps` or hits the argv size limit. A config
//! entry with the same name replaces the built-in.
//!
//! Where a CLI can print JSON that carries token usage, odw asks for it and
//! reads it ([`parse`]), so `budget.spent()` counts what the agent reported
//! rather than the chars/4 estimate.

use serde_json::Value;

use super::AgentReply;
use crate::config::{AdapterConfig, FlagTemplate, Flags, OutputFormat};
use crate::protocol::Usage;

/// How an error the agent itself reported begins.
pub const REPORTED: &str = "the agent reported an error";

/// The CLIs odw knows, in the order `odw adapters` lists them.
pub const BUILTIN_CLIS: &[&str] = &["claude", "codex", "gemini", "qwen", "kimi"];

/// The configuration that makes up built-in `name`, if there is one.
pub fn config(name: &str) -> Option<AdapterConfig> {
    let (command, output): (&[&str], OutputFormat) = match name {
        // `--print` is Claude Code's non-interactive mode; it reads the prompt
        // from stdin when none is given. `--output-format json` prints one
        // object whose `result` is the reply and whose `usage` has the token
        // counts. `--permission-mode acceptEdits` lets the agent edit files in
        // its workspace (what a workflow agent is for; worktree isolation keeps
        // those edits on a branch) without approving shell commands.
        "claude" => (
            &["claude", "--print", "--output-format", "json", "--permission-mode", "acceptEdits"],
            OutputFormat::Claude,
        ),
        // `codex exec` is Codex's non-interactive mode; a trailing `-` makes it
        // read the prompt from stdin. `--json` prints JSONL events: the reply
        // is the last `agent_message` item and `turn.completed` carries usage.
        // `--cd` pins the agent to its workspace (a worktree, when isolated),
        // `--skip-git-repo-check` lets it run outside a git repository, and the
        // `workspace-write` sandbox lets it edit the workspace but nothing else
        // (exec's default sandbox is read-only).
        "codex" => (
            &[
                "codex",
                "exec",
                "--json",
                "--cd",
                "{workspace}",
                "--skip-git-repo-check",
                "--sandbox",
                "workspace-write",
                "-",
            ],
            OutputFormat::Codex,
        ),
        // Gemini CLI runs headless when stdin is not a terminal and takes the
        // prompt from it. `--output-format json` prints `{response, stats}`
        // with per-model token counts. `--approval-mode auto_edit` approves
        // file edits (headless mode cannot ask) but not shell commands.
        "gemini" => {
            (&["gemini", "--output-format", "json", "--approval-mode", "auto_edit"], OutputFormat::Gemini)
        }
        // Qwen Code is a fork of Gemini CLI: same headless stdin mode, but its
        // `--output-format json` prints Claude-style messages, the last of
        // type `result` carrying `result` and `usage`; its approval mode is
        // spelt `auto-edit`.
        "qwen" => {
            (&["qwen", "--output-format", "json", "--approval-mode", "auto-edit"], OutputFormat::Claude)
        }
        // Kimi Code (npm `@moonshot-ai/kimi-code`, the successor of PyPI's
        // kimi-cli, which is now a stub) takes the prompt only as `-p TEXT`:
        // it reads no stdin in prompt mode, so the prompt is on the command
        // line (visible in `ps`, and at most 128 KiB). `stream-json` prints
        // one JSON object per line; the reply is the last assistant line. It
        // prints no token usage, so usage is estimated.
        "kimi" => (&["kimi", "-p", "{prompt}", "--output-format", "stream-json"], OutputFormat::Kimi),
        _ => return None,
    };
    let word = |w: &str| Some(FlagTemplate::Word(w.into()));
    let words = |ws: &[&str]| Some(FlagTemplate::Words(ws.iter().map(|w| w.to_string()).collect()));
    let mut effort_levels = std::collections::BTreeMap::new();
    let mut strict_schemas = None;
    // Every one of them takes `--model <name>`; the other options only where
    // the CLI's `--help` lists a flag for them (checked against the
    // versions in README's adapter table by tests/real_clis.rs).
    let mut flags = Flags { model: word("--model"), ..Flags::default() };
    match name {
        "claude" => {
            // Claude Code's own levels: low, medium, high, xhigh, max.
            flags.effort = word("--effort");
            // A subagent type from `.claude/agents/` (or a built-in one).
            flags.agent_type = word("--agent");
            // The schema as JSON text; the reply's `structured_output`.
            flags.schema = word("--json-schema");
        }
        "codex" => {
            // Reasoning effort is a config value; Codex has no `max`.
            flags.effort = words(&["-c", "model_reasoning_effort={effort}"]);
            effort_levels.insert("max".to_string(), "xhigh".to_string());
            // The final message is then JSON conforming to the schema file.
            // OpenAI's strict mode: other schemas would fail the request.
            flags.schema = words(&["--output-schema", "{schema_file}"]);
            strict_schemas = Some(true);
        }
        // A synthetic `structured_output` tool; the run ends on its first
        // valid call.
        "qwen" => flags.schema = word("--json-schema"),
        _ => {}
    }
    Some(AdapterConfig {
        command: command.iter().map(|s| s.to_string()).collect(),
        flags,
        effort_levels,
        strict_schemas,
        output: Some(output),
        ..AdapterConfig::default()
    })
}

/// Reads a CLI's stdout as `format`. `Err` is the reason the reply is not
/// usable (an error the CLI reported, or output of the wrong shape).
pub fn parse(format: OutputFormat, stdout: &str, prompt: &str) -> Result<AgentReply, String> {
    let estimated =
        |text: String| AgentReply { usage: super::estimate_usage(prompt, &text), text, structured: None };
    match format {
        // Only the CLI's own final newline goes: the agent's text is kept as it is (Claude Code keeps it verbatim).
        OutputFormat::Text => Ok(estimated(
            stdout.strip_suffix('\n').map_or(stdout, |s| s.strip_suffix('\r').unwrap_or(s)).to_string(),
        )),
        OutputFormat::Claude => claude(&json_document(stdout)?),
        OutputFormat::Gemini => gemini(&json_document(stdout)?),
        OutputFormat::Codex => codex(stdout),
        OutputFormat::Kimi => kimi(stdout, prompt),
    }
}

/// The JSON document on stdout: the whole of it, else its last line that
/// parses (some CLIs print a notice first).
fn json_document(stdout: &str) -> Result<Value, String> {
    if let Ok(v) = serde_json::from_str(stdout.trim()) {
        return Ok(v);
    }
    stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l.trim()).ok())
        .ok_or_else(|| format!("expected JSON on stdout, got: {}", head(stdout)))
}

/// `{"type":"result","result":…,"is_error":…,"usage":{…}}`, alone (claude) or
/// as the last `result` of an array of messages (qwen).
fn claude(doc: &Value) -> Result<AgentReply, String> {
    let result = match doc {
        Value::Array(items) => items
            .iter()
            .rev()
            .find(|m| m["type"] == "result")
            .ok_or("the JSON output has no `result` message")?,
        other => other,
    };
    let text = result["result"].as_str().unwrap_or_default().to_string();
    if result["is_error"] == true || result["subtype"].as_str().is_some_and(|s| s.starts_with("error")) {
        // claude puts the message in `result`, qwen in `error.message`.
        let why = [result["error"]["message"].as_str(), Some(text.as_str()), result["subtype"].as_str()]
            .into_iter()
            .flatten()
            .find(|w| !w.is_empty())
            .unwrap_or("error");
        return Err(format!("{REPORTED}: {why}"));
    }
    if result.get("result").is_none() {
        return Err(format!("the JSON output has no `result`: {}", head(&doc.to_string())));
    }
    let u = &result["usage"];
    let n = |k: &str| u[k].as_u64().unwrap_or(0);
    let usage = reported(
        n("input_tokens") + n("cache_creation_input_tokens") + n("cache_read_input_tokens"),
        n("output_tokens"),
        u.is_object(),
        &text,
    );
    // With `--json-schema` the value comes apart from the text (claude:
    // `structured_output`, qwen: `structured_result`).
    let structured = ["structured_output", "structured_result"]
        .into_iter()
        .find_map(|k| result.get(k).filter(|v| !v.is_null()))
        .cloned();
    Ok(AgentReply { text, usage, structured })
}

/// `{"response": …, "stats": {"models": {name: {"tokens": {"prompt", "candidates"}}}}}`.
fn gemini(doc: &Value) -> Result<AgentReply, String> {
    if let Some(error) = doc.get("error").filter(|e| !e.is_null()) {
        let why = error["message"].as_str().map_or_else(|| error.to_string(), str::to_string);
        return Err(format!("{REPORTED}: {why}"));
    }
    let text = doc["response"]
        .as_str()
        .ok_or_else(|| format!("the JSON output has no `response`: {}", head(&doc.to_string())))?
        .to_string();
    let (mut input, mut output, mut seen) = (0, 0, false);
    if let Some(models) = doc["stats"]["models"].as_object() {
        for model in models.values() {
            let t = &model["tokens"];
            input += t["prompt"].as_u64().unwrap_or(0);
            output += t["candidates"].as_u64().unwrap_or(0);
            seen = true;
        }
    } else if let Some(i) = doc["stats"]["inputTokens"].as_u64() {
        input = i;
        output = doc["stats"]["outputTokens"].as_u64().unwrap_or(0);
        seen = true;
    }
    Ok(AgentReply { usage: reported(input, output, seen, &text), text, structured: None })
}

/// JSONL events of `codex exec --json`.
fn codex(stdout: &str) -> Result<AgentReply, String> {
    let (mut text, mut input, mut output, mut seen) = (None, 0, 0, false);
    for event in stdout.lines().filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok()) {
        match event["type"].as_str().unwrap_or_default() {
            "item.completed" if event["item"]["type"] == "agent_message" => {
                text = event["item"]["text"].as_str().map(str::to_string);
            }
            "turn.completed" => {
                // `input_tokens` already includes `cached_input_tokens`.
                input += event["usage"]["input_tokens"].as_u64().unwrap_or(0);
                output += event["usage"]["output_tokens"].as_u64().unwrap_or(0);
                seen = true;
            }
            "turn.failed" | "error" => {
                let why = event["error"]["message"]
                    .as_str()
                    .or(event["message"].as_str())
                    .map_or_else(|| event.to_string(), str::to_string);
                return Err(format!("{REPORTED}: {why}"));
            }
            _ => {}
        }
    }
    let text = text.ok_or_else(|| format!("no `agent_message` among the JSON events: {}", head(stdout)))?;
    Ok(AgentReply { usage: reported(input, output, seen, &text), text, structured: None })
}

/// JSON lines of `kimi -p … --output-format stream-json`: the last
/// `{"role": "assistant", "content": …}` is the reply.
fn kimi(stdout: &str, prompt: &str) -> Result<AgentReply, String> {
    let text = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
        .filter(|m| m["role"] == "assistant")
        .filter_map(|m| match &m["content"] {
            Value::String(s) => Some(s.clone()),
            Value::Array(parts) => {
                Some(parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join(""))
            }
            _ => None,
        })
        .next_back()
        .ok_or_else(|| format!("no assistant message among the JSON lines: {}", head(stdout)))?;
    Ok(AgentReply { usage: super::estimate_usage(prompt, &text), text, structured: None })
}

/// Usage as the CLI reported it; when it reported none, the output side is
/// still estimated rather than claimed to be zero.
fn reported(input: u64, output: u64, seen: bool, text: &str) -> Usage {
    if seen {
        Usage { input, output, estimated: false }
    } else {
        Usage { input, output: (text.chars().count() as u64).div_ceil(4), estimated: true }
    }
}

fn head(text: &str) -> String {
    let t = text.trim();
    match t.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &t[..at]),
        None => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::{AgentCall, CommandAdapter};
    use std::path::PathBuf;

    /// The argv and stdin of built-in `name` for one call with `model`.
    fn line(name: &str, model: Option<&str>) -> (Vec<String>, bool) {
        let adapter = CommandAdapter::new(name, config(name).unwrap());
        let call = AgentCall {
            prompt: "do it".into(),
            model: model.map(str::to_string),
            role: None,
            effort: None,
            schema: None,
            workspace: PathBuf::from("/ws"),
            source: PathBuf::from("/src"),
            prompt_file: PathBuf::from("/run/p.txt"),
            timeout: std::time::Duration::from_secs(1),
            job: Default::default(),
        };
        (adapter.argv(&call), adapter.prompt_on_stdin(&call))
    }

    #[test]
    fn each_builtin_runs_its_non_interactive_command_line_with_the_prompt_on_stdin() {
        let expect: &[(&str, &[&str])] = &[
            ("claude", &["claude", "--print", "--output-format", "json", "--permission-mode", "acceptEdits"]),
            (
                "codex",
                &[
                    "codex",
                    "exec",
                    "--json",
                    "--cd",
                    "/ws",
                    "--skip-git-repo-check",
                    "--sandbox",
                    "workspace-write",
                    "-",
                ],
            ),
            ("gemini", &["gemini", "--output-format", "json", "--approval-mode", "auto_edit"]),
            ("qwen", &["qwen", "--output-format", "json", "--approval-mode", "auto-edit"]),
        ];
        for (name, argv) in expect {
            assert_eq!(line(name, None), (argv.iter().map(|s| s.to_string()).collect(), true), "{name}");
        }
        // Kimi Code reads no stdin in prompt mode: the prompt is an argument.
        let kimi = ["kimi", "-p", "do it", "--output-format", "stream-json"];
        assert_eq!(line("kimi", None), (kimi.iter().map(|s| s.to_string()).collect(), false));
        assert!(config("echo").is_none() && config("nope").is_none());
    }

    #[test]
    fn the_model_is_forwarded_with_each_clis_flag() {
        for name in BUILTIN_CLIS {
            let (argv, _) = line(name, Some("m1"));
            let at = argv.iter().position(|a| a == "--model").unwrap_or_else(|| panic!("{name}: {argv:?}"));
            assert_eq!(argv[at + 1], "m1");
        }
        // codex reads the prompt from stdin through a final `-`, which stays last.
        assert_eq!(line("codex", Some("m1")).0.last().map(String::as_str), Some("-"));
    }

    /// The argv of built-in `name` for a call with every option set.
    fn full_line(name: &str) -> Vec<String> {
        let adapter = CommandAdapter::new(name, config(name).unwrap());
        let call = AgentCall {
            prompt: "do it".into(),
            model: Some("m1".into()),
            role: Some("Explore".into()),
            effort: Some("max".into()),
            schema: Some(std::sync::Arc::new(serde_json::json!({"type": "object"}))),
            workspace: PathBuf::from("/ws"),
            source: PathBuf::from("/src"),
            prompt_file: PathBuf::from("/run/prompts/3-1.txt"),
            timeout: std::time::Duration::from_secs(1),
            job: Default::default(),
        };
        adapter.argv(&call)
    }

    #[test]
    fn native_options_use_each_clis_own_flags() {
        let tail = |name: &str, n: usize| {
            let argv = full_line(name);
            argv[argv.len() - n..].to_vec()
        };
        assert_eq!(
            tail("claude", 8),
            [
                "--model",
                "m1",
                "--effort",
                "max",
                "--agent",
                "Explore",
                "--json-schema",
                r#"{"type":"object"}"#
            ]
        );
        // codex: effort as a config value in its own words, the schema as a
        // file beside the prompt file, and stdin's `-` still last.
        assert_eq!(
            tail("codex", 7),
            [
                "--model",
                "m1",
                "-c",
                "model_reasoning_effort=xhigh",
                "--output-schema",
                "/run/prompts/3-1.schema.json",
                "-"
            ]
        );
        assert_eq!(tail("qwen", 4), ["--model", "m1", "--json-schema", r#"{"type":"object"}"#]);
        assert_eq!(tail("gemini", 2), ["--model", "m1"]);
        let natives = |n: &str| CommandAdapter::new(n, config(n).unwrap()).natives();
        assert_eq!(
            natives("claude"),
            crate::adapters::Natives { schema: true, effort: true, agent_type: true }
        );
        assert_eq!(natives("gemini"), crate::adapters::Natives::default());
    }

    #[test]
    fn a_config_entry_without_command_changes_only_what_it_names() {
        let own: AdapterConfig = serde_json::from_value(
            serde_json::json!({"flags": {"effort": false, "agentType": ["--persona={agent_type}"]},
                                                       "effortLevels": {"max": "high"}, "timeout": 5}),
        )
        .unwrap();
        let merged = config("claude").unwrap().with(&own);
        assert_eq!(merged.command, config("claude").unwrap().command);
        assert_eq!(merged.timeout, Some(5.0));
        let argv = CommandAdapter::new("claude", merged).argv(&AgentCall {
            prompt: "p".into(),
            model: None,
            role: Some("reviewer".into()),
            effort: Some("max".into()),
            schema: None,
            workspace: PathBuf::from("/ws"),
            source: PathBuf::from("/src"),
            prompt_file: PathBuf::from("/p.txt"),
            timeout: std::time::Duration::from_secs(1),
            job: Default::default(),
        });
        assert!(!argv.contains(&"--effort".to_string()), "{argv:?}");
        assert_eq!(argv.last().map(String::as_str), Some("--persona=reviewer"));
    }

    #[test]
    fn claude_structured_output_comes_apart_from_the_text() {
        let out = r#"{"type":"result","subtype":"success","is_error":false,"result":"{\"n\":7}",
            "structured_output":{"n":7},"usage":{"input_tokens":21,"output_tokens":8}}"#;
        let reply = parse(OutputFormat::Claude, out, "p").unwrap();
        assert_eq!(reply.structured, Some(serde_json::json!({"n": 7})));
    }

    #[test]
    fn claude_json_gives_the_result_and_reported_usage() {
        let out = r#"{"type":"result","subtype":"success","is_error":false,"result":"Hi!","usage":
            {"input_tokens":10,"cache_creation_input_tokens":5,"cache_read_input_tokens":100,"output_tokens":7}}"#;
        let reply = parse(OutputFormat::Claude, out, "p").unwrap();
        assert_eq!(reply.text, "Hi!");
        assert_eq!(reply.usage, Usage { input: 115, output: 7, estimated: false });
        let err = r#"{"type":"result","subtype":"error_max_turns","is_error":true,"result":""}"#;
        assert!(parse(OutputFormat::Claude, err, "p").unwrap_err().contains("error_max_turns"));
        assert!(parse(OutputFormat::Claude, "not json", "p").unwrap_err().contains("expected JSON"));
    }

    #[test]
    fn qwen_json_array_uses_its_result_message() {
        let out = r#"[{"type":"system","subtype":"session_start"},{"type":"assistant","message":{}},
            {"type":"result","subtype":"success","is_error":false,"result":"Paris","usage":{"input_tokens":3,"output_tokens":1}}]"#;
        let reply = parse(OutputFormat::Claude, out, "p").unwrap();
        assert_eq!((reply.text.as_str(), reply.usage.input, reply.usage.output), ("Paris", 3, 1));
    }

    #[test]
    fn codex_events_give_the_last_message_and_summed_usage() {
        let out = concat!(
            "{\"type\":\"thread.started\",\"thread_id\":\"t\"}\n",
            "{\"type\":\"item.completed\",\"item\":{\"id\":\"1\",\"type\":\"reasoning\",\"text\":\"hm\"}}\n",
            "{\"type\":\"item.completed\",\"item\":{\"id\":\"2\",\"type\":\"agent_message\",\"text\":\"done\"}}\n",
            "{\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":20,\"cached_input_tokens\":5,\"output_tokens\":4}}\n",
        );
        let reply = parse(OutputFormat::Codex, out, "p").unwrap();
        assert_eq!(reply.text, "done");
        assert_eq!(reply.usage, Usage { input: 20, output: 4, estimated: false });
        let failed = "{\"type\":\"turn.failed\",\"error\":{\"message\":\"quota\"}}";
        assert!(parse(OutputFormat::Codex, failed, "p").unwrap_err().ends_with("quota"));
    }

    #[test]
    fn gemini_json_sums_tokens_over_models() {
        let out = r#"{"response":"ok","stats":{"models":{"a":{"tokens":{"prompt":9,"candidates":2}},
            "b":{"tokens":{"prompt":1,"candidates":1}}}}}"#;
        let reply = parse(OutputFormat::Gemini, out, "p").unwrap();
        assert_eq!(reply.usage, Usage { input: 10, output: 3, estimated: false });
        let err = r#"{"response":null,"error":{"type":"ApiError","message":"no auth"}}"#;
        assert!(parse(OutputFormat::Gemini, err, "p").unwrap_err().ends_with("no auth"));
    }

    #[test]
    fn kimi_stream_json_gives_the_last_assistant_line() {
        let out = concat!(
            "{\"role\":\"meta\",\"type\":\"system.version\",\"version\":\"2.1.0\"}\n",
            "{\"role\":\"assistant\",\"content\":\"looking\"}\n",
            "{\"role\":\"tool\",\"content\":\"ok\"}\n",
            "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"done: \"},{\"type\":\"text\",\"text\":\"it\"}]}\n",
            "{\"role\":\"meta\",\"type\":\"session.resume_hint\"}\n",
        );
        let reply = parse(OutputFormat::Kimi, out, "p").unwrap();
        assert_eq!(reply.text, "done: it");
        assert!(reply.usage.estimated);
        assert!(parse(OutputFormat::Kimi, "{\"role\":\"meta\"}", "p").is_err());
    }

    #[test]
    fn text_output_is_estimated() {
        let reply = parse(OutputFormat::Text, "answer\n", "prompt").unwrap();
        assert_eq!(reply.text, "answer");
        assert!(reply.usage.estimated);
    }
}
