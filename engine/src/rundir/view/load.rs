//! A [`RunView`] from a run directory: the fold of its events, plus what
//! only the directory has: the status's liveness verdict, the result or
//! error, and each call's prompt and reply.

use super::RunView;
use crate::rundir::{RunDir, RunDirError};

/// How much of a prompt file a view keeps: enough to audit a call, not so
/// much that a report of a run with huge prompts becomes unopenable.
pub const PROMPT_KEPT_BYTES: usize = 64 * 1024;

impl RunView {
    /// The view of a run from its directory: meta, every event so far, the
    /// status; and for a run that has ended, its result or error and each
    /// call's prompt and reply (from the journal and the prompt files).
    pub fn load(run: &RunDir) -> Result<RunView, RunDirError> {
        let meta = run.read_meta()?;
        let mut view = RunView::new(&meta);
        let mut tail = run.event_tail();
        let lines = tail.read_new().map_err(|source| RunDirError::Io {
            action: "read",
            path: run.path.clone(),
            source,
        })?;
        lines.iter().for_each(|line| view.apply_line(line));
        if let Ok(status) = run.status() {
            view.apply_status(&status);
        }
        if view.state.is_final() {
            view.result = run.read_result();
            if view.error.is_none() {
                view.error = run.read_error();
            }
            view.add_details(run);
        }
        Ok(view)
    }

    /// Adds prompts and replies from where the run keeps them. The journal
    /// is a single-process database: it is read only once the run has ended.
    fn add_details(&mut self, run: &RunDir) {
        match odw_journal::Journal::open_read_only(&run.journal_path()) {
            Ok(journal) => {
                let issued = journal.issued().unwrap_or_default();
                let completions = journal.completions().unwrap_or_default();
                for call in issued {
                    if let Some(agent) = self.agents.get_mut(call.index as usize) {
                        agent.prompt_head = Some(call.prompt_head);
                    }
                }
                for (_, done) in completions {
                    if let (Some(agent), odw_journal::CallOutcome::Ok { value }) =
                        (self.agents.get_mut(done.index as usize), done.outcome)
                    {
                        agent.reply = Some(value);
                    }
                }
            }
            Err(e) => self.details_missing = Some(e.to_string()),
        }
        for agent in &mut self.agents {
            if let Ok(text) = std::fs::read(run.prompt_file(agent.index, 1)) {
                agent.prompt = Some(kept(&text));
            }
        }
    }
}

/// A prompt file's text, cut to [`PROMPT_KEPT_BYTES`] at a character boundary.
fn kept(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.len() <= PROMPT_KEPT_BYTES {
        return text.into_owned();
    }
    let mut at = PROMPT_KEPT_BYTES;
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    format!("{}… ({} more bytes not shown)", &text[..at], text.len() - at)
}
