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

/// The largest schema accepted, as JSON text. Schemas come from the script,
/// which an attacker may have written; every host cost below is bounded by
/// these figures.
pub const MAX_SCHEMA_BYTES: usize = 256 * 1024;
/// The deepest nesting of a schema.
const MAX_SCHEMA_DEPTH: usize = 64;
/// Backtracking steps one `pattern` may take on one string (fancy-regex's
/// limit); past it the value is reported as not matching.
const PATTERN_BACKTRACK_LIMIT: usize = 100_000;
/// Candidate JSON values tried in one reply before giving up.
const MAX_CANDIDATES: usize = 8;

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

/// The schemas one run has compiled, by their JSON text: a fan-out of two
/// hundred calls with one schema compiles it once, not two hundred times
/// (compiling costs far more than serving a call from the journal).
#[derive(Default)]
pub struct Schemas {
    compiled: std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<Schema>>>,
}

/// Distinct schemas kept per run; a script that makes more still gets each
/// compiled, just not kept, so what it can make the host hold is bounded.
const KEPT_SCHEMAS: usize = 64;

impl Schemas {
    /// `source` compiled, from an earlier call of the run if one had it.
    pub fn get(&self, source: &Value) -> Result<std::sync::Arc<Schema>, SchemaError> {
        let text = serde_json::to_string(source).map_err(|e| SchemaError(e.to_string()))?;
        let lock = || self.compiled.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(schema) = lock().get(&text) {
            return Ok(schema.clone());
        }
        let schema = std::sync::Arc::new(Schema::compile(source)?);
        let mut compiled = lock();
        if compiled.len() < KEPT_SCHEMAS {
            compiled.insert(text, schema.clone());
        }
        Ok(schema)
    }
}

impl Schema {
    /// Compiles a schema the script gave, after checking that validating
    /// with it is bounded: its size, its depth, and no `$ref` cycle that
    /// never moves into the instance (which would validate forever).
    pub fn compile(source: &Value) -> Result<Schema, SchemaError> {
        let size = serde_json::to_vec(source).map_or(usize::MAX, |v| v.len());
        if size > MAX_SCHEMA_BYTES {
            return Err(SchemaError(format!(
                "it is {size} bytes; the limit is {MAX_SCHEMA_BYTES} bytes of JSON"
            )));
        }
        if depth(source) > MAX_SCHEMA_DEPTH {
            return Err(SchemaError(format!("it nests deeper than {MAX_SCHEMA_DEPTH} levels")));
        }
        refs::check_cycles(source).map_err(SchemaError)?;
        let validator = jsonschema::options()
            .with_pattern_options(
                jsonschema::PatternOptions::fancy_regex().backtrack_limit(PATTERN_BACKTRACK_LIMIT),
            )
            .build(source)
            .map_err(|e| SchemaError(e.to_string()))?;
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

    /// The prompt for a retry on an agent that enforces the schema itself:
    /// only what was wrong (the agent already has the schema).
    pub fn native_retry_prompt(prompt: &str, rejection: &Rejection) -> String {
        let errors: String = rejection.0.iter().map(|e| format!("- {e}\n")).collect();
        format!(
            "{prompt}\n\nYour previous structured output was rejected:\n{errors}Produce it again, conforming to the schema."
        )
    }

    /// The schema as the script gave it.
    pub fn source(&self) -> &Value {
        &self.source
    }

    /// Extracts the JSON value from a reply and validates it.
    pub fn accept(&self, reply: &str) -> Result<Value, Rejection> {
        let value = extract(reply).ok_or_else(|| {
            Rejection(vec!["the reply contains no JSON value (expected a ```json fenced block)".into()])
        })?;
        self.check(value)
    }

    /// Validates a value that came without text around it.
    pub fn check(&self, value: Value) -> Result<Value, Rejection> {
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

/// Whether `source` is a schema OpenAI's strict structured outputs take
/// (what `codex --output-schema` sends): an object at the root, and every
/// object closed (`additionalProperties: false`) with all its properties
/// required. Other schemas make the API answer 400, so they go in the prompt.
pub fn is_strict(source: &Value) -> bool {
    fn closed(node: &Value, depth: usize) -> bool {
        let Some(map) = node.as_object() else { return node.is_boolean() };
        if depth > MAX_SCHEMA_DEPTH {
            return false;
        }
        let is_object = map.get("type").is_some_and(|t| {
            t == "object" || t.as_array().is_some_and(|ts| ts.contains(&Value::from("object")))
        }) || map.contains_key("properties");
        if is_object {
            let props = map.get("properties").and_then(Value::as_object);
            let required: Vec<&str> = map
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if map.get("additionalProperties") != Some(&Value::Bool(false))
                || props.is_some_and(|p| p.keys().any(|k| !required.contains(&k.as_str())))
            {
                return false;
            }
        }
        let children = ["properties", "$defs", "definitions"]
            .iter()
            .filter_map(|k| map.get(*k).and_then(Value::as_object))
            .flat_map(|m| m.values())
            .chain(["items", "not"].iter().filter_map(|k| map.get(*k)))
            .chain(
                ["anyOf", "allOf", "oneOf", "prefixItems"]
                    .iter()
                    .filter_map(|k| map.get(*k).and_then(Value::as_array))
                    .flatten(),
            );
        children.into_iter().all(|c| closed(c, depth + 1))
    }
    source.get("type") == Some(&Value::from("object")) && closed(source, 0)
}

/// How deeply `v` nests (a scalar is 0).
fn depth(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// `$ref` cycles that validate the same instance forever.
mod refs {
    use std::collections::HashSet;

    use serde_json::Value;

    /// Keywords that apply a subschema to the same instance (not to a
    /// property or an item of it): a cycle through only these never ends.
    const IN_PLACE: [&str; 8] = ["allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas"];
    /// Steps of the search, at most (it is linear in the schema anyway).
    const MAX_STEPS: usize = 100_000;

    /// The local references `node` follows without moving into the instance.
    fn in_place_refs<'a>(node: &'a Value, out: &mut Vec<&'a str>) {
        let Some(map) = node.as_object() else { return };
        for key in ["$ref", "$dynamicRef", "$recursiveRef"] {
            match map.get(key).and_then(Value::as_str) {
                Some(r) if key == "$ref" => out.push(local(r)),
                // `$recursiveRef`/`$dynamicRef` to an anchor resolve to the root.
                Some(_) => out.push("#"),
                None => {}
            }
        }
        for key in IN_PLACE {
            match map.get(key) {
                Some(Value::Array(list)) => list.iter().for_each(|s| in_place_refs(s, out)),
                Some(Value::Object(o)) if key == "dependentSchemas" => {
                    o.values().for_each(|s| in_place_refs(s, out))
                }
                Some(schema @ Value::Object(_)) => in_place_refs(schema, out),
                _ => {}
            }
        }
    }

    /// The place in this document a `$ref` is taken to name: its fragment.
    /// A reference with no fragment, or with anything before it (`""`,
    /// `"./"`, the document's own `$id`), may resolve to this very document,
    /// so it counts as its root: a cycle through it is refused, and a truly
    /// external reference would not compile anyway (nothing is fetched).
    fn local(reference: &str) -> &str {
        reference.find('#').map_or("#", |at| &reference[at..])
    }

    fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
        let pointer = reference.strip_prefix('#')?;
        if pointer.is_empty() {
            return Some(root);
        }
        // Anchors (`#name`) are not followed: they are rare in agent schemas.
        root.pointer(&pointer.replace("%25", "%").replace("%22", "\""))
    }

    /// Refuses a schema in which a reference leads back to itself through
    /// in-place keywords only.
    pub(super) fn check_cycles(root: &Value) -> Result<(), String> {
        let mut steps = 0;
        let mut done: HashSet<String> = HashSet::new();
        let mut start = Vec::new();
        collect_all_refs(root, &mut start, &mut steps)?;
        for reference in start {
            let mut path: Vec<String> = Vec::new();
            visit(root, reference, &mut path, &mut done, &mut steps)?;
        }
        Ok(())
    }

    fn collect_all_refs<'a>(
        node: &'a Value,
        out: &mut Vec<&'a str>,
        steps: &mut usize,
    ) -> Result<(), String> {
        *steps += 1;
        if *steps > MAX_STEPS {
            return Err("it is too large to check for `$ref` cycles".into());
        }
        match node {
            Value::Object(map) => {
                if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                    out.push(local(r));
                }
                map.values().try_for_each(|v| collect_all_refs(v, out, steps))
            }
            Value::Array(items) => items.iter().try_for_each(|v| collect_all_refs(v, out, steps)),
            _ => Ok(()),
        }
    }

    fn visit(
        root: &Value,
        reference: &str,
        path: &mut Vec<String>,
        done: &mut HashSet<String>,
        steps: &mut usize,
    ) -> Result<(), String> {
        *steps += 1;
        if *steps > MAX_STEPS {
            return Err("it is too large to check for `$ref` cycles".into());
        }
        if path.iter().any(|p| p == reference) {
            path.push(reference.to_string());
            return Err(format!(
                "its references form a cycle that never reaches a property or an item: {}",
                path.join(" -> ")
            ));
        }
        if done.contains(reference) {
            return Ok(());
        }
        let Some(target) = resolve(root, reference) else { return Ok(()) };
        path.push(reference.to_string());
        let mut next = Vec::new();
        in_place_refs(target, &mut next);
        for r in next {
            visit(root, r, path, done, steps)?;
        }
        path.pop();
        done.insert(reference.to_string());
        Ok(())
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
///
/// One pass, linear in the reply: openers go on a stack; a value that
/// closes at the outermost level is tried at once, and values nested one
/// level inside an opener that never closes are kept as candidates (a reply
/// may start with a stray `[`). At most [`MAX_CANDIDATES`] are parsed.
fn first_balanced(text: &str) -> Option<Value> {
    let bytes = text.as_bytes();
    let mut open: Vec<(usize, u8)> = Vec::new();
    let mut inner: Vec<(usize, usize)> = Vec::new();
    let (mut in_string, mut escaped, mut tried) = (false, false, 0);
    let parse = |range: std::ops::RangeInclusive<usize>, tried: &mut usize| {
        *tried += 1;
        serde_json::from_str::<Value>(&text[range]).ok()
    };
    for (i, &c) in bytes.iter().enumerate() {
        if tried >= MAX_CANDIDATES {
            break;
        }
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
            b'"' if !open.is_empty() => in_string = true,
            b'{' | b'[' => open.push((i, c)),
            b'}' | b']' => {
                let wanted = if c == b'}' { b'{' } else { b'[' };
                match open.pop() {
                    Some((start, opener)) if opener == wanted => {
                        if open.is_empty() {
                            if let Some(v) = parse(start..=i, &mut tried) {
                                return Some(v);
                            }
                        } else if open.len() == 1 && inner.len() < MAX_CANDIDATES {
                            inner.push((start, i));
                        }
                    }
                    // A closer that matches nothing: what was open is not JSON.
                    _ => open.clear(),
                }
            }
            _ => {}
        }
    }
    inner
        .into_iter()
        .take(MAX_CANDIDATES.saturating_sub(tried))
        .find_map(|(start, end)| parse(start..=end, &mut 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_compiles_each_schema_once_and_refuses_a_bad_one_every_time() {
        let schemas = Schemas::default();
        let shape = serde_json::json!({"type": "object", "required": ["n"]});
        let first = schemas.get(&shape).unwrap();
        let again = schemas.get(&shape).unwrap();
        assert!(std::sync::Arc::ptr_eq(&first, &again), "compiled once");
        assert!(again.check(serde_json::json!({"n": 1})).is_ok());
        assert!(again.check(serde_json::json!({})).is_err());
        let bad = serde_json::json!({"type": 12});
        assert!(schemas.get(&bad).is_err());
        assert!(schemas.get(&bad).is_err(), "a refusal is not kept as a schema");
        for n in 0..KEPT_SCHEMAS + 10 {
            schemas.get(&serde_json::json!({"minimum": n})).unwrap();
        }
        assert_eq!(schemas.compiled.lock().unwrap().len(), KEPT_SCHEMAS, "bounded");
    }

    /// Found by the schema fuzz target: `$ref: ""` is the document itself,
    /// so this cycle never reaches a property and validating it ran out of
    /// memory. It must be refused like a `#` cycle.
    #[test]
    fn a_cycle_through_an_empty_or_relative_ref_is_refused() {
        for back in ["", "#", "./", "json-schema:///#"] {
            let schema = serde_json::json!({
                "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"anyOf": [{"$ref": back}, {"type": "null"}]}},
                "$ref": "#/$defs/a",
            });
            let refused = Schema::compile(&schema).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(refused.contains("cycle"), "{back:?}: {refused}");
        }
        // A reference into a property is not a cycle in place.
        let tree = serde_json::json!({"type": "object", "properties": {"next": {"$ref": ""}}});
        assert!(Schema::compile(&tree).is_ok());
    }

    #[test]
    fn strict_schemas_are_closed_objects_with_every_property_required() {
        use serde_json::json;
        let closed = json!({"type": "object", "additionalProperties": false, "required": ["a", "b"],
            "properties": {"a": {"type": "string"}, "b": {"type": "array", "items":
                {"type": "object", "additionalProperties": false, "required": ["c"], "properties": {"c": {"type": "integer"}}}}}});
        assert!(is_strict(&closed));
        let mut open_inner = closed.clone();
        open_inner["properties"]["b"]["items"]["additionalProperties"] = json!(true);
        assert!(!is_strict(&open_inner));
        let mut optional = closed.clone();
        optional["required"] = json!(["a"]);
        assert!(!is_strict(&optional));
        assert!(!is_strict(&json!({"type": "array", "items": {"type": "string"}})));
        assert!(!is_strict(&json!({"type": "object", "properties": {"n": {"type": "integer"}}})));
    }
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
    fn extraction_is_linear_and_keeps_finding_values_after_stray_openers() {
        assert_eq!(extract("[ {\"a\": 1} and more"), Some(json!({"a": 1})));
        assert_eq!(extract("} {\"b\": [1, {\"c\": \"]\"}]} x"), Some(json!({"b": [1, {"c": "]"}]})));
        // 200k openers used to take half a minute; now one pass.
        let hostile = "[".repeat(200_000);
        let begun = std::time::Instant::now();
        assert_eq!(extract(&hostile), None);
        // A guard against a hang, not a speed target (benches/ has those).
        assert!(begun.elapsed() < std::time::Duration::from_secs(10), "{:?}", begun.elapsed());
    }

    #[test]
    fn unbounded_schemas_are_refused_at_compile() {
        let cycle =
            json!({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"});
        let e = Schema::compile(&cycle).err().unwrap().to_string();
        assert!(e.contains("cycle") && e.contains("#/$defs/a -> #/$defs/b -> #/$defs/a"), "{e}");
        let through_all_of = json!({"$defs": {"a": {"allOf": [{"$ref": "#"}]}}, "$ref": "#/$defs/a"});
        assert!(Schema::compile(&through_all_of).is_err());
        // A recursive schema that descends into the instance is fine.
        let tree =
            json!({"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#"}}}});
        let tree = Schema::compile(&tree).unwrap();
        assert!(tree.accept(r#"{"children": [{"children": []}]}"#).is_ok());
        let mut deep = json!({"type": "string"});
        for _ in 0..70 {
            deep = json!({"items": deep});
        }
        assert!(Schema::compile(&deep).err().unwrap().to_string().contains("deeper than 64"));
        let big = json!({"enum": vec!["x".repeat(1000); 300]});
        assert!(Schema::compile(&big).err().unwrap().to_string().contains("the limit is 262144 bytes"));
    }

    #[test]
    fn a_backtracking_pattern_is_bounded() {
        let s = Schema::compile(&json!({"type": "array", "items": {"type": "string", "pattern": "^(a+)+$"}}))
            .unwrap();
        let reply = serde_json::to_string(&vec![format!("{}b", "a".repeat(40)); 100]).unwrap();
        let begun = std::time::Instant::now();
        let _ = s.accept(&reply);
        assert!(begun.elapsed() < std::time::Duration::from_secs(10), "a hang guard: {:?}", begun.elapsed());
    }

    #[test]
    fn broken_schema_does_not_compile() {
        let e = Schema::compile(&json!({"type": "no-such-type"})).err().unwrap();
        assert!(e.to_string().starts_with("the schema does not compile"));
    }
}
