//! [`Scribe`]: writes a resumed run's copied records on a thread of its own.
//!
//! A resume serves most of its calls from the recorded journal, and copies
//! each into its own journal (its issued record and its completion, many
//! calls to a record: [`Journal::copy`]) so that it can be resumed in turn.
//! Those writes were a third of the scheduler's work per reused call, and
//! the scheduler is what a resume waits for. No
//! copy needs to be written before the guest sees it: the recorded journal
//! already holds it on disk. So the scheduler hands the copies to the
//! scribe, which writes them beside the scheduler, on the core the guest
//! leaves idle once it has issued its calls. It is woken once per burst of
//! the scheduler's ([`Scribe::wake`]), not per record.
//!
//! What stays exactly as before:
//! - **Order.** Completions reach the journal in the order they were handed
//!   over, and one written at once ([`Scribe::now`], a live call's) is
//!   written after every record handed over before it: the journal's
//!   completion order is the order the guest saw.
//! - **Durability.** A live completion's flush persists everything written
//!   before it, copies included, as when the scheduler wrote them itself;
//!   [`Scribe::finish`] writes what is left before the run's end is.
//! - **A failed copy stops the run.** The guest has seen the copy by then
//!   (it is safe in the recorded journal), but the scheduler fails every
//!   completion after it ([`Scribe::failure`]), as it did the copy itself.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use odw_journal::{Completed, Issued, Journal, JournalError};

use crate::rundir::{Event, Progress};

/// A record handed over, to be written in turn.
enum Copy {
    /// A call's issued record.
    Issued(Issued),
    /// A call served from the recorded journal: its issued record and its
    /// completion, written together with the others of its batch.
    Served(Issued, Completed),
}

/// Writes handed-over records on its thread, in order.
pub(super) struct Scribe {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

struct Shared {
    journal: Arc<Journal>,
    progress: Arc<Progress>,
    queue: Mutex<Queue>,
    /// Signalled when records are queued or the scribe is closed.
    wake: Condvar,
    /// Held by whoever writes to the journal: the thread, for a batch it
    /// took from the queue, or [`Scribe::now`], which first writes what is
    /// still queued. Taking the queue's records only while holding it keeps
    /// the journal in hand-over order.
    pen: Mutex<()>,
}

#[derive(Default)]
struct Queue {
    records: VecDeque<Copy>,
    closed: bool,
    /// The first completion that could not be written: its index and why.
    failure: Option<(u32, String)>,
}

impl Scribe {
    /// Starts the thread that writes to `journal`; write errors are also
    /// reported as `journal_error` events through `progress`.
    pub(super) fn start(journal: Arc<Journal>, progress: Arc<Progress>) -> std::io::Result<Scribe> {
        let shared = Arc::new(Shared {
            journal,
            progress,
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            pen: Mutex::new(()),
        });
        let writer = shared.clone();
        let thread = std::thread::Builder::new().name("odw-scribe".into()).spawn(move || writer.serve())?;
        Ok(Scribe { shared, thread: Mutex::new(Some(thread)) })
    }

    /// Hands over a call's issued record.
    pub(super) fn issue(&self, issued: Issued) {
        self.shared.hand_over(Copy::Issued(issued));
    }

    /// Hands over a served call's records, once the guest has it.
    pub(super) fn copy(&self, issued: Issued, completed: Completed) {
        self.shared.hand_over(Copy::Served(issued, completed));
    }

    /// Wakes the thread to write what was handed over. The scheduler calls
    /// this when it has handled a burst of the guest's messages: woken for
    /// each record, the thread took them one at a time, and each wake-up
    /// preempted the scheduler or the guest on a two-core machine (two
    /// context switches per record, ~10 µs apart).
    pub(super) fn wake(&self) {
        if !lock(&self.shared.queue).records.is_empty() {
            self.shared.wake.notify_one();
        }
    }

    /// Runs `write` on the journal at once, after every record handed over
    /// before it has been written.
    pub(super) fn now<T>(&self, write: impl FnOnce(&Journal) -> T) -> T {
        let _pen = lock(&self.shared.pen);
        let queued = std::mem::take(&mut lock(&self.shared.queue).records);
        self.shared.write(queued);
        write(&self.shared.journal)
    }

    /// The first copied completion that could not be written, if any: its
    /// index and the error.
    pub(super) fn failure(&self) -> Option<(u32, String)> {
        lock(&self.shared.queue).failure.clone()
    }

    /// Writes everything handed over and stops the thread.
    pub(super) fn finish(&self) {
        lock(&self.shared.queue).closed = true;
        self.shared.wake.notify_one();
        if let Some(thread) = lock(&self.thread).take() {
            // The thread drains the queue before it ends; a panic there
            // leaves records queued, which are written here instead.
            let _ = thread.join();
        }
        self.now(|_| ());
    }
}

impl Drop for Scribe {
    /// A scheduler dropped before its end (its task cancelled) still writes
    /// what it handed over.
    fn drop(&mut self) {
        self.finish();
    }
}

impl Shared {
    fn hand_over(&self, record: Copy) {
        let mut queue = lock(&self.queue);
        queue.records.push_back(record);
        // Woken by [`Scribe::wake`], or here if a burst runs long, so that
        // the queue never holds much: the thread takes all that is queued.
        if queue.records.len() == WAKE_AT {
            self.wake.notify_one();
        }
    }

    /// The thread: waits for records, then writes all that are queued, in
    /// order, until closed and drained.
    fn serve(&self) {
        loop {
            {
                let mut queue = lock(&self.queue);
                while queue.records.is_empty() {
                    if queue.closed {
                        return;
                    }
                    queue = self.wake.wait(queue).unwrap_or_else(PoisonError::into_inner);
                }
            }
            {
                let _pen = lock(&self.pen);
                let batch = std::mem::take(&mut lock(&self.queue).records);
                self.write(batch);
            }
            // Hands what it wrote to the OS now, beside the guest, rather
            // than leave the log's last buffer (a resume of 1000 calls: a
            // 200 KB write of fresh pages) to the run's end, which waits for
            // it. The end's flush still reports a failure.
            let _ = self.journal.flush();
        }
    }

    /// Writes `records` in order, the served calls together in one
    /// [`Journal::copy`] (an issued record goes to a tree of its own, so its
    /// place among them does not matter); the caller holds the pen.
    fn write(&self, records: VecDeque<Copy>) {
        let mut served = Vec::with_capacity(records.len());
        for record in records {
            match record {
                Copy::Issued(issued) => {
                    if let Err(e) = self.journal.issue(&issued) {
                        self.report(issued.index, &e);
                    }
                }
                Copy::Served(issued, completed) => served.push((issued, completed)),
            }
        }
        let Some((first, _)) = served.first() else { return };
        let index = first.index;
        if let Err(e) = self.journal.copy(&served) {
            // A duplicate names its call; any other failure, the batch's first.
            let index = match &e {
                JournalError::Duplicate { index, .. } => *index,
                _ => index,
            };
            lock(&self.queue).failure.get_or_insert_with(|| (index, e.to_string()));
            self.report(index, &e);
        }
    }

    fn report(&self, index: u32, e: &JournalError) {
        self.progress.event(Event::JournalError { index, error: e.to_string() });
    }
}

/// Records queued that wake the thread without waiting for [`Scribe::wake`].
const WAKE_AT: usize = 512;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rundir::RunDir;
    use odw_journal::{CallOutcome, Usage};
    use serde_json::json;

    fn journal(dir: &std::path::Path) -> (Arc<Journal>, Arc<Progress>, RunDir) {
        let run = RunDir::create(dir, "t").unwrap();
        let progress = Arc::new(Progress::new(run.clone(), "t").unwrap());
        let started = crate::scheduler::tests::started();
        (Arc::new(Journal::begin(&run.journal_path(), started).unwrap()), progress, run)
    }

    fn call(index: u32) -> (Issued, Completed) {
        let issued = Issued {
            index,
            key: format!("k{index}"),
            content_key: format!("c{index}"),
            label: "l".into(),
            phase: None,
            prompt_head: format!("p{index}"),
        };
        let completed = Completed {
            index,
            key: format!("k{index}"),
            outcome: CallOutcome::Ok { value: json!(index) },
            attempts: 1,
            usage: Usage::default(),
            clock: 1.0,
            ms: 0,
        };
        (issued, completed)
    }

    /// Copies handed over and completions written at once, interleaved,
    /// reach the journal in the order they were given, whatever the thread
    /// had written by then; and all of them are there once it finishes.
    #[test]
    fn the_journal_keeps_the_hand_over_order() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, progress, _) = journal(dir.path());
        let scribe = Scribe::start(journal.clone(), progress).unwrap();
        let mut expected = Vec::new();
        for index in 0..3000 {
            let (issued, completed) = call(index);
            if index % 97 == 0 {
                scribe.issue(issued);
                scribe.now(|j| j.complete_unflushed(&completed)).unwrap();
            } else {
                scribe.copy(issued, completed);
            }
            expected.push(index);
        }
        scribe.finish();
        let order: Vec<u32> = journal.completions().unwrap().into_iter().map(|(_, c)| c.index).collect();
        assert_eq!(order, expected);
        assert_eq!(journal.issued().unwrap().len(), 3000);
        assert_eq!(scribe.failure(), None);
    }

    /// A copy the journal refuses (here: a completion written twice) is
    /// the scribe's failure, named by index, and a `journal_error` event.
    #[test]
    fn a_copy_that_cannot_be_written_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, progress, run) = journal(dir.path());
        let scribe = Scribe::start(journal, progress.clone()).unwrap();
        let (issued, completed) = call(7);
        scribe.copy(issued.clone(), completed.clone());
        scribe.copy(issued, completed);
        scribe.finish();
        let (index, error) = scribe.failure().expect("a failure");
        assert_eq!(index, 7);
        assert!(error.contains("7"), "{error}");
        drop(scribe);
        progress.flush();
        let events = run.event_tail().read_new().unwrap();
        assert!(events.iter().any(|l| l.contains("journal_error")), "{events:?}");
    }

    /// Dropping a scribe (its scheduler's task cancelled) writes what was
    /// handed over.
    #[test]
    fn a_dropped_scribe_writes_what_it_was_given() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, progress, _) = journal(dir.path());
        let scribe = Scribe::start(journal.clone(), progress).unwrap();
        for index in 0..100 {
            let (issued, completed) = call(index);
            scribe.copy(issued, completed);
        }
        drop(scribe);
        assert_eq!(journal.completions().unwrap().len(), 100);
    }
}
