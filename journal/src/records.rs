//! The records a journal holds, in the order a run writes them: one
//! [`Started`], an [`Issued`] per `agent()` call, a [`Completed`] per call
//! that finished, and, if the run ended (rather than being killed), one
//! [`Finished`].
//!
//! Field names serialize in camelCase, like the rest of odw's JSON (run
//! directories, config). The same serde shape is used inside the database
//! and in the JSONL export, and unknown fields are refused: the format
//! version, not tolerance, is how the shape changes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How many characters of a prompt an [`Issued`] record keeps: enough to
/// recognise the call in a listing, not so much that the journal copies every
/// prompt (the key already identifies the prompt exactly).
pub const PROMPT_HEAD_CHARS: usize = 200;

/// The first [`PROMPT_HEAD_CHARS`] characters (not bytes) of a prompt.
pub fn prompt_head(prompt: &str) -> String {
    prompt.chars().take(PROMPT_HEAD_CHARS).collect()
}

/// Written once, when the journal is created: what replay needs to
/// reproduce the run's deterministic inputs, and what it needs to refuse a
/// journal that belongs to another script or other arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Started {
    /// The journal format version; must be [`crate::FORMAT_VERSION`].
    pub version: u32,
    /// The seed of the script's `Math.random`, as two 32-bit halves.
    pub seed: [u32; 2],
    /// The logical clock at the start of the run (ms since the Unix epoch).
    pub clock: f64,
    /// Hash of the workflow script, so replay can refuse an edited script.
    pub script_hash: String,
    /// Hash of the canonical arguments, for the same reason.
    pub args_hash: String,
    /// The run this one resumed, if any (its id).
    pub resumed_from: Option<String>,
    /// The odw release that wrote the journal, for bug reports.
    pub odw_version: String,
    /// Opaque to the journal: whatever the engine needs to recreate the run
    /// from an export alone (its run record). Absent in an export reads as `null`.
    #[serde(default)]
    pub context: Value,
}

/// Written when the script issues call number `index`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Issued {
    /// The call's number in issue order (0, 1, 2 …), which is deterministic
    /// for a deterministic script.
    pub index: u32,
    /// [`crate::call_key`] of the call, hex: a resumed run reuses a recorded
    /// result only when index, prompt and options all match.
    pub key: String,
    /// [`crate::content_key`] of the call, hex: the same call at whatever
    /// index, for reuse after the script has changed.
    pub content_key: String,
    /// The call's label (for listings).
    pub label: String,
    /// The phase the call belongs to.
    pub phase: Option<String>,
    /// The prompt's first [`PROMPT_HEAD_CHARS`] characters; see [`prompt_head`].
    pub prompt_head: String,
}

/// How a call ended, as the script saw it.
///
/// Serialized with a `status` tag: `{"status":"ok","value":…}` or
/// `{"status":"err","name":"…","message":"…"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase", try_from = "RawOutcome")]
pub enum CallOutcome {
    /// The call returned `value` (text, or the parsed structured output).
    Ok { value: Value },
    /// The call threw: the JS error's `name` and `message`.
    Err { name: String, message: String },
}

impl CallOutcome {
    pub fn is_ok(&self) -> bool {
        matches!(self, CallOutcome::Ok { .. })
    }
}

/// A [`CallOutcome`] as read: its fields side by side, so that `value` is
/// parsed once, straight into a `Value`. serde reads an internally tagged
/// enum by buffering the whole object first and converting it after, which
/// made reading a journal of large structured results twice the work.
/// Exactly as strict: unknown fields, a missing field and a field of the
/// other status are refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutcome {
    status: Status,
    #[serde(default, deserialize_with = "present")]
    value: Option<Value>,
    name: Option<String>,
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    Err,
}

/// A field that is there, `null` included (absent is `None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

impl TryFrom<RawOutcome> for CallOutcome {
    type Error = String;

    fn try_from(raw: RawOutcome) -> Result<CallOutcome, String> {
        match raw {
            RawOutcome { status: Status::Ok, value: Some(value), name: None, message: None } => {
                Ok(CallOutcome::Ok { value })
            }
            RawOutcome { status: Status::Ok, value: None, .. } => Err("missing field `value`".into()),
            RawOutcome { status: Status::Ok, .. } => {
                Err("an `ok` outcome has only a `value`, not a `name` or `message`".into())
            }
            RawOutcome { status: Status::Err, value: None, name: Some(name), message: Some(message) } => {
                Ok(CallOutcome::Err { name, message })
            }
            RawOutcome { status: Status::Err, value: Some(_), .. } => {
                Err("an `err` outcome has a `name` and a `message`, not a `value`".into())
            }
            RawOutcome { status: Status::Err, name: None, .. } => Err("missing field `name`".into()),
            RawOutcome { status: Status::Err, .. } => Err("missing field `message`".into()),
        }
    }
}

/// Tokens a call used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
    /// True when the adapter did not report usage and odw estimated it.
    pub estimated: bool,
}

impl Usage {
    /// Input and output tokens together (saturating: usage is reported by
    /// agents, and a wild figure must not wrap).
    pub fn total(&self) -> u64 {
        self.input.saturating_add(self.output)
    }

    /// The usage of two attempts of one call, summed.
    pub fn plus(self, other: Usage) -> Usage {
        Usage {
            input: self.input.saturating_add(other.input),
            output: self.output.saturating_add(other.output),
            estimated: self.estimated || other.estimated,
        }
    }
}

/// Written when call `index` finishes. The journal numbers completions in
/// the order they were recorded (`seq`); replay delivers them in that order,
/// which is what makes a run with concurrent calls reproducible.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Completed {
    pub index: u32,
    /// The [`Issued::key`] of the call.
    pub key: String,
    pub outcome: CallOutcome,
    /// Adapter attempts spent (retries included).
    pub attempts: u32,
    pub usage: Usage,
    /// The logical clock the script sees after this completion.
    pub clock: f64,
    /// Wall time the call took.
    pub ms: u64,
}

/// Written once when the run ends; a killed run has none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finished {
    /// Whether the workflow returned (true) or threw (false).
    pub ok: bool,
    /// The workflow's return value, or the error object it threw.
    pub result: Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn outcome_is_tagged_by_status() {
        let ok = CallOutcome::Ok { value: json!({"a": 1}) };
        assert_eq!(serde_json::to_value(&ok).unwrap(), json!({"status": "ok", "value": {"a": 1}}));
        let err = CallOutcome::Err { name: "TimeoutError".into(), message: "took too long".into() };
        assert_eq!(
            serde_json::to_value(&err).unwrap(),
            json!({"status": "err", "name": "TimeoutError", "message": "took too long"})
        );
        let back: CallOutcome =
            serde_json::from_value(json!({"status": "err", "name": "E", "message": "m"})).unwrap();
        assert!(!back.is_ok());
        assert!(serde_json::from_value::<CallOutcome>(json!({"status": "maybe"})).is_err());
        let null: CallOutcome = serde_json::from_value(json!({"status": "ok", "value": null})).unwrap();
        assert_eq!(null, CallOutcome::Ok { value: Value::Null });
        for (bad, why) in [
            (json!({"status": "ok"}), "missing field `value`"),
            (json!({"value": 1}), "missing field `status`"),
            (json!({"status": "ok", "value": 1, "name": "E"}), "only a `value`"),
            (json!({"status": "ok", "value": 1, "extra": 2}), "unknown field `extra`"),
            (json!({"status": "err", "name": "E"}), "missing field `message`"),
            (json!({"status": "err", "message": "m"}), "missing field `name`"),
            (json!({"status": "err", "name": "E", "message": "m", "value": 1}), "not a `value`"),
        ] {
            let e = serde_json::from_value::<CallOutcome>(bad.clone()).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn fields_are_camel_case_and_unknown_fields_are_refused() {
        let started = Started {
            version: 1,
            seed: [1, 2],
            clock: 1.5,
            script_hash: "s".into(),
            args_hash: "a".into(),
            resumed_from: None,
            odw_version: "0.1.0".into(),
            context: json!({"runId": "r1"}),
        };
        let v = serde_json::to_value(&started).unwrap();
        assert_eq!(
            v,
            json!({"version": 1, "seed": [1, 2], "clock": 1.5, "scriptHash": "s", "argsHash": "a",
                   "resumedFrom": null, "odwVersion": "0.1.0", "context": {"runId": "r1"}})
        );
        let mut extra = v.clone();
        extra["surprise"] = json!(true);
        assert!(serde_json::from_value::<Started>(extra).is_err());
        // Absent optional fields read as None and null.
        let mut without = v;
        without.as_object_mut().unwrap().remove("resumedFrom");
        without.as_object_mut().unwrap().remove("context");
        assert_eq!(
            serde_json::from_value::<Started>(without).unwrap(),
            Started { context: Value::Null, ..started }
        );
    }

    #[test]
    fn prompt_head_counts_characters_not_bytes() {
        let prompt = "é".repeat(300);
        let head = prompt_head(&prompt);
        assert_eq!(head.chars().count(), PROMPT_HEAD_CHARS);
        assert_eq!(prompt_head("short"), "short");
    }
}
