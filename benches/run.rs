//! Criterion benches of the real binary, process start to exit: what a user
//! waits for. `benches/bench.sh` prints the same figures as ratios against a
//! plain shell; this file tracks them over time with criterion's statistics.

use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::{Criterion, criterion_group, criterion_main};

struct Bench {
    dir: tempfile::TempDir,
}

impl Bench {
    fn new() -> Bench {
        let dir = tempfile::tempdir().expect("temp dir");
        let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).expect("write");
        write(
            "one.js",
            "export const meta = { name: 'one', description: '' };\nreturn await agent('hello');\n".into(),
        );
        write(
            "fanout.js",
            "export const meta = { name: 'fanout', description: '' };\n\
             return (await parallel(Array.from({ length: 200 }, (_, i) => () => agent(`item ${i}`)))).length;\n"
                .into(),
        );
        write("agent.sh", "cat > /dev/null; echo ok\n".into());
        let agent = dir.path().join("agent.sh");
        write(
            "odw.config.json",
            format!(
                r#"{{"concurrency": 8, "adapters": {{"sh": {{"command": ["sh", "{}"]}}}}}}"#,
                agent.display()
            ),
        );
        Bench { dir }
    }

    fn run(&self, script: &str, adapter: &str, cache: &Path) {
        let status = Command::new(env!("CARGO_BIN_EXE_odw"))
            .args(["run", script, "--wait", "--adapter", adapter, "--runs-root"])
            .arg(self.dir.path().join("runs"))
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .env("ODW_CACHE_DIR", cache)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("odw runs");
        assert!(status.success());
    }

    fn cache(&self) -> PathBuf {
        self.dir.path().join("cache")
    }
}

fn benches(c: &mut Criterion) {
    let bench = Bench::new();
    let warm = bench.cache();
    bench.run("one.js", "echo", &warm);

    let mut group = c.benchmark_group("odw run --wait");
    group.sample_size(20);
    group.bench_function("one agent, warm cache", |b| b.iter(|| bench.run("one.js", "echo", &warm)));
    group.bench_function("200-agent fan-out, sh adapter", |b| b.iter(|| bench.run("fanout.js", "sh", &warm)));
    group.sample_size(10);
    group.bench_function("one agent, cold cache", |b| {
        b.iter(|| {
            let cold = bench.dir.path().join("cold");
            let _ = std::fs::remove_dir_all(&cold);
            bench.run("one.js", "echo", &cold)
        })
    });
    group.finish();
}

criterion_group!(run, benches);
criterion_main!(run);
