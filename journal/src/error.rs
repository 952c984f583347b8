//! Everything that can go wrong with a journal, worded for the person who has
//! to act on it: each message names the path (or the export line) and says
//! what to do next.

use std::io;
use std::path::PathBuf;

/// An error from creating, opening, writing, reading, exporting or importing
/// a journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// `create` (or `import`) was pointed at something that is not a fresh
    /// place: a journal is written once, by the run that owns it.
    #[error(
        "{}: a journal (or other files) already exists there; a journal is created once per run — \
         open it to resume or replay, or choose an empty directory",
        path.display()
    )]
    AlreadyExists { path: PathBuf },

    /// `open` found no journal database, or a database without a Started record.
    #[error(
        "{} is not an odw journal (no journal database with a Started record there); \
         check the path — it should be the journal directory inside a run directory",
        path.display()
    )]
    NotAJournal { path: PathBuf },

    /// The journal was written in a format this build does not read (or a
    /// Started record given to `create` names another format version).
    #[error(
        "{}: journal format version {found}, but this odw reads and writes version {supported}; \
         use the odw release that wrote it (a newer journal needs a newer odw), \
         or re-record the run",
        path.display()
    )]
    Version { path: PathBuf, found: u32, supported: u32 },

    /// sled allows one process per database, and one open handle per process.
    #[error(
        "{}: the journal is open elsewhere (another odw process, or another handle in this one); \
         wait for that run to end or stop it, then retry",
        path.display()
    )]
    Locked { path: PathBuf },

    /// A call index was issued or completed twice. Each call is issued once and
    /// completes once per run; a second record would make replay ambiguous.
    #[error(
        "{}: call #{index} was already {what} in this journal; each call is {what} once per run \
         (this is a bug in the caller, please report it)",
        path.display()
    )]
    Duplicate { path: PathBuf, index: u32, what: &'static str },

    /// A write to a journal opened to read only ([`crate::Journal::open_read_only`]).
    #[error("{}: the journal was opened to read only (this is a bug in the caller, please report it)", path.display())]
    ReadOnly { path: PathBuf },

    /// `finish` was called twice.
    #[error(
        "{}: the run already has a Finished record; finish is recorded once, at the end of the run \
         (this is a bug in the caller, please report it)",
        path.display()
    )]
    AlreadyFinished { path: PathBuf },

    /// A stored record does not decode, or the records contradict each other.
    #[error(
        "{}: the journal is damaged ({what}); it cannot be replayed — re-record the run, \
         or restore the journal from an export",
        path.display()
    )]
    Corrupt { path: PathBuf, what: String },

    /// A record holds something JSON cannot represent faithfully (a clock
    /// that is NaN or infinite would be written as `null` and never read back).
    #[error("{}: refusing to record {what} (this is a bug in the caller, please report it)", path.display())]
    InvalidRecord { path: PathBuf, what: String },

    /// A record could not be encoded (only a value serde_json refuses can do this).
    #[error("{}: cannot encode the {what} record: {source}", path.display())]
    Encode {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },

    /// The storage engine failed (disk full, permissions, I/O error …).
    #[error(
        "{}: the journal database failed: {source}; check free space and permissions",
        path.display()
    )]
    Storage {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },

    /// The file system refused a check or clean-up around the database.
    #[error("{}: {source}; check that the path exists and is readable", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A line of an export is not what `import` expects.
    #[error("line {line} of the journal export: {reason}")]
    Import { line: usize, reason: String },

    /// Writing an export failed.
    #[error("cannot write the journal export: {source}")]
    Export {
        #[source]
        source: io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_path_or_line_and_say_what_to_do() {
        let e = JournalError::Version { path: "/runs/a/journal".into(), found: 7, supported: 1 };
        let text = e.to_string();
        assert!(text.contains("/runs/a/journal"), "{text}");
        assert!(text.contains("version 7"), "{text}");
        assert!(text.contains("version 1"), "{text}");
        assert!(text.contains("newer odw"), "{text}");

        let e = JournalError::Import { line: 12, reason: "not JSON".into() };
        assert_eq!(e.to_string(), "line 12 of the journal export: not JSON");

        let e = JournalError::NotAJournal { path: "/tmp/x".into() };
        assert!(e.to_string().starts_with("/tmp/x is not an odw journal"));
    }

    #[test]
    fn the_error_is_send_and_sync() {
        fn check<T: Send + Sync + std::error::Error + 'static>() {}
        check::<JournalError>();
    }
}
