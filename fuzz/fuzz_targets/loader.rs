//! The loader against QuickJS: any text either is refused by the loader with
//! a position in the file, or is a workflow whose body QuickJS compiles
//! without running any of it (only a SyntaxError may come back: an early
//! error the parser leaves to QuickJS). The wrapped body always holds the
//! file's lines at their places.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use odw_engine::sandbox::{GuestIo, Sandbox};
use odw_engine::{Config, Script};

struct Quickjs {
    sandbox: Sandbox,
    runtime: tokio::runtime::Runtime,
    config: Config,
}

fn quickjs() -> &'static Quickjs {
    static Q: OnceLock<Quickjs> = OnceLock::new();
    Q.get_or_init(|| Quickjs {
        // The compiled guest is cached across fuzzing sessions: compiling it
        // with an instrumented Cranelift takes longer than one input may.
        sandbox: Sandbox::new(Some(&std::env::temp_dir().join("odw-fuzz-cache"))).expect("the guest compiles"),
        runtime: tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime"),
        config: Config::default(),
    })
}

fuzz_target!(init: { quickjs(); }, |data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(script) = Script::parse(Path::new("fuzz.js"), text.to_string()) else { return };
    // Every line after the first stays where it was in the file.
    for (got, want) in script.body.split('\n').skip(1).zip(text.split('\n').skip(1)) {
        assert_eq!(got.len(), want.len());
    }
    let q = quickjs();
    let outcome = q.runtime.block_on(async {
        let (io, refuse) = GuestIo::isolated();
        let outcome = q.sandbox.run(&script.compile_activation(), q.config.sandbox_limits(), io).await;
        refuse.abort();
        outcome
    });
    if let Ok(outcome) = outcome
        && let Some(error) = outcome.error
    {
        assert_eq!(error.name, "SyntaxError", "compiling ran body code: {error:?}");
    }
});
