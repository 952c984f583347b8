//! Call keys: the identity of an `agent()` call, so a resumed run reuses a
//! recorded result only for the very same call.
//!
//! A key must not depend on how the options object happened to be written
//! (`{model, label}` and `{label, model}` are the same call), so options are
//! hashed in a canonical JSON form: object keys sorted, no whitespace.

use serde_json::Value;

/// `v` as compact JSON with every object's keys sorted, recursively.
///
/// Keys sort by their UTF-8 bytes (Rust's `str` order, i.e. code point
/// order; RFC 8785 sorts by UTF-16 units, which differs only between
/// astral-plane characters and U+E000–U+FFFF). Scalars are written exactly
/// as serde_json writes them, so `1` and `1.0` stay different, as they are
/// different JSON texts.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                // Value's Display is serde_json's compact writer, escaping included.
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The key of call `index` with this prompt and these effective options
/// (after defaults are applied), as 64 hex digits.
///
/// blake3 over `index` (u32 little-endian) ‖ canonical(prompt as a JSON
/// string) ‖ canonical(options). The prompt part is a JSON string literal,
/// which ends at its first unescaped quote, so no prompt/options split of the
/// same bytes can collide. The index is part of the key because the same
/// prompt issued twice is two calls, whose results may legitimately differ.
pub fn call_key(index: u32, prompt: &str, effective_opts: &Value) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&index.to_le_bytes());
    hasher.update(canonical_json(&Value::String(prompt.to_owned())).as_bytes());
    hasher.update(canonical_json(effective_opts).as_bytes());
    hasher.finalize().to_hex().to_string()
}

/// The key of a call by content alone: [`call_key`] without the index, as
/// 64 hex digits. `--reuse content` matches a changed script's calls to
/// recorded ones by it, wherever they moved.
///
/// blake3 over canonical(prompt as a JSON string) ‖ canonical(options).
pub fn content_key(prompt: &str, effective_opts: &Value) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(canonical_json(&Value::String(prompt.to_owned())).as_bytes());
    hasher.update(canonical_json(effective_opts).as_bytes());
    hasher.finalize().to_hex().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_nested_keys_without_whitespace() {
        // serde_json here preserves insertion order, so this really is unsorted input.
        let v: Value = serde_json::from_str(
            r#"{ "b": 1, "a": { "z": [ { "y": 2, "x": null } ], "c": "s" }, "A": true }"#,
        )
        .unwrap();
        assert_eq!(canonical_json(&v), r#"{"A":true,"a":{"c":"s","z":[{"x":null,"y":2}]},"b":1}"#);
    }

    #[test]
    fn canonical_json_writes_scalars_as_serde_json_does() {
        for v in [
            json!(null),
            json!(true),
            json!(0),
            json!(-17),
            json!(u64::MAX),
            json!(1.0),
            json!(0.1),
            json!(1e300),
            json!("quote \" backslash \\ newline \n tab \t nul \u{0} é 😀"),
        ] {
            assert_eq!(canonical_json(&v), serde_json::to_string(&v).unwrap());
        }
        let weird_key = json!({"k\"\n": 1});
        assert_eq!(canonical_json(&weird_key), r#"{"k\"\n":1}"#);
        assert_eq!(canonical_json(&json!({})), "{}");
        assert_eq!(canonical_json(&json!([])), "[]");
    }

    #[test]
    fn canonical_json_is_stable_under_key_order() {
        let a: Value = serde_json::from_str(r#"{"model":"m","label":"l","schema":{"b":1,"a":2}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"schema":{"a":2,"b":1},"label":"l","model":"m"}"#).unwrap();
        assert_ne!(a.to_string(), b.to_string());
        assert_eq!(canonical_json(&a), canonical_json(&b));
    }

    #[test]
    fn call_key_is_hex_and_matches_its_definition() {
        let opts = json!({"label": "x"});
        let key = call_key(3, "hi", &opts);
        assert_eq!(key.len(), 64);
        assert!(key.chars().all(|c| c.is_ascii_hexdigit()));
        let mut bytes = 3u32.to_le_bytes().to_vec();
        bytes.extend_from_slice(br#""hi""#);
        bytes.extend_from_slice(br#"{"label":"x"}"#);
        assert_eq!(key, blake3::hash(&bytes).to_hex().to_string());
    }

    #[test]
    fn call_key_changes_with_index_prompt_and_options() {
        let opts = json!({"label": "x", "model": "m"});
        let base = call_key(0, "review", &opts);
        assert_eq!(base, call_key(0, "review", &opts), "deterministic");
        assert_ne!(base, call_key(1, "review", &opts));
        assert_ne!(base, call_key(0, "review!", &opts));
        assert_ne!(base, call_key(0, "review", &json!({"label": "x", "model": "n"})));
        assert_ne!(base, call_key(0, "review", &json!({"label": "x"})));
    }

    #[test]
    fn call_key_ignores_option_key_order() {
        let a: Value =
            serde_json::from_str(r#"{"label":"x","model":"m","schema":{"type":"object","required":["a"]}}"#)
                .unwrap();
        let b: Value =
            serde_json::from_str(r#"{"schema":{"required":["a"],"type":"object"},"model":"m","label":"x"}"#)
                .unwrap();
        assert_eq!(call_key(5, "p", &a), call_key(5, "p", &b));
    }

    #[test]
    fn content_key_ignores_the_index_and_key_order_but_not_the_content() {
        let a: Value = serde_json::from_str(r#"{"adapter":"echo","model":"m"}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"model":"m","adapter":"echo"}"#).unwrap();
        let key = content_key("p", &a);
        assert_eq!(key, content_key("p", &b));
        assert_eq!(key, blake3::hash(br#""p"{"adapter":"echo","model":"m"}"#).to_hex().to_string());
        assert_ne!(key, content_key("q", &a));
        assert_ne!(key, content_key("p", &serde_json::json!({"adapter": "echo"})));
        assert_ne!(key, call_key(0, "p", &a), "a content key is not the key of call #0");
    }
}
