//! The README's tour, run as written: every `sh` block of the "A short tour"
//! section, in order, in a scratch directory with `odw` on PATH. A command
//! that stops working fails this test, so the README cannot drift.

use std::path::Path;
use std::process::Command;

const README: &str = include_str!("../README.md");

/// The `sh` blocks of the tour, as one script (the `cargo install` line is
/// the build this test runs on, so it is left out).
fn tour_script() -> String {
    let tour = README.split("## A short tour").nth(1).expect("the README has a tour");
    let tour = tour.split("\n## ").next().unwrap_or(tour);
    let mut script = String::from("set -euo pipefail\n");
    for block in tour.split("```sh\n").skip(1) {
        let body = block.split("```").next().unwrap_or("");
        for line in body.lines().filter(|l| !l.trim_start().starts_with("cargo ")) {
            script.push_str(line);
            script.push('\n');
        }
    }
    script
}

#[test]
fn the_readme_tour_runs_as_written() {
    let script = tour_script();
    assert!(script.lines().count() > 15, "the tour lost its commands:\n{script}");
    let dir = tempfile::tempdir().unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    std::fs::create_dir(dir.path().join("examples")).unwrap();
    for entry in std::fs::read_dir(&examples).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join("examples").join(path.file_name().unwrap())).unwrap();
    }
    let bin = Path::new(env!("CARGO_BIN_EXE_odw")).parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env("PATH", path)
        .env("HOME", dir.path())
        .env("ODW_CACHE_DIR", Path::new(env!("CARGO_TARGET_TMPDIR")).join("odw-cache"))
        .env_remove("ODW_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the README tour failed:\n--- script\n{script}\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
