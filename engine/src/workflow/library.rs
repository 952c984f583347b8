//! Saved workflows, found by name as ODW and Claude Code find them.
//!
//! `odw run deep-research` looks for `deep-research.js` in, in order:
//! `workflowsRoot` (config), `./.odw/workflows`, `./.claude/workflows`,
//! `~/.odw/workflows`, and `$CLAUDE_CONFIG_DIR/workflows` (else
//! `~/.claude/workflows`): project before personal, the first match wins.

use std::path::{Path, PathBuf};

use crate::config::{Config, home_dir};

/// One directory saved workflows are looked up in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub dir: PathBuf,
    /// Where it comes from, for `odw workflows list`.
    pub origin: &'static str,
}

/// A saved workflow file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saved {
    pub name: String,
    pub path: PathBuf,
    pub origin: &'static str,
}

/// The directories, in lookup order, for a process running in `cwd`.
pub fn sources(config: &Config, cwd: &Path) -> Vec<Source> {
    let mut out = Vec::new();
    if let Some(root) = &config.workflows_root {
        out.push(Source { dir: cwd.join(root), origin: "config workflowsRoot" });
    }
    out.push(Source { dir: cwd.join(".odw/workflows"), origin: "project .odw" });
    out.push(Source { dir: cwd.join(".claude/workflows"), origin: "project .claude" });
    if let Some(home) = home_dir() {
        out.push(Source { dir: home.join(".odw/workflows"), origin: "personal ~/.odw" });
    }
    let claude = std::env::var_os("CLAUDE_CONFIG_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| home_dir().map(|h| h.join(".claude")));
    if let Some(dir) = claude {
        out.push(Source { dir: dir.join("workflows"), origin: "personal .claude" });
    }
    out
}

/// Whether `arg` names a saved workflow rather than a file.
pub fn is_name(arg: &str) -> bool {
    !arg.contains('/') && !arg.ends_with(".js") && !arg.ends_with(".wasm") && !Path::new(arg).exists()
}

/// Whether `name` can name a saved workflow: letters, digits, `-`, `_` and
/// inner dots, at most 128 characters. A name is joined into directories,
/// so anything that could walk out of them (`/`, `..`, a leading dot) is
/// not a name.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && !name.contains("..")
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Finds saved workflow `name` (never anything for a name that is not
/// [valid](valid_name)).
pub fn find(config: &Config, cwd: &Path, name: &str) -> Option<Saved> {
    if !valid_name(name) {
        return None;
    }
    sources(config, cwd).into_iter().find_map(|s| {
        let path = s.dir.join(format!("{name}.js"));
        path.is_file().then(|| Saved { name: name.to_string(), path, origin: s.origin })
    })
}

/// Every saved workflow; a name found twice is listed once, where it wins.
pub fn list(config: &Config, cwd: &Path) -> Vec<Saved> {
    let mut out: Vec<Saved> = Vec::new();
    for source in sources(config, cwd) {
        let Ok(entries) = std::fs::read_dir(&source.dir) else { continue };
        let mut found: Vec<Saved> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "js") && p.is_file())
            .filter_map(|path| {
                let name = path.file_stem()?.to_string_lossy().into_owned();
                Some(Saved { name, path, origin: source.origin })
            })
            .filter(|s| !out.iter().any(|o| o.name == s.name))
            .collect();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        out.extend(found);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_workflows_shadow_personal_ones() {
        let cwd = tempfile::tempdir().unwrap();
        let claude = tempfile::tempdir().unwrap();
        for dir in [cwd.path().join(".claude/workflows"), claude.path().join("workflows")] {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("review.js"), "").unwrap();
        }
        std::fs::write(claude.path().join("workflows/digest.js"), "").unwrap();
        // SAFETY: tests in this module are the only readers of this variable.
        unsafe { std::env::set_var("CLAUDE_CONFIG_DIR", claude.path()) };
        let config = Config::default();
        let review = find(&config, cwd.path(), "review").unwrap();
        assert_eq!(review.origin, "project .claude");
        assert_eq!(find(&config, cwd.path(), "digest").unwrap().origin, "personal .claude");
        let names: Vec<_> = list(&config, cwd.path()).into_iter().map(|s| (s.name, s.origin)).collect();
        assert_eq!(names, [("review".into(), "project .claude"), ("digest".into(), "personal .claude")]);
        assert!(find(&config, cwd.path(), "nope").is_none());
    }

    #[test]
    fn only_plain_names_are_looked_up() {
        for good in ["review", "deep-research", "v2.1_final"] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["", "/etc/passwd", "../x", "a/b", ".hidden", "a..b", "x\0", "naïve", &"n".repeat(129)] {
            assert!(!valid_name(bad), "{bad:?}");
            assert!(find(&Config::default(), Path::new("/"), bad).is_none());
        }
    }

    #[test]
    fn paths_and_js_files_are_not_names() {
        assert!(is_name("deep-research"));
        assert!(!is_name("wf.js"));
        assert!(!is_name("dir/wf"));
    }
}
