//! A schema from the script and a reply from an agent (split at the first
//! NUL byte): compile, prompt, echo's instance, extraction and validation
//! all return in bounded time without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (schema, reply) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    odw_engine::fuzz::schema_and_reply(schema, &String::from_utf8_lossy(reply));
});
