//! Where `workflow(ref)` may look: the nested-workflow path policy.
//!
//! A script reaches saved workflows by name, and `.js` files beside or below
//! it, never the rest of the disk. The sandbox only asks ([`FindWorkflow`]);
//! this decides.

use std::path::{Component, Path, PathBuf};

use super::library;
use crate::config::Config;
use crate::sandbox::{FindWorkflow, WorkflowRef};

/// The policy for one run.
pub struct Nested {
    pub config: Config,
    /// Where saved workflows are looked up from (the run's workspace).
    pub workspace: PathBuf,
    /// The calling script's folder.
    pub base: PathBuf,
}

impl FindWorkflow for Nested {
    fn find(&self, reference: &WorkflowRef) -> Result<(String, String), String> {
        let path = match reference {
            WorkflowRef::Name(name) => library::find(&self.config, &self.workspace, name)
                .map(|saved| saved.path)
                .ok_or_else(|| format!("no saved workflow named `{name}`"))?,
            WorkflowRef::ScriptPath(p) if !p.ends_with(".js") => {
                return Err(format!("`{p}` is not a .js workflow file"));
            }
            WorkflowRef::ScriptPath(p)
                if Path::new(p)
                    .components()
                    .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir)) =>
            {
                return Err(format!("`{p}` must be a relative path below the calling script's folder"));
            }
            WorkflowRef::ScriptPath(p) => self.base.join(p),
        };
        // Only the fact that the file cannot be read is reported, never its
        // contents: a reference must not become a way to read files.
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Ok((path.display().to_string(), text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_relative_js_paths_below_the_script_are_reached() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/child.js"), "child").unwrap();
        let nested =
            Nested { config: Config::default(), workspace: dir.path().into(), base: dir.path().into() };
        let find = |p: &str| nested.find(&WorkflowRef::ScriptPath(p.into()));
        assert_eq!(find("./sub/child.js").unwrap().1, "child");
        assert!(find("../x.js").unwrap_err().contains("relative path below"));
        assert!(find("/etc/x.js").unwrap_err().contains("relative path below"));
        assert!(find("sub/child.txt").unwrap_err().contains("not a .js"));
        assert!(find("missing.js").unwrap_err().starts_with("cannot read"));
        let named = nested.find(&WorkflowRef::Name("nope".into())).unwrap_err();
        assert_eq!(named, "no saved workflow named `nope`");
    }
}
