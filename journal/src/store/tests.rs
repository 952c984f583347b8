use std::collections::BTreeSet;
use std::path::Path;

use super::*;
use crate::testing::{AWKWARD_FLOATS, completed, finished, issued, started};

/// A raw sled handle, for tests that write what odw never would. Retries
/// while sled still holds the lock of a journal dropped a moment ago.
fn raw_sled(path: &Path) -> sled::Db {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match sled::open(path) {
            Ok(db) => return db,
            Err(e) if std::time::Instant::now() < deadline => {
                drop(e);
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => panic!("cannot open {}: {e}", path.display()),
        }
    }
}

/// Runs test `name` of this binary alone in a child process with `key` set
/// to `value` in its environment: the child side of a test that must die
/// as under SIGKILL (`abort`), which the parent then checks.
fn run_child(name: &str, key: &str, value: &std::ffi::OsStr) -> std::process::ExitStatus {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &format!("store::tests::{name}"), "--test-threads", "1", "--nocapture"])
        .env(key, value)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
}

fn journal_dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("journal");
    (tmp, path)
}

#[test]
fn journal_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Journal>();
}

#[test]
fn create_issue_complete_reopen_keeps_everything_in_completion_order() {
    let (_tmp, path) = journal_dir();
    {
        let journal = Journal::create(&path, started()).unwrap();
        for index in 0..4 {
            journal.issue(&issued(index)).unwrap();
        }
        // Calls finish in a different order than they were issued.
        assert_eq!(journal.complete(&completed(2)).unwrap(), 0);
        assert_eq!(journal.complete(&completed(0)).unwrap(), 1);
        assert_eq!(journal.complete(&completed(3)).unwrap(), 2);
        assert_eq!(journal.finished().unwrap(), None);
        journal.finish(&finished()).unwrap();
    }
    let journal = Journal::open(&path).unwrap();
    assert_eq!(journal.path(), path);
    assert_eq!(journal.started(), &started());
    assert_eq!(journal.issued().unwrap(), (0..4).map(issued).collect::<Vec<_>>());
    assert_eq!(journal.completions().unwrap(), vec![(0, completed(2)), (1, completed(0)), (2, completed(3))]);
    assert_eq!(journal.completed(3).unwrap(), Some(completed(3)));
    assert_eq!(journal.completed(1).unwrap(), None, "issued but never completed");
    assert_eq!(journal.completed(99).unwrap(), None);
    assert_eq!(journal.finished().unwrap(), Some(finished()));

    // Seqs continue where the stored ones end.
    assert_eq!(journal.complete(&completed(1)).unwrap(), 3);
    drop(journal);
    let journal = Journal::open(&path).unwrap();
    let seqs: Vec<(u64, u32)> =
        journal.completions().unwrap().into_iter().map(|(s, c)| (s, c.index)).collect();
    assert_eq!(seqs, vec![(0, 2), (1, 0), (2, 3), (3, 1)]);
}

#[test]
fn issued_records_come_back_by_index_not_by_issue_order() {
    let (_tmp, path) = journal_dir();
    let journal = Journal::create(&path, started()).unwrap();
    for index in [300, 2, 70_000, 0] {
        journal.issue(&issued(index)).unwrap();
    }
    let indices: Vec<u32> = journal.issued().unwrap().iter().map(|i| i.index).collect();
    assert_eq!(indices, vec![0, 2, 300, 70_000]);
}

#[test]
fn concurrent_completions_get_unique_gap_free_seqs() {
    const THREADS: u32 = 8;
    const PER_THREAD: u32 = 25;
    let (_tmp, path) = journal_dir();
    let journal = Journal::create(&path, started()).unwrap();
    let mut seqs: Vec<u64> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let journal = &journal;
                scope.spawn(move || {
                    (0..PER_THREAD)
                        .map(|i| journal.complete(&completed(t * PER_THREAD + i)).unwrap())
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    seqs.sort_unstable();
    let total = u64::from(THREADS * PER_THREAD);
    assert_eq!(seqs, (0..total).collect::<Vec<_>>());

    // The stored order agrees with what the callers were told, and every call is there once.
    drop(journal);
    let journal = Journal::open(&path).unwrap();
    let completions = journal.completions().unwrap();
    assert_eq!(completions.iter().map(|(s, _)| *s).collect::<Vec<_>>(), (0..total).collect::<Vec<_>>());
    let indices: BTreeSet<u32> = completions.iter().map(|(_, c)| c.index).collect();
    assert_eq!(indices.len() as u64, total);
    // Within one thread, completions were recorded in the order that thread made them.
    for t in 0..THREADS {
        let mine: Vec<u32> =
            completions.iter().map(|(_, c)| c.index).filter(|i| i / PER_THREAD == t).collect();
        assert!(mine.windows(2).all(|w| w[0] < w[1]), "thread {t}: {mine:?}");
    }
}

#[test]
fn a_call_is_issued_completed_and_the_run_finished_once() {
    let (_tmp, path) = journal_dir();
    let journal = Journal::create(&path, started()).unwrap();
    journal.issue(&issued(0)).unwrap();
    let err = journal.issue(&issued(0)).unwrap_err();
    assert!(matches!(err, JournalError::Duplicate { index: 0, what: "issued", .. }), "{err}");

    assert_eq!(journal.complete(&completed(0)).unwrap(), 0);
    let err = journal.complete(&completed(0)).unwrap_err();
    assert!(matches!(err, JournalError::Duplicate { index: 0, what: "completed", .. }), "{err}");
    // The refused completion did not take a seq.
    assert_eq!(journal.complete(&completed(1)).unwrap(), 1);

    journal.finish(&finished()).unwrap();
    let other = Finished { ok: false, result: serde_json::json!({"name": "Error"}) };
    assert!(matches!(journal.finish(&other).unwrap_err(), JournalError::AlreadyFinished { .. }));
    assert_eq!(journal.finished().unwrap(), Some(finished()), "the first record stands");
}

#[test]
fn a_killed_run_keeps_every_completion_it_was_told_about() {
    const CHILD: &str = "ODW_JOURNAL_TEST_ABORT_CHILD";
    if let Some(path) = std::env::var_os(CHILD) {
        // The child: record and die without destructors, as under SIGKILL.
        let journal = Journal::create(Path::new(&path), started()).unwrap();
        for index in 0..5 {
            journal.issue(&issued(index)).unwrap();
        }
        for index in [4, 1, 3] {
            journal.complete(&completed(index)).unwrap();
        }
        std::process::abort();
    }
    let (_tmp, path) = journal_dir();
    let status = run_child("a_killed_run_keeps_every_completion_it_was_told_about", CHILD, path.as_os_str());
    assert!(!status.success(), "the child should have aborted");

    // Read only first (as a resume reads it): the same records, and the
    // killed run's log is left as it was, torn end and all.
    let before = std::fs::read(path.join(layout::DATA_FILE)).unwrap();
    for read_only in [true, false] {
        let journal = if read_only { Journal::open_read_only(&path) } else { Journal::open(&path) }.unwrap();
        assert_eq!(journal.started(), &started());
        let completions = journal.completions().unwrap();
        assert_eq!(completions, vec![(0, completed(4)), (1, completed(1)), (2, completed(3))]);
        // Issued before a flushed completion, so flushed with it.
        assert_eq!(journal.issued().unwrap().len(), 5);
        assert_eq!(journal.finished().unwrap(), None, "a killed run has no Finished record");
        if read_only {
            assert!(matches!(journal.complete(&completed(0)), Err(JournalError::ReadOnly { .. })));
            drop(journal);
            assert!(std::fs::read(path.join(layout::DATA_FILE)).unwrap() == before, "read only, yet changed");
        } else {
            assert_eq!(journal.complete(&completed(0)).unwrap(), 3);
        }
    }
}

/// A journal opened to read only reads as when opened to write, changes
/// nothing on disk (no byte of its log, no file made or removed, even where
/// a writer's recovery rewrites unused stretches of the log with zeros) and
/// refuses every write.
#[test]
fn a_journal_opened_read_only_reads_everything_and_changes_nothing() {
    let (_tmp, path) = journal_dir();
    {
        let journal = Journal::create(&path, started()).unwrap();
        // Enough to fill and retire log segments, so that a writer's
        // recovery finds some to rewrite.
        for index in 0..2000 {
            journal.issue(&issued(index)).unwrap();
            journal.complete_unflushed(&completed(index)).unwrap();
        }
        journal.finish(&finished()).unwrap();
    }
    let data = path.join(layout::DATA_FILE);
    let before = (std::fs::read(&data).unwrap(), names(&path));
    let expected = {
        let journal = Journal::open_read_only(&path).unwrap();
        let calls = journal.calls().unwrap();
        assert_eq!(calls.issued.len(), 2000);
        assert_eq!(calls.completions.len(), 2000);
        assert_eq!(calls.completions[1999], (1999, completed(1999)));
        assert_eq!(journal.finished().unwrap(), Some(finished()));
        let refused = [
            journal.issue(&issued(5000)).map(drop),
            journal.complete(&completed(5000)).map(drop),
            journal.complete_unflushed(&completed(5000)).map(drop),
            journal.copy(&[(issued(5000), completed(5000))]),
            journal.end(&finished()).map(drop),
        ];
        for result in refused {
            let err = result.unwrap_err();
            assert!(
                matches!(err, JournalError::ReadOnly { .. }) && err.to_string().contains("read only"),
                "{err}"
            );
        }
        journal.flush().unwrap();
        journal.sync().unwrap();
        calls
    };
    assert!((std::fs::read(&data).unwrap(), names(&path)) == before, "opened read only, yet changed");
    let journal = Journal::open(&path).unwrap();
    assert_eq!(journal.calls().unwrap(), expected, "read to write, the same records");
    drop(journal);
    assert!(std::fs::read(&data).unwrap() != before.0, "a writer's recovery rewrites its log");
}

/// Read only, a directory that holds no journal, or an empty database file
/// (a run killed as its journal was being made), is not a journal, and
/// nothing is made there.
#[test]
fn read_only_a_missing_or_empty_journal_is_not_a_journal() {
    let (tmp, path) = journal_dir();
    assert!(matches!(Journal::open_read_only(&path).unwrap_err(), JournalError::NotAJournal { .. }));
    assert!(!path.exists());
    std::fs::create_dir(&path).unwrap();
    std::fs::write(path.join(layout::DATA_FILE), b"").unwrap();
    let err = Journal::open_read_only(&path).unwrap_err();
    assert!(matches!(err, JournalError::NotAJournal { .. }), "{err}");
    assert_eq!(names(&path), ["db"]);
    assert_eq!(std::fs::metadata(path.join(layout::DATA_FILE)).unwrap().len(), 0);
    drop(tmp);
}

/// The end of a run that completed no call is flushed, not synced (see
/// `Journal::finish`), and leaves nothing for the close to sync: it still
/// survives the process, however it dies right after.
#[test]
fn an_end_with_no_completion_is_flushed_not_synced_and_survives_the_process() {
    const CHILD: &str = "ODW_JOURNAL_TEST_EMPTY_END_CHILD";
    if let Some(path) = std::env::var_os(CHILD) {
        let journal = Journal::begin(Path::new(&path), started()).unwrap();
        journal.issue(&issued(0)).unwrap();
        journal.finish(&finished()).unwrap();
        assert!(!journal.unsynced.load(Ordering::Relaxed), "nothing left for the close to sync");
        std::process::abort();
    }
    let (_tmp, path) = journal_dir();
    let status = run_child(
        "an_end_with_no_completion_is_flushed_not_synced_and_survives_the_process",
        CHILD,
        path.as_os_str(),
    );
    assert!(!status.success(), "the child should have aborted");
    let journal = Journal::open(&path).unwrap();
    assert_eq!(journal.started(), &started());
    assert_eq!(journal.finished().unwrap(), Some(finished()));
    assert_eq!(journal.issued().unwrap(), vec![issued(0)]);
    assert_eq!(journal.completions().unwrap(), vec![]);
}

/// The end of a run with a completion asks for a sync (`Journal::end`);
/// handed off (`Journal::hand_off_sync`: odw's guardian syncs it once the
/// process is gone), the journal leaves nothing for its close to sync, and
/// survives the process with its end and its completion.
#[test]
fn an_end_handed_off_for_its_sync_survives_the_process() {
    const CHILD: &str = "ODW_JOURNAL_TEST_HANDED_OFF_CHILD";
    if let Some(path) = std::env::var_os(CHILD) {
        let journal = Journal::begin(Path::new(&path), started()).unwrap();
        journal.issue(&issued(0)).unwrap();
        journal.complete(&completed(0)).unwrap();
        assert_eq!(journal.end(&finished()).unwrap(), Ending::Sync);
        journal.hand_off_sync().unwrap();
        assert!(!journal.unsynced.load(Ordering::Relaxed), "nothing left for the close to sync");
        std::process::abort();
    }
    let (_tmp, path) = journal_dir();
    let status = run_child("an_end_handed_off_for_its_sync_survives_the_process", CHILD, path.as_os_str());
    assert!(!status.success(), "the child should have aborted");
    let journal = Journal::open(&path).unwrap();
    assert_eq!(journal.finished().unwrap(), Some(finished()));
    assert_eq!(journal.completions().unwrap(), vec![(0, completed(0))]);
    // A journal with no completion needs no sync at its end.
    let (_tmp, path) = journal_dir();
    let empty = Journal::begin(&path, started()).unwrap();
    assert_eq!(empty.end(&finished()).unwrap(), Ending::Flushed);
}

/// A journal made with `begin` (as a run makes its own, flushing beside its
/// first calls) survives the process, start included, once flushed or
/// synced, and once a call completed even if it never was flushed by
/// itself; so do completions written unflushed and then flushed together
/// (the scheduler's group commit).
#[test]
fn a_begun_journal_survives_the_process_once_flushed_or_once_a_call_completes() {
    const CHILD: &str = "ODW_JOURNAL_TEST_BEGIN_CHILD";
    if let Some(spec) = std::env::var_os(CHILD) {
        // The child: write and die without destructors, as under SIGKILL.
        let spec = spec.to_string_lossy().into_owned();
        let (how, path) = spec.split_once(':').unwrap();
        let journal = Journal::begin(Path::new(path), started()).unwrap();
        match how {
            "flush" => journal.flush().unwrap(),
            "sync" => journal.sync().unwrap(),
            "together" => {
                journal.complete_unflushed(&completed(2)).unwrap();
                journal.complete_unflushed(&completed(5)).unwrap();
                journal.flush().unwrap();
            }
            _ => drop(journal.complete(&completed(7)).unwrap()),
        }
        std::process::abort();
    }
    for (how, completions) in [
        ("flush", vec![]),
        ("sync", vec![]),
        ("complete", vec![(0, completed(7))]),
        ("together", vec![(0, completed(2)), (1, completed(5))]),
    ] {
        let (_tmp, path) = journal_dir();
        let spec = format!("{how}:{}", path.display());
        let status = run_child(
            "a_begun_journal_survives_the_process_once_flushed_or_once_a_call_completes",
            CHILD,
            spec.as_ref(),
        );
        assert!(!status.success(), "the child should have aborted ({how})");
        let journal = Journal::open(&path).unwrap();
        assert_eq!(journal.started(), &started(), "{how}");
        assert_eq!(journal.completions().unwrap(), completions, "{how}");
    }
}

#[test]
fn open_refuses_another_format_version_before_reading_anything_else() {
    let (_tmp, path) = journal_dir();
    drop(Journal::create(&path, started()).unwrap());
    {
        // A journal from a future odw: another version and a started record this one cannot read.
        let db = raw_sled(&path);
        let meta = db.open_tree(META).unwrap();
        meta.insert(VERSION_KEY, b"3".as_slice()).unwrap();
        meta.insert(STARTED_KEY, br#"{"aNewShape":true}"#.as_slice()).unwrap();
        db.flush().unwrap();
    }
    match Journal::open(&path).unwrap_err() {
        JournalError::Version { path: p, found: 3, supported: STORAGE_VERSION } => assert_eq!(p, path),
        other => panic!("expected a version error, got {other}"),
    }
}

#[test]
fn create_refuses_a_started_record_of_another_version() {
    let (_tmp, path) = journal_dir();
    let err = Journal::create(&path, Started { version: 9, ..started() }).unwrap_err();
    assert!(matches!(err, JournalError::Version { found: 9, supported: 1, .. }), "{err}");
    assert!(!path.exists(), "nothing was created");
}

#[test]
fn open_of_a_missing_or_empty_directory_is_not_a_journal_and_creates_nothing() {
    let (tmp, path) = journal_dir();
    assert!(matches!(Journal::open(&path).unwrap_err(), JournalError::NotAJournal { .. }));
    assert!(!path.exists());

    let err = Journal::open(tmp.path()).unwrap_err();
    assert!(matches!(&err, JournalError::NotAJournal { path } if path == tmp.path()), "{err}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "open must not create a database");

    std::fs::write(tmp.path().join("notes.txt"), "hello").unwrap();
    assert!(matches!(Journal::open(tmp.path()).unwrap_err(), JournalError::NotAJournal { .. }));
    assert!(matches!(
        Journal::open(&tmp.path().join("notes.txt")).unwrap_err(),
        JournalError::NotAJournal { .. }
    ));
}

#[test]
fn open_of_a_foreign_sled_database_is_not_a_journal_and_leaves_it_alone() {
    let (_tmp, path) = journal_dir();
    {
        let db = raw_sled(&path);
        db.open_tree("someone-elses").unwrap().insert("k", "v").unwrap();
        db.flush().unwrap();
    }
    assert!(matches!(Journal::open(&path).unwrap_err(), JournalError::NotAJournal { .. }));
    let db = raw_sled(&path);
    assert!(!db.tree_names().iter().any(|n| n == META.as_bytes()), "open created a tree");
    drop(db);

    // A meta tree without a Started record is not a journal either.
    let (_tmp2, path) = journal_dir();
    {
        let db = raw_sled(&path);
        db.open_tree(META).unwrap().insert(VERSION_KEY, b"1".as_slice()).unwrap();
        db.flush().unwrap();
    }
    assert!(matches!(Journal::open(&path).unwrap_err(), JournalError::NotAJournal { .. }));
}

#[test]
fn open_of_a_damaged_data_file_is_an_error_not_a_panic() {
    let (_tmp, path) = journal_dir();
    std::fs::create_dir(&path).unwrap();
    std::fs::write(path.join(layout::DATA_FILE), vec![0xA5; 4096]).unwrap();
    assert!(Journal::open(&path).is_err());
}

#[test]
fn create_refuses_an_existing_journal_or_a_non_empty_place() {
    let (tmp, path) = journal_dir();
    drop(Journal::create(&path, started()).unwrap());
    let err = Journal::create(&path, started()).unwrap_err();
    assert!(matches!(&err, JournalError::AlreadyExists { path: p } if *p == path), "{err}");
    // The refused create did not disturb the existing journal.
    assert_eq!(Journal::open(&path).unwrap().started(), &started());

    let other = tmp.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("keep-me"), "x").unwrap();
    assert!(matches!(Journal::create(&other, started()).unwrap_err(), JournalError::AlreadyExists { .. }));
    assert!(matches!(
        Journal::create(&other.join("keep-me"), started()).unwrap_err(),
        JournalError::AlreadyExists { .. }
    ));

    // An empty directory (made by the run directory code, say) is fine.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    Journal::create(&empty, started()).unwrap();
}

#[test]
fn a_second_open_handle_is_refused_as_locked() {
    let (_tmp, path) = journal_dir();
    let journal = Journal::create(&path, started()).unwrap();
    let begun = std::time::Instant::now();
    let err = Journal::open(&path).unwrap_err();
    assert!(matches!(&err, JournalError::Locked { path: p } if *p == path), "{err}");
    assert!(begun.elapsed() >= LOCK_WAIT, "a held lock is waited for before it is reported");
    drop(journal);
    Journal::open(&path).unwrap();
}

#[test]
fn read_only_handles_share_a_journal_and_keep_a_writer_out() {
    let (_tmp, path) = journal_dir();
    let mut journal = Journal::create(&path, started()).unwrap();
    journal.complete(&completed(0)).unwrap();
    // While it is written, no reader gets in.
    let err = Journal::open_read_only(&path).unwrap_err();
    assert!(matches!(&err, JournalError::Locked { path: p } if *p == path), "{err}");
    drop(journal);

    let first = Journal::open_read_only(&path).unwrap();
    let begun = std::time::Instant::now();
    let second = Journal::open_read_only(&path).unwrap();
    assert!(begun.elapsed() < LOCK_WAIT, "the second reader waited for the first");
    for reader in [&first, &second] {
        assert_eq!(reader.completions().unwrap().len(), 1);
    }
    let err = Journal::open(&path).unwrap_err();
    assert!(matches!(&err, JournalError::Locked { .. }), "a writer got in beside readers: {err}");
    drop(first);
    let err = Journal::open(&path).unwrap_err();
    assert!(matches!(&err, JournalError::Locked { .. }), "a writer got in beside a reader: {err}");
    drop(second);
    journal = Journal::open(&path).unwrap();
    assert_eq!(journal.completions().unwrap().len(), 1);
}

#[test]
fn a_journal_reopens_right_after_it_is_dropped_even_under_load() {
    // sled lets go of its lock a moment after drop; open must not report that as Locked.
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for index in 0..15 {
                    let (_tmp, path) = journal_dir();
                    let journal = Journal::create(&path, started()).unwrap();
                    journal.complete(&completed(index)).unwrap();
                    drop(journal);
                    let journal = Journal::open(&path).unwrap();
                    assert_eq!(journal.completions().unwrap(), vec![(0, completed(index))]);
                    drop(journal);
                    Journal::open(&path).unwrap();
                }
            });
        }
    });
}

#[test]
fn a_damaged_record_is_reported_as_corrupt() {
    let (_tmp, path) = journal_dir();
    {
        let journal = Journal::create(&path, started()).unwrap();
        journal.complete(&completed(0)).unwrap();
        journal.order.insert(layout::seq_key(0), b"{not json".as_slice()).unwrap();
    }
    // Opening decodes no completion (none was lost); reading them finds it.
    let journal = Journal::open(&path).unwrap();
    let err = journal.completions().unwrap_err();
    assert!(matches!(err, JournalError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("completed record of seq 0"), "{err}");
    assert!(matches!(journal.completed(0).unwrap_err(), JournalError::Corrupt { .. }));
}

#[test]
fn a_journal_with_the_by_index_tree_an_older_odw_wrote_reads_the_same() {
    let (_tmp, path) = journal_dir();
    {
        let journal = Journal::create(&path, started()).unwrap();
        let legacy = journal.db.open_tree("completed").unwrap();
        for (seq, index) in [3, 1, 2].into_iter().enumerate() {
            journal.complete(&completed(index)).unwrap();
            legacy.insert(layout::index_key(index), &layout::seq_key(seq as u64)).unwrap();
        }
        journal.sync().unwrap();
    }
    let journal = Journal::open(&path).unwrap();
    let order: Vec<u32> = journal.completions().unwrap().iter().map(|(_, c)| c.index).collect();
    assert_eq!(order, [3, 1, 2]);
    assert_eq!(journal.completed(2).unwrap(), Some(completed(2)));
    assert!(matches!(journal.complete(&completed(1)), Err(JournalError::Duplicate { index: 1, .. })));
    assert_eq!(journal.complete(&completed(5)).unwrap(), 3);
}

#[test]
fn a_gap_in_the_completion_order_is_reported_when_completions_are_read() {
    let (_tmp, path) = journal_dir();
    {
        let journal = Journal::create(&path, started()).unwrap();
        for index in 0..3 {
            journal.complete(&completed(index)).unwrap();
        }
        journal.order.remove(layout::seq_key(1)).unwrap();
        journal.sync().unwrap();
    }
    let journal = Journal::open(&path).unwrap();
    let err = journal.completions().unwrap_err();
    assert!(matches!(err, JournalError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("gaps"), "{err}");
}

#[test]
fn numbers_come_back_bit_for_bit() {
    let (_tmp, path) = journal_dir();
    let awkward_clock = AWKWARD_FLOATS[0];
    {
        let journal = Journal::create(&path, Started { clock: awkward_clock, ..started() }).unwrap();
        let value = serde_json::json!({"scores": AWKWARD_FLOATS, "u": u64::MAX, "i": i64::MIN});
        let record =
            Completed { clock: awkward_clock, outcome: crate::CallOutcome::Ok { value }, ..completed(0) };
        journal.complete(&record).unwrap();
    }
    let journal = Journal::open(&path).unwrap();
    assert_eq!(journal.started().clock.to_bits(), awkward_clock.to_bits());
    let back = journal.completed(0).unwrap().unwrap();
    assert_eq!(back.clock.to_bits(), awkward_clock.to_bits());
    let crate::CallOutcome::Ok { value } = back.outcome else { panic!("outcome changed") };
    let scores: Vec<u64> =
        value["scores"].as_array().unwrap().iter().map(|f| f.as_f64().unwrap().to_bits()).collect();
    assert_eq!(scores, AWKWARD_FLOATS.map(f64::to_bits));
    assert_eq!(value["u"], u64::MAX);
    assert_eq!(value["i"], i64::MIN);
}

#[test]
fn a_clock_json_cannot_hold_is_refused_before_anything_is_written() {
    let (_tmp, path) = journal_dir();
    let err = Journal::create(&path, Started { clock: f64::NAN, ..started() }).unwrap_err();
    assert!(matches!(err, JournalError::InvalidRecord { .. }), "{err}");
    assert!(!path.exists());

    let journal = Journal::create(&path, started()).unwrap();
    let err = journal.complete(&Completed { clock: f64::INFINITY, ..completed(0) }).unwrap_err();
    assert!(matches!(err, JournalError::InvalidRecord { .. }), "{err}");
    assert_eq!(journal.complete(&completed(0)).unwrap(), 0, "the refused record took no seq");
}

#[test]
fn an_opened_journal_finds_each_completion_and_refuses_a_second_one() {
    let (_tmp, path) = journal_dir();
    {
        let journal = Journal::create(&path, started()).unwrap();
        journal.complete(&completed(0)).unwrap();
        // Written as `complete` writes it, behind its back.
        let value = serde_json::to_vec(&completed(7)).unwrap();
        journal.order.insert(layout::seq_key(1), value).unwrap();
        journal.sync().unwrap();
    }
    let journal = Journal::open(&path).unwrap();
    assert_eq!(journal.completed(7).unwrap(), Some(completed(7)));
    assert_eq!(journal.completions().unwrap().len(), 2);
    assert!(matches!(journal.complete(&completed(7)), Err(JournalError::Duplicate { .. })));
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_journal_is_one_file_until_a_record_is_large_enough_for_a_file_of_its_own() {
    let (_tmp, path) = journal_dir();
    let mut large = completed(2);
    large.outcome = crate::CallOutcome::Ok { value: serde_json::json!("x".repeat(300_000)) };
    {
        let journal = Journal::create(&path, started()).unwrap();
        journal.complete(&completed(0)).unwrap();
        journal.sync().unwrap();
        // Every file made is an inode allocated (see `layout::config`).
        assert_eq!(names(&path), ["db"]);
        journal.complete(&large).unwrap();
        journal.finish(&finished()).unwrap();
    }
    assert_eq!(names(&path), ["blobs", "db"], "sled made its blobs directory for the large record");
    let journal = Journal::open(&path).unwrap();
    assert_eq!(journal.completed(2).unwrap(), Some(large));
    assert_eq!(journal.completed(0).unwrap(), Some(completed(0)));
}

#[test]
fn a_journal_with_the_conf_file_an_older_odw_wrote_reads_the_same() {
    let (_tmp, path) = journal_dir();
    {
        let journal = Journal::create(&path, started()).unwrap();
        journal.complete(&completed(1)).unwrap();
        journal.finish(&finished()).unwrap();
    }
    // sled as published writes its storage parameters to `conf` at open.
    drop(raw_sled(&path));
    assert!(names(&path).iter().any(|n| n == "conf"), "{:?}", names(&path));
    let journal = Journal::open(&path).unwrap();
    assert_eq!(journal.completions().unwrap(), vec![(0, completed(1))]);
    assert_eq!(journal.finished().unwrap(), Some(finished()));
}

/// Calls copied from another journal read back as issued and completed
/// like any other, in seq order among the live completions around them,
/// each record of them no larger than a chunk and one call; and seqs go on
/// after them once the journal is opened again.
#[test]
fn copied_calls_read_back_like_any_other_call() {
    let (_tmp, path) = journal_dir();
    let copies = |range: std::ops::Range<u32>| range.map(|i| (issued(i), completed(i))).collect::<Vec<_>>();
    {
        let journal = Journal::create(&path, started()).unwrap();
        journal.copy(&copies(0..3)).unwrap();
        journal.issue(&issued(500)).unwrap();
        assert_eq!(journal.complete(&completed(500)).unwrap(), 3);
        journal.copy(&copies(3..300)).unwrap();
        journal.copy(&[]).unwrap();
        assert_eq!(journal.complete_unflushed(&completed(501)).unwrap(), 301, "an issued record is optional");
        journal.finish(&finished()).unwrap();
        let mut sizes = Vec::new();
        for item in journal.order.iter() {
            let (_, value) = item.unwrap();
            if value.starts_with(COPIED_PREFIX) {
                sizes.push(value.len());
            }
        }
        let call =
            serde_json::to_vec(&CopiedCall { issued: issued(299), completed: completed(299) }).unwrap();
        assert!(sizes.len() > 10, "297 calls in one record: {sizes:?}");
        assert!(sizes.iter().all(|&n| n < COPIED_CHUNK_BYTES + 2 * call.len()), "{sizes:?}");
        assert_eq!(names(&path), ["db"], "no record went to a file of its own");
    }
    let journal = Journal::open(&path).unwrap();
    let order: Vec<u32> = (0..3).chain([500]).chain(3..300).chain([501]).collect();
    let completions = journal.completions().unwrap();
    assert_eq!(
        completions,
        order.iter().enumerate().map(|(seq, &i)| (seq as u64, completed(i))).collect::<Vec<_>>()
    );
    let issued_back: Vec<Issued> = (0..300).chain([500]).map(issued).collect();
    assert_eq!(journal.issued().unwrap(), issued_back);
    assert_eq!(journal.calls().unwrap(), Calls { issued: issued_back, completions });
    assert_eq!(journal.completed(299).unwrap(), Some(completed(299)));
    assert_eq!(journal.complete(&completed(502)).unwrap(), 302, "seqs go on after the copies");
    assert!(matches!(journal.copy(&copies(7..8)), Err(JournalError::Duplicate { index: 7, .. })));
}

/// A copy that would complete a call twice, or pairs one call's issued
/// record with another's completion, is refused before anything is written.
#[test]
fn a_copy_is_checked_before_anything_is_written() {
    let (_tmp, path) = journal_dir();
    let journal = Journal::create(&path, started()).unwrap();
    journal.complete(&completed(1)).unwrap();
    let twice_here = [(issued(2), completed(2)), (issued(3), completed(3)), (issued(2), completed(2))];
    assert!(matches!(journal.copy(&twice_here), Err(JournalError::Duplicate { index: 2, .. })));
    let already = [(issued(4), completed(4)), (issued(1), completed(1))];
    assert!(matches!(journal.copy(&already), Err(JournalError::Duplicate { index: 1, .. })));
    let mismatched = [(issued(5), completed(6))];
    let err = journal.copy(&mismatched).unwrap_err();
    assert!(matches!(err, JournalError::InvalidRecord { .. }) && err.to_string().contains("#5"), "{err}");
    assert_eq!(journal.completions().unwrap(), vec![(0, completed(1))]);
    // The refused calls were not taken: they can still be copied.
    journal.copy(&[(issued(2), completed(2)), (issued(4), completed(4))]).unwrap();
    let order: Vec<u32> = journal.completions().unwrap().iter().map(|(_, c)| c.index).collect();
    assert_eq!(order, [1, 2, 4]);
}

/// A journal of layout version 1 (before copied calls had records of their
/// own) opens and reads as before; a damaged record of copied calls, or
/// one that lists none, is reported as damage.
#[test]
fn a_version_1_journal_reads_and_a_damaged_copy_is_corrupt() {
    let (_tmp, path) = journal_dir();
    {
        let journal = Journal::create(&path, started()).unwrap();
        journal.issue(&issued(0)).unwrap();
        journal.complete(&completed(0)).unwrap();
        journal.meta.insert(VERSION_KEY, b"1".as_slice()).unwrap();
        journal.finish(&finished()).unwrap();
    }
    let journal = Journal::open(&path).unwrap();
    assert_eq!(
        journal.calls().unwrap(),
        Calls { issued: vec![issued(0)], completions: vec![(0, completed(0))] }
    );
    journal.order.insert(layout::seq_key(1), br#"{"copied":[]}"#.as_slice()).unwrap();
    let err = journal.completions().unwrap_err();
    assert!(err.to_string().contains("seq 1 holds no call"), "{err}");
    journal.order.insert(layout::seq_key(1), br#"{"copied":[{"issued":1}]}"#.as_slice()).unwrap();
    let err = journal.issued().unwrap_err();
    assert!(matches!(err, JournalError::Corrupt { .. }) && err.to_string().contains("seq 1"), "{err}");
}
