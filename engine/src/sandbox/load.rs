//! The `load` import: what `workflow(ref)` and `validate(source)` get.
//!
//! The guest sends `{"ref": {"name": …}}`, `{"ref": {"scriptPath": …}}` or
//! `{"source": …}` and gets back the loader's view of that workflow: its meta
//! literal and its body wrapped for nesting or compiling, positions kept; or
//! the loader's refusal with its line and column. The guest evaluates those
//! itself, inside the sandbox.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{FindWorkflow, WorkflowRef};
use crate::loader::Script;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Request {
    #[serde(rename = "ref")]
    reference: Option<RefRequest>,
    source: Option<String>,
    filename: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RefRequest {
    name: Option<String>,
    script_path: Option<String>,
}

fn refused(message: String) -> Value {
    json!({ "ok": false, "error": { "line": 0, "column": 0, "message": message } })
}

/// The reply to one `load` request.
pub(super) fn answer(request: &[u8], workflows: Option<&dyn FindWorkflow>) -> Value {
    let request: Request = match serde_json::from_slice(request) {
        Ok(r) => r,
        Err(e) => return refused(format!("bad load request: {e}")),
    };
    let (name, text) = match (request.reference, request.source) {
        (None, Some(source)) => (request.filename.unwrap_or_else(|| "candidate.js".into()), source),
        (Some(r), None) => {
            let reference = match (r.name, r.script_path) {
                (Some(name), None) => WorkflowRef::Name(name),
                (None, Some(path)) => WorkflowRef::ScriptPath(path),
                _ => return refused("give a saved workflow's name or {scriptPath}".into()),
            };
            let Some(workflows) = workflows else {
                return refused("workflow() is not available here".into());
            };
            match workflows.find(&reference) {
                Ok(found) => found,
                Err(message) => return refused(message),
            }
        }
        _ => return refused("bad load request: give `ref` or `source`".into()),
    };
    match Script::parse(std::path::Path::new(&name), text) {
        Ok(script) => json!({
            "ok": true,
            "filename": name,
            "metaSource": script.meta_source,
            "body": script.child_body,
            "compileOnly": script.compile_only,
        }),
        Err(e) => json!({
            "ok": false,
            "filename": name,
            "error": { "line": e.line, "column": e.column, "message": e.message },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct One;
    impl FindWorkflow for One {
        fn find(&self, reference: &WorkflowRef) -> Result<(String, String), String> {
            match reference {
                WorkflowRef::Name(n) if n == "child" => Ok((
                    "child.js".into(),
                    "export const meta = {name:'child', description:''};\nreturn args;".into(),
                )),
                _ => Err("not found".into()),
            }
        }
    }

    #[test]
    fn loads_by_name_and_refuses_what_it_cannot_find() {
        let ok = answer(br#"{"ref":{"name":"child"}}"#, Some(&One));
        assert_eq!(ok["ok"], true);
        assert!(
            ok["body"]
                .as_str()
                .unwrap()
                .starts_with("(async (args, phase, workflow, agent, log, console) => {")
        );
        let missing = answer(br#"{"ref":{"name":"nope"}}"#, Some(&One));
        assert_eq!(missing["error"]["message"], "not found");
        let none = answer(br#"{"ref":{"name":"child"}}"#, None);
        assert_eq!(none["ok"], false);
    }

    #[test]
    fn source_requests_report_loader_refusals_with_positions() {
        let bad = answer(
            br#"{"source":"export const meta = {name:'x',description:''};\nimport y from 'z'"}"#,
            None,
        );
        assert_eq!((bad["error"]["line"].as_u64(), bad["ok"].as_bool()), (Some(2), Some(false)));
    }
}
