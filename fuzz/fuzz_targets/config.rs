//! `odw.config.json`: any text is a config or a clear error, never a panic
//! (a number out of range once panicked odw).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        odw_engine::fuzz::config(text);
    }
});
