//! The journal as JSON Lines: the interchange format.
//!
//! ```text
//! {"format":"odw-journal","version":1}
//! {"record":"started","version":1,"seed":[…],"clock":…,"scriptHash":…,…,"context":…}
//! {"record":"issued","index":0,"key":"…","contentKey":"…","label":"…","phase":null,"promptHead":"…"}
//! {"record":"completed","seq":0,"index":0,"key":"…","outcome":{"status":"ok","value":…},…}
//! {"record":"finished","ok":true,"result":…}
//! ```
//!
//! Line 1 is the header. Then the started record, the issued records by
//! index, the completed records in seq order (each carrying its `seq`), and
//! the finished record if the run ended. The fields are those of the record
//! types (see [`crate::records`]). `import` accepts issued and completed
//! lines interleaved, but completed lines must come in seq order from 0,
//! because that order is what replay reproduces.

use std::io::{BufRead, Write};
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::{Completed, FORMAT_VERSION, Finished, Issued, Journal, JournalError, Started};

/// The `format` of an export's header line.
pub const EXPORT_FORMAT: &str = "odw-journal";

impl Journal {
    /// Writes the whole journal as JSON Lines (see the module docs).
    pub fn export(&self, out: &mut impl Write) -> Result<(), JournalError> {
        let path = self.path();
        write_line(out, &json!({"format": EXPORT_FORMAT, "version": FORMAT_VERSION}))?;
        write_line(out, &record_line(path, "started", None, self.started())?)?;
        for issued in self.issued()? {
            write_line(out, &record_line(path, "issued", None, &issued)?)?;
        }
        for (seq, completed) in self.completions()? {
            write_line(out, &record_line(path, "completed", Some(seq), &completed)?)?;
        }
        if let Some(finished) = self.finished()? {
            write_line(out, &record_line(path, "finished", None, &finished)?)?;
        }
        out.flush().map_err(|source| JournalError::Export { source })
    }

    /// Creates a journal at `path` (as [`Journal::create`] would) holding the
    /// records of an export. The whole input is checked before anything is
    /// written, and a failed write removes what was written, so a bad export
    /// never leaves a half journal behind.
    pub fn import(path: &Path, input: impl BufRead) -> Result<Journal, JournalError> {
        let records = parse(input)?;
        let existed = path.exists();
        let journal = Journal::create(path, records.started.clone())?;
        match fill(&journal, &records) {
            Ok(()) => Ok(journal),
            Err(e) => {
                drop(journal);
                // Best effort: create() only accepts a missing or empty directory.
                let _ = std::fs::remove_dir_all(path);
                if existed {
                    let _ = std::fs::create_dir(path);
                }
                Err(e)
            }
        }
    }
}

/// `{"record": kind, ["seq": seq,] …fields}`, with the tag first for readers.
fn record_line(
    path: &Path,
    kind: &str,
    seq: Option<u64>,
    record: &impl Serialize,
) -> Result<Value, JournalError> {
    let encode_error = |source| JournalError::Encode { path: path.to_owned(), what: "exported", source };
    let fields = match serde_json::to_value(record).map_err(encode_error)? {
        Value::Object(fields) => fields,
        _ => return Err(encode_error(serde::ser::Error::custom("a record is not a JSON object"))),
    };
    let mut line = Map::new();
    line.insert("record".into(), Value::from(kind));
    if let Some(seq) = seq {
        line.insert("seq".into(), Value::from(seq));
    }
    line.extend(fields);
    Ok(Value::Object(line))
}

fn write_line(out: &mut impl Write, line: &Value) -> Result<(), JournalError> {
    writeln!(out, "{line}").map_err(|source| JournalError::Export { source })
}

/// An export's records, checked and in journal order.
struct Records {
    started: Started,
    issued: Vec<Issued>,
    /// In seq order: `completions[seq]`.
    completions: Vec<Completed>,
    finished: Option<Finished>,
}

fn fill(journal: &Journal, records: &Records) -> Result<(), JournalError> {
    for issued in &records.issued {
        journal.issue(issued)?;
    }
    // A fresh journal numbers completions from 0 in call order: the recorded seqs.
    for completed in &records.completions {
        journal.record_completion(completed, false)?;
    }
    match &records.finished {
        Some(finished) => journal.finish(finished),
        None => journal.sync(),
    }
}

fn parse(input: impl BufRead) -> Result<Records, JournalError> {
    let mut lines = input.lines().enumerate().map(|(i, line)| (i + 1, line));
    let err = |line: usize, reason: String| JournalError::Import { line, reason };
    let header_hint =
        format!(r#"expected the header {{"format":"{EXPORT_FORMAT}","version":{FORMAT_VERSION}}}"#);

    let Some((_, first)) = lines.next() else {
        return Err(err(1, format!("the input is empty; {header_hint}")));
    };
    let first = first.map_err(|e| err(1, format!("cannot read: {e}")))?;
    check_header(&first).map_err(|reason| err(1, format!("{reason}; {header_hint}")))?;

    let mut started: Option<Started> = None;
    let mut issued: Vec<(usize, Issued)> = Vec::new();
    let mut completions: Vec<(usize, Completed)> = Vec::new();
    // The line each call index was first issued / completed on: duplicates
    // are found in constant time, so a large export imports in linear time.
    let mut issued_at: std::collections::HashMap<u32, usize> = std::collections::HashMap::new();
    let mut completed_at: std::collections::HashMap<u32, usize> = std::collections::HashMap::new();
    let mut finished: Option<(usize, Finished)> = None;
    let mut last_line = 1;
    for (n, line) in lines {
        last_line = n;
        let line = line.map_err(|e| err(n, format!("cannot read: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = match serde_json::from_str::<Value>(&line) {
            Ok(Value::Object(fields)) => fields,
            Ok(_) => return Err(err(n, "expected a JSON object".into())),
            Err(e) => return Err(err(n, format!("not JSON: {e}"))),
        };
        let kind = match fields.remove("record") {
            Some(Value::String(kind)) => kind,
            _ => return Err(err(n, r#"no "record" field naming the record kind"#.into())),
        };
        if started.is_none() && kind != "started" {
            return Err(err(n, format!("found a {kind:?} record; the started record must come first")));
        }
        match kind.as_str() {
            "started" => {
                if started.is_some() {
                    return Err(err(n, "a second started record; a journal has one".into()));
                }
                let record: Started = from_fields(n, "started", fields)?;
                if record.version != FORMAT_VERSION {
                    return Err(err(
                        n,
                        format!(
                            "the started record says format version {}, the header {FORMAT_VERSION}",
                            record.version
                        ),
                    ));
                }
                started = Some(record);
            }
            "issued" => {
                let record: Issued = from_fields(n, "issued", fields)?;
                if let Some(first) = issued_at.insert(record.index, n) {
                    return Err(err(
                        n,
                        format!("call #{} is issued twice (first on line {first})", record.index),
                    ));
                }
                issued.push((n, record));
            }
            "completed" => {
                let expected = completions.len() as u64;
                match fields.remove("seq").and_then(|seq| seq.as_u64()) {
                    Some(seq) if seq == expected => {}
                    Some(seq) => {
                        return Err(err(
                            n,
                            format!(
                                "completion seq {seq} is out of order: expected {expected} (completed lines come in seq order from 0)"
                            ),
                        ));
                    }
                    None => {
                        return Err(err(
                            n,
                            r#"a completed record needs a "seq" (a non-negative integer)"#.into(),
                        ));
                    }
                }
                let record: Completed = from_fields(n, "completed", fields)?;
                if let Some(first) = completed_at.insert(record.index, n) {
                    return Err(err(
                        n,
                        format!("call #{} is completed twice (first on line {first})", record.index),
                    ));
                }
                completions.push((n, record));
            }
            "finished" => {
                if let Some((first, _)) = finished {
                    return Err(err(n, format!("a second finished record (first on line {first})")));
                }
                finished = Some((n, from_fields(n, "finished", fields)?));
            }
            other => {
                return Err(err(
                    n,
                    format!("unknown record kind {other:?}; expected started, issued, completed or finished"),
                ));
            }
        }
    }
    let Some(started) = started else {
        return Err(err(
            last_line + 1,
            "the export ends before the started record, which must come first".into(),
        ));
    };
    issued.sort_by_key(|(_, i)| i.index);
    Ok(Records {
        started,
        issued: issued.into_iter().map(|(_, i)| i).collect(),
        completions: completions.into_iter().map(|(_, c)| c).collect(),
        finished: finished.map(|(_, f)| f),
    })
}

fn check_header(line: &str) -> Result<(), String> {
    let header: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    if header.get("format").and_then(Value::as_str) != Some(EXPORT_FORMAT) {
        return Err("not an odw journal export".into());
    }
    match header.get("version").and_then(Value::as_u64) {
        Some(v) if v == u64::from(FORMAT_VERSION) => Ok(()),
        Some(v) => Err(format!(
            "export format version {v}, but this odw reads version {FORMAT_VERSION}; \
             import it with the odw release that exported it"
        )),
        None => Err(r#"the header has no numeric "version""#.into()),
    }
}

fn from_fields<T: DeserializeOwned>(
    line: usize,
    kind: &str,
    fields: Map<String, Value>,
) -> Result<T, JournalError> {
    serde_json::from_value(Value::Object(fields))
        .map_err(|e| JournalError::Import { line, reason: format!("bad {kind} record: {e}") })
}

#[cfg(test)]
mod tests;
