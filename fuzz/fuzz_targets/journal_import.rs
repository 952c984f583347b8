//! `odw journal import`: any file is a journal or a clear error naming the
//! line, never a panic; an imported journal opens and lists its calls.
#![no_main]

use libfuzzer_sys::fuzz_target;
use odw_journal::Journal;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("journal");
    if let Ok(journal) = Journal::import(&path, data) {
        drop(journal);
        let journal = Journal::open(&path).expect("an imported journal opens");
        let _ = (journal.issued(), journal.completions(), journal.finished());
    }
});
