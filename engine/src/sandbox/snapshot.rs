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
    /// Where the segments' bytes are.
    data: Data,
    /// What the segments are written over.
    base: Base,
    pages: u64,
    /// Mutable globals by index, with their initial values.
    globals: Vec<(u32, Val)>,
    /// Active data segments: where in memory, and where in `data`.
    segments: Vec<(usize, Range<usize>)>,
}

/// What a preset's segments are written over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    /// Nothing: the segments are a module's whole initial memory, so the
    /// guest's own data is cleared before they are written.
    Zero,
    /// A fresh guest's memory: the segments are only the chunks where the
    /// state differs from it. Compiling a script builds a heap of about
    /// 220 KB but leaves most of the guest's own data (145 KB) as it was;
    /// writing only what changed leaves those pages as the compiled guest
    /// maps them (copy-on-write, shared), where clearing and rewriting the
    /// data made each of them a private copy (36 page faults a cached run).
    Guest,
}

/// Where a preset's segment bytes are: in memory (a module, an image), or
/// in the compile cache's entry, read straight into the guest's memory when
/// applied: a cached run holds no copy of the state it starts from (a
/// quarter of a megabyte, and a copy of it).
#[derive(Debug)]
enum Data {
    Bytes(Arc<Vec<u8>>),
    File(std::fs::File),
}

impl Data {
    /// Fills `target` from `range`.
    fn read(&self, range: &Range<usize>, target: &mut [u8]) -> std::io::Result<()> {
        match self {
            Data::Bytes(bytes) => {
                target.copy_from_slice(&bytes[range.clone()]);
                Ok(())
            }
            Data::File(file) => std::os::unix::fs::FileExt::read_exact_at(file, target, range.start as u64),
        }
    }
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
        Ok(Some(Preset { data: Data::Bytes(bytes), base: Base::Zero, pages, globals, segments }))
    }

    /// The state an image holds, as a preset: the runs of its memory that
    /// differ from a fresh guest's, and its globals. Applied to a fresh
    /// guest this gives exactly the image's memory, as the module
    /// [`Image::into_module`] would, without making and parsing a module.
    pub fn of_image(image: &Image) -> Result<Preset, SandboxError> {
        // Runs are found a chunk at a time; an equal gap shorter than a
        // chunk is kept, which costs a few bytes and saves many tiny segments.
        const CHUNK: usize = 64;
        let guest =
            guest_data().map_err(|e| SandboxError::Setup(format!("cannot read the guest's data: {e}")))?;
        let memory = &image.memory;
        let (mut data, mut segments) = (Vec::new(), Vec::new());
        let mut keep = |start: usize, end: usize| {
            segments.push((start, data.len()..data.len() + (end - start)));
            data.extend_from_slice(&memory[start..end]);
        };
        let mut run = None;
        let mut fresh = [0; CHUNK];
        for (i, chunk) in memory.chunks(CHUNK).enumerate() {
            let fresh = &mut fresh[..chunk.len()];
            fresh_guest(guest, i * CHUNK, fresh);
            match (chunk != fresh, run) {
                (true, None) => run = Some(i * CHUNK),
                (false, Some(start)) => {
                    keep(start, i * CHUNK);
                    run = None;
                }
                _ => {}
            }
        }
        if let Some(start) = run {
            keep(start, memory.len());
        }
        let mut globals = Vec::with_capacity(image.globals.len());
        for (name, value) in &image.globals {
            let index = name
                .strip_prefix(GLOBAL)
                .and_then(|i| i.parse().ok())
                .ok_or_else(|| SandboxError::Protocol(format!("a global named {name} in the image")))?;
            let value = match *value {
                SnapshotVal::I32(x) => Val::I32(x),
                SnapshotVal::I64(x) => Val::I64(x),
                SnapshotVal::F32(x) => Val::F32(x),
                SnapshotVal::F64(x) => Val::F64(x),
                SnapshotVal::V128(x) => Val::V128(x.into()),
            };
            globals.push((index, value));
        }
        let pages = (memory.len() / WASM_PAGE) as u64;
        Ok(Preset { data: Data::Bytes(Arc::new(data)), base: Base::Guest, pages, globals, segments })
    }

    /// Appends the preset in the compact form the compile cache keeps
    /// (`workflow/cache.rs`), all integers little-endian:
    ///
    /// ```text
    /// pages u64 · base u8 (0 zero, 1 a fresh guest)
    /// globals u32 · per global: index u32, kind u8, value 16 bytes
    /// segments u32 · per segment: at u64, length u64 · then every segment's bytes, in order
    /// ```
    pub fn encode(&self, out: &mut Vec<u8>) -> std::io::Result<()> {
        out.extend_from_slice(&self.pages.to_le_bytes());
        out.push(match self.base {
            Base::Zero => 0,
            Base::Guest => 1,
        });
        out.extend_from_slice(&(self.globals.len() as u32).to_le_bytes());
        for (index, value) in &self.globals {
            let (kind, bits): (u8, u128) = match value {
                Val::I32(x) => (0, *x as u32 as u128),
                Val::I64(x) => (1, *x as u64 as u128),
                Val::F32(x) => (2, *x as u128),
                Val::F64(x) => (3, *x as u128),
                Val::V128(x) => (4, x.as_u128()),
                // Snapshots hold only numbers (`of` and `of_image`).
                _ => (u8::MAX, 0),
            };
            out.extend_from_slice(&index.to_le_bytes());
            out.push(kind);
            out.extend_from_slice(&bits.to_le_bytes());
        }
        out.extend_from_slice(&(self.segments.len() as u32).to_le_bytes());
        for (at, range) in &self.segments {
            out.extend_from_slice(&(*at as u64).to_le_bytes());
            out.extend_from_slice(&(range.len() as u64).to_le_bytes());
        }
        for (_, range) in &self.segments {
            let start = out.len();
            out.resize(start + range.len(), 0);
            self.data.read(range, &mut out[start..])?;
        }
        Ok(())
    }

    /// Reads a preset [`encode`](Preset::encode) wrote at `bytes[at..]`,
    /// which must end where the preset does. The segments stay in `bytes`:
    /// nothing is copied until the preset is applied. Whether they fit the
    /// memory is checked then, as for a module's.
    pub fn decode(bytes: Arc<Vec<u8>>, at: usize) -> Result<Preset, String> {
        let mut input = bytes.get(at..).ok_or("the preset is truncated")?;
        let head = Head::read(&mut input)?;
        let data_start = bytes.len() - input.len();
        head.into_preset(Data::Bytes(bytes.clone()), data_start as u64, bytes.len() as u64)
    }

    /// Reads a preset [`encode`](Preset::encode) wrote in `file` from `at`
    /// to its end: only the head is read now, the segments when the preset
    /// is applied.
    pub fn decode_file(file: std::fs::File, at: u64) -> Result<Preset, String> {
        use std::io::{Seek, SeekFrom};
        let (head, start, end) = {
            let mut input = std::io::BufReader::with_capacity(16 << 10, &file);
            input.seek(SeekFrom::Start(at)).map_err(|e| e.to_string())?;
            let head = Head::read(&mut input)?;
            let start = input.stream_position().map_err(|e| e.to_string())?;
            (head, start, file.metadata().map_err(|e| e.to_string())?.len())
        };
        head.into_preset(Data::File(file), start, end)
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
        // copy-on-write pages) leaves exactly what a module's state lies on.
        if self.base == Base::Zero {
            for &(at, len) in GUEST_SEGMENTS {
                if let Some(target) = data.get_mut(at..at + len) {
                    target.fill(0);
                }
            }
        }
        prefault(data, &self.segments);
        for (at, range) in &self.segments {
            let target = data
                .get_mut(*at..*at + range.len())
                .ok_or_else(|| protocol(format!("a data segment at {at} lies outside the memory")))?;
            self.data
                .read(range, target)
                .map_err(|e| SandboxError::Setup(format!("cannot read the compiled script's state: {e}")))?;
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

/// Makes the pages the segments are written to present and writable in
/// one call per run of pages, instead of one page fault for each page as
/// the segments are copied in (about 55 for a compiled script's 220 KB):
/// in a virtual machine every fault is an exit to the kernel and back.
/// Only a hint: where the kernel cannot (before Linux 5.14), the copy
/// faults the pages in as before.
#[cfg(target_os = "linux")]
fn prefault(memory: &mut [u8], segments: &[(usize, Range<usize>)]) {
    const PAGE: usize = 4096;
    let base = memory.as_mut_ptr() as usize;
    let mut run: Option<(usize, usize)> = None;
    let populate = |(start, end): (usize, usize)| {
        // SAFETY: the range lies within `memory`, which this call holds
        // mutably; populating writes nothing the caller can see (it is what
        // the caller's first write to each page would do).
        unsafe {
            libc::madvise((base + start) as *mut libc::c_void, end - start, libc::MADV_POPULATE_WRITE);
        }
    };
    for (at, range) in segments {
        let end = at.saturating_add(range.len()).min(memory.len());
        if *at >= end {
            continue;
        }
        // Whole pages of the memory (whose start is page-aligned).
        let (first, last) = (at / PAGE * PAGE, end.div_ceil(PAGE).saturating_mul(PAGE).min(memory.len()));
        run = match run {
            Some((start, stop)) if first <= stop => Some((start, stop.max(last))),
            Some(done) => {
                populate(done);
                Some((first, last))
            }
            None => Some((first, last)),
        };
    }
    if let Some(done) = run {
        populate(done);
    }
}

#[cfg(not(target_os = "linux"))]
fn prefault(_: &mut [u8], _: &[(usize, Range<usize>)]) {}

/// A compact preset's head: everything before the segments' bytes.
struct Head {
    pages: u64,
    base: Base,
    globals: Vec<(u32, Val)>,
    /// Where each segment goes in memory, and its length.
    lengths: Vec<(usize, u64)>,
}

impl Head {
    fn read(input: &mut impl std::io::Read) -> Result<Head, String> {
        let pages = u64::from_le_bytes(take(input)?);
        let base = match take(input)? {
            [0] => Base::Zero,
            [1] => Base::Guest,
            [other] => return Err(format!("a preset over an unknown base {other}")),
        };
        let mut globals = Vec::new();
        for _ in 0..u32::from_le_bytes(take(input)?) {
            let index = u32::from_le_bytes(take(input)?);
            let [kind] = take(input)?;
            let bits = u128::from_le_bytes(take(input)?);
            globals.push((
                index,
                match kind {
                    0 => Val::I32(bits as u32 as i32),
                    1 => Val::I64(bits as u64 as i64),
                    2 => Val::F32(bits as u32),
                    3 => Val::F64(bits as u64),
                    4 => Val::V128(bits.into()),
                    other => return Err(format!("a global of unknown kind {other}")),
                },
            ));
        }
        let mut lengths = Vec::new();
        for _ in 0..u32::from_le_bytes(take(input)?) {
            let at = usize::try_from(u64::from_le_bytes(take(input)?)).map_err(|_| "a segment's address")?;
            lengths.push((at, u64::from_le_bytes(take(input)?)));
        }
        Ok(Head { pages, base, globals, lengths })
    }

    /// The preset whose segments lie one after another from `start` to
    /// exactly `end` of `data`.
    fn into_preset(self, data: Data, start: u64, end: u64) -> Result<Preset, String> {
        let mut segments = Vec::with_capacity(self.lengths.len());
        let mut at = start;
        for (to, len) in self.lengths {
            let stop = at.checked_add(len).filter(|&stop| stop <= end).ok_or("the preset is truncated")?;
            let range = usize::try_from(at).map_err(|_| "a segment's offset")?
                ..usize::try_from(stop).map_err(|_| "a segment's offset")?;
            segments.push((to, range));
            at = stop;
        }
        if at != end {
            return Err(format!("{} bytes after the preset", end - at));
        }
        Ok(Preset { data, base: self.base, pages: self.pages, globals: self.globals, segments })
    }
}

/// The next `N` bytes of a compact preset.
fn take<const N: usize>(input: &mut impl std::io::Read) -> Result<[u8; N], String> {
    let mut bytes = [0; N];
    input.read_exact(&mut bytes).map_err(|_| "the preset is truncated")?;
    Ok(bytes)
}

/// The size of a WebAssembly memory page.
const WASM_PAGE: usize = 65536;

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

/// Where the guest's own active data segments lie in its memory, as
/// `(offset, length)`: read from the guest by the build script (build.rs),
/// so that a run from a preset parses none of the embedded guest.
const GUEST_SEGMENTS: &[(usize, usize)] = include!(concat!(env!("OUT_DIR"), "/guest_segments.rs"));

/// Data segments: where in memory, and their bytes.
type Segments = Vec<(usize, &'static [u8])>;

/// The guest's own active data segments. Read when a preset is made, never
/// on a run's way.
fn guest_data() -> Result<&'static [(usize, &'static [u8])], &'static str> {
    static DATA: OnceLock<Result<Segments, String>> = OnceLock::new();
    let data = DATA.get_or_init(|| {
        let (_, _, segments) = initial_state(GUEST_WASM, guest_sections().to_vec())?;
        Ok(segments.into_iter().map(|(at, range)| (at, &GUEST_WASM[range])).collect())
    });
    data.as_deref().map_err(String::as_str)
}

/// Fills `out` with a fresh guest's memory from `at`: its data segments
/// (`guest`, from [`guest_data`]), zero elsewhere.
fn fresh_guest(guest: &[(usize, &[u8])], at: usize, out: &mut [u8]) {
    out.fill(0);
    let end = at + out.len();
    for &(start, bytes) in guest {
        let (from, to) = (at.max(start), end.min(start + bytes.len()));
        if from < to {
            out[from - at..to - at].copy_from_slice(&bytes[from - start..to - start]);
        }
    }
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

    /// The pages segments are written to are made present, and only those;
    /// nothing in the memory changes, and a segment past its end is cut.
    #[cfg(target_os = "linux")]
    #[test]
    fn prefaulting_makes_the_segments_pages_present_and_changes_nothing() {
        const PAGE: usize = 4096;
        let len = 16 * PAGE;
        // SAFETY: a fresh private anonymous mapping, unmapped below.
        let memory = unsafe {
            let at = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(at, libc::MAP_FAILED);
            std::slice::from_raw_parts_mut(at as *mut u8, len)
        };
        let present = |memory: &[u8]| {
            let mut pages = vec![0u8; len / PAGE];
            // SAFETY: `pages` has a byte for every page of the mapping.
            assert_eq!(unsafe { libc::mincore(memory.as_ptr() as *mut _, len, pages.as_mut_ptr()) }, 0);
            pages.iter().map(|p| p & 1 == 1).collect::<Vec<_>>()
        };
        assert!(present(memory).iter().all(|p| !p), "a fresh mapping has no page yet");
        // Two segments within page 1, one across pages 3-5, one from page 14
        // past the end of the memory.
        let segments = [
            (PAGE + 8, 0..16),
            (PAGE + 100, 16..40),
            (3 * PAGE + 5, 40..40 + 2 * PAGE),
            (14 * PAGE, 0..9 * PAGE),
        ];
        prefault(memory, &segments);
        let expected: Vec<bool> = (0..16).map(|p| [1, 3, 4, 5, 14, 15].contains(&p)).collect();
        assert_eq!(present(memory), expected);
        assert!(memory.iter().all(|&b| b == 0), "populating wrote nothing");
        // SAFETY: mapped above, not used after.
        unsafe { libc::munmap(memory.as_mut_ptr() as *mut _, len) };
    }

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
    fn the_build_script_found_the_guests_data_segments() {
        let (_, _, segments) = initial_state(GUEST_WASM, guest_sections().to_vec()).unwrap();
        let found: Vec<(usize, usize)> = segments.iter().map(|(at, range)| (*at, range.len())).collect();
        assert!(!found.is_empty());
        assert_eq!(GUEST_SEGMENTS, found.as_slice());
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

    /// What applying `preset` to a fresh guest leaves (as `apply` does).
    fn memory_of(preset: &Preset) -> Vec<u8> {
        let mut memory = fresh_memory(preset.pages.saturating_sub(guest_pages()));
        if preset.base == Base::Zero {
            memory.fill(0);
        }
        for (at, range) in &preset.segments {
            preset.data.read(range, &mut memory[*at..*at + range.len()]).unwrap();
        }
        memory
    }

    /// A fresh guest's memory, `extra` pages larger.
    fn fresh_memory(extra: u64) -> Vec<u8> {
        let mut memory = vec![0; (guest_pages() + extra) as usize * WASM_PAGE];
        fresh_guest(guest_data().unwrap(), 0, &mut memory);
        memory
    }

    /// How large a fresh guest's memory is.
    fn guest_pages() -> u64 {
        initial_state(GUEST_WASM, guest_sections().to_vec()).unwrap().0
    }

    #[test]
    fn an_image_becomes_a_preset_of_only_what_differs_from_a_fresh_guest() {
        let mut memory = fresh_memory(2);
        let (data_at, data_len) = GUEST_SEGMENTS[0];
        assert!(memory[data_at..data_at + data_len].iter().any(|&b| b != 0), "the guest has data");
        memory[0] = 1; // the very first byte
        memory[100..110].fill(7); // a short run
        memory[130] = 9; // a gap shorter than a chunk, then a byte
        memory[data_at + 64..data_at + 128].fill(0); // guest data cleared
        memory[data_at + 4096] ^= 0xff; // guest data changed
        let grown = memory.len() - 2 * WASM_PAGE;
        memory[grown + 70_000..grown + 71_000].fill(0xff); // in a page the guest did not have
        *memory.last_mut().unwrap() = 3; // the very last byte
        let image = Image {
            memory: memory.clone(),
            globals: vec![
                (format!("{GLOBAL}3"), SnapshotVal::I32(-5)),
                (format!("{GLOBAL}0"), SnapshotVal::F64(7)),
            ],
        };
        let preset = Preset::of_image(&image).unwrap();
        assert_eq!(preset.pages as usize, memory.len() / WASM_PAGE);
        assert_eq!(memory_of(&preset), memory);
        let kept: usize = preset.segments.iter().map(|(_, r)| r.len()).sum();
        // Whole chunks: 0..192 (three, joined over the short gaps), the two
        // of guest data, the 17 the new page's run touches, and the last
        // one; none of the guest's unchanged data.
        assert_eq!(kept, 192 + 2 * 64 + 17 * 64 + 64, "equal chunks are left out");
        assert!(matches!(preset.globals[..], [(3, Val::I32(-5)), (0, Val::F64(7))]), "{:?}", preset.globals);

        let unchanged = Image { memory: fresh_memory(0), globals: vec![] };
        assert!(Preset::of_image(&unchanged).unwrap().segments.is_empty(), "a fresh guest is no change");

        let bad = Image { memory: vec![], globals: vec![("x".into(), SnapshotVal::I32(0))] };
        assert!(Preset::of_image(&bad).is_err());
    }

    #[test]
    fn the_compact_form_round_trips_and_refuses_what_it_did_not_write() {
        let preset = Preset::of(Arc::new(GUEST_WASM.to_vec())).unwrap().unwrap();
        let mut bytes = b"head".to_vec();
        preset.encode(&mut bytes).unwrap();
        let back = Preset::decode(Arc::new(bytes.clone()), 4).unwrap();
        assert_eq!((back.pages, back.segments.len()), (preset.pages, preset.segments.len()));
        assert_eq!(format!("{:?}", back.globals), format!("{:?}", preset.globals));
        assert_eq!(memory_of(&back), memory_of(&preset));

        let mut memory = fresh_memory(1);
        memory[5] = 1;
        *memory.last_mut().unwrap() = 2;
        let delta = Preset::of_image(&Image { memory: memory.clone(), globals: vec![] }).unwrap();
        let mut encoded = Vec::new();
        delta.encode(&mut encoded).unwrap();
        let back = Preset::decode(Arc::new(encoded.clone()), 0).unwrap();
        assert_eq!(back.base, Base::Guest);
        assert_eq!(memory_of(&back), memory);
        encoded[8] = 7;
        assert!(Preset::decode(Arc::new(encoded), 0).unwrap_err().contains("unknown base 7"));

        for cut in [5, 12, 20, bytes.len() / 2, bytes.len() - 1] {
            let err = Preset::decode(Arc::new(bytes[..cut].to_vec()), 4).unwrap_err();
            assert!(err.contains("truncated"), "cut at {cut}: {err}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Preset::decode(Arc::new(longer), 4).unwrap_err().contains("after the preset"));
        // A segment count far beyond the input fails on the input, not on memory.
        let mut huge = 1u64.to_le_bytes().to_vec();
        huge.extend_from_slice(&0u32.to_le_bytes());
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(Preset::decode(Arc::new(huge), 0).unwrap_err().contains("truncated"));
    }
}
