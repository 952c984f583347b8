//! Records for tests: small, distinct and easy to compare.

use serde_json::json;

use crate::{
    CallOutcome, Completed, FORMAT_VERSION, Finished, Issued, Started, Usage, call_key, content_key,
    prompt_head,
};

/// Numbers whose shortest decimal form serde_json's default (not
/// `float_roundtrip`) parser reads back one ulp off.
pub(crate) const AWKWARD_FLOATS: [f64; 4] =
    [1700000140220.0837, 1.0715660391465826e-75, -1.603964615428183e143, -1.81996730402717e-179];

pub(crate) fn started() -> Started {
    Started {
        version: FORMAT_VERSION,
        seed: [0xdead_beef, 42],
        clock: 1_700_000_000_123.5,
        script_hash: "5c1e".into(),
        args_hash: "a7g5".into(),
        resumed_from: Some("20250101-000000-abcdef".into()),
        odw_version: "0.1.0".into(),
        context: json!({"runId": "20250102-030405-abcdef", "args": {"file": "a.rs"}}),
    }
}

pub(crate) fn prompt(index: u32) -> String {
    format!("Review part {index} of the change, and be thorough: {}", "…".repeat(index as usize * 60))
}

fn opts(index: u32) -> serde_json::Value {
    json!({"adapter": "echo", "model": format!("m{}", index % 2)})
}

pub(crate) fn issued(index: u32) -> Issued {
    Issued {
        index,
        key: call_key(index, &prompt(index), &opts(index)),
        content_key: content_key(&prompt(index), &opts(index)),
        label: format!("call {index}"),
        phase: if index.is_multiple_of(2) { Some("Review".into()) } else { None },
        prompt_head: prompt_head(&prompt(index)),
    }
}

/// Even indices succeed with a structured value, odd ones fail.
pub(crate) fn completed(index: u32) -> Completed {
    let outcome = if index.is_multiple_of(2) {
        CallOutcome::Ok {
            value: json!({"index": index, "verdict": "ship", "notes": ["a", "b"], "score": 0.75}),
        }
    } else {
        CallOutcome::Err { name: "TimeoutError".into(), message: format!("call {index} took too long") }
    };
    Completed {
        index,
        key: issued(index).key,
        outcome,
        attempts: 1 + index % 3,
        usage: Usage { input: 1000 + u64::from(index), output: 200, estimated: index.is_multiple_of(3) },
        clock: 1_700_000_000_123.5 + f64::from(index) * 10.25,
        ms: 1500 + u64::from(index),
    }
}

pub(crate) fn finished() -> Finished {
    Finished {
        ok: true,
        result: json!({"ship": true, "reasons": ["tests pass"], "nested": {"z": 1, "a": null}}),
    }
}
