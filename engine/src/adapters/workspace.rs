//! `isolation: 'worktree'`: an agent works in its own git worktree on branch
//! `odw/<runId>/<index>`, and what it changed is kept.
//!
//! ODW's copy mode throws an agent's edits away with its scratch copy. Here
//! the agent's changes are committed on its branch when it finishes, the
//! diff (`git diff --stat` and a patch file in the run directory) goes into
//! the `agent_finished` event, and only the worktree directory is removed:
//! the branch stays, to merge, cherry-pick or delete by hand.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;

/// Git commands that touch the shared repository (worktree list, refs) run
/// one at a time; parallel agents finishing together would otherwise race
/// for git's lock files.
static GIT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Why a worktree could not be made or recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorktreeError {
    #[error(
        "isolation: 'worktree' needs a git repository, and {} is not in one \
         (run `git init` and commit, or drop the isolation option)",
        .0.display()
    )]
    NotARepo(PathBuf),
    #[error("isolation: 'worktree' needs git, and it could not be started: {0}")]
    NoGit(String),
    #[error("isolation: 'worktree': the repository at {} has no commit to branch from yet", .0.display())]
    NoCommit(PathBuf),
    #[error("`git {args}` failed: {stderr}")]
    Git { args: String, stderr: String },
}

/// The top of the git repository `workspace` is in.
pub fn repo_root(workspace: &Path) -> Result<PathBuf, WorktreeError> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(workspace)
        .args(["rev-parse", "--show-toplevel"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| WorktreeError::NoGit(e.to_string()))?;
    if !out.status.success() {
        return Err(WorktreeError::NotARepo(workspace.to_path_buf()));
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// One agent's worktree.
#[derive(Debug, Clone)]
pub struct Worktree {
    repo: PathBuf,
    /// The worktree's top directory.
    dir: PathBuf,
    /// Where the agent works: the worktree's counterpart of the run's
    /// workspace (a subdirectory when the workflow runs below the repo top).
    pub workspace: PathBuf,
    pub branch: String,
    base: String,
}

/// What an isolated agent left behind.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Kept {
    pub branch: String,
    /// The commit the branch started from.
    pub base: String,
    /// The agent's commit, if it changed anything.
    pub commit: Option<String>,
    /// `git diff --stat base..branch`.
    pub diff_stat: String,
    /// The patch file in the run directory, if there was a change.
    pub patch: Option<PathBuf>,
}

impl Worktree {
    /// Adds a worktree at `dir` on a new branch from the repository's HEAD.
    pub async fn create(
        workspace: &Path,
        repo: &Path,
        dir: &Path,
        branch: &str,
    ) -> Result<Worktree, WorktreeError> {
        let _git = GIT.lock().await;
        let base = git(repo, &["rev-parse", "--verify", "HEAD"])
            .await
            .map_err(|_| WorktreeError::NoCommit(repo.to_path_buf()))?;
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent).map_err(|e| WorktreeError::Git {
                args: "worktree add".into(),
                stderr: format!("cannot create {}: {e}", parent.display()),
            })?;
        }
        let dir_text = dir.display().to_string();
        git(repo, &["worktree", "add", "--quiet", "-b", branch, &dir_text, &base]).await?;
        let workspace = workspace.canonicalize().unwrap_or_else(|_| workspace.to_path_buf());
        let inside = workspace.strip_prefix(repo).map(Path::to_path_buf).unwrap_or_default();
        // A directory with no tracked file is not checked out; the agent
        // still starts there.
        let _ = std::fs::create_dir_all(dir.join(&inside));
        Ok(Worktree {
            repo: repo.to_path_buf(),
            workspace: dir.join(inside),
            dir: dir.to_path_buf(),
            branch: branch.to_string(),
            base,
        })
    }

    /// Commits what the agent changed on its branch, writes the patch to
    /// `patch_file` and removes the worktree directory (the branch stays).
    pub async fn finish(self, message: &str, patch_file: &Path) -> Result<Kept, WorktreeError> {
        let dir = self.dir.as_path();
        git(dir, &["add", "--all"]).await?;
        let changed = !Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["diff", "--cached", "--quiet"])
            .stdin(Stdio::null())
            .status()
            .await
            .map_err(|e| WorktreeError::Git { args: "diff --cached --quiet".into(), stderr: e.to_string() })?
            .success();
        let commit = if changed {
            // The commit is the agent's: without a configured identity git
            // would refuse it, so odw signs it then.
            let mut args: Vec<&str> = Vec::new();
            if git(dir, &["config", "user.email"]).await.is_err() {
                args.extend(["-c", "user.name=odw", "-c", "user.email=odw@localhost"]);
            }
            args.extend(["commit", "--quiet", "--no-verify", "-m", message]);
            git(dir, &args).await?;
            Some(git(dir, &["rev-parse", "HEAD"]).await?)
        } else {
            None
        };
        let _git = GIT.lock().await;
        let range = format!("{}..{}", self.base, self.branch);
        let diff_stat = git(&self.repo, &["diff", "--stat", &range]).await?;
        let patch = if commit.is_some() {
            let text = git_raw(&self.repo, &["diff", "--binary", &range]).await?;
            if let Some(parent) = patch_file.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            std::fs::write(patch_file, text).map_err(|e| WorktreeError::Git {
                args: "diff".into(),
                stderr: format!("cannot write {}: {e}", patch_file.display()),
            })?;
            Some(patch_file.to_path_buf())
        } else {
            None
        };
        let dir_text = dir.display().to_string();
        git(&self.repo, &["worktree", "remove", "--force", &dir_text]).await?;
        Ok(Kept { branch: self.branch, base: self.base, commit, diff_stat, patch })
    }
}

/// Removes every worktree left under `dir` by calls that never finished (a
/// stopped run): nothing will commit them. Their branches stay, like every
/// isolated call's; a worktree git no longer knows is removed as a folder.
pub async fn remove_abandoned(repo: &Path, dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let _git = GIT.lock().await;
    for entry in entries.flatten() {
        let path = entry.path();
        let text = path.display().to_string();
        if git(repo, &["worktree", "remove", "--force", &text]).await.is_err() {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
    let _ = git(repo, &["worktree", "prune"]).await;
}

/// Runs git in `dir`; its trimmed stdout, or its stderr as the error.
async fn git(dir: &Path, args: &[&str]) -> Result<String, WorktreeError> {
    git_raw(dir, args).await.map(|out| out.trim().to_string())
}

async fn git_raw(dir: &Path, args: &[&str]) -> Result<String, WorktreeError> {
    let failed = |stderr: String| WorktreeError::Git { args: args.join(" "), stderr };
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| failed(e.to_string()))?;
    if !out.status.success() {
        return Err(failed(String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(dir: &Path, script: &str) {
        let ok = std::process::Command::new("sh").arg("-c").arg(script).current_dir(dir).status().unwrap();
        assert!(ok.success(), "{script}");
    }

    #[tokio::test]
    async fn the_agents_change_is_committed_on_its_branch_and_the_patch_written() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        std::fs::create_dir_all(repo.join("sub")).unwrap();
        sh(&repo, "git init -q && git -c user.name=t -c user.email=t@t commit -q --allow-empty -m init");
        let root = repo_root(&repo.join("sub")).unwrap();
        assert_eq!(root.canonicalize().unwrap(), repo.canonicalize().unwrap());
        let wt =
            Worktree::create(&root.join("sub"), &root, &tmp.path().join("wt/0"), "odw/r1/0").await.unwrap();
        assert!(wt.workspace.ends_with("wt/0/sub"));
        std::fs::write(wt.workspace.join("new.txt"), "hello\n").unwrap();
        let kept = wt.finish("odw: agent #0", &tmp.path().join("patches/0.patch")).await.unwrap();
        assert!(kept.commit.is_some());
        assert!(kept.diff_stat.contains("sub/new.txt"), "{}", kept.diff_stat);
        let patch = std::fs::read_to_string(kept.patch.unwrap()).unwrap();
        assert!(patch.contains("+hello"));
        assert!(!tmp.path().join("wt/0").exists(), "the worktree directory is removed");
        let log = git(&root, &["log", "--format=%s", "odw/r1/0"]).await.unwrap();
        assert!(log.starts_with("odw: agent #0"), "{log}");
    }

    #[test]
    fn outside_a_repository_is_a_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let e = repo_root(tmp.path()).unwrap_err();
        assert!(e.to_string().contains("needs a git repository"), "{e}");
    }
}
