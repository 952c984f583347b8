//! `odw.config.json`, in ODW's format, plus odw's sandbox limits.
//!
//! Lookup order: `--config`, `$ODW_CONFIG`, `./odw.config.json`,
//! `~/.config/odw/config.json`; the first that exists wins. Unknown keys are
//! not silently ignored: they produce a warning with a did-you-mean, because
//! a misspelt `concurency` that does nothing is worse than an error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::protocol::Isolation;

mod executor;

use crate::sandbox::SandboxLimits;
use executor::{EXECUTOR_KEYS, RESOURCE_KEYS};
pub use executor::{ExecutorConfig, ExecutorKind, ExecutorSetting, Placement};

/// Top-level keys, as ODW defines them plus odw's own limits.
const TOP_LEVEL_KEYS: &[&str] = &[
    "defaultAdapter",
    "concurrency",
    "maxAgents",
    "workspaceMode",
    "timeout",
    "schemaRetries",
    "runsRoot",
    "workflowsRoot",
    "adapters",
    "scriptCpuSeconds",
    "scriptMemoryMb",
    "pinAdapter",
    "maxPromptMb",
    "routes",
];
const ADAPTER_KEYS: &[&str] = &[
    "command",
    "stdin",
    "env",
    "timeout",
    "label",
    "flags",
    "effortLevels",
    "strictSchemas",
    "output",
    "kind",
    "url",
    "model",
    "apiKeyEnv",
    "provider",
    "caFile",
    "maxTokens",
    "executor",
];
/// Keys that only mean something for `kind: "http"` adapters.
const HTTP_KEYS: &[&str] = &["url", "model", "apiKeyEnv", "provider", "caFile", "maxTokens"];
/// Keys that only mean something for command adapters.
const COMMAND_KEYS: &[&str] = &["command", "stdin", "env", "flags", "output", "executor"];
const FLAG_KEYS: &[&str] = &["model", "effort", "agentType", "schema"];
const ROUTE_KEYS: &[&str] = &["match", "adapter", "stripPrefix"];

/// The configuration of odw.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    pub default_adapter: Option<String>,
    pub concurrency: Option<usize>,
    pub max_agents: Option<usize>,
    pub workspace_mode: Option<String>,
    /// Per-agent timeout in seconds.
    pub timeout: Option<f64>,
    pub schema_retries: Option<u32>,
    pub runs_root: Option<PathBuf>,
    pub workflows_root: Option<PathBuf>,
    #[serde(default)]
    pub adapters: BTreeMap<String, AdapterConfig>,
    pub script_cpu_seconds: Option<f64>,
    pub script_memory_mb: Option<usize>,
    /// Every call runs on the run's adapter: a script's `opts.adapter`
    /// naming another is refused. Off by default (a script may pick any
    /// configured or built-in adapter, as in ODW); turn it on for
    /// workflows nobody read, so a script cannot spend another account.
    #[serde(default)]
    pub pin_adapter: bool,
    /// The largest prompt one call may send, in MiB (default 16): the host
    /// holds every queued prompt, so this bounds what a script can make it
    /// hold.
    pub max_prompt_mb: Option<usize>,
    /// Model-prefix routing: a call that names a model and no adapter runs
    /// on the adapter of the first route whose `match` fits the model, so
    /// `agent(p, {model: 'claude-sonnet-4-5'})` reaches the Anthropic
    /// adapter and `{model: 'gpt-5'}` the OpenAI one. It only chooses among
    /// adapters the config or odw already has (no new reach); `--adapter`,
    /// `opts.adapter` and `pinAdapter` win over it.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// The file this was read from, if any.
    #[serde(skip)]
    pub path: Option<PathBuf>,
    /// Keys that were not understood, with a suggestion.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// One custom adapter: a command line (ODW's format), or with
/// `kind: "http"` a model API (OpenAI-compatible chat or Anthropic Messages).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdapterConfig {
    /// `"command"` (the default) or `"http"`.
    pub kind: Option<AdapterKind>,
    /// argv, with placeholders `{prompt} {prompt_file} {workspace} {source}
    /// {adapter} {role} {model}`.
    #[serde(default)]
    pub command: Vec<String>,
    /// Whether (or what, as a template) to write to the agent's stdin.
    pub stdin: Option<StdinMode>,
    /// Added to the inherited environment; `null` removes a variable.
    #[serde(default)]
    pub env: BTreeMap<String, Option<String>>,
    /// Per-call timeout in seconds for this adapter.
    pub timeout: Option<f64>,
    pub label: Option<String>,
    #[serde(default)]
    pub flags: Flags,
    /// A script's `effort` word to the word this agent understands (Claude
    /// Code's `max` is Codex's `xhigh`); words not listed pass unchanged.
    #[serde(default)]
    pub effort_levels: BTreeMap<String, String>,
    /// The native schema flag only takes OpenAI strict-mode schemas (every
    /// object closed, every property required), as `codex --output-schema`
    /// does: any other schema goes in the prompt instead of failing the call.
    pub strict_schemas: Option<bool>,
    /// How to read the agent's stdout: plain text (the default), or the JSON
    /// of a known CLI, so that its reported token usage counts.
    pub output: Option<OutputFormat>,
    /// `kind: "http"`: the endpoint, http:// or https:// (`…/v1/chat/completions`,
    /// `https://api.anthropic.com/v1/messages`).
    pub url: Option<String>,
    /// `kind: "http"`: the model when a call names none.
    pub model: Option<String>,
    /// `kind: "http"`: the environment variable holding the API key; read at
    /// call time, never written to run files.
    pub api_key_env: Option<String>,
    /// `kind: "http"`: which API `url` speaks: `"openai"` (chat
    /// completions, the default) or `"anthropic"` (Messages). Needed
    /// because the two differ in request, reply and key header, and a URL
    /// (a proxy, a gateway) does not always tell which it is.
    pub provider: Option<Provider>,
    /// `kind: "http"`: a PEM bundle of CA certificates trusted on top of
    /// the bundled roots, for a private or corporate CA (a TLS-inspecting
    /// proxy, an internal gateway). It only adds trust for this adapter's
    /// connections; the built-in roots stay.
    pub ca_file: Option<PathBuf>,
    /// `kind: "http"` with `provider: "anthropic"`: the `max_tokens` of a
    /// request (the API requires one; default 8192). It caps what one call
    /// can spend on output.
    pub max_tokens: Option<u32>,
    /// Where the command's processes run: `"local"` (the default),
    /// `"slurm"` or `"kubernetes"`, or an object with `kind` and the
    /// scheduler's settings ([`executor`]).
    pub executor: Option<ExecutorSetting>,
}

/// The API of an http adapter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// OpenAI-compatible chat completions.
    #[default]
    Openai,
    /// Anthropic's Messages API.
    Anthropic,
}

/// One model route (`routes` in the config).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    /// A model-name pattern; `*` matches any run of characters, nothing
    /// else is special (`claude-*`, `ollama/*`, `*-mini`).
    #[serde(rename = "match")]
    pub pattern: String,
    /// The adapter the matching calls run on.
    pub adapter: String,
    /// Removes the pattern's text before its first `*` from the model
    /// before the adapter sees it (`ollama/llama3` → `llama3`): a prefix
    /// that only chooses the adapter is no model name the API knows.
    #[serde(default)]
    pub strip_prefix: bool,
}

impl Route {
    /// The model the adapter gets when this route fits `model`.
    fn apply(&self, model: &str) -> Option<String> {
        if !glob(&self.pattern, model) {
            return None;
        }
        let prefix = self.pattern.split('*').next().unwrap_or_default();
        Some(match model.strip_prefix(prefix) {
            Some(rest) if self.strip_prefix => rest.to_string(),
            _ => model.to_string(),
        })
    }
}

/// Whether `text` fits `pattern`, where `*` matches any run of characters
/// (none included) and every other character itself.
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else { return false };
    let mut parts: Vec<&str> = parts.collect();
    let Some(last) = parts.pop() else { return rest.is_empty() };
    for part in parts {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

impl AdapterConfig {
    /// This (a built-in's) configuration changed by `own`, an entry with the
    /// built-in's name and no `command`: each key `own` sets replaces this
    /// one's; `env`, `flags` and `effortLevels` merge key by key, so
    /// `{"claude": {"flags": {"effort": false}}}` changes only that flag.
    pub fn with(mut self, own: &AdapterConfig) -> AdapterConfig {
        fn take<T: Clone>(mine: &mut Option<T>, theirs: &Option<T>) {
            if theirs.is_some() {
                mine.clone_from(theirs);
            }
        }
        take(&mut self.stdin, &own.stdin);
        take(&mut self.timeout, &own.timeout);
        take(&mut self.label, &own.label);
        take(&mut self.output, &own.output);
        take(&mut self.strict_schemas, &own.strict_schemas);
        take(&mut self.executor, &own.executor);
        take(&mut self.flags.model, &own.flags.model);
        take(&mut self.flags.effort, &own.flags.effort);
        take(&mut self.flags.agent_type, &own.flags.agent_type);
        take(&mut self.flags.schema, &own.flags.schema);
        self.env.extend(own.env.clone());
        self.effort_levels.extend(own.effort_levels.clone());
        self
    }
}

/// What an adapter from the configuration is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdapterKind {
    #[default]
    Command,
    Http,
}

/// The shapes of agent output odw can read usage from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// The whole stdout is the reply; usage is estimated.
    #[default]
    Text,
    /// `claude --print --output-format json` (and qwen's JSON array).
    Claude,
    /// `codex exec --json` events.
    Codex,
    /// `gemini --output-format json`.
    Gemini,
    /// `kimi -p … --output-format stream-json` lines.
    Kimi,
}

/// `stdin: true|false` or `stdin: "template"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum StdinMode {
    Enabled(bool),
    Template(String),
}

/// Per-adapter flags odw adds to the command line, one per call option the
/// CLI understands natively. A call option whose flag is unset is handled by
/// odw instead (the schema as a prompt suffix, `agentType` as a persona
/// line) or, for `effort`, not passed on.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Flags {
    /// Selects the model: `"--model"` (followed by the model) or a template
    /// such as `"--model={model}"`.
    pub model: Option<FlagTemplate>,
    /// Sets the reasoning effort (`{effort}`), e.g. `["--effort", "{effort}"]`.
    pub effort: Option<FlagTemplate>,
    /// Runs the call as a named agent (`{agent_type}`), e.g. `"--agent"`.
    pub agent_type: Option<FlagTemplate>,
    /// Native structured output: `{schema}` is the schema as JSON text,
    /// `{schema_file}` a file holding it, e.g. `["--output-schema",
    /// "{schema_file}"]`. The CLI then enforces the schema itself; odw
    /// still validates what comes back.
    pub schema: Option<FlagTemplate>,
}

/// How one option reaches a command line: a flag followed by the value
/// (`"--model"`), one word with a placeholder (`"--model={model}"`), argv
/// words with placeholders (`["-c", "model_reasoning_effort={effort}"]`), or
/// `false` to turn a built-in's flag off.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum FlagTemplate {
    Word(String),
    Words(Vec<String>),
    Off(bool),
}

impl FlagTemplate {
    /// The argv words for `value`, whose placeholder is `placeholder`;
    /// empty when the flag is off.
    pub fn words(&self, placeholder: &str, value: &str) -> Vec<String> {
        match self {
            FlagTemplate::Word(w) if w.contains(placeholder) => vec![w.replace(placeholder, value)],
            FlagTemplate::Word(w) => vec![w.clone(), value.to_string()],
            FlagTemplate::Words(ws) => ws.iter().map(|w| w.replace(placeholder, value)).collect(),
            FlagTemplate::Off(_) => Vec::new(),
        }
    }

    /// Whether the flag adds anything.
    pub fn is_on(&self) -> bool {
        match self {
            FlagTemplate::Word(_) => true,
            FlagTemplate::Words(ws) => !ws.is_empty(),
            FlagTemplate::Off(_) => false,
        }
    }

    /// The template as one line, for `odw adapters`.
    pub fn shown(&self, placeholder: &str) -> Option<String> {
        match self {
            FlagTemplate::Word(w) if w.contains(placeholder) => Some(w.clone()),
            FlagTemplate::Word(w) => Some(format!("{w} {placeholder}")),
            FlagTemplate::Words(ws) if !ws.is_empty() => Some(ws.join(" ")),
            _ => None,
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}

impl Config {
    /// Finds and reads the configuration (see the module docs for the order).
    pub fn discover(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let candidates = [
            explicit.map(Path::to_path_buf),
            std::env::var_os("ODW_CONFIG").map(PathBuf::from),
            Some(PathBuf::from("odw.config.json")),
            home_dir().map(|h| h.join(".config/odw/config.json")),
        ];
        // An explicitly named file must exist; the others are optional.
        if let Some(path) = explicit {
            return Config::read(path);
        }
        for path in candidates.into_iter().flatten() {
            if path.is_file() {
                return Config::read(&path);
            }
        }
        Ok(Config::default())
    }

    /// Reads one configuration file.
    pub fn read(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let mut config = Config::parse(&text)
            .map_err(|message| ConfigError::Invalid { path: path.to_path_buf(), message })?;
        config.path = Some(path.to_path_buf());
        Ok(config)
    }

    /// Parses configuration text; the error names the key at fault.
    pub fn parse(text: &str) -> Result<Config, String> {
        let raw: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        let Value::Object(top) = &raw else {
            return Err("the configuration must be a JSON object".into());
        };
        let mut warnings = misplaced_at_top(top);
        warnings.extend(unknown_keys(
            top.keys().filter(|k| !ADAPTER_KEYS.contains(&k.as_str())),
            TOP_LEVEL_KEYS,
            "",
        ));
        if let Some(Value::Object(adapters)) = top.get("adapters") {
            for (name, adapter) in adapters {
                if let Value::Object(fields) = adapter {
                    let at = format!("adapters.{name}.");
                    let own = fields.keys().filter(|k| !TOP_LEVEL_KEYS.contains(&k.as_str()));
                    warnings.extend(unknown_keys(own, ADAPTER_KEYS, &at));
                    warnings.extend(misplaced_in_adapter(fields, &at));
                    if let Some(Value::Object(flags)) = fields.get("flags") {
                        warnings.extend(unknown_keys(flags.keys(), FLAG_KEYS, &format!("{at}flags.")));
                    }
                    if let Some(Value::Object(executor)) = fields.get("executor") {
                        let at = format!("{at}executor.");
                        warnings.extend(unknown_keys(executor.keys(), EXECUTOR_KEYS, &at));
                        warnings.extend(executor::misplaced(executor, &at));
                        if let Some(Value::Object(by_type)) = executor.get("byAgentType") {
                            for (agent_type, own) in by_type {
                                if let Value::Object(own) = own {
                                    let at = format!("{at}byAgentType.{agent_type}.");
                                    warnings.extend(unknown_keys(own.keys(), RESOURCE_KEYS, &at));
                                }
                            }
                        }
                    }
                }
            }
        }
        if let Some(Value::Array(routes)) = top.get("routes") {
            for (i, route) in routes.iter().enumerate() {
                if let Value::Object(fields) = route {
                    warnings.extend(unknown_keys(fields.keys(), ROUTE_KEYS, &format!("routes[{i}].")));
                }
            }
        }
        let mut config: Config =
            serde_path_to_error::deserialize(raw).map_err(|e| format!("`{}`: {}", e.path(), e.inner()))?;
        config.warnings = warnings;
        config.check()?;
        Ok(config)
    }

    /// Every number in range: each becomes a `Duration`, a semaphore size or
    /// an allocation, and none may panic or exhaust the host.
    fn check(&self) -> Result<(), String> {
        for (key, value, max) in [
            ("concurrency", self.concurrency, MAX_CONCURRENCY),
            ("maxAgents", self.max_agents, MAX_AGENTS),
            ("schemaRetries", self.schema_retries.map(|r| r as usize), MAX_SCHEMA_RETRIES),
        ] {
            match value {
                Some(0) if key != "schemaRetries" => return Err(format!("`{key}` must be at least 1")),
                Some(v) if v > max => return Err(format!("`{key}` must be at most {max}, not {v}")),
                _ => {}
            }
        }
        for (key, v, max) in [
            ("timeout", self.timeout, MAX_TIMEOUT_SECS),
            ("scriptCpuSeconds", self.script_cpu_seconds, MAX_SCRIPT_CPU_SECS),
        ] {
            check_seconds(key, v, max)?;
        }
        if let Some(mode) = self.workspace_mode.as_deref().filter(|m| Isolation::parse_config(m).is_none()) {
            return Err(format!(
                "`workspaceMode` must be one of {} (or \"copy\", ODW's name for \"worktree\"), not {mode:?}",
                Isolation::NAMES.map(|n| format!("\"{n}\"")).join(", ")
            ));
        }
        if self.max_prompt_mb.is_some_and(|mb| !(1..=256).contains(&mb)) {
            return Err("`maxPromptMb` must be between 1 and 256".into());
        }
        if self.script_memory_mb.is_some_and(|mb| !(16..=4096).contains(&mb)) {
            return Err("`scriptMemoryMb` must be between 16 and 4096".into());
        }
        for (name, adapter) in &self.adapters {
            // An empty `command` is allowed here: for a built-in's name it
            // means "the built-in's command, with these changes"; for any
            // other name the adapter layer refuses it when it is chosen.
            if adapter.kind.unwrap_or_default() == AdapterKind::Http {
                check_http(name, adapter)?;
            }
            check_seconds(&format!("adapters.{name}.timeout"), adapter.timeout, MAX_TIMEOUT_SECS)?;
            if let Some(executor) = &adapter.executor {
                executor.config().check(&format!("adapters.{name}.executor"))?;
            }
        }
        for (i, route) in self.routes.iter().enumerate() {
            if route.pattern.is_empty() || route.adapter.is_empty() {
                return Err(format!("`routes[{i}]` needs a non-empty `match` and `adapter`"));
            }
        }
        Ok(())
    }

    /// The adapter and model of the first route that fits `model`.
    pub fn route(&self, model: &str) -> Option<(&str, String)> {
        self.routes.iter().find_map(|r| Some((r.adapter.as_str(), r.apply(model)?)))
    }

    /// Agents running at once: `concurrency`, else min(16, cpus − 2), at least 2.
    pub fn concurrency(&self) -> usize {
        self.concurrency.unwrap_or_else(|| {
            let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
            cpus.saturating_sub(2).clamp(2, 16)
        })
    }

    /// Agent dispatches allowed per run, nested workflows included.
    pub fn max_agents(&self) -> usize {
        self.max_agents.unwrap_or(1000)
    }

    /// The largest prompt one call may send, in bytes.
    pub fn max_prompt_bytes(&self) -> usize {
        self.max_prompt_mb.unwrap_or(16) << 20
    }

    pub fn schema_retries(&self) -> u32 {
        self.schema_retries.unwrap_or(2)
    }

    /// The default per-agent timeout.
    pub fn agent_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout.unwrap_or(1800.0))
    }

    pub fn sandbox_limits(&self) -> SandboxLimits {
        let default = SandboxLimits::default();
        SandboxLimits {
            cpu: self.script_cpu_seconds.map_or(default.cpu, Duration::from_secs_f64),
            memory_bytes: self.script_memory_mb.map_or(default.memory_bytes, |mb| mb << 20),
        }
    }

    /// Where agents work when a call does not say (`workspaceMode`).
    pub fn workspace_mode(&self) -> Isolation {
        self.workspace_mode.as_deref().and_then(Isolation::parse_config).unwrap_or_default()
    }

    /// Where run directories go: `runsRoot`, else `~/.odw/runs`.
    pub fn runs_root(&self) -> PathBuf {
        self.runs_root
            .clone()
            .unwrap_or_else(|| home_dir().unwrap_or_else(|| PathBuf::from(".")).join(".odw/runs"))
    }
}

/// The largest values the configuration accepts.
const MAX_CONCURRENCY: usize = 1024;
const MAX_AGENTS: usize = 1_000_000;
const MAX_SCHEMA_RETRIES: usize = 20;
/// A week: an agent call longer than that is a mistake in the number.
const MAX_TIMEOUT_SECS: f64 = 7.0 * 24.0 * 3600.0;
/// A day of script CPU.
const MAX_SCRIPT_CPU_SECS: f64 = 24.0 * 3600.0;

/// An http adapter's own keys: a URL odw can post to, a sane `maxTokens`.
fn check_http(name: &str, adapter: &AdapterConfig) -> Result<(), String> {
    let url = adapter.url.as_deref().unwrap_or_default();
    if url.is_empty() {
        return Err(format!("`adapters.{name}.url` is required for `kind: \"http\"`"));
    }
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => {}
        Ok(_) => {
            return Err(format!("`adapters.{name}.url` must be an http:// or https:// URL, not {url:?}"));
        }
        Err(e) => return Err(format!("`adapters.{name}.url` {url:?}: {e}")),
    }
    if adapter.max_tokens.is_some_and(|n| !(1..=MAX_TOKENS).contains(&n)) {
        return Err(format!("`adapters.{name}.maxTokens` must be between 1 and {MAX_TOKENS}"));
    }
    if adapter.ca_file.as_ref().is_some_and(|f| f.as_os_str().is_empty()) {
        return Err(format!("`adapters.{name}.caFile` must name a PEM file"));
    }
    Ok(())
}

/// The largest `maxTokens`: above any model's output limit.
const MAX_TOKENS: u32 = 1_000_000;

fn check_seconds(key: &str, value: Option<f64>, max: f64) -> Result<(), String> {
    match value {
        Some(s) if !(s > 0.0 && s.is_finite()) => {
            Err(format!("`{key}` must be a positive number of seconds"))
        }
        Some(s) if s > max => Err(format!("`{key}` must be at most {max} seconds, not {s}")),
        _ => Ok(()),
    }
}

fn unknown_keys<'a>(keys: impl Iterator<Item = &'a String>, known: &[&str], at: &str) -> Vec<String> {
    keys.filter(|k| !known.contains(&k.as_str()))
        .map(|k| {
            let best = known
                .iter()
                .map(|c| (strsim::jaro_winkler(k, c), *c))
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .filter(|(score, _)| *score > 0.8);
            match best {
                Some((_, c)) => format!("unknown key `{at}{k}` (ignored); did you mean `{at}{c}`?"),
                None => format!("unknown key `{at}{k}` (ignored); known keys: {}", known.join(", ")),
            }
        })
        .collect()
}

/// Adapter keys written at the top level (a common slip when moving from a
/// one-adapter setup): they belong inside `adapters.<name>`.
fn misplaced_at_top(top: &serde_json::Map<String, Value>) -> Vec<String> {
    top.keys()
        .filter(|k| ADAPTER_KEYS.contains(&k.as_str()) && !TOP_LEVEL_KEYS.contains(&k.as_str()))
        .map(|k| format!("key `{k}` (ignored) belongs to an adapter: move it to `adapters.<name>.{k}`"))
        .collect()
}

/// Top-level keys written inside an adapter, and keys of the other kind.
fn misplaced_in_adapter(fields: &serde_json::Map<String, Value>, at: &str) -> Vec<String> {
    let http = fields.get("kind").and_then(Value::as_str) == Some("http");
    fields
        .keys()
        .filter_map(|k| {
            if TOP_LEVEL_KEYS.contains(&k.as_str()) && !ADAPTER_KEYS.contains(&k.as_str()) {
                Some(format!("key `{at}{k}` (ignored) is a top-level key: move it to the top of the file"))
            } else if !http && HTTP_KEYS.contains(&k.as_str()) {
                Some(format!("key `{at}{k}` (ignored) only applies with `\"kind\": \"http\"`"))
            } else if http && COMMAND_KEYS.contains(&k.as_str()) {
                Some(format!("key `{at}{k}` (ignored) does not apply to `\"kind\": \"http\"` adapters"))
            } else {
                None
            }
        })
        .collect()
}

/// The user's home directory, from `$HOME`.
pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_odw_format_and_warns_on_unknown_keys() {
        let c = Config::parse(
            r#"{"concurency": 4, "maxAgents": 50, "adapters": {"mine": {"command": ["x", "{prompt}"],
                "env": {"A": "1", "B": null}, "flags": {"model": "--model"}, "lable": "m"}}}"#,
        )
        .unwrap();
        assert_eq!(c.max_agents(), 50);
        assert_eq!(c.adapters["mine"].env["B"], None);
        assert_eq!(
            c.warnings,
            [
                "unknown key `concurency` (ignored); did you mean `concurrency`?",
                "unknown key `adapters.mine.lable` (ignored); did you mean `adapters.mine.label`?"
            ]
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        assert!(Config::parse(r#"{"maxAgents": 0}"#).unwrap_err().contains("maxAgents"));
        assert!(
            Config::parse(r#"{"concurrency": "many"}"#)
                .unwrap_err()
                .starts_with("`concurrency`: invalid type")
        );
        assert!(Config::parse("[1]").unwrap_err().contains("JSON object"));
    }

    #[test]
    fn numbers_out_of_range_are_refused_with_their_key() {
        for (text, key) in [
            (r#"{"scriptCpuSeconds": 1e300}"#, "scriptCpuSeconds"),
            (r#"{"timeout": 1e12}"#, "timeout"),
            (r#"{"concurrency": 100000}"#, "concurrency"),
            (r#"{"maxAgents": 0}"#, "maxAgents"),
            (r#"{"schemaRetries": 1000}"#, "schemaRetries"),
            (r#"{"adapters": {"a": {"command": ["x"], "timeout": 1e300}}}"#, "adapters.a.timeout"),
        ] {
            let e = Config::parse(text).unwrap_err();
            assert!(e.contains(&format!("`{key}`")), "{text}: {e}");
        }
        assert!(Config::parse(r#"{"scriptCpuSeconds": 3600, "schemaRetries": 0}"#).is_ok());
    }

    #[test]
    fn http_adapters_need_a_url_and_workspace_mode_is_checked() {
        let c = Config::parse(
            r#"{"adapters": {"l": {"kind": "http", "url": "http://127.0.0.1:8080/v1/chat/completions",
            "model": "m", "apiKeyEnv": "K"}}}"#,
        )
        .unwrap();
        assert_eq!(c.adapters["l"].kind, Some(AdapterKind::Http));
        assert_eq!(c.adapters["l"].api_key_env.as_deref(), Some("K"));
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let e = Config::parse(r#"{"adapters": {"l": {"kind": "http"}}}"#).unwrap_err();
        assert!(e.contains("adapters.l.url"), "{e}");
        assert!(
            Config::parse(r#"{"adapters": {"l": {"kind": "ftp"}}}"#).unwrap_err().contains("adapters.l.kind")
        );
        assert!(Config::parse(r#"{"workspaceMode": "sandbox"}"#).unwrap_err().contains("workspaceMode"));
        assert!(Config::parse(r#"{"workspaceMode": "worktree"}"#).is_ok());
    }

    #[test]
    fn http_keys_are_checked_by_name() {
        let c = Config::parse(
            r#"{"adapters": {"a": {"kind": "http", "url": "https://api.anthropic.com/v1/messages",
            "provider": "anthropic", "maxTokens": 1000, "caFile": "ca.pem"}}}"#,
        )
        .unwrap();
        assert_eq!(c.adapters["a"].provider, Some(Provider::Anthropic));
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        for (text, key) in [
            (r#"{"url": "ftp://x/y"}"#, "adapters.a.url"),
            (r#"{"url": "not a url"}"#, "adapters.a.url"),
            (r#"{"url": "http://x", "provider": "gemini"}"#, "adapters.a.provider"),
            (r#"{"url": "http://x", "maxTokens": 0}"#, "adapters.a.maxTokens"),
            (r#"{"url": "http://x", "caFile": ""}"#, "adapters.a.caFile"),
        ] {
            let full = format!(r#"{{"adapters": {{"a": {{"kind": "http", {}}}}}"#, &text[1..]);
            let e = Config::parse(&full).unwrap_err();
            assert!(e.contains(key), "{full}: {e}");
        }
        let c = Config::parse(r#"{"adapters": {"c": {"command": ["x"], "caFile": "ca.pem"}}}"#).unwrap();
        assert_eq!(c.warnings, ["key `adapters.c.caFile` (ignored) only applies with `\"kind\": \"http\"`"]);
    }

    #[test]
    fn executor_keys_are_checked_by_name() {
        let c = Config::parse(
            r#"{"adapters": {"a": {"command": ["x"], "executor": {"kind": "slurm", "partiton": "p",
                "image": "i", "byAgentType": {"b": {"cpu": 2}}}}}}"#,
        )
        .unwrap();
        assert_eq!(
            c.warnings,
            [
                "unknown key `adapters.a.executor.partiton` (ignored); did you mean `adapters.a.executor.partition`?",
                "key `adapters.a.executor.image` (ignored) does not apply to `\"kind\": \"slurm\"`",
                "unknown key `adapters.a.executor.byAgentType.b.cpu` (ignored); did you mean \
                 `adapters.a.executor.byAgentType.b.cpus`?"
            ]
        );
        for (executor, key) in [
            (r#""ftp""#, "`adapters.a.executor`"),
            (r#"{"partition": "p"}"#, "`adapters.a.executor`"),
            (r#"{"kind": "slurm", "cpus": "many"}"#, "`adapters.a.executor`"),
            (r#"{"kind": "slurm", "partition": "-p"}"#, "`adapters.a.executor.partition`"),
        ] {
            let text = format!(r#"{{"adapters": {{"a": {{"command": ["x"], "executor": {executor}}}}}}}"#);
            let e = Config::parse(&text).unwrap_err();
            assert!(e.contains(key), "{executor}: {e}");
        }
        let c = Config::parse(
            r#"{"adapters": {"h": {"kind": "http", "url": "http://127.0.0.1:1/v1", "executor": "slurm"}}}"#,
        )
        .unwrap();
        assert_eq!(
            c.warnings,
            ["key `adapters.h.executor` (ignored) does not apply to `\"kind\": \"http\"` adapters"]
        );
    }

    #[test]
    fn routes_match_globs_in_order_and_strip_their_prefix() {
        let c = Config::parse(
            r#"{"routes": [{"match": "claude-*", "adapter": "anthropic"},
                {"match": "ollama/*", "adapter": "local", "stripPrefix": true},
                {"match": "gpt-*-mini", "adapter": "cheap"}, {"match": "gpt-*", "adapter": "openai"},
                {"match": "*", "adapter": "echo", "stripPrefx": true}]}"#,
        )
        .unwrap();
        assert_eq!(
            c.warnings,
            ["unknown key `routes[4].stripPrefx` (ignored); did you mean `routes[4].stripPrefix`?"]
        );
        let route = |m| c.route(m).map(|(a, m)| (a.to_string(), m));
        assert_eq!(route("claude-sonnet-4-5"), Some(("anthropic".into(), "claude-sonnet-4-5".into())));
        assert_eq!(route("ollama/llama3:8b"), Some(("local".into(), "llama3:8b".into())));
        assert_eq!(route("gpt-5-mini"), Some(("cheap".into(), "gpt-5-mini".into())));
        assert_eq!(route("gpt-5"), Some(("openai".into(), "gpt-5".into())));
        assert_eq!(route("claude"), Some(("echo".into(), "claude".into())));
        assert_eq!(Config::default().route("gpt-5"), None);
        assert!(
            Config::parse(r#"{"routes": [{"match": "", "adapter": "x"}]}"#)
                .unwrap_err()
                .contains("routes[0]")
        );
        assert!(Config::parse(r#"{"routes": [{"adapter": "x"}]}"#).unwrap_err().contains("routes[0]"));
    }

    #[test]
    fn globs_match_stars_only() {
        for (p, t, want) in [
            ("a*", "a", true),
            ("a*", "abc", true),
            ("*c", "abc", true),
            ("a*c", "ac", true),
            ("a*b*c", "axbyc", true),
            ("a*b*c", "acb", false),
            ("a?c", "abc", false),
            ("abc", "abc", true),
            ("abc", "abcd", false),
            ("a*a", "a", false),
            ("*", "", true),
        ] {
            assert_eq!(glob(p, t), want, "{p} {t}");
        }
    }

    #[test]
    fn defaults_follow_the_design() {
        let c = Config::default();
        assert!(c.concurrency() >= 2 && c.concurrency() <= 16);
        assert_eq!(c.max_agents(), 1000);
        assert_eq!(c.schema_retries(), 2);
        assert_eq!(c.sandbox_limits(), SandboxLimits::default());
    }
}
