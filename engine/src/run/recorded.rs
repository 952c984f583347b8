//! [`Recorded`]: the journal of the run a resume reuses, read on a thread of
//! its own from the moment the command knows it is a resume.
//!
//! Reading it (sled recovering the database, then every record decoded into
//! the [`Plan`]) is the largest fixed cost of a resume: ~7 ms for 1000
//! calls. Nothing needs it before the guest's first call is served, so an
//! `odw run --wait --resume-from` starts it before loading the sandbox and
//! evaluating the workflow's meta, which it then overlaps, on a machine's
//! otherwise idle core. Only a run that executes in this process may start
//! it: the journal stays open (and locked) until the run is over, and a
//! detached worker must open it itself.

use std::path::PathBuf;
use std::thread::JoinHandle;

use odw_journal::Journal;

use super::{RunError, find};
use crate::replay::{Mode, Plan, ReuseRule};

/// The recorded run's plan and journal, being read.
#[derive(Debug)]
pub struct Recorded {
    reading: JoinHandle<Result<(Plan, Journal), RunError>>,
}

impl Recorded {
    /// Starts reading run `id` under `root` for a resume with `reuse`.
    pub fn start(root: PathBuf, id: String, reuse: ReuseRule) -> Recorded {
        // Beside the thread that will run the guest, and behind the load,
        // which the guest's thread wants first (see `helpers`); like
        // `std::thread::spawn`, it panics if no thread can be started.
        let reading = crate::helpers::spawn_behind("odw-recorded", move || read(&root, &id, reuse))
            .expect("failed to spawn thread");
        Recorded { reading }
    }

    /// Waits for the plan and the journal it came from (to be closed once
    /// the plan is handed over).
    pub(super) fn join(self) -> Result<(Plan, Journal), RunError> {
        self.reading.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

/// Opens the journal of run `id` under `root` and plans a resume from it.
pub(super) fn read(root: &std::path::Path, id: &str, reuse: ReuseRule) -> Result<(Plan, Journal), RunError> {
    let old = Journal::open_read_only(&find(root, id)?.journal_path())?;
    Ok((Plan::load(&old, Mode::Resume(reuse))?, old))
}
