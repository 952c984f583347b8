//! Agent CLIs as commands, configured as in ODW's `odw.config.json`.
//!
//! Each call fills `command` (an argv array with placeholders) and the
//! option flags in, decides what goes to stdin and which files the command
//! line names, and hands that to the adapter's executor ([`super::executor`]):
//! by default a subprocess in its own process group, so a timeout or a
//! stopped run kills the agent *and* every process it started; or a SLURM
//! job step, or a Kubernetes Job. Output is captured with a size cap and
//! parsed here, wherever it ran; a non-zero exit carries the last lines of
//! stderr.

use std::path::PathBuf;
use std::time::Duration;

use super::executor::{Executor, Launch, MAX_REPLY_BYTES};
use super::{AdapterError, AgentCall, AgentReply, builtin};
use crate::config::{AdapterConfig, FlagTemplate, OutputFormat, StdinMode};

/// How many lines of stderr an error shows.
const STDERR_TAIL_LINES: usize = 5;

/// A configured command-line adapter.
#[derive(Debug, Clone)]
pub struct CommandAdapter {
    name: String,
    config: AdapterConfig,
    executor: Executor,
}

impl CommandAdapter {
    pub fn new(name: &str, config: AdapterConfig) -> Self {
        let executor = Executor::new(config.executor.as_ref());
        CommandAdapter { name: name.to_string(), config, executor }
    }

    /// Where this adapter's processes run.
    pub fn executor(&self) -> &Executor {
        &self.executor
    }

    pub fn timeout(&self) -> Option<Duration> {
        self.config.timeout.map(Duration::from_secs_f64)
    }

    /// The configuration this adapter runs.
    pub fn config(&self) -> &AdapterConfig {
        &self.config
    }

    /// What this CLI does natively: each call option whose flag is set.
    pub fn natives(&self) -> super::Natives {
        let on = |f: &Option<FlagTemplate>| f.as_ref().is_some_and(FlagTemplate::is_on);
        let flags = &self.config.flags;
        super::Natives {
            schema: on(&flags.schema),
            effort: on(&flags.effort),
            agent_type: on(&flags.agent_type),
        }
    }

    /// Whether this call's schema goes through the CLI's own flag.
    pub fn takes_schema(&self, schema: &serde_json::Value) -> bool {
        self.natives().schema
            && (self.config.strict_schemas != Some(true) || crate::schema::is_strict(schema))
    }

    /// The argv this adapter runs for `call`, placeholders filled in. The
    /// option flags (model, effort, agent, schema) go at the end, or before
    /// a final `-` (the usual "read the prompt from stdin" operand, which
    /// some CLIs want last).
    pub fn argv(&self, call: &AgentCall) -> Vec<String> {
        let mut argv: Vec<String> = self.config.command.iter().map(|a| self.fill(a, call)).collect();
        let flags = &self.config.flags;
        let schema_text = call.schema.as_ref().map(|s| s.to_string());
        let options = [
            (&flags.model, "{model}", call.model.clone()),
            (&flags.effort, "{effort}", self.effort(call)),
            (&flags.agent_type, "{agent_type}", call.role.clone()),
            (&flags.schema, "{schema}", schema_text),
        ];
        let mut extra = Vec::new();
        for (flag, placeholder, value) in options {
            let (Some(flag), Some(value)) = (flag, value) else { continue };
            // A bare flag word is skipped when the command line already
            // places the value itself.
            if matches!(flag, FlagTemplate::Word(w) if !w.contains(placeholder)) && self.uses(placeholder) {
                continue;
            }
            let file = self.schema_file(call).display().to_string();
            extra.extend(
                flag.words(placeholder, &value).into_iter().map(|w| w.replace("{schema_file}", &file)),
            );
        }
        let at =
            if argv.len() > 1 && argv.last().is_some_and(|a| a == "-") { argv.len() - 1 } else { argv.len() };
        argv.splice(at..at, extra);
        argv
    }

    /// The call's effort in this CLI's words (`effortLevels`).
    fn effort(&self, call: &AgentCall) -> Option<String> {
        let effort = call.effort.as_ref()?;
        Some(self.config.effort_levels.get(effort).unwrap_or(effort).clone())
    }

    /// Where `{schema_file}` is written: beside the call's prompt file.
    fn schema_file(&self, call: &AgentCall) -> PathBuf {
        call.prompt_file.with_extension("schema.json")
    }

    /// Whether this call passes the schema through a file.
    fn writes_schema_file(&self, call: &AgentCall) -> bool {
        call.schema.is_some()
            && (self.uses("{schema_file}")
                || matches!(&self.config.flags.schema, Some(FlagTemplate::Word(w)) if w.contains("{schema_file}"))
                || matches!(&self.config.flags.schema, Some(FlagTemplate::Words(ws)) if ws.iter().any(|w| w.contains("{schema_file}"))))
    }

    /// Whether the prompt is written to the agent's stdin.
    #[cfg(test)]
    pub fn prompt_on_stdin(&self, call: &AgentCall) -> bool {
        self.stdin(call).is_some()
    }

    fn fill(&self, template: &str, call: &AgentCall) -> String {
        // Most words of a command line are literal: nothing to fill, and
        // no reason to render every placeholder's value for each of them.
        if !template.contains('{') {
            return template.to_owned();
        }
        template
            .replace("{prompt_file}", &call.prompt_file.display().to_string())
            .replace("{workspace}", &call.workspace.display().to_string())
            .replace("{source}", &call.source.display().to_string())
            .replace("{adapter}", &self.name)
            .replace("{role}", call.role.as_deref().unwrap_or(""))
            .replace("{agent_type}", call.role.as_deref().unwrap_or(""))
            .replace("{model}", call.model.as_deref().unwrap_or(""))
            .replace("{effort}", self.effort(call).as_deref().unwrap_or(""))
            .replace("{schema_file}", &self.schema_file(call).display().to_string())
            .replace("{schema}", &call.schema.as_ref().map(|s| s.to_string()).unwrap_or_default())
            // Last, so a prompt that contains `{workspace}` stays as written.
            .replace("{prompt}", &call.prompt)
    }

    fn uses(&self, placeholder: &str) -> bool {
        self.config.command.iter().any(|a| a.contains(placeholder))
    }

    /// What to write to the agent's stdin, if anything.
    fn stdin(&self, call: &AgentCall) -> Option<String> {
        match &self.config.stdin {
            Some(StdinMode::Enabled(false)) => None,
            Some(StdinMode::Enabled(true)) => Some(call.prompt.clone()),
            Some(StdinMode::Template(t)) => Some(self.fill(t, call)),
            // By default the prompt goes to stdin unless the command line
            // already carries it.
            None => (!self.uses("{prompt}") && !self.uses("{prompt_file}")).then(|| call.prompt.clone()),
        }
    }

    /// The files the command line refers to (`{prompt_file}`,
    /// `{schema_file}`), with their text.
    fn files(&self, call: &AgentCall) -> Vec<(PathBuf, String)> {
        let mut files = Vec::new();
        if self.uses("{prompt_file}") {
            files.push((call.prompt_file.clone(), call.prompt.clone()));
        }
        if let Some(schema) = call.schema.as_ref().filter(|_| self.writes_schema_file(call)) {
            files.push((self.schema_file(call), schema.to_string()));
        }
        files
    }

    /// The call as the agent's process sees it: on an executor whose
    /// processes read the call's files elsewhere (a pod's mount), the
    /// prompt file is named there.
    fn as_seen<'a>(&self, call: &'a AgentCall) -> std::borrow::Cow<'a, AgentCall> {
        match self.executor.files_dir() {
            Some(dir) => {
                let name = call.prompt_file.file_name().map_or_else(|| "prompt.txt".into(), |n| n.to_owned());
                std::borrow::Cow::Owned(AgentCall { prompt_file: dir.join(name), ..call.clone() })
            }
            None => std::borrow::Cow::Borrowed(call),
        }
    }

    /// What one call runs on this machine, before its executor.
    fn launch(&self, call: &AgentCall) -> Launch {
        Launch {
            argv: self.argv(call),
            stdin: self.stdin(call),
            env: self.config.env.clone(),
            cwd: call.workspace.clone(),
        }
    }

    /// What running `call` does, as one line (`odw adapters`).
    pub fn describe(&self, call: &AgentCall) -> String {
        let call = self.as_seen(call);
        self.executor.describe(&self.launch(&call), &call)
    }

    pub async fn call(&self, call: &AgentCall) -> Result<AgentReply, AdapterError> {
        let call = self.as_seen(call);
        let launch = self.launch(&call);
        if launch.argv.is_empty() {
            return Err(AdapterError::Io { adapter: self.name.clone(), reason: "`command` is empty".into() });
        }
        let ran = self.executor.run(&self.name, launch, self.files(&call), &call).await?;
        // Past the cap odw stops reading, so the agent may then die of
        // SIGPIPE: the size is the cause to report.
        if ran.stdout.len() > MAX_REPLY_BYTES {
            return Err(AdapterError::TooLarge {
                adapter: self.name.clone(),
                limit_mb: MAX_REPLY_BYTES >> 20,
            });
        }
        let stdout = String::from_utf8_lossy(&ran.stdout);
        if let Some(status) = ran.failure {
            // A CLI that prints JSON reports its API errors there (claude's
            // `"result": "API Error: 400 …"`), which says more than stderr.
            let format = self.config.output.unwrap_or_default();
            let reported = (format != OutputFormat::Text)
                .then(|| builtin::parse(format, &stdout, &call.prompt).err())
                .flatten()
                .filter(|why| why.starts_with(builtin::REPORTED));
            return Err(AdapterError::Exit {
                adapter: self.name.clone(),
                status,
                stderr_tail: reported.unwrap_or_else(|| last_lines(&ran.stderr, STDERR_TAIL_LINES)),
            });
        }
        builtin::parse(self.config.output.unwrap_or_default(), &stdout, &call.prompt)
            .map_err(|reason| AdapterError::Reply { adapter: self.name.clone(), reason })
    }
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Flags;
    use std::path::PathBuf;

    fn call(prompt: &str) -> AgentCall {
        AgentCall {
            prompt: prompt.into(),
            model: Some("m1".into()),
            role: None,
            effort: None,
            schema: None,
            workspace: std::env::temp_dir(),
            source: PathBuf::from("/src"),
            prompt_file: PathBuf::from("/run/prompts/0.txt"),
            timeout: Duration::from_secs(5),
            job: Default::default(),
        }
    }

    fn adapter(command: &[&str], model_flag: Option<&str>) -> CommandAdapter {
        CommandAdapter::new(
            "mine",
            AdapterConfig {
                command: command.iter().map(|s| s.to_string()).collect(),
                flags: Flags { model: model_flag.map(|f| FlagTemplate::Word(f.into())), ..Flags::default() },
                ..AdapterConfig::default()
            },
        )
    }

    #[test]
    fn fills_placeholders_and_appends_the_model_flag() {
        let a = adapter(
            &["agent", "--cd", "{workspace}", "--from", "{source}", "-f", "{prompt_file}"],
            Some("--model"),
        );
        let tmp = std::env::temp_dir().display().to_string();
        assert_eq!(
            a.argv(&call("p")),
            ["agent", "--cd", &tmp, "--from", "/src", "-f", "/run/prompts/0.txt", "--model", "m1"]
        );
        assert_eq!(a.stdin(&call("p")), None);
        let b = adapter(&["agent"], Some("--model={model}"));
        assert_eq!(b.argv(&call("p")), ["agent", "--model=m1"]);
        assert_eq!(b.stdin(&call("p")).as_deref(), Some("p"));
    }

    #[test]
    fn a_prompt_with_placeholder_text_is_passed_verbatim() {
        let a = adapter(&["agent", "{prompt}"], None);
        assert_eq!(a.argv(&call("use {workspace}")), ["agent", "use {workspace}"]);
    }

    #[tokio::test]
    async fn runs_the_command_and_reports_failures() {
        let ok = adapter(&["sh", "-c", "tr a-z A-Z"], None);
        assert_eq!(ok.call(&call("hello")).await.unwrap().text, "HELLO");

        let bad = adapter(&["sh", "-c", "echo one >&2; echo two >&2; exit 3"], None);
        let e = bad.call(&call("x")).await.unwrap_err();
        assert_eq!(e.to_string(), "`mine` exited with exit code 3: one\ntwo");

        let missing = adapter(&["/no/such/agent"], None);
        assert!(matches!(missing.call(&call("x")).await, Err(AdapterError::Spawn { .. })));
    }

    #[tokio::test]
    async fn timeout_kills_the_process_group() {
        let slow = adapter(&["sh", "-c", "sleep 30"], None);
        let mut c = call("x");
        c.timeout = Duration::from_millis(200);
        let started = std::time::Instant::now();
        let e = slow.call(&c).await.unwrap_err();
        assert!(matches!(e, AdapterError::Timeout { .. }), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
