//! What a journal costs per call, in process: writing a thousand calls (an
//! issued record and a completion each, as a live run records them),
//! copying a thousand calls (as a resume copies those it serves, in batches
//! of a hundred) and reading them back (opening a recorded journal and
//! listing both, as a resume's or a replay's plan does). These are the
//! journal's share of the resume and replay rows of `benches/bench.sh`.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use odw_journal::{CallOutcome, Completed, FORMAT_VERSION, Issued, Journal, Started, Usage};
use serde_json::json;

const CALLS: u32 = 1000;

fn started() -> Started {
    Started {
        version: FORMAT_VERSION,
        seed: [1, 2],
        clock: 1_700_000_000_000.0,
        script_hash: "s".repeat(64),
        args_hash: "a".repeat(64),
        resumed_from: None,
        odw_version: "bench".into(),
        context: json!(null),
    }
}

/// A call as the benches' fan-out makes it: a short prompt, answered with itself.
fn call(index: u32) -> (Issued, Completed) {
    let key = format!("{:064x}", u128::from(index) * 0x9e37_79b9_7f4a_7c15);
    let issued = Issued {
        index,
        key: key.clone(),
        content_key: key.chars().rev().collect(),
        label: "cat".into(),
        phase: None,
        prompt_head: format!("item {index}"),
    };
    let completed = Completed {
        index,
        key,
        outcome: CallOutcome::Ok { value: json!(format!("item {index}")) },
        attempts: 1,
        usage: Usage { input: 3, output: 3, estimated: true },
        clock: 1_700_000_000_000.0 + f64::from(index),
        ms: 1,
    };
    (issued, completed)
}

fn write(dir: &std::path::Path, calls: &[(Issued, Completed)]) -> Journal {
    let journal = Journal::begin(&dir.join("journal"), started()).expect("begin");
    for (issued, completed) in calls {
        journal.issue(issued).expect("issue");
        journal.complete_unflushed(completed).expect("complete");
    }
    journal
}

fn benches(c: &mut Criterion) {
    let calls: Vec<_> = (0..CALLS).map(call).collect();
    let mut group = c.benchmark_group("journal, 1000 calls");
    group.sample_size(30);
    group.bench_function("write (issue + complete each)", |b| {
        b.iter_batched(
            || tempfile::tempdir().expect("temp dir"),
            |dir| {
                let journal = write(dir.path(), &calls);
                journal.flush().expect("flush");
                (dir, journal)
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("copy (100 calls a batch)", |b| {
        b.iter_batched(
            || tempfile::tempdir().expect("temp dir"),
            |dir| {
                let journal = Journal::begin(&dir.path().join("journal"), started()).expect("begin");
                for batch in calls.chunks(100) {
                    journal.copy(batch).expect("copy");
                }
                journal.flush().expect("flush");
                (dir, journal)
            },
            BatchSize::PerIteration,
        )
    });
    let recorded = tempfile::tempdir().expect("temp dir");
    let journal = write(recorded.path(), &calls);
    journal.finish(&odw_journal::Finished { ok: true, result: json!(CALLS) }).expect("finish");
    drop(journal);
    group.bench_function("open and read back", |b| {
        b.iter(|| {
            let journal = Journal::open(&recorded.path().join("journal")).expect("open");
            let calls = journal.calls().expect("calls");
            assert_eq!((calls.issued.len(), calls.completions.len()), (CALLS as usize, CALLS as usize));
        })
    });
    group.finish();
}

criterion_group!(journal, benches);
criterion_main!(journal);
