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
            WorkflowRef::Name(name) if !library::valid_name(name) => {
                return Err(format!(
                    "`{}` is not a saved workflow's name (letters, digits, `-`, `_`, `.`)",
                    name.escape_debug()
                ));
            }
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
            WorkflowRef::ScriptPath(p) => {
                // Symlinks are followed and the result must still be below
                // the script's folder.
                let inside = std::fs::canonicalize(self.base.join(p))
                    .ok()
                    .zip(std::fs::canonicalize(&self.base).ok())
                    .filter(|(path, base)| path.starts_with(base));
                match inside {
                    Some((path, _)) => path,
                    None if self.base.join(p).exists() => {
                        return Err(format!("`{p}` leads outside the calling script's folder"));
                    }
                    None => return Err(format!("cannot read `{p}`: no such file")),
                }
            }
        };
        // Only the fact that the file cannot be read is reported, never its
        // contents or where odw looked: a reference must not become a way to
        // read files or learn the host's layout.
        let shown = match reference {
            WorkflowRef::Name(name) => format!("{name}.js"),
            WorkflowRef::ScriptPath(p) => p.clone(),
        };
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("cannot read `{shown}`: {}", e.kind()))?;
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
        assert_eq!(find("missing.js").unwrap_err(), "cannot read `missing.js`: no such file");
        let named = nested.find(&WorkflowRef::Name("nope".into())).unwrap_err();
        assert_eq!(named, "no saved workflow named `nope`");
        let absolute = nested.find(&WorkflowRef::Name("/etc/passwd".into())).unwrap_err();
        assert!(absolute.contains("is not a saved workflow's name"), "{absolute}");
        // A symlink below the folder to a file outside it is refused.
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.js"), "key").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.js"), dir.path().join("lib.js")).unwrap();
        assert!(find("lib.js").unwrap_err().contains("leads outside"));
    }
}
