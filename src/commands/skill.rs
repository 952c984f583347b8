//! `odw skill install|show`: the authoring skill for host coding agents.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use odw_engine::home_dir;

use crate::cli::SkillCommand;
use crate::report::Exit;

/// The skill, built into the binary so `install` works from any directory.
pub const SKILL: &str = include_str!("../../skill/SKILL.md");
/// The folder name under the agent's skills directory.
const SKILL_DIR: &str = "odw-workflows";

pub fn skill(cmd: SkillCommand) -> anyhow::Result<ExitCode> {
    let (codex, force) = match cmd {
        SkillCommand::Show => {
            print!("{SKILL}");
            return Ok(Exit::Ok.into());
        }
        SkillCommand::Install { claude: _, codex, force } => (codex, force),
    };
    let root =
        if codex { agent_home("CODEX_HOME", ".codex") } else { agent_home("CLAUDE_CONFIG_DIR", ".claude") }
            .context("cannot tell where the agent keeps its skills: set HOME")?;
    let path = root.join("skills").join(SKILL_DIR).join("SKILL.md");
    match std::fs::read_to_string(&path) {
        Ok(existing) if existing == SKILL => {
            eprintln!("odw: {} is already up to date", path.display());
            mention_mcp(codex);
            return Ok(Exit::Ok.into());
        }
        Ok(_) if !force => {
            eprintln!("odw: {} exists and differs; use --force to replace it", path.display());
            return Ok(Exit::Failed.into());
        }
        _ => {}
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(&path, SKILL).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("odw: installed the odw-workflows skill at {}", path.display());
    mention_mcp(codex);
    Ok(Exit::Ok.into())
}

/// The skill teaches the agent to write workflows; the MCP server lets it
/// start and follow them as tool calls. Said once the skill is in place.
fn mention_mcp(codex: bool) {
    let agent = if codex { "codex" } else { "claude" };
    eprintln!("odw: to let the agent run workflows as MCP tools: {agent} mcp add odw -- odw mcp");
}

/// `$VAR` if set, else `~/<dotdir>`.
fn agent_home(var: &str, dotdir: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| home_dir().map(|h| h.join(dotdir)))
}
