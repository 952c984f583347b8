//! Pre-initialisation: the guest with one script already compiled in it.
//!
//! This is wizer's recipe, driven by the sandbox's own wasmtime engine and
//! imports. The guest's `wizer-initialize` export starts QuickJS and compiles
//! the prelude and the script without running either; the state of the
//! instance right after it — its memory and mutable globals — is an
//! [`Image`]. wizer rewrites the guest with an image as its initial state:
//! a workflow module (`odw build`, and the compile cache). `_start` in such a
//! module finds the compiled script waiting and skips straight to running it.
//! Nothing run-specific is in an image: args, seed, clock and budget still
//! come from the activation at run time.
//!
//! Running a module needs no compiler when its code is the guest's own
//! (every module this odw builds): a [`Preset`] — the module's memory size,
//! data segments and globals — is written into a fresh instance of the
//! already compiled guest. That is what instantiating the module would do,
//! without compiling a megabyte of identical code again.

use std::future::Future;
use std::ops::Range;
use std::pin::pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};

use wasmparser::{
    BinaryReader, DataKind, DataSectionReader, GlobalSectionReader, MemorySectionReader, Operator,
};
use wasmtime::{Instance, Store, Val};
use wasmtime_wizer::{InstanceState, SnapshotVal, ValType, Wizer};

use crate::wasm::sections;

use super::{GUEST_WASM, GuestState, SandboxError, guest};

/// The guest's initialisation export (`guest/src/main.rs`).
pub(super) const INIT_FUNC: &str = "wizer-initialize";
/// The name wizer's instrumentation exports the guest's memory under.
const MEMORY: &str = "__wizer_memory_0";
/// The prefix of the names it exports mutable globals under (then the index).
const GLOBAL: &str = "__wizer_global_";

/// The state of a guest instance right after `wizer-initialize`.
pub struct Image {
    memory: Vec<u8>,
    globals: Vec<(String, SnapshotVal)>,
}

impl Image {
    /// Copies the memory and the mutable globals out of an initialised instance.
    pub(super) fn capture(store: &mut Store<GuestState>, instance: &Instance) -> Result<Image, SandboxError> {
        let memory = instance
            .get_memory(&mut *store, MEMORY)
            .ok_or_else(|| SandboxError::Protocol("the guest exports no memory to snapshot".into()))?;
        let memory = memory.data(&*store).to_vec();
        let names: Vec<String> = instance
            .exports(&mut *store)
            .map(|e| e.name().to_string())
            .filter(|n| n.starts_with(GLOBAL))
            .collect();
        let mut globals = Vec::with_capacity(names.len());
        for name in names {
            let global = instance.get_global(&mut *store, &name).expect("listed above");
            let value = match global.get(&mut *store) {
                Val::I32(x) => SnapshotVal::I32(x),
                Val::I64(x) => SnapshotVal::I64(x),
                Val::F32(x) => SnapshotVal::F32(x),
                Val::F64(x) => SnapshotVal::F64(x),
                Val::V128(x) => SnapshotVal::V128(x.as_u128()),
                other => {
                    return Err(SandboxError::Protocol(format!("cannot snapshot global {name}: {other:?}")));
                }
            };
            globals.push((name, value));
        }
        Ok(Image { memory, globals })
    }

    /// The guest rewritten to start in this state: a workflow module.
    pub fn into_module(mut self) -> Result<Vec<u8>, SandboxError> {
        let (context, _) = guest::instrumented()?;
        let mut wizer = Wizer::new();
        wizer.init_func(INIT_FUNC);
        ready(wizer.snapshot(&context, &mut self))
            .map_err(|e| SandboxError::Setup(format!("cannot snapshot the guest: {e:#}")))
    }
}

/// Polls a future that never waits: wizer's passes are `async` for
/// instances that must be read remotely, but an [`Image`] is in memory.
fn ready<T>(future: impl Future<Output = T>) -> T {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(value) => value,
        Poll::Pending => unreachable!("wizer waited on an in-memory image"),
    }
}

impl InstanceState for Image {
    async fn global_get(&mut self, name: &str, _: ValType) -> SnapshotVal {
        // wizer asks only for the globals its instrumentation exported, which
        // are the ones captured: a missing one is a bug, not bad input.
        let found = self.globals.iter().find(|(n, _)| n == name).expect("a captured global");
        match found.1 {
            SnapshotVal::I32(x) => SnapshotVal::I32(x),
            SnapshotVal::I64(x) => SnapshotVal::I64(x),
            SnapshotVal::F32(x) => SnapshotVal::F32(x),
            SnapshotVal::F64(x) => SnapshotVal::F64(x),
            SnapshotVal::V128(x) => SnapshotVal::V128(x),
        }
    }

    async fn memory_contents(&mut self, _: &str, contents: impl FnOnce(&[u8]) + Send) {
        contents(&self.memory)
    }
}

/// The initial state of a workflow module whose code is the guest's,
/// ready to be written into a fresh instance of the guest.
#[derive(Debug)]
pub struct Preset {
    bytes: Arc<Vec<u8>>,
    pages: u64,
    /// Mutable globals by index, with their initial values.
    globals: Vec<(u32, Val)>,
    /// Active data segments: where in memory, and where in `bytes`.
    segments: Vec<(usize, Range<usize>)>,
}

impl Preset {
    /// Reads a module's initial state, if its code and imports are exactly
    /// the guest's (otherwise it must be compiled on its own). A module that
    /// claims to be the guest but is malformed is an error.
    pub fn of(bytes: Arc<Vec<u8>>) -> Result<Option<Preset>, String> {
        let sections = sections(&bytes)?;
        let mine =
            sections.iter().filter(|(id, _)| !REWRITTEN.contains(id)).map(|(id, r)| (*id, &bytes[r.clone()]));
        let guest = guest_sections()
            .iter()
            .filter(|(id, _)| !REWRITTEN.contains(id))
            .map(|(id, r)| (*id, &GUEST_WASM[r.clone()]));
        if !mine.eq(guest) {
            return Ok(None);
        }
        let (pages, globals, segments) = initial_state(&bytes, sections)?;
        Ok(Some(Preset { bytes, pages, globals, segments }))
    }

    /// Writes this state into a fresh instance of the guest, as
    /// instantiating the module itself would have.
    pub(super) fn apply(
        &self,
        store: &mut Store<GuestState>,
        instance: &Instance,
    ) -> Result<(), SandboxError> {
        let protocol = |m: String| SandboxError::Protocol(m);
        let memory = instance
            .get_memory(&mut *store, MEMORY)
            .ok_or_else(|| protocol("the guest exports no memory".into()))?;
        let have = memory.size(&*store);
        if self.pages > have {
            memory
                .grow(&mut *store, self.pages - have)
                .map_err(|e| SandboxError::Setup(format!("the module's memory does not fit: {e}")))?;
        }
        let data = memory.data_mut(&mut *store);
        // A fresh instance is zero but for the guest's own data segments;
        // clearing those (not the whole memory, most of which is untouched
        // copy-on-write pages) leaves exactly what the module's state lies on.
        for (at, range) in guest_segments() {
            if let Some(target) = data.get_mut(*at..*at + range.len()) {
                target.fill(0);
            }
        }
        for (at, range) in &self.segments {
            let target = data
                .get_mut(*at..*at + range.len())
                .ok_or_else(|| protocol(format!("a data segment at {at} lies outside the memory")))?;
            target.copy_from_slice(&self.bytes[range.clone()]);
        }
        for (index, value) in &self.globals {
            let global = instance
                .get_global(&mut *store, &format!("{GLOBAL}{index}"))
                .ok_or_else(|| protocol(format!("the guest exports no global {index}")))?;
            global.set(&mut *store, *value).map_err(|e| protocol(format!("global {index}: {e}")))?;
        }
        Ok(())
    }
}

/// Memory pages, mutable globals (by index) and active data segments (where
/// in memory, where in `bytes`): what instantiating a module sets up.
type InitialState = (u64, Vec<(u32, Val)>, Vec<(usize, Range<usize>)>);

fn initial_state(bytes: &[u8], sections: Vec<(u8, Range<usize>)>) -> Result<InitialState, String> {
    let (mut pages, mut globals, mut segments) = (None, Vec::new(), Vec::new());
    let parse = |e: wasmparser::BinaryReaderError| e.to_string();
    for (id, range) in sections {
        let reader = BinaryReader::new(&bytes[range.clone()], range.start);
        match id {
            MEMORY_SECTION => {
                for memory in MemorySectionReader::new(reader).map_err(parse)? {
                    pages.get_or_insert(memory.map_err(parse)?.initial);
                }
            }
            GLOBAL_SECTION => {
                let reader = GlobalSectionReader::new(reader).map_err(parse)?;
                for (index, global) in reader.into_iter().enumerate() {
                    let global = global.map_err(parse)?;
                    if global.ty.mutable {
                        globals.push((index as u32, constant(global.init_expr.get_operators_reader())?));
                    }
                }
            }
            DATA_SECTION => {
                for data in DataSectionReader::new(reader).map_err(parse)? {
                    let data = data.map_err(parse)?;
                    if let DataKind::Active { memory_index: 0, offset_expr } = data.kind {
                        let at = match constant(offset_expr.get_operators_reader())? {
                            Val::I32(x) => x as u32 as usize,
                            _ => return Err("a data segment with a non-i32 offset".into()),
                        };
                        segments.push((at, data.range.end - data.data.len()..data.range.end));
                    }
                }
            }
            _ => {}
        }
    }
    let pages = pages.ok_or("the module defines no memory")?;
    Ok((pages, globals, segments))
}

const MEMORY_SECTION: u8 = 5;
const GLOBAL_SECTION: u8 = 6;
const DATA_SECTION: u8 = 11;
/// Sections a snapshot rewrites (memory, globals, exports, data, data
/// count) and custom ones: everything else is the module's code and
/// linkage, which must be the guest's for a [`Preset`].
const REWRITTEN: [u8; 6] = [0, MEMORY_SECTION, GLOBAL_SECTION, 7, DATA_SECTION, 12];

/// The guest's own active data segments, read once per process.
fn guest_segments() -> &'static [(usize, Range<usize>)] {
    static SEGMENTS: OnceLock<Vec<(usize, Range<usize>)>> = OnceLock::new();
    SEGMENTS.get_or_init(|| {
        initial_state(GUEST_WASM, guest_sections().to_vec())
            .map(|(_, _, segments)| segments)
            .unwrap_or_default()
    })
}

/// The guest's sections, read once per process.
fn guest_sections() -> &'static [(u8, Range<usize>)] {
    static SECTIONS: OnceLock<Vec<(u8, Range<usize>)>> = OnceLock::new();
    SECTIONS.get_or_init(|| sections(GUEST_WASM).unwrap_or_default())
}

/// The value of a constant expression of one `*.const`.
fn constant(mut ops: wasmparser::OperatorsReader<'_>) -> Result<Val, String> {
    Ok(match ops.read().map_err(|e| e.to_string())? {
        Operator::I32Const { value } => Val::I32(value),
        Operator::I64Const { value } => Val::I64(value),
        Operator::F32Const { value } => Val::F32(value.bits()),
        Operator::F64Const { value } => Val::F64(value.bits()),
        _ => return Err(format!("an initial value that is not a constant (at {})", ops.original_position())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_read_from_their_headers() {
        let guest = sections(GUEST_WASM).unwrap();
        assert!(guest.iter().any(|(id, _)| *id == 10), "a code section");
        assert_eq!(guest.last().unwrap().1.end, GUEST_WASM.len(), "they cover the module");
        assert!(sections(b"\0asm\x02\0\0\0").unwrap_err().contains("bad header"));
        let truncated = sections(b"\0asm\x01\0\0\0\x01\x05\x00").unwrap_err();
        assert!(truncated.contains("runs past the end"), "{truncated}");
    }

    #[test]
    fn the_guest_is_its_own_preset_and_other_code_is_not() {
        let preset = Preset::of(Arc::new(GUEST_WASM.to_vec())).unwrap().expect("the guest's own code");
        assert!(preset.pages > 0 && !preset.segments.is_empty());

        let mut other = GUEST_WASM.to_vec();
        let (_, code) = sections(GUEST_WASM).unwrap().into_iter().find(|(id, _)| *id == 10).unwrap();
        let last = code.end - 1; // the `end` of the last function body
        other[last - 1] ^= 0x01;
        assert!(Preset::of(Arc::new(other)).unwrap().is_none(), "changed code must be compiled on its own");
    }
}
