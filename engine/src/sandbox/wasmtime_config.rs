//! The wasmtime settings the sandbox runs the guest with.
//!
//! One definition for two users: the sandbox at run time, and the engine's
//! build script, which precompiles the guest with exactly these settings so
//! that the binary ships the guest ready to load (`guest::load_guest`). A
//! precompiled artifact only loads into an engine with the same settings,
//! so they must never be written twice.

/// The sandbox's wasmtime configuration.
pub fn wasmtime_config() -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    // CPU time is bounded by epochs (see `sandbox::EPOCH_TICK`).
    config.epoch_interruption(true);
    // The async fiber that runs the guest needs room for the wasm stack.
    config.max_wasm_stack(8 << 20);
    config.async_stack_size(16 << 20);
    config
}
