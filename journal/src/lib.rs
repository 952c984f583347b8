//! The odw replay journal: what a workflow run asked its agents and what they
//! answered, kept so that the run can be resumed or replayed.
//!
//! Every `agent()` call a script makes is recorded twice: when it is
//! [issued](Journal::issue) (its index, its [key](call_key), a label and the
//! head of the prompt) and when it [completes](Journal::complete) (its outcome,
//! usage and timing). A later run of the same script with the same arguments
//! reuses recorded outcomes instead of calling the agent again — that is
//! *resume* — and CI can *replay* a whole run with zero live calls. Because
//! calls run concurrently, the order in which they completed is part of what
//! the script saw; the journal numbers completions (`seq`) so replay can
//! deliver them in the recorded order. The journal knows nothing of wasm,
//! scripts or adapters: it stores records and answers questions about them.
//!
//! There is one database per run, in the run's directory. A run's journal is
//! written by that run only and is immutable afterwards, so runs never
//! contend for a lock, deleting a run deletes its journal, and a damaged
//! journal damages one run. The storage is [sled], which is single-process:
//! while a run has its journal open, another process (or a second handle in
//! the same one) cannot open it and gets [`JournalError::Locked`]. Handles
//! opened read-only ([`Journal::open_read_only`]) share the journal with
//! each other, and keep a writer out while they are open.
//!
//! A completion is flushed before [`Journal::complete`] returns: handed to
//! the operating system, so it survives the process however it ends. An
//! agent call can cost minutes and real money; once the engine has acted on a
//! result, the result must survive `kill -9`, an abort or the OOM killer, or
//! a resumed run would pay for the call again and might get a different
//! answer than the one the script already built on. The disk itself is
//! reached within half a second (sled's flusher `fsync`s the file), and
//! [`Journal::finish`] waits for it: a run that has ended has all of its
//! journal on disk (a run that completed no call has nothing a power cut
//! could cost, and its end is only flushed). [`Journal::end`] records the
//! end without that sync, for a caller that leaves it to another process
//! ([`Journal::hand_off_sync`]: odw's guardian syncs the journal of a
//! process that ends with its run once that process is gone). Waiting for
//! the disk at every completion would make a power cut cost at most that
//! half second's calls less, at a fifth of a large fan-out's host time.
//!
//! The database files are an implementation detail of one sled version. To
//! move a journal between machines, attach it to a bug report or keep it in a
//! repository for CI, use [`Journal::export`] and [`Journal::import`]: a
//! versioned JSON Lines format (see [`export`]) that is readable, diffable
//! and independent of sled's on-disk format.
//!
//! ```no_run
//! # fn demo(run_dir: &std::path::Path) -> Result<(), odw_journal::JournalError> {
//! use odw_journal::{CallOutcome, Completed, Issued, Journal, Started, Usage, call_key, content_key, prompt_head};
//! let started = Started {
//!     version: odw_journal::FORMAT_VERSION,
//!     seed: [1, 2],
//!     clock: 1.7e12,
//!     script_hash: "…".into(),
//!     args_hash: "…".into(),
//!     resumed_from: None,
//!     odw_version: "0.1.0".into(),
//!     context: serde_json::Value::Null,
//! };
//! let journal = Journal::create(&run_dir.join("journal"), started)?;
//! let prompt = "Review the change";
//! let opts = serde_json::json!({"adapter": "echo"});
//! let key = call_key(0, prompt, &opts);
//! journal.issue(&Issued {
//!     index: 0,
//!     key: key.clone(),
//!     content_key: content_key(prompt, &opts),
//!     label: "review".into(),
//!     phase: None,
//!     prompt_head: prompt_head(prompt),
//! })?;
//! let seq = journal.complete(&Completed {
//!     index: 0,
//!     key,
//!     outcome: CallOutcome::Ok { value: "looks good".into() },
//!     attempts: 1,
//!     usage: Usage::default(),
//!     clock: 1.7e12 + 1500.0,
//!     ms: 1500,
//! })?;
//! assert_eq!(seq, 0);
//! journal.export(&mut std::io::stdout().lock())?;
//! # Ok(()) }
//! ```

pub mod error;
pub mod export;
pub mod key;
mod layout;
pub mod records;
mod store;
#[cfg(test)]
mod testing;

pub use error::JournalError;
pub use export::EXPORT_FORMAT;
pub use key::{call_key, canonical_json, content_key};
pub use records::{CallOutcome, Completed, Finished, Issued, PROMPT_HEAD_CHARS, Started, Usage, prompt_head};
pub use store::{Calls, Ending, Journal};

/// The version of the records' shape, stored in every journal's started
/// record and every export. A journal or export of another version is
/// refused rather than misread; bump it when the records change. (How a
/// journal lays its records out in the database has a version of its own,
/// which exports do not depend on.)
pub const FORMAT_VERSION: u32 = 1;
