//! `odw journal import`: a run directory recreated from a journal export.

use std::path::Path;

use odw_journal::Journal;

use super::{RunError, io};
use crate::rundir::{RunDir, RunMeta, RunState, Status};

/// Recreates a run directory from a journal export: the journal, and
/// `meta.json` from the run record the journal carries.
pub fn import(root: &Path, input: impl std::io::BufRead) -> Result<RunDir, RunError> {
    // Scratch space on the runs root's filesystem, so the journal moves in
    // with a rename.
    let _ = std::fs::create_dir_all(root);
    let scratch = tempfile::tempdir_in(root).map_err(io("cannot make a scratch directory"))?;
    let staged = scratch.path().join("imported");
    let journal = Journal::import(&staged, input)?;
    let meta: RunMeta =
        serde_json::from_value(journal.started().context.clone()).map_err(|e| RunError::Io {
            context: "the export carries no odw run record".into(),
            source: std::io::Error::other(e),
        })?;
    drop(journal);
    let run = RunDir::create(root, &meta.workflow)?;
    std::fs::rename(&staged, run.journal_path()).map_err(io("cannot move the imported journal"))?;
    let meta = RunMeta { run_id: run.id.clone(), imported: true, ..meta };
    run.write_meta(&meta)?;
    let journal = Journal::open_read_only(&run.journal_path())?;
    let finished = journal.finished()?;
    let state = match &finished {
        Some(f) if f.ok => RunState::Done,
        Some(_) => RunState::Failed,
        None => RunState::Interrupted,
    };
    run.write_status(&Status::new(&run.id, &meta.workflow, state, 0))?;
    if let Some(f) = finished.filter(|f| f.ok) {
        run.write_result(&f.result)?;
    }
    Ok(run)
}
