//! How long the sandbox takes to start a workflow, in process: compiling the
//! script from source (what every run did before the compile cache) against
//! starting from its pre-initialised module (`odw build`, and every later run
//! of a cached script). Each iteration is one evaluation in a fresh instance;
//! the workflow's first `agent()` call is refused at once, so the figure is
//! start-up plus the script's synchronous work — what a user waits for
//! before the first agent starts.

use std::path::Path;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use odw_engine::sandbox::{Boot, GuestIo, Preset, Sandbox};
use odw_engine::{Activation, Config, Script};

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("tokio");
    let cache = tempfile::tempdir().expect("temp dir");
    let sandbox = Sandbox::new(Some(cache.path())).expect("sandbox");
    let config = Config::default();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/deep-research.js");
    let script = Script::read(&path).expect("example");
    let bytes = runtime.block_on(odw_engine::build(&sandbox, &config, &script)).expect("build");
    let preset = Preset::of(Arc::new(bytes)).expect("module").expect("the guest's code");
    let activation = Activation {
        source: script.body.clone(),
        filename: script.display_name(),
        line_one_shift: script.line_one_shift,
        args: serde_json::json!({ "question": "How do tides work?" }),
        seed: [1, 2],
        clock: 0.0,
        budget: None,
    };
    let start = |boot: Boot<'_>| {
        runtime.block_on(async {
            let (io, refuse) = GuestIo::isolated();
            let outcome = sandbox.evaluate(boot, &activation, config.sandbox_limits(), io).await;
            refuse.abort();
            outcome.expect("an outcome")
        })
    };

    let mut group = c.benchmark_group("workflow start (deep-research.js)");
    group.bench_function("from source", |b| b.iter(|| start(Boot::Source)));
    group.bench_function("from its module", |b| b.iter(|| start(Boot::Preset(&preset))));
    group.finish();
}

criterion_group!(start, benches);
criterion_main!(start);
