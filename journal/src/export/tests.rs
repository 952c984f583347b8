use std::path::PathBuf;

use super::*;
use crate::testing::{AWKWARD_FLOATS, completed, finished, issued, started};

fn recorded_journal(path: &Path, with_finish: bool) -> Journal {
    let journal = Journal::create(path, started()).unwrap();
    for index in 0..5 {
        journal.issue(&issued(index)).unwrap();
    }
    for index in [3, 0, 4, 1] {
        journal.complete(&completed(index)).unwrap();
    }
    if with_finish {
        journal.finish(&finished()).unwrap();
    }
    journal
}

fn export_text(journal: &Journal) -> String {
    let mut out = Vec::new();
    journal.export(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn import_err(text: &str) -> (usize, String) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("imported");
    match Journal::import(&path, text.as_bytes()) {
        Err(JournalError::Import { line, reason }) => {
            assert!(!path.exists(), "a refused import left files behind");
            (line, reason)
        }
        Err(other) => panic!("expected an import error, got {other}"),
        Ok(_) => panic!("expected an import error, got a journal"),
    }
}

fn good_export() -> String {
    let tmp = tempfile::tempdir().unwrap();
    export_text(&recorded_journal(&tmp.path().join("j"), true))
}

/// `text` with line `n` (1-based) replaced.
fn with_line(text: &str, n: usize, replacement: &str) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    lines[n - 1] = replacement;
    lines.join("\n")
}

#[test]
fn export_is_versioned_json_lines_in_journal_order() {
    let tmp = tempfile::tempdir().unwrap();
    let text = export_text(&recorded_journal(&tmp.path().join("j"), true));
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(text.lines().next().unwrap(), r#"{"format":"odw-journal","version":1}"#);
    let kinds: Vec<&str> = lines[1..].iter().map(|l| l["record"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "started",
            "issued",
            "issued",
            "issued",
            "issued",
            "issued",
            "completed",
            "completed",
            "completed",
            "completed",
            "finished"
        ]
    );
    // Every record line starts with its tag.
    assert!(text.lines().skip(1).all(|l| l.starts_with(r#"{"record":""#)));
    // Completed lines carry seq, in seq order, with the completion order kept.
    let completions: Vec<(u64, u64)> =
        lines[7..11].iter().map(|l| (l["seq"].as_u64().unwrap(), l["index"].as_u64().unwrap())).collect();
    assert_eq!(completions, vec![(0, 3), (1, 0), (2, 4), (3, 1)]);
    assert!(text.lines().nth(7).unwrap().starts_with(r#"{"record":"completed","seq":0,"index":3,"#));
    assert_eq!(lines[7]["outcome"]["status"], "err");
    assert_eq!(
        lines[8]["outcome"],
        json!({"status": "ok", "value": {"index": 0, "verdict": "ship", "notes": ["a", "b"], "score": 0.75}})
    );
    assert_eq!(lines[1]["scriptHash"], "5c1e");
    assert_eq!(lines[11], json!({"record": "finished", "ok": true, "result": finished().result}));
    assert!(text.ends_with('\n'));
}

#[test]
fn export_then_import_round_trips_every_record() {
    let tmp = tempfile::tempdir().unwrap();
    for with_finish in [true, false] {
        let original = recorded_journal(&tmp.path().join(format!("original-{with_finish}")), with_finish);
        let text = export_text(&original);
        let copy_path = tmp.path().join(format!("copy-{with_finish}"));
        let copy = Journal::import(&copy_path, text.as_bytes()).unwrap();

        assert_eq!(copy.started(), original.started());
        assert_eq!(copy.issued().unwrap(), original.issued().unwrap());
        assert_eq!(copy.completions().unwrap(), original.completions().unwrap());
        assert_eq!(copy.completed(4).unwrap(), Some(completed(4)));
        assert_eq!(copy.finished().unwrap(), original.finished().unwrap());
        assert_eq!(export_text(&copy), text, "export ∘ import is the identity");

        // The import is durable and a real journal: it reopens and numbers on.
        drop(copy);
        let copy = Journal::open(&copy_path).unwrap();
        assert_eq!(copy.completions().unwrap().len(), 4);
        assert_eq!(copy.complete(&completed(2)).unwrap(), 4);
    }
}

#[test]
fn import_accepts_interleaved_issued_and_completed_lines_and_blank_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let line = |kind: &str, seq: Option<u64>, record: &dyn erased::Record| record.line(kind, seq);
    let text = [
        r#"{"format":"odw-journal","version":1}"#.to_owned(),
        line("started", None, &started()),
        line("issued", None, &issued(1)),
        line("completed", Some(0), &completed(1)),
        String::new(),
        line("issued", None, &issued(0)),
        line("completed", Some(1), &completed(0)),
        String::new(),
    ]
    .join("\n");
    let journal = Journal::import(&tmp.path().join("j"), text.as_bytes()).unwrap();
    assert_eq!(journal.issued().unwrap(), vec![issued(0), issued(1)]);
    assert_eq!(journal.completions().unwrap(), vec![(0, completed(1)), (1, completed(0))]);
    assert_eq!(journal.finished().unwrap(), None);
}

/// Lets the test above build lines from records of different types.
mod erased {
    pub trait Record {
        fn line(&self, kind: &str, seq: Option<u64>) -> String;
    }
    impl<T: serde::Serialize> Record for T {
        fn line(&self, kind: &str, seq: Option<u64>) -> String {
            super::record_line(std::path::Path::new("test"), kind, seq, self).unwrap().to_string()
        }
    }
}

#[test]
fn import_checks_the_header_on_line_one() {
    let good = good_export();
    let (line, reason) = import_err("");
    assert_eq!(line, 1);
    assert!(reason.contains("empty"), "{reason}");

    let (line, reason) = import_err(&with_line(&good, 1, r#"{"format":"something-else","version":1}"#));
    assert_eq!(line, 1);
    assert!(reason.contains("not an odw journal export"), "{reason}");
    assert!(reason.contains(r#"{"format":"odw-journal","version":1}"#), "says what to expect: {reason}");

    let (line, reason) = import_err(&with_line(&good, 1, r#"{"format":"odw-journal","version":2}"#));
    assert_eq!(line, 1);
    assert!(reason.contains("version 2"), "{reason}");

    assert_eq!(import_err(&with_line(&good, 1, "odw journal v1")).0, 1);

    // A header-less export (records from line 1) is refused too.
    let headerless: String = good.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(import_err(&headerless).0, 1);
}

#[test]
fn import_names_the_line_of_a_bad_record() {
    let good = good_export();
    // Line 1 is the header, 2 started, 3..=7 issued, 8..=11 completed (seq 0..=3), 12 finished.
    let line_of = |n: usize| good.lines().nth(n - 1).unwrap();
    let header_line = line_of(1);
    let started_line = line_of(2);
    let issued_line = line_of(3);
    let seq1_line = line_of(9);
    let finished_line = line_of(12);
    let cases: Vec<(usize, String, &str)> = vec![
        (4, "{not json".into(), "not JSON"),
        (4, "[1, 2]".into(), "JSON object"),
        (5, r#"{"index": 1}"#.into(), r#"no "record" field"#),
        (6, r#"{"record":"issud","index":1}"#.into(), "unknown record kind"),
        (3, r#"{"record":"issued","index":"one"}"#.into(), "bad issued record"),
        (4, issued_line.into(), "call #0 is issued twice (first on line 3)"),
        (9, seq1_line.replace(r#""seq":1"#, r#""seq":7"#), "seq 7 is out of order: expected 1"),
        (9, seq1_line.replace(r#""seq":1,"#, ""), r#"needs a "seq""#),
        (10, seq1_line.replace(r#""seq":1"#, r#""seq":2"#), "call #0 is completed twice (first on line 9)"),
        (2, issued_line.into(), "the started record must come first"),
        (2, started_line.replace(r#""version":1"#, r#""version":3"#), "format version 3"),
        (12, started_line.into(), "a second started record"),
        (12, finished_line.replace(r#""ok":true"#, r#""ok":true,"extra":1"#), "unknown field `extra`"),
    ];
    for (n, replacement, expected_reason) in cases {
        let (line, reason) = import_err(&with_line(&good, n, &replacement));
        assert_eq!(line, n, "{reason}");
        assert!(
            reason.contains(expected_reason),
            "line {line}: {reason:?} should mention {expected_reason:?}"
        );
    }

    let (line, reason) = import_err(&format!("{header_line}\n{finished_line}"));
    assert_eq!(line, 2);
    assert!(reason.contains("the started record must come first"), "{reason}");
    let (line, reason) = import_err(header_line);
    assert_eq!(line, 2);
    assert!(reason.contains("ends before the started record"), "{reason}");
}

#[test]
fn import_refuses_to_overwrite_a_journal() {
    let tmp = tempfile::tempdir().unwrap();
    let path: PathBuf = tmp.path().join("j");
    let text = export_text(&recorded_journal(&path, true));
    let err = Journal::import(&path, text.as_bytes()).unwrap_err();
    assert!(matches!(err, JournalError::AlreadyExists { .. }), "{err}");
    assert_eq!(Journal::open(&path).unwrap().completions().unwrap().len(), 4, "the journal is untouched");
}

#[test]
fn numbers_survive_export_and_import_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    let original =
        Journal::create(&tmp.path().join("a"), Started { clock: AWKWARD_FLOATS[0], ..started() }).unwrap();
    let value = json!({"scores": AWKWARD_FLOATS});
    let record =
        Completed { clock: AWKWARD_FLOATS[0], outcome: crate::CallOutcome::Ok { value }, ..completed(0) };
    original.complete(&record).unwrap();
    original.finish(&Finished { ok: true, result: json!(AWKWARD_FLOATS) }).unwrap();

    let copy = Journal::import(&tmp.path().join("b"), export_text(&original).as_bytes()).unwrap();
    assert_eq!(copy.started().clock.to_bits(), AWKWARD_FLOATS[0].to_bits());
    let back = copy.completed(0).unwrap().unwrap();
    assert_eq!(back.clock.to_bits(), AWKWARD_FLOATS[0].to_bits());
    let bits = |v: &Value| -> Vec<u64> {
        v.as_array().unwrap().iter().map(|f| f.as_f64().unwrap().to_bits()).collect()
    };
    let crate::CallOutcome::Ok { value } = back.outcome else { panic!("outcome changed") };
    assert_eq!(bits(&value["scores"]), AWKWARD_FLOATS.map(f64::to_bits));
    assert_eq!(bits(&copy.finished().unwrap().unwrap().result), AWKWARD_FLOATS.map(f64::to_bits));
}
