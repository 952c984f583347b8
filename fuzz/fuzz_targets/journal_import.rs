//! `odw journal import`: any file is a journal or a clear error naming the
//! line, never a panic; an imported journal opens, to read only as odw's
//! readers do and to write, and lists the same calls either way.
#![no_main]

use libfuzzer_sys::fuzz_target;
use odw_journal::Journal;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("journal");
    if let Ok(journal) = Journal::import(&path, data) {
        drop(journal);
        let read = Journal::open_read_only(&path).expect("an imported journal opens read-only");
        let calls = read.calls().ok();
        drop(read);
        let journal = Journal::open(&path).expect("an imported journal opens");
        let _ = (journal.issued(), journal.completions(), journal.finished());
        assert_eq!(calls, journal.calls().ok(), "read only or not, the same calls");
    }
});
