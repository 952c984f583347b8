//! Agent CLIs as subprocesses, configured as in ODW's `odw.config.json`.
//!
//! Each call runs `command` (an argv array with placeholders) in its own
//! process group, so a timeout or a stopped run kills the agent *and* every
//! process it started; a guard kills the group if the call is dropped midway
//! (for example when the workflow finishes without awaiting it). Output is
//! captured with a size cap; a non-zero exit carries the last lines of stderr.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use super::{AdapterError, AgentCall, AgentReply, builtin, guardian};
use crate::config::{AdapterConfig, FlagTemplate, OutputFormat, StdinMode};

/// The largest reply odw accepts from one agent (docs/design.md §5).
pub const MAX_REPLY_BYTES: usize = 16 << 20;
/// How much of stderr is kept for error messages.
const STDERR_TAIL_BYTES: usize = 64 << 10;
/// How many lines of stderr an error shows.
const STDERR_TAIL_LINES: usize = 5;

/// A configured command-line adapter.
#[derive(Debug, Clone)]
pub struct CommandAdapter {
    name: String,
    config: AdapterConfig,
}

impl CommandAdapter {
    pub fn new(name: &str, config: AdapterConfig) -> Self {
        CommandAdapter { name: name.to_string(), config }
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
    fn schema_file(&self, call: &AgentCall) -> std::path::PathBuf {
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
    pub fn prompt_on_stdin(&self, call: &AgentCall) -> bool {
        self.stdin(call).is_some()
    }

    fn fill(&self, template: &str, call: &AgentCall) -> String {
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

    pub async fn call(&self, call: &AgentCall) -> Result<AgentReply, AdapterError> {
        let io_err = |reason: String| AdapterError::Io { adapter: self.name.clone(), reason };
        if self.uses("{prompt_file}") {
            write_prompt_file(&call.prompt_file, &call.prompt)
                .map_err(|e| io_err(format!("cannot write {}: {e}", call.prompt_file.display())))?;
        }
        if let Some(schema) = call.schema.as_ref().filter(|_| self.writes_schema_file(call)) {
            let file = self.schema_file(call);
            write_prompt_file(&file, &schema.to_string())
                .map_err(|e| io_err(format!("cannot write {}: {e}", file.display())))?;
        }
        let argv = self.argv(call);
        let Some((program, rest)) = argv.split_first() else {
            return Err(io_err("`command` is empty".into()));
        };
        let stdin = self.stdin(call);
        let mut cmd = Command::new(program);
        cmd.args(rest)
            .current_dir(&call.workspace)
            .process_group(0)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // The agent dies with odw even when odw cannot clean up (an abort,
        // `kill -9`): the kernel sends it SIGKILL when its parent goes.
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        for (key, value) in &self.config.env {
            match value {
                Some(v) => cmd.env(key, v),
                None => cmd.env_remove(key),
            };
        }
        let mut child = cmd.spawn().map_err(|e| AdapterError::Spawn {
            adapter: self.name.clone(),
            program: program.clone(),
            reason: e.to_string(),
        })?;
        let group = GroupGuard(child.id());
        if let Some(pgid) = group.0 {
            guardian::watch(pgid);
        }

        let mut stdin_pipe = child.stdin.take();
        let feed = async {
            if let (Some(pipe), Some(text)) = (stdin_pipe.as_mut(), &stdin) {
                // An agent that exits without reading its stdin is not an error.
                let _ = pipe.write_all(text.as_bytes()).await;
            }
            drop(stdin_pipe);
        };
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let work = async {
            let ((), out, err, status) = tokio::join!(
                feed,
                read_capped(stdout, MAX_REPLY_BYTES + 1),
                read_tail(stderr, STDERR_TAIL_BYTES),
                child.wait()
            );
            (out, err, status)
        };
        let (out, err, status) = match tokio::time::timeout(call.timeout, work).await {
            Ok(done) => done,
            Err(_) => {
                group.kill();
                return Err(AdapterError::Timeout {
                    adapter: self.name.clone(),
                    secs: call.timeout.as_secs_f64(),
                    killed: true,
                });
            }
        };
        let status = status.map_err(|e| io_err(format!("wait failed: {e}")))?;
        // The agent is done; anything it left running in its group goes too.
        group.kill();
        let out = out.map_err(|e| io_err(format!("reading stdout: {e}")))?;
        let err = err.unwrap_or_default();
        // Past the cap odw stops reading, so the agent may then die of
        // SIGPIPE: the size is the cause to report.
        if out.len() > MAX_REPLY_BYTES {
            return Err(AdapterError::TooLarge {
                adapter: self.name.clone(),
                limit_mb: MAX_REPLY_BYTES >> 20,
            });
        }
        let stdout = String::from_utf8_lossy(&out);
        if !status.success() {
            // A CLI that prints JSON reports its API errors there (claude's
            // `"result": "API Error: 400 …"`), which says more than stderr.
            let format = self.config.output.unwrap_or_default();
            let reported = (format != OutputFormat::Text)
                .then(|| builtin::parse(format, &stdout, &call.prompt).err())
                .flatten()
                .filter(|why| why.starts_with(builtin::REPORTED));
            return Err(AdapterError::Exit {
                adapter: self.name.clone(),
                status: describe_status(status),
                stderr_tail: reported.unwrap_or_else(|| last_lines(&err, STDERR_TAIL_LINES)),
            });
        }
        builtin::parse(self.config.output.unwrap_or_default(), &stdout, &call.prompt)
            .map_err(|reason| AdapterError::Reply { adapter: self.name.clone(), reason })
    }
}

/// Kills a process group when dropped, so no agent outlives its call.
struct GroupGuard(Option<u32>);

impl GroupGuard {
    fn kill(&self) {
        if let Some(pid) = self.0 {
            // SAFETY: killpg only sends a signal; the group id is the pid of a
            // child we spawned with `process_group(0)`.
            unsafe {
                libc::killpg(pid as libc::pid_t, libc::SIGKILL);
            }
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
        if let Some(pgid) = self.0 {
            guardian::forget(pgid);
        }
    }
}

fn write_prompt_file(path: &Path, prompt: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, prompt)
}

async fn read_capped(pipe: Option<impl AsyncRead + Unpin>, cap: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    if let Some(pipe) = pipe {
        pipe.take(cap as u64).read_to_end(&mut out).await?;
    }
    Ok(out)
}

/// Reads a pipe to its end, keeping only the last `keep` bytes.
async fn read_tail(pipe: Option<impl AsyncRead + Unpin>, keep: usize) -> std::io::Result<String> {
    let mut tail = Vec::new();
    if let Some(mut pipe) = pipe {
        let mut buf = [0u8; 8192];
        loop {
            let n = pipe.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            tail.extend_from_slice(&buf[..n]);
            if tail.len() > 2 * keep {
                tail.drain(..tail.len() - keep);
            }
        }
    }
    Ok(String::from_utf8_lossy(&tail).into_owned())
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn describe_status(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("signal {sig} ({})", signal_name(sig)),
        _ => status.to_string(),
    }
}

/// The name of a signal that ends a process, as `kill -l` shows it.
fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL: killed, often by the kernel for using too much memory",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        _ => return format!("SIG{sig}"),
    };
    name.to_string()
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
