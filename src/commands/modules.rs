//! `odw build` and `odw inspect`: workflow modules.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use serde_json::{Value, json};

use odw_engine::{Script, WorkflowModule, atomic_write, built_here, is_module, read_meta};

use super::{config, sandbox};
use crate::cli::{BuildArgs, Global, InspectArgs};
use crate::report::{self, Exit, outln};

pub async fn build(global: &Global, args: &BuildArgs) -> anyhow::Result<ExitCode> {
    let begun = Instant::now();
    let config = config(global)?;
    let output = args.output.clone().unwrap_or_else(|| args.script.with_extension("wasm"));
    if output == args.script {
        anyhow::bail!("{}: the module would overwrite its own script; name it with -o", output.display());
    }
    let script = Script::read(&args.script)?;
    let sandbox = sandbox();
    let bytes = odw_engine::build(sandbox, &config, &script).await?;
    atomic_write(&output, &bytes, false).with_context(|| format!("cannot write {}", output.display()))?;
    eprintln!(
        "odw: built {} ({} KiB, script {}) in {} ms",
        output.display(),
        bytes.len() / 1024,
        &script.hash[..16],
        begun.elapsed().as_millis()
    );
    Ok(Exit::Ok.into())
}

pub async fn inspect(global: &Global, args: &InspectArgs) -> anyhow::Result<ExitCode> {
    let path = &args.workflow;
    let report = if is_module(path) {
        let built = WorkflowModule::read(path)?;
        let size = built.bytes.len();
        let here = built_here(sandbox(), &built.bytes);
        let m = built.manifest.clone();
        Report {
            kind: "module",
            file: m.file,
            meta: m.meta,
            script_hash: m.script_hash,
            built_by: Some(format!("odw {} (module format {})", m.odw_version, m.format)),
            built_here: Some(here),
            size,
            imports: built.imports()?,
        }
    } else {
        let config = config(global)?;
        let script = Script::read(path)?;
        let sandbox = sandbox();
        let meta = read_meta(sandbox, &config, &script).await?;
        Report {
            kind: "script",
            file: script.display_name(),
            meta: meta.raw,
            script_hash: script.hash,
            built_by: None,
            built_here: None,
            size: script.source.len(),
            imports: sandbox.imports(),
        }
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report.to_json(path))?);
    } else {
        report.print(path)?;
    }
    Ok(Exit::Ok.into())
}

/// What `odw inspect` shows.
struct Report {
    kind: &'static str,
    file: String,
    meta: Value,
    script_hash: String,
    built_by: Option<String>,
    /// A module: whether this odw built exactly these bytes. If not, `odw
    /// run` runs the script its manifest carries, not its code.
    built_here: Option<bool>,
    size: usize,
    imports: Vec<String>,
}

impl Report {
    fn to_json(&self, path: &Path) -> Value {
        json!({
            "path": PathBuf::from(path), "kind": self.kind, "file": self.file, "meta": self.meta,
            "scriptHash": self.script_hash, "builtBy": self.built_by, "builtHere": self.built_here,
            "size": self.size,
            "imports": self.imports,
        })
    }

    fn print(&self, path: &Path) -> anyhow::Result<()> {
        let text =
            |key: &str| report::shown(self.meta.get(key).and_then(Value::as_str).unwrap_or("")).into_owned();
        outln!("{} ({})", path.display(), self.kind);
        outln!("  workflow     {}", text("name"));
        outln!("  description  {}", text("description"));
        if let Some(phases) = self.meta.get("phases").and_then(Value::as_array) {
            let titles: Vec<&str> = phases.iter().filter_map(|p| p["title"].as_str()).collect();
            outln!("  phases       {}", report::shown(&titles.join(" · ")));
        }
        outln!("  script       {}", self.file);
        outln!("  script hash  blake3:{}", self.script_hash);
        if let Some(by) = &self.built_by {
            outln!("  built by     {}", report::shown(by));
        }
        match self.built_here {
            Some(true) => outln!("  code         built by this odw: runs as built"),
            Some(false) => {
                outln!("  code         not built by this odw: `odw run` runs the script above, not this code")
            }
            None => {}
        }
        outln!("  size         {} bytes", self.size);
        let what = if self.kind == "module" { "the module" } else { "it runs in" };
        outln!("  imports      {} — everything {what} can call:", self.imports.len());
        for import in &self.imports {
            outln!("    {import}");
        }
        Ok(())
    }
}
