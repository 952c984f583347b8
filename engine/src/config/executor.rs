//! `adapters.<name>.executor` in `odw.config.json`: where a command
//! adapter's process runs.
//!
//! `"local"` (the default) or an object with `kind` `"slurm"` or
//! `"kubernetes"` and that scheduler's keys. Every value that reaches a
//! scheduler's command line is checked here, at load, so an error names
//! its key (`adapters.claude.executor.partition`) instead of surfacing as
//! a failed job later; none may start with `-` (it would be read as an
//! option of `srun` or `kubectl`) or hold whitespace or control characters.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

/// Every key an executor object may have.
pub const EXECUTOR_KEYS: &[&str] = &[
    "kind",
    "partition",
    "time",
    "cpus",
    "memory",
    "workspace",
    "args",
    "image",
    "namespace",
    "serviceAccount",
    "sharedClaim",
    "sharedPath",
    "template",
    "byAgentType",
];
/// Keys that mean something only for `kind: "slurm"`.
const SLURM_ONLY: &[&str] = &["partition", "workspace", "args"];
/// Keys that mean something only for `kind: "kubernetes"`.
const KUBERNETES_ONLY: &[&str] =
    &["image", "namespace", "serviceAccount", "sharedClaim", "sharedPath", "template"];
/// Keys of one `byAgentType` entry.
pub const RESOURCE_KEYS: &[&str] = &["partition", "time", "cpus", "memory"];

/// Where a command adapter's process runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutorKind {
    /// A subprocess of odw, on this machine.
    #[default]
    Local,
    /// A SLURM job step (`srun`), one per call.
    Slurm,
    /// A Kubernetes Job, one per call, through `kubectl`.
    Kubernetes,
}

impl ExecutorKind {
    pub fn name(self) -> &'static str {
        match self {
            ExecutorKind::Local => "local",
            ExecutorKind::Slurm => "slurm",
            ExecutorKind::Kubernetes => "kubernetes",
        }
    }
}

/// `executor`: a kind's name (`"slurm"`), or an object with `kind` and its
/// settings; a bare name is an object with only `kind`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "serde_json::Value")]
pub struct ExecutorSetting(ExecutorConfig);

impl TryFrom<serde_json::Value> for ExecutorSetting {
    type Error = String;

    /// By hand rather than `untagged`, whose only error is "did not match
    /// any variant": this one says which kind or key is wrong.
    fn try_from(value: serde_json::Value) -> Result<Self, String> {
        match value {
            serde_json::Value::String(_) => serde_json::from_value(value)
                .map(|kind| ExecutorSetting(ExecutorConfig { kind, ..ExecutorConfig::default() }))
                .map_err(|e| format!("{e} (or an object with `kind`)")),
            serde_json::Value::Object(ref fields) if !fields.contains_key("kind") => {
                Err("an executor object needs `kind`: \"local\", \"slurm\" or \"kubernetes\"".into())
            }
            serde_json::Value::Object(_) => {
                serde_json::from_value(value).map(ExecutorSetting).map_err(|e| e.to_string())
            }
            _ => Err("must be \"local\", \"slurm\", \"kubernetes\" or an object with `kind`".into()),
        }
    }
}

impl ExecutorSetting {
    pub fn config(&self) -> &ExecutorConfig {
        &self.0
    }
}

/// Resources one call asks the scheduler for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    /// SLURM: `--partition`.
    pub partition: Option<String>,
    /// SLURM: `--time` (`MM`, `HH:MM:SS`, `D-HH`…). Default: odw's timeout
    /// for the call, rounded up to whole minutes, so the scheduler ends a
    /// job even when the odw that started it is gone.
    pub time: Option<String>,
    /// CPUs a call gets: SLURM `--cpus-per-task` (default 1), Kubernetes
    /// `resources.requests.cpu` and `limits.cpu` (unset: none asked).
    pub cpus: Option<u32>,
    /// Memory a call gets, in the scheduler's own syntax: SLURM `--mem`
    /// (`4G`), Kubernetes `requests`/`limits.memory` (`4Gi`).
    pub memory: Option<String>,
}

impl Resources {
    /// These resources with each key `other` sets replacing this one's.
    pub fn with(&self, other: &Resources) -> Resources {
        Resources {
            partition: other.partition.clone().or_else(|| self.partition.clone()),
            time: other.time.clone().or_else(|| self.time.clone()),
            cpus: other.cpus.or(self.cpus),
            memory: other.memory.clone().or_else(|| self.memory.clone()),
        }
    }
}

/// Where a SLURM job's agent works.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Placement {
    /// In the same directory as a local call (the project, or the call's
    /// worktree), which must be on a filesystem every node mounts at the
    /// same path.
    #[default]
    Shared,
    /// In a fresh `git clone` of the project in the node's `$TMPDIR`; what
    /// the agent changed comes back as `patches/<index>.patch` in the run
    /// directory (which must still be shared), and the clone is removed.
    Clone,
}

/// An `executor` object.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutorConfig {
    pub kind: ExecutorKind,
    #[serde(flatten)]
    pub resources: Resources,
    /// SLURM: where the agent works.
    pub workspace: Option<Placement>,
    /// SLURM: more `srun` options, as written (`["--account=ml",
    /// "--qos=low"]`); they come from the configuration, as trusted as the
    /// adapter's own `command`.
    #[serde(default)]
    pub args: Vec<String>,
    /// Kubernetes: the container image that holds the agent CLI.
    pub image: Option<String>,
    /// Kubernetes: the namespace of the Jobs (default: kubectl's current).
    pub namespace: Option<String>,
    /// Kubernetes: the service account the pods run as.
    pub service_account: Option<String>,
    /// Kubernetes: a PersistentVolumeClaim mounted at `sharedPath`, holding
    /// the project and the run directories (the shared filesystem).
    pub shared_claim: Option<String>,
    /// Kubernetes: where `sharedClaim` is mounted, the same path as on the
    /// machine running odw (default: the run's workspace).
    pub shared_path: Option<PathBuf>,
    /// Kubernetes: a JSON manifest template to render instead of odw's.
    pub template: Option<PathBuf>,
    /// Resources by the call's `agentType`: a script stays Claude
    /// Code-compatible and still asks for a bigger node for its builders.
    #[serde(default)]
    pub by_agent_type: BTreeMap<String, Resources>,
}

impl ExecutorConfig {
    /// The resources of a call with `agent_type`.
    pub fn resources_for(&self, agent_type: Option<&str>) -> Resources {
        match agent_type.and_then(|t| self.by_agent_type.get(t)) {
            Some(own) => self.resources.with(own),
            None => self.resources.clone(),
        }
    }

    /// Every value in range and safe on a command line; the error names the
    /// key under `at` (`adapters.<name>.executor`).
    pub fn check(&self, at: &str) -> Result<(), String> {
        check_resources(&self.resources, at)?;
        for (agent_type, own) in &self.by_agent_type {
            check_resources(own, &format!("{at}.byAgentType.{agent_type}"))?;
        }
        for (i, arg) in self.args.iter().enumerate() {
            if !arg.starts_with('-') || arg.chars().any(char::is_control) {
                return Err(format!(
                    "`{at}.args[{i}]` must be an srun option (starting with '-'), not {arg:?}"
                ));
            }
        }
        match self.kind {
            ExecutorKind::Kubernetes => {
                let image = self.image.as_deref().unwrap_or_default();
                if image.is_empty() {
                    return Err(format!("`{at}.image` is required for `kind: \"kubernetes\"`"));
                }
                word(&format!("{at}.image"), image)?;
                for (key, value) in [
                    ("namespace", &self.namespace),
                    ("serviceAccount", &self.service_account),
                    ("sharedClaim", &self.shared_claim),
                ] {
                    if let Some(v) = value {
                        dns_name(&format!("{at}.{key}"), v)?;
                    }
                }
                if self.shared_path.as_ref().is_some_and(|p| !p.is_absolute()) {
                    return Err(format!("`{at}.sharedPath` must be an absolute path"));
                }
                if self.shared_path.is_some() && self.shared_claim.is_none() {
                    return Err(format!(
                        "`{at}.sharedPath` needs `{at}.sharedClaim`, the volume mounted there"
                    ));
                }
            }
            ExecutorKind::Slurm | ExecutorKind::Local => {}
        }
        Ok(())
    }
}

/// Warnings for keys of the other kind (`image` on a SLURM executor).
pub fn misplaced(fields: &serde_json::Map<String, serde_json::Value>, at: &str) -> Vec<String> {
    let kind = fields.get("kind").and_then(serde_json::Value::as_str).unwrap_or_default();
    let foreign: &[&str] = match kind {
        "slurm" => KUBERNETES_ONLY,
        "kubernetes" => SLURM_ONLY,
        _ => return Vec::new(),
    };
    fields
        .keys()
        .filter(|k| foreign.contains(&k.as_str()))
        .map(|k| format!("key `{at}{k}` (ignored) does not apply to `\"kind\": \"{kind}\"`"))
        .collect()
}

fn check_resources(r: &Resources, at: &str) -> Result<(), String> {
    if let Some(p) = &r.partition {
        word(&format!("{at}.partition"), p)?;
    }
    if let Some(t) = &r.time
        && (t.is_empty()
            || !t.chars().all(|c| c.is_ascii_digit() || c == ':' || c == '-')
            || t.starts_with('-'))
    {
        return Err(format!(
            "`{at}.time` must be a SLURM time limit (minutes, `HH:MM:SS` or `D-HH:MM`), not {t:?}"
        ));
    }
    if r.cpus.is_some_and(|n| !(1..=4096).contains(&n)) {
        return Err(format!("`{at}.cpus` must be between 1 and 4096"));
    }
    if let Some(m) = &r.memory
        && (m.is_empty() || !m.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'))
    {
        return Err(format!(
            "`{at}.memory` must be an amount such as \"4G\" (SLURM) or \"4Gi\" (Kubernetes), not {m:?}"
        ));
    }
    Ok(())
}

/// One word that no command line takes for an option.
fn word(key: &str, value: &str) -> Result<(), String> {
    if value.is_empty()
        || value.starts_with('-')
        || value.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!("`{key}` must be one word, not starting with '-' (got {value:?})"));
    }
    Ok(())
}

/// A Kubernetes object name (RFC 1123 label: lowercase letters, digits and
/// `-`, at most 63, starting and ending alphanumeric).
fn dns_name(key: &str, value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!("`{key}` must be a Kubernetes name (lowercase letters, digits, '-'), not {value:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ExecutorConfig, String> {
        let setting: ExecutorSetting = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let config = setting.config().clone();
        config.check("adapters.a.executor").map(|()| config)
    }

    #[test]
    fn a_kind_alone_or_an_object() {
        assert_eq!(parse(r#""slurm""#).unwrap().kind, ExecutorKind::Slurm);
        assert_eq!(parse(r#""local""#).unwrap().kind, ExecutorKind::Local);
        let c = parse(
            r#"{"kind": "slurm", "partition": "gpu", "time": "0:30:00", "cpus": 2, "memory": "4G",
                "workspace": "clone", "args": ["--account=ml"],
                "byAgentType": {"builder": {"cpus": 8, "memory": "32G"}}}"#,
        )
        .unwrap();
        assert_eq!(c.workspace, Some(Placement::Clone));
        let builder = c.resources_for(Some("builder"));
        assert_eq!(
            (builder.cpus, builder.memory.as_deref(), builder.partition.as_deref()),
            (Some(8), Some("32G"), Some("gpu"))
        );
        assert_eq!(c.resources_for(Some("other")).cpus, Some(2));
        assert_eq!(c.resources_for(None).cpus, Some(2));
    }

    #[test]
    fn bad_values_name_their_key() {
        for (text, key) in [
            (r#"{"kind": "slurm", "partition": "--uid=0"}"#, "adapters.a.executor.partition"),
            (r#"{"kind": "slurm", "partition": "a b"}"#, "adapters.a.executor.partition"),
            (r#"{"kind": "slurm", "time": "1 hour"}"#, "adapters.a.executor.time"),
            (r#"{"kind": "slurm", "cpus": 0}"#, "adapters.a.executor.cpus"),
            (r#"{"kind": "slurm", "memory": "4 G"}"#, "adapters.a.executor.memory"),
            (r#"{"kind": "slurm", "args": ["x"]}"#, "adapters.a.executor.args[0]"),
            (
                r#"{"kind": "slurm", "byAgentType": {"b": {"cpus": 0}}}"#,
                "adapters.a.executor.byAgentType.b.cpus",
            ),
            (r#"{"kind": "kubernetes"}"#, "adapters.a.executor.image"),
            (
                r#"{"kind": "kubernetes", "image": "i", "namespace": "Agents"}"#,
                "adapters.a.executor.namespace",
            ),
            (r#"{"kind": "kubernetes", "image": "i", "sharedPath": "/w"}"#, "adapters.a.executor.sharedPath"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(&format!("`{key}`")), "{text}: {e}");
        }
    }
}
