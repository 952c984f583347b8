//! The guest's side of the host protocol: the only functions this module
//! imports from the host (module `odw`). The host lists the same functions,
//! with why each is safe, in `engine/src/sandbox/imports.rs`.
//!
//! Data crosses as UTF-8 JSON. The host never writes into guest memory on its
//! own: a call that returns data returns its length, and the guest then asks
//! for the bytes with `take_payload` into a buffer it allocated.

mod raw {
    #[link(wasm_import_module = "odw")]
    unsafe extern "C" {
        /// Stages the activation (JSON) and returns its length.
        pub fn activation() -> u32;
        /// Copies the staged payload into `ptr` (exactly the length last returned).
        pub fn take_payload(ptr: *mut u8);
        /// Asks the host to start one agent call (JSON request); returns its id.
        pub fn agent_start(ptr: *const u8, len: u32) -> u32;
        /// Blocks until any started agent completes; stages every completion
        /// queued by then (a JSON array of `[id, ok, input tokens, output
        /// tokens, clock, value or error]`, in the order they must be seen)
        /// and returns its length, or `u32::MAX` when no agent is in flight.
        pub fn wait_batch() -> u32;
        /// A fire-and-forget notification (phase, log) as JSON.
        pub fn emit(ptr: *const u8, len: u32);
        /// Loads another workflow (`workflow()`) or transforms candidate
        /// text (`validate()`); stages the JSON reply and returns its length.
        pub fn load(ptr: *const u8, len: u32) -> u32;
        /// The run's outcome as JSON; called exactly once.
        pub fn finish(ptr: *const u8, len: u32);
    }
}

const NONE_IN_FLIGHT: u32 = u32::MAX;

fn take(len: u32) -> String {
    let mut buf = vec![0u8; len as usize];
    // SAFETY: `buf` is exactly `len` bytes, the length the host just staged.
    unsafe { raw::take_payload(buf.as_mut_ptr()) };
    String::from_utf8_lossy(&buf).into_owned()
}

pub fn read_activation() -> String {
    // SAFETY: plain host call without pointers.
    let len = unsafe { raw::activation() };
    take(len)
}

/// Starts one agent call: the request `{"prompt", "opts", "phase"}` is
/// written here, in Rust, from the prompt, the options as JSON text (which
/// the prelude's own `JSON.stringify` made) and the phase; encoding the
/// prompt and the phase with QuickJS's `JSON.stringify` cost a tenth of a
/// call served from the journal.
pub fn agent_start(prompt: &str, opts: &str, phase: Option<&str>) -> u32 {
    let mut request = String::with_capacity(prompt.len() + opts.len() + 48);
    request.push_str("{\"prompt\":");
    push_json_string(&mut request, prompt);
    request.push_str(",\"opts\":");
    request.push_str(opts);
    request.push_str(",\"phase\":");
    match phase {
        Some(phase) => push_json_string(&mut request, phase),
        None => request.push_str("null"),
    }
    request.push('}');
    // SAFETY: the pointer and length describe a live, initialised str.
    unsafe { raw::agent_start(request.as_ptr(), request.len() as u32) }
}

pub fn wait_batch() -> Option<String> {
    // SAFETY: plain host call without pointers.
    let len = unsafe { raw::wait_batch() };
    (len != NONE_IN_FLIGHT).then(|| take(len))
}

pub fn emit(event: &str) {
    // SAFETY: the pointer and length describe a live, initialised str.
    unsafe { raw::emit(event.as_ptr(), event.len() as u32) }
}

pub fn load(request: &str) -> String {
    // SAFETY: the pointer and length describe a live, initialised str.
    let len = unsafe { raw::load(request.as_ptr(), request.len() as u32) };
    take(len)
}

pub fn finish(outcome: &str) {
    // SAFETY: the pointer and length describe a live, initialised str.
    unsafe { raw::finish(outcome.as_ptr(), outcome.len() as u32) }
}

/// Reports a failure of the guest itself (not of the script).
pub fn finish_internal(message: &str) {
    let outcome = format!(
        "{{\"ok\":false,\"error\":{{\"name\":\"InternalError\",\"message\":{}}}}}",
        json_string(message)
    );
    finish(&outcome);
}

/// Minimal JSON string encoder, so the guest needs no serde for one message.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_json_string(&mut out, s);
    out
}

/// Appends `s` as a JSON string: quotes, backslashes and control characters
/// escaped, everything else as it is (JSON text is UTF-8).
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    let mut plain = 0;
    // Every byte to escape is ASCII, so never part of a longer character:
    // the slices below cut at character boundaries.
    for (at, &byte) in s.as_bytes().iter().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[plain..at]);
        plain = at + 1;
        if escape.is_empty() {
            out.push_str(&format!("\\u{byte:04x}"));
        } else {
            out.push_str(escape);
        }
    }
    out.push_str(&s[plain..]);
    out.push('"');
}
