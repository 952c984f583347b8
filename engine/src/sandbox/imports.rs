//! The workflow protocol: every function of module `odw` the guest imports.
//!
//! This is the whole surface between a workflow and the host, so each
//! function says why it is safe. None of them touches files, the network,
//! the environment, clocks or processes: agent calls leave as messages that
//! the scheduler decides about.
//!
//! | import         | why it is safe                                                     |
//! |----------------|--------------------------------------------------------------------|
//! | `activation`   | stages data the host chose to give (script, args, seed, clock)      |
//! | `take_payload` | copies staged bytes into a guest buffer, bounds-checked             |
//! | `agent_start`  | sends a request to the scheduler, which validates and rate-limits it |
//! | `wait_next`    | blocks until a completion the host produced; returns only its length |
//! | `wait_batch`   | `wait_next` for every completion queued by then, as one JSON array   |
//! | `emit`         | a phase/log notification, validated, written as an event             |
//! | `finish`       | records the outcome once; the host decides what to do with it        |
//! | `load`         | `workflow()`/`validate()`: the loader's transform of a workflow the   |
//! |                | engine's resolver agreed to find (saved name, `.js` next to the      |
//! |                | script) or of text the guest already has; never echoes a file's text |
//! |                | that is not a workflow                                                |

use wasmtime::{AsContextMut, Caller, Linker};

use super::{GuestMsg, GuestState};
use crate::protocol::GuestEvent;

/// The largest message the guest may send (a prompt, a log line, an outcome).
const MAX_GUEST_MESSAGE: u32 = 64 << 20;
/// `wait_next` and `wait_batch` result when no agent call is in flight.
const NONE_IN_FLIGHT: u32 = u32::MAX;
/// A `wait_batch` batch takes no further completion once it is this large.
const MAX_BATCH_BYTES: usize = 1 << 20;

pub(super) fn add_to_linker(linker: &mut Linker<GuestState>) -> wasmtime::Result<()> {
    linker.func_wrap("odw", "activation", |mut c: Caller<'_, GuestState>| -> u32 {
        let state = c.data_mut();
        state.payload = std::mem::take(&mut state.activation);
        state.payload.len() as u32
    })?;

    linker.func_wrap("odw", "take_payload", |mut c: Caller<'_, GuestState>, ptr: u32| {
        let payload = std::mem::take(&mut c.data_mut().payload);
        write_guest(&mut c, ptr, &payload)
    })?;

    linker.func_wrap(
        "odw",
        "agent_start",
        |mut c: Caller<'_, GuestState>, ptr: u32, len: u32| -> wasmtime::Result<u32> {
            let bytes = read_guest(&mut c, ptr, len)?;
            let request = serde_json::from_slice(&bytes).map_err(|e| format!("bad agent request: {e}"));
            let state = c.data_mut();
            let id = state.next_id;
            state.next_id += 1;
            state.in_flight += 1;
            state.post(GuestMsg::Agent { id, request });
            Ok(id)
        },
    )?;

    // Blocks the guest, not the host: the wasm fiber is parked while tokio
    // runs the agents, and resumes when one of them completes. The guest
    // now waits with `wait_batch`; modules an older odw built use this.
    linker.func_wrap_async("odw", "wait_next", |mut c: Caller<'_, GuestState>, (): ()| {
        Box::new(async move {
            let state = c.data_mut();
            let Some(completion) = state.next_completion().await? else { return Ok(NONE_IN_FLIGHT) };
            let len = state.hand_over(1, completion.clock, serde_json::to_vec(&completion)?);
            c.as_context_mut().set_epoch_deadline(1);
            Ok(len)
        })
    })?;

    // `wait_next` for every completion queued by then, staged as one JSON
    // array of compact completions (`Completion::write_compact`) in the order
    // they came: one crossing and one parse for a burst (a resume serves a
    // whole fan-out at once) instead of one each, and half the parse. The
    // guest still delivers them one at a time. As safe as `wait_next`: it
    // returns only a length, and the bytes are the host's.
    linker.func_wrap_async("odw", "wait_batch", |mut c: Caller<'_, GuestState>, (): ()| {
        Box::new(async move {
            let state = c.data_mut();
            let Some(first) = state.next_completion().await? else { return Ok(NONE_IN_FLIGHT) };
            let mut payload = Vec::with_capacity(256);
            payload.push(b'[');
            first.write_compact(&mut payload)?;
            let (mut count, mut clock) = (1, first.clock);
            // Bounded so that the guest, which holds the whole batch while
            // it delivers it, never needs much more memory than for one.
            while payload.len() < MAX_BATCH_BYTES {
                let Ok(completion) = state.completions.try_recv() else { break };
                payload.push(b',');
                completion.write_compact(&mut payload)?;
                (count, clock) = (count + 1, completion.clock);
            }
            payload.push(b']');
            let len = state.hand_over(count, clock, payload);
            c.as_context_mut().set_epoch_deadline(1);
            Ok(len)
        })
    })?;

    linker.func_wrap("odw", "emit", |mut c: Caller<'_, GuestState>, ptr: u32, len: u32| {
        let bytes = read_guest(&mut c, ptr, len)?;
        let event: GuestEvent = serde_json::from_slice(&bytes)
            .map_err(|e| wasmtime::Error::msg(format!("bad guest event: {e}")))?;
        c.data_mut().post(GuestMsg::Event(event));
        Ok(())
    })?;

    linker.func_wrap(
        "odw",
        "load",
        |mut c: Caller<'_, GuestState>, ptr: u32, len: u32| -> wasmtime::Result<u32> {
            let bytes = read_guest(&mut c, ptr, len)?;
            let reply = super::load::answer(&bytes, c.data().workflows.as_deref());
            let state = c.data_mut();
            state.payload = serde_json::to_vec(&reply)?;
            Ok(state.payload.len() as u32)
        },
    )?;

    linker.func_wrap("odw", "finish", |mut c: Caller<'_, GuestState>, ptr: u32, len: u32| {
        let bytes = read_guest(&mut c, ptr, len)?;
        let state = c.data_mut();
        if state.outcome.is_none() {
            state.outcome = Some(bytes);
        }
        Ok(())
    })?;
    Ok(())
}

fn memory(c: &mut Caller<'_, GuestState>) -> wasmtime::Result<wasmtime::Memory> {
    match c.get_export("memory") {
        Some(wasmtime::Extern::Memory(m)) => Ok(m),
        _ => Err(wasmtime::Error::msg("the guest exports no memory")),
    }
}

/// Copies `len` bytes out of guest memory, bounds-checked.
pub(super) fn read_guest(c: &mut Caller<'_, GuestState>, ptr: u32, len: u32) -> wasmtime::Result<Vec<u8>> {
    if len > MAX_GUEST_MESSAGE {
        return Err(wasmtime::Error::msg(format!(
            "a guest message of {len} bytes exceeds the {MAX_GUEST_MESSAGE}-byte limit"
        )));
    }
    let mem = memory(c)?;
    let data = mem.data(&c);
    let start = ptr as usize;
    data.get(start..start + len as usize)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| wasmtime::Error::msg("guest pointer out of bounds"))
}

/// Copies `bytes` into guest memory at `ptr`, bounds-checked.
pub(super) fn write_guest(c: &mut Caller<'_, GuestState>, ptr: u32, bytes: &[u8]) -> wasmtime::Result<()> {
    let mem = memory(c)?;
    mem.write(c, ptr as usize, bytes).map_err(|_| wasmtime::Error::msg("guest pointer out of bounds"))
}
