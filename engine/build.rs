//! Precompiles the guest for the machine that builds odw.
//!
//! Compiling the guest with Cranelift takes about a second, which a fresh
//! install would otherwise pay on its first run. Here it is compiled once, at
//! build time, with the sandbox's own wasmtime settings, and the artifact is
//! embedded in the binary (`sandbox/guest.rs`). Cranelift targets the CPU it
//! runs on, so the artifact suits the build machine; on another CPU wasmtime
//! refuses it and odw falls back to compiling and caching the guest itself.
//!
//! No artifact is made when cross-compiling (the host's code would not run on
//! the target) or when `ODW_NO_PRECOMPILED_GUEST` is set; the binary then
//! always compiles the guest on first use, as before.

#[cfg(feature = "precompiled-guest")]
#[path = "src/sandbox/wasmtime_config.rs"]
mod wasmtime_config;

use std::path::PathBuf;

const GUEST: &str = "../guest/odw_guest.wasm";

fn main() {
    println!("cargo::rerun-if-changed={GUEST}");
    println!("cargo::rerun-if-changed=src/sandbox/wasmtime_config.rs");
    println!("cargo::rerun-if-env-changed=ODW_NO_PRECOMPILED_GUEST");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let native = std::env::var("TARGET").ok() == std::env::var("HOST").ok();
    let wanted =
        cfg!(feature = "precompiled-guest") && std::env::var_os("ODW_NO_PRECOMPILED_GUEST").is_none();
    let artifact = if native && wanted {
        match precompile() {
            Ok(bytes) => bytes,
            Err(e) => {
                // Not fatal: the binary compiles the guest at run time instead.
                println!(
                    "cargo::warning=the guest is not precompiled ({e}); odw will compile it on first use"
                );
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    std::fs::write(out_dir.join("guest.cwasm"), artifact)
        .expect("cannot write the precompiled guest to OUT_DIR");
    // The guest's identity (cache keys), so that a run need not hash a
    // megabyte of the binary, and read it from disk, to know it.
    let guest = std::fs::read(GUEST).expect("cannot read the guest");
    std::fs::write(out_dir.join("guest.blake3"), blake3::hash(&guest).as_bytes())
        .expect("cannot write the guest's hash to OUT_DIR");
    let segments: String = data_segments(&guest).iter().map(|(at, len)| format!("({at}, {len}), ")).collect();
    std::fs::write(out_dir.join("guest_segments.rs"), format!("&[{segments}]"))
        .expect("cannot write the guest's data segments to OUT_DIR");
}

/// Where the guest's active data segments lie in its memory, as
/// `(offset, length)` pairs: a run from a preset clears them (see
/// `Preset::apply`), and reading them here spares every run parsing the
/// embedded guest (its section headers, pages of code it never runs).
fn data_segments(guest: &[u8]) -> Vec<(u64, u64)> {
    use wasmparser::{DataKind, Operator, Parser, Payload};
    let mut segments = Vec::new();
    for payload in Parser::new(0).parse_all(guest) {
        let Payload::DataSection(reader) = payload.expect("the guest is valid WebAssembly") else { continue };
        for data in reader {
            let data = data.expect("a readable data segment");
            if let DataKind::Active { memory_index: 0, offset_expr } = data.kind {
                let mut ops = offset_expr.get_operators_reader();
                let Ok(Operator::I32Const { value }) = ops.read() else {
                    panic!("a guest data segment whose offset is not an i32 constant");
                };
                segments.push((u64::from(value as u32), data.data.len() as u64));
            }
        }
    }
    segments
}

/// The guest as the sandbox loads it: instrumented by wizer (see
/// `sandbox/guest.rs`), then compiled by the sandbox's engine.
#[cfg(feature = "precompiled-guest")]
fn precompile() -> Result<Vec<u8>, String> {
    let guest = std::fs::read(GUEST).map_err(|e| format!("cannot read {GUEST}: {e}"))?;
    let (_, instrumented) =
        wasmtime_wizer::Wizer::new().instrument(&guest).map_err(|e| format!("cannot instrument: {e:#}"))?;
    let engine = wasmtime::Engine::new(&wasmtime_config::wasmtime_config()).map_err(|e| e.to_string())?;
    engine.precompile_module(&instrumented).map_err(|e| format!("cannot compile: {e:#}"))
}

#[cfg(not(feature = "precompiled-guest"))]
fn precompile() -> Result<Vec<u8>, String> {
    Err("the precompiled-guest feature is off".into())
}
