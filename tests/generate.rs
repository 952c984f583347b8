//! `odw generate`: the built-in generator workflow, with a scripted agent
//! that first writes a broken script and then a valid one, and end to end
//! on the echo adapter.

mod common;

use serde_json::{Value, json};

use common::Env;

/// A command adapter that keeps every prompt it gets (prompt-N.txt) and
/// answers with a broken workflow first, then a valid one.
const WRITER: &str = r#"#!/bin/sh
dir=$(dirname "$0")
n=$(( $(cat "$dir/calls" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$dir/calls"
cat > "$dir/prompt-$n.txt"
if [ "$n" -eq 1 ]; then
cat <<'JS'
Here is the workflow:
```js
export const meta = { name: 'summarise', description: 'Summarise files' };
for (const f of args.files) {
  await agent(`Summarise ${f}`, { model: 'small' });
}}
return 1;
```
JS
else
cat <<'JS'
Fixed:
```js
export const meta = { name: 'summarise', description: 'Summarise files', phases: [{ title: 'Read' }] };
phase('Read');
const files = (args && args.files) || ['README.md'];
const summaries = await parallel(files.map((f) => () =>
  agent(`Summarise ${f}`, { label: f, model: 'small', adapter: 'echo' })));
return { summaries };
```
JS
fi
"#;

fn writer_env() -> Env {
    let env = Env::new();
    let writer = env.path().join("writer.sh");
    std::fs::write(&writer, WRITER).unwrap();
    let config = json!({
        "defaultAdapter": "echo",
        "adapters": { "writer": { "command": ["sh", writer.to_str().unwrap()] } }
    });
    std::fs::write(env.path().join("odw.config.json"), config.to_string()).unwrap();
    env
}

fn runs(env: &Env) -> String {
    env.runs().to_str().unwrap().to_string()
}

#[test]
fn the_errors_go_back_to_the_agent_until_the_script_compiles_and_save_makes_it_runnable_by_name() {
    let env = writer_env();
    let out = env.odw(&[
        "generate",
        "Summarise each file in args.files",
        "--adapter",
        "writer",
        "--save",
        "summarise",
        "--runs-root",
        &runs(&env),
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(env.path().join("calls")).unwrap().trim(), "2");

    // The first prompt carries the task and the authoring guide; the second
    // the validator's error, with its position, and the broken script.
    let first = std::fs::read_to_string(env.path().join("prompt-1.txt")).unwrap();
    assert!(first.contains("Summarise each file in args.files"));
    assert!(first.contains("# Writing and running odw workflows"), "SKILL.md is the context");
    let second = std::fs::read_to_string(env.path().join("prompt-2.txt")).unwrap();
    assert!(second.contains("does not compile. odw validate reported:"), "{second}");
    let reported = second.lines().find(|l| l.starts_with("- line ")).unwrap_or_else(|| panic!("{second}"));
    assert!(reported.contains("SyntaxError"), "{reported}");
    assert!(reported.starts_with("- line 4, column 2: "), "the position of the stray brace: {reported}");
    assert!(second.contains("}}\nreturn 1;"), "the broken script goes back: {second}");

    // The preview: the script, its meta, and what it may do.
    let preview = &out.stderr;
    assert!(
        preview.contains("agent(`Summarise ${f}`, { label: f, model: 'small', adapter: 'echo' })"),
        "{preview}"
    );
    assert!(preview.contains("workflow     summarise"), "{preview}");
    assert!(preview.contains("phases       Read"), "{preview}");
    assert!(preview.contains("compiled     after 2 attempt(s)"), "{preview}");
    assert!(preview.contains("adapters     echo"), "{preview}");
    assert!(preview.contains("models       small"), "{preview}");
    assert!(preview.contains("some in a loop or callback: up to maxAgents (1000)"), "{preview}");
    let script_at = preview.find("── script ──").unwrap();
    assert!(script_at < preview.find("odw: saved as `summarise`").unwrap(), "shown before it is saved");
    assert!(out.stdout.is_empty(), "with --save the script is not on stdout: {}", out.stdout);

    // Saved where `odw run NAME` finds it.
    let saved = env.path().join(".odw/workflows/summarise.js");
    assert!(saved.is_file());
    let ran = env.odw(&[
        "run",
        "summarise",
        "--wait",
        "--args",
        r#"{"files": ["a.rs", "b.rs"]}"#,
        "--runs-root",
        &runs(&env),
    ]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let result: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(result, json!({ "summaries": ["Summarise a.rs", "Summarise b.rs"] }));
    let listed = env.odw(&["workflows", "list"]);
    assert!(
        listed.stdout.lines().any(|l| l.starts_with("summarise") && l.contains("project .odw")),
        "{}",
        listed.stdout
    );
    assert!(
        listed.stdout.lines().any(|l| l.starts_with("generate") && l.contains("built-in")),
        "{}",
        listed.stdout
    );

    // A second save does not overwrite without --force.
    std::fs::remove_file(env.path().join("calls")).unwrap();
    let again =
        env.odw(&["generate", "x", "--adapter", "writer", "--save", "summarise", "--runs-root", &runs(&env)]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("exists; add --force to replace it"), "{}", again.stderr);
}

#[test]
fn with_the_echo_adapter_generation_runs_end_to_end() {
    let env = Env::new();
    let out =
        env.odw(&["generate", "Count the TODOs in src", "--adapter", "echo", "--runs-root", &runs(&env)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // Without -o/--save/--run the script is the output.
    assert!(
        out.stdout.starts_with("export const meta = {\n  name: \"count-the-todos-in-src\""),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("agents       at most 1"), "{}", out.stderr);
    assert!(out.stderr.contains("isolation    none"), "{}", out.stderr);

    let written = env.odw(&[
        "generate",
        "Count the TODOs in src",
        "--adapter",
        "echo",
        "-o",
        "wf.js",
        "--runs-root",
        &runs(&env),
    ]);
    assert_eq!(written.code, 0, "{}", written.stderr);
    assert_eq!(std::fs::read_to_string(env.path().join("wf.js")).unwrap().trim_end(), out.stdout.trim_end());
    assert_eq!(env.odw(&["validate", "wf.js"]).code, 0);

    // --run asks first; off a terminal it needs --yes.
    let refused = env.odw(&["generate", "Say hi", "--adapter", "echo", "--run", "--runs-root", &runs(&env)]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("add --yes"), "{}", refused.stderr);
    let ran =
        env.odw(&["generate", "Say hi", "--adapter", "echo", "--run", "--yes", "--runs-root", &runs(&env)]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(ran.stderr.contains("── script ──"), "the script is shown before it runs: {}", ran.stderr);
    let result: Value = serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("{e}: {}", ran.stdout));
    assert_eq!(result, json!({ "answer": "Say hi" }));
}

/// A saved `generate.js` replaces the built-in, and odw still validates
/// what it returns itself rather than trusting its `ok`.
#[test]
fn a_saved_generator_replaces_the_builtin_and_its_claims_are_checked() {
    let env = Env::new();
    let dir = env.path().join(".odw/workflows");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("generate.js"),
        "export const meta = { name: 'my-generator', description: 'always the same' };\n\
         return { ok: true, source: 'export const meta = { name: \"x\" };\\nreturn (;', attempts: 1 };\n",
    )
    .unwrap();
    let listed = env.odw(&["workflows", "list"]);
    assert!(
        listed.stdout.lines().any(|l| l.starts_with("generate") && l.contains("always the same")),
        "{}",
        listed.stdout
    );
    assert!(!listed.stdout.contains("built-in"), "{}", listed.stdout);
    let out = env.odw(&["generate", "anything", "--adapter", "echo", "--runs-root", &runs(&env)]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("the generator returned a script that does not compile"), "{}", out.stderr);
    assert!(out.stdout.is_empty());
}

#[test]
fn a_script_that_never_compiles_fails_with_the_last_errors() {
    let env = writer_env();
    // Only the broken answer, every time.
    std::fs::write(env.path().join("writer.sh"), WRITER.replace("-eq 1", "-ge 1")).unwrap();
    let out =
        env.odw(&["generate", "x", "--adapter", "writer", "--attempts", "2", "--runs-root", &runs(&env)]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(env.path().join("calls")).unwrap().trim(), "2");
    assert!(out.stderr.contains("no script compiled after 2 attempt(s)"), "{}", out.stderr);
    assert!(out.stderr.contains("  4:2: SyntaxError"), "{}", out.stderr);
}

/// On a terminal `--run` asks first: `n` runs nothing, `y` runs the script.
/// util-linux's `script` gives odw a pseudo-terminal and types the answer.
#[test]
fn run_asks_on_a_terminal_before_running() {
    let env = Env::new();
    let ask = |answer: &str| {
        let odw = env!("CARGO_BIN_EXE_odw");
        let command = format!(
            "{odw} generate 'Say hi' --adapter echo --run --runs-root {}",
            env.runs().to_str().unwrap()
        );
        let mut child = std::process::Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .current_dir(env.path())
            .env("HOME", env.path())
            .env("ODW_CACHE_DIR", common::cache_dir())
            .env_remove("ODW_CONFIG")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("util-linux `script` (apt-get install -y bsdutils)");
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), answer.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let declined = ask("n\n");
    assert!(declined.contains("run this workflow now? [y/N]"), "{declined}");
    assert!(declined.contains("odw: not run"), "{declined}");
    assert!(!env.runs().join("say-hi").exists(), "nothing ran");
    let accepted = ask("y\n");
    assert!(accepted.contains("\"answer\": \"Say hi\""), "{accepted}");
    assert!(env.runs().join("say-hi").is_dir());
}

/// An answer without a script is an error the agent hears about too.
#[test]
fn an_answer_without_a_script_is_sent_back_as_an_error() {
    let env = writer_env();
    let first = WRITER.split("if [ \"$n\" -eq 1 ]; then\n").nth(1).unwrap().split("else\n").next().unwrap();
    std::fs::write(
        env.path().join("writer.sh"),
        WRITER.replace(first, "echo 'Sorry, I would rather not.'\n"),
    )
    .unwrap();
    let out = env.odw(&["generate", "x", "--adapter", "writer", "--runs-root", &runs(&env)]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let second = std::fs::read_to_string(env.path().join("prompt-2.txt")).unwrap();
    assert!(second.contains("- the answer has no ```js fenced block with the workflow"), "{second}");
    assert!(second.contains("(no script found in the answer)"), "{second}");
    assert!(out.stdout.starts_with("export const meta = { name: 'summarise'"), "{}", out.stdout);
}
