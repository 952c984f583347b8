//! `kind: "kubernetes"`: each agent call is one Job, through `kubectl`.
//!
//! A call renders a manifest template (`job.json` beside this file, or the
//! executor's `template`): a ConfigMap holding the call's files (the prompt
//! file, the schema file, what goes to stdin) and a Job whose one container
//! runs the adapter's argv in the executor's `image`, with the ConfigMap
//! mounted at [`FILES_DIR`]. Then, in order:
//!
//! 1. `kubectl create -f -` (the manifest on stdin; nothing is written to
//!    disk);
//! 2. `kubectl wait --for=condition=complete` and `…=failed` side by side,
//!    the first to answer deciding;
//! 3. `kubectl logs job/<name>`: the agent's stdout is the reply;
//! 4. `kubectl delete job/<name> configmap/<name>` — also on a timeout, a
//!    stopped run or a dropped call.
//!
//! The container runs `sh -c 'exec "$@" <stdin 2>/dev/termination-log'`
//! around the argv: a pod has no stdin to write to after it starts
//! (`kubectl attach` would need a TTY-less attach race odw does not take),
//! so stdin comes from the mounted file; and `kubectl logs` would mix the
//! agent's stderr into its reply, so stderr goes to the container's
//! termination message instead. The image therefore needs `sh`.
//!
//! Template placeholders are strings `"{{key}}"`: one that is a whole JSON
//! string becomes the key's JSON value (an array, an object, a number), and
//! is dropped with its key when the value is unset; inside a longer string
//! it is replaced by the value's text. Keys: name, namespace, labels, files,
//! deadline, serviceAccount, image, command, workingDir, env, resources,
//! filesDir, sharedMount, sharedVolume, run, index, attempt, isolation.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::{Launch, Ran, interrupted, process};
use crate::adapters::{AdapterError, AgentCall};
use crate::config::ExecutorConfig;
use crate::rundir::AgentJob;

/// Where a pod finds the call's files (its ConfigMap).
pub const FILES_DIR: &str = "/odw/call";
/// odw's manifest template.
const TEMPLATE: &str = include_str!("job.json");
/// A ConfigMap holds at most 1 MiB; this leaves room for its metadata.
const MAX_FILES_BYTES: usize = 1000 * 1024;
/// The name of the stdin file in the ConfigMap.
const STDIN_KEY: &str = "stdin";

#[derive(Debug, Clone)]
pub struct Kubernetes {
    config: ExecutorConfig,
}

impl Kubernetes {
    pub fn new(config: ExecutorConfig) -> Kubernetes {
        Kubernetes { config }
    }

    /// `-n <namespace>`, when one is set.
    fn namespace_args(&self) -> Vec<String> {
        self.config.namespace.iter().flat_map(|n| ["-n".to_string(), n.clone()]).collect()
    }

    /// The manifest of one call: a `v1` List of its ConfigMap and its Job.
    pub fn render(
        &self,
        launch: &Launch,
        files: &[(PathBuf, String)],
        call: &AgentCall,
    ) -> Result<Value, String> {
        let template = match &self.config.template {
            Some(path) => std::fs::read_to_string(path).map_err(|e| {
                format!("cannot read the manifest template {} (`executor.template`): {e}", path.display())
            })?,
            None => TEMPLATE.to_string(),
        };
        let template: Value = serde_json::from_str(&template)
            .map_err(|e| format!("the manifest template (`executor.template`) is not JSON: {e}"))?;
        Ok(fill(&template, &self.values(launch, files, call)).unwrap_or(Value::Null))
    }

    /// What each placeholder stands for in this call.
    fn values(&self, launch: &Launch, files: &[(PathBuf, String)], call: &AgentCall) -> Map<String, Value> {
        let name = call.job.job_name();
        let isolated = call.workspace != call.source;
        let mut data: Map<String, Value> = files
            .iter()
            .filter_map(|(path, text)| Some((path.file_name()?.to_string_lossy().into_owned(), json!(text))))
            .collect();
        let stdin = match &launch.stdin {
            Some(text) => {
                data.insert(STDIN_KEY.into(), json!(text));
                format!("{FILES_DIR}/{STDIN_KEY}")
            }
            None => "/dev/null".into(),
        };
        let mut command = vec![
            "sh".to_string(),
            "-c".into(),
            format!("exec \"$@\" <{stdin} 2>/dev/termination-log"),
            "odw-agent".into(),
        ];
        command.extend(launch.argv.iter().cloned());
        let env: Vec<Value> = launch
            .env
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| json!({ "name": k, "value": v })))
            .collect();
        let r = self.config.resources_for(call.role.as_deref());
        let mut amounts = Map::new();
        if let Some(cpus) = r.cpus {
            amounts.insert("cpu".into(), json!(cpus.to_string()));
        }
        if let Some(memory) = &r.memory {
            amounts.insert("memory".into(), json!(memory));
        }
        let resources = (!amounts.is_empty()).then(|| json!({ "requests": amounts, "limits": amounts }));
        let shared_path = self.config.shared_path.clone().unwrap_or_else(|| call.source.clone());
        let (shared_mount, shared_volume) = match &self.config.shared_claim {
            Some(claim) => (
                json!({ "name": "odw-shared", "mountPath": shared_path.display().to_string() }),
                json!({ "name": "odw-shared", "persistentVolumeClaim": { "claimName": claim } }),
            ),
            None => (Value::Null, Value::Null),
        };
        let labels = json!({
            "app.kubernetes.io/managed-by": "odw",
            "odw/run": call.job.run,
            "odw/index": call.job.index.to_string(),
            "odw/attempt": call.job.attempt.to_string(),
            "odw/isolation": if isolated { "worktree" } else { "none" },
        });
        let opt = |v: &Option<String>| v.as_ref().map_or(Value::Null, |s| json!(s));
        let mut values = Map::new();
        for (key, value) in [
            ("name", json!(name)),
            ("namespace", opt(&self.config.namespace)),
            ("labels", labels),
            ("files", Value::Object(data)),
            ("deadline", json!(call.timeout.as_secs().max(1))),
            ("serviceAccount", opt(&self.config.service_account)),
            ("image", opt(&self.config.image)),
            ("command", json!(command)),
            // Without a shared volume the project is not in the pod: the
            // image's own working directory is used.
            (
                "workingDir",
                if self.config.shared_claim.is_some() {
                    // Rebuilt from its components: no trailing `/`.
                    json!(launch.cwd.components().collect::<PathBuf>().display().to_string())
                } else {
                    Value::Null
                },
            ),
            ("env", if env.is_empty() { Value::Null } else { json!(env) }),
            ("resources", resources.unwrap_or(Value::Null)),
            ("filesDir", json!(FILES_DIR)),
            ("sharedMount", shared_mount),
            ("sharedVolume", shared_volume),
            ("run", json!(call.job.run)),
            ("index", json!(call.job.index)),
            ("attempt", json!(call.job.attempt)),
            ("isolation", json!(if isolated { "worktree" } else { "none" })),
        ] {
            values.insert(key.into(), value);
        }
        values
    }

    /// The `kubectl` steps of one call, for `odw adapters`.
    pub fn describe(&self, launch: &Launch, call: &AgentCall) -> String {
        let ns = self.namespace_args().join(" ");
        let ns = if ns.is_empty() { String::new() } else { format!(" {ns}") };
        let name = call.job.job_name();
        format!(
            "kubectl create -f <Job {name}: image {}, runs {}{}> ; kubectl wait{ns} job/{name} ; \
             kubectl logs{ns} job/{name} ; kubectl delete{ns} job/{name} configmap/{name}",
            self.config.image.as_deref().unwrap_or("?"),
            super::quoted(&launch.argv),
            if launch.stdin.is_some() { format!(" < {FILES_DIR}/{STDIN_KEY}") } else { String::new() },
        )
    }

    pub async fn run(
        &self,
        adapter: &str,
        launch: Launch,
        files: Vec<(PathBuf, String)>,
        call: &AgentCall,
    ) -> Result<Ran, AdapterError> {
        let io = |reason: String| AdapterError::Io { adapter: adapter.to_string(), reason };
        let size: usize =
            files.iter().map(|(_, t)| t.len()).sum::<usize>() + launch.stdin.as_ref().map_or(0, String::len);
        if size > MAX_FILES_BYTES {
            return Err(io(format!(
                "the call's prompt and files are {} KiB; a Kubernetes ConfigMap holds at most 1 MiB",
                size >> 10
            )));
        }
        let manifest = self.render(&launch, &files, call).map_err(io)?;
        let name = call.job.job_name();
        let tag = &call.job;
        let job = |state: &str| AgentJob {
            index: tag.index,
            attempt: tag.attempt,
            executor: "kubernetes".into(),
            name: name.clone(),
            job: Some(name.clone()),
            state: state.into(),
            accounting: None,
        };
        let kubectl = |args: Vec<String>, stdin: Option<String>| Launch {
            argv: std::iter::once("kubectl".to_string()).chain(args).chain(self.namespace_args()).collect(),
            stdin,
            env: Default::default(),
            cwd: PathBuf::from("/"),
        };
        let step = Duration::from_secs(60);
        let created = process::run(
            &kubectl(vec!["create".into(), "-f".into(), "-".into()], Some(manifest.to_string())),
            step,
            |_| true,
        )
        .await
        .map_err(|e| interrupted(adapter, call, e, None))?;
        if let Some(failure) = created.failure {
            return Err(AdapterError::Exit {
                adapter: adapter.to_string(),
                status: format!("kubectl create: {failure}"),
                stderr_tail: created.stderr.trim().to_string(),
            });
        }
        let guard = Delete { argv: kubectl(delete_args(&name), None).argv, armed: true };
        tag.report(job("submitted"));
        let deadline = format!("--timeout={}s", call.timeout.as_secs().max(1));
        let wait = |condition: &str| {
            kubectl(
                vec![
                    "wait".into(),
                    format!("--for=condition={condition}"),
                    deadline.clone(),
                    format!("job/{name}"),
                ],
                None,
            )
        };
        let (complete, failed) = (wait("complete"), wait("failed"));
        let waited = tokio::time::timeout(call.timeout, async {
            tokio::select! {
                r = process::run(&complete, call.timeout, |_| true) => ("complete", r),
                r = process::run(&failed, call.timeout, |_| true) => ("failed", r),
            }
        })
        .await;
        let outcome = match waited {
            Ok((condition, Ok(ran))) if ran.failure.is_none() => condition,
            Ok((_, Ok(ran))) => {
                // `kubectl wait` itself failed (no such job, no access).
                guard.now().await;
                tag.report(job("Deleted"));
                return Err(AdapterError::Exit {
                    adapter: adapter.to_string(),
                    status: format!("kubectl wait: {}", ran.failure.unwrap_or_default()),
                    stderr_tail: ran.stderr.trim().to_string(),
                });
            }
            Ok((_, Err(e))) => {
                guard.now().await;
                tag.report(job("Deleted"));
                return Err(interrupted(adapter, call, e, Some(name.clone())));
            }
            Err(_) => {
                guard.now().await;
                tag.report(job("Deleted"));
                return Err(interrupted(adapter, call, process::Interrupted::TimedOut, Some(name.clone())));
            }
        };
        let logs =
            process::run(&kubectl(vec!["logs".into(), format!("job/{name}")], None), step, |_| true).await;
        guard.now().await;
        tag.report(job(if outcome == "complete" { "Complete" } else { "Failed" }));
        let logs = logs.map_err(|e| interrupted(adapter, call, e, Some(name.clone())))?;
        if outcome == "failed" {
            let tail: String = String::from_utf8_lossy(&logs.stdout)
                .lines()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            return Ok(Ran {
                stdout: logs.stdout,
                stderr: format!(
                    "{tail}\n(the agent's stderr is the pod's termination message: kubectl describe pod -l job-name={name})"
                ),
                failure: Some(format!("Kubernetes Job {name} failed")),
            });
        }
        if let Some(failure) = logs.failure {
            return Err(AdapterError::Exit {
                adapter: adapter.to_string(),
                status: format!("kubectl logs: {failure}"),
                stderr_tail: logs.stderr.trim().to_string(),
            });
        }
        Ok(Ran { stdout: logs.stdout, stderr: String::new(), failure: None })
    }
}

fn delete_args(name: &str) -> Vec<String> {
    vec![
        "delete".into(),
        format!("job/{name}"),
        format!("configmap/{name}"),
        "--ignore-not-found".into(),
        "--wait=false".into(),
    ]
}

/// Deletes the call's Job and ConfigMap when dropped while armed (a stopped
/// run, a dropped call); [`Delete::now`] does it on the way out otherwise.
struct Delete {
    argv: Vec<String>,
    armed: bool,
}

impl Delete {
    async fn now(mut self) {
        self.armed = false;
        let Some((program, args)) = self.argv.split_first() else { return };
        let _ = tokio::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .await;
    }
}

impl Drop for Delete {
    fn drop(&mut self) {
        if let (true, Some((program, args))) = (self.armed, self.argv.split_first()) {
            // Synchronous: a drop cannot await; `--wait=false` returns at once.
            let _ = std::process::Command::new(program)
                .args(args)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// `template` with its placeholders filled from `values`; `None` for a
/// value that is unset (its key or array element is then left out).
fn fill(template: &Value, values: &Map<String, Value>) -> Option<Value> {
    match template {
        Value::String(s) => {
            if let Some(key) = s.strip_prefix("{{").and_then(|k| k.strip_suffix("}}"))
                && !key.contains("{{")
            {
                return values.get(key).filter(|v| !v.is_null()).cloned();
            }
            let mut text = s.clone();
            for (key, value) in values {
                let shown = match value {
                    Value::String(v) => v.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                text = text.replace(&format!("{{{{{key}}}}}"), &shown);
            }
            Some(Value::String(text))
        }
        Value::Array(items) => Some(Value::Array(items.iter().filter_map(|i| fill(i, values)).collect())),
        Value::Object(fields) => Some(Value::Object(
            fields.iter().filter_map(|(k, v)| Some((k.clone(), fill(v, values)?))).collect(),
        )),
        other => Some(other.clone()),
    }
}

/// Deletes the Jobs and ConfigMaps of run `run` (by their `odw/run`
/// label) in `namespace`; one line saying so, if `kubectl` deleted any.
pub async fn delete_run(run: &str, namespace: Option<&str>) -> Vec<String> {
    let mut cmd = tokio::process::Command::new("kubectl");
    cmd.args([
        "delete",
        "job,configmap",
        "-l",
        &format!("odw/run={run}"),
        "--ignore-not-found",
        "--wait=false",
    ]);
    if let Some(ns) = namespace {
        cmd.args(["-n", ns]);
    }
    let out = cmd.stdin(std::process::Stdio::null()).stderr(std::process::Stdio::null()).output().await;
    match out {
        Ok(out) if out.status.success() && !out.stdout.is_empty() => {
            vec![format!(
                "odw: deleted the Kubernetes Jobs left by run {run}: {}",
                String::from_utf8_lossy(&out.stdout).trim()
            )]
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_values_text_or_nothing() {
        let template = json!({
            "whole": "{{list}}",
            "inside": "job {{name}} #{{index}}",
            "unset": "{{nothing}}",
            "items": ["{{nothing}}", "{{name}}", 3],
            "unknown": "{{unknown}}"
        });
        let mut values = Map::new();
        values.insert("list".into(), json!(["a", "b"]));
        values.insert("name".into(), json!("odw-r-0-1"));
        values.insert("index".into(), json!(0));
        values.insert("nothing".into(), Value::Null);
        assert_eq!(
            fill(&template, &values),
            Some(json!({
                "whole": ["a", "b"],
                "inside": "job odw-r-0-1 #0",
                "items": ["odw-r-0-1", 3]
            }))
        );
    }
}
