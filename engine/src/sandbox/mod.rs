//! The sandbox: the QuickJS guest under wasmtime.
//!
//! One [`Sandbox`] per process holds the wasmtime `Engine`, the compiled guest
//! (shipped precompiled, see `guest.rs`) and the epoch ticker that
//! bounds CPU time. Each evaluation gets a fresh `Store`: its own memory, its
//! own limits, nothing shared with other runs.
//!
//! The guest reaches the host only through the imports in [`imports`] (the
//! workflow protocol) and [`wasi`] (deny-by-default stand-ins for the WASI
//! calls that QuickJS's libc links against). Agent calls leave the sandbox as
//! [`GuestMsg`]s on a channel and come back as [`Completion`]s on another: the
//! sandbox itself knows nothing about adapters, journals or run directories.

mod guest;
mod imports;
mod limits;
mod load;
mod snapshot;
mod wasi;
mod wasmtime_config;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::mpsc;
use wasmtime::{Engine, InstancePre, Linker, Store, UpdateDeadline};

use crate::protocol::{Activation, AgentRequest, Completion, ErrorName, GuestEvent, Outcome};
pub use guest::{GUEST_WASM, guest_hash};
pub use limits::{LimitHit, SandboxLimits};
use snapshot::INIT_FUNC;
pub use snapshot::{Image, Preset};

/// How often the epoch ticker advances; the CPU limit is counted in ticks.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// A message from the guest to the host, in the order the guest sent them.
#[derive(Debug)]
pub enum GuestMsg {
    /// `agent()` was called; the host must eventually send a [`Completion`]
    /// with this id (the dispatch index, counting from 0).
    Agent { id: u32, request: Result<Box<AgentRequest>, String> },
    /// `phase()` or `log()`.
    Event(GuestEvent),
    /// The guest is blocked until a completion arrives and none is queued;
    /// it has received `received` completions so far.
    Idle { received: u64 },
}

/// Which workflow `workflow(ref)` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkflowRef {
    /// A saved workflow's name.
    Name(String),
    /// `{scriptPath}`: a file, relative to the calling script.
    ScriptPath(String),
}

/// How `workflow(ref)` finds another workflow's text. The sandbox only asks;
/// the engine decides what a reference may reach.
pub trait FindWorkflow: Send + Sync {
    /// The workflow's display name (for positions) and its source text, or
    /// why it cannot be had.
    fn find(&self, reference: &WorkflowRef) -> Result<(String, String), String>;
}

/// The guest's connections to the rest of the run.
pub struct GuestIo {
    /// Agent requests and events, in the order the guest sends them.
    pub to_host: mpsc::UnboundedSender<GuestMsg>,
    /// Completions, in the order the guest must see them.
    pub completions: mpsc::UnboundedReceiver<Completion>,
    /// Where nested workflows come from (none: `workflow()` is refused).
    pub workflows: Option<Arc<dyn FindWorkflow>>,
    /// The process ends when this evaluation does (`odw run`, a worker):
    /// its instance is then left to the exit instead of freed (see
    /// `retire`).
    pub ends_process: bool,
    /// Set by whoever serves `to_host` while it handles a burst of the
    /// guest's messages: what the guest posts then is sent at once (see
    /// `GuestState::post`).
    pub host_busy: Arc<AtomicBool>,
}

impl GuestIo {
    /// Connections that refuse any agent call at once (meta, compile checks).
    pub fn isolated() -> (GuestIo, tokio::task::JoinHandle<()>) {
        let (to_host, mut from_guest) = mpsc::unbounded_channel();
        let (to_guest, completions) = mpsc::unbounded_channel();
        let refuse = tokio::spawn(async move {
            while let Some(msg) = from_guest.recv().await {
                if let GuestMsg::Agent { id, .. } = msg {
                    let error = crate::protocol::CallError::fatal(
                        ErrorName::Error,
                        "agent() cannot be called here",
                        None,
                    );
                    let _ = to_guest.send(Completion {
                        id,
                        ok: false,
                        value: None,
                        error: Some(error),
                        usage: None,
                        clock: 0.0,
                    });
                }
            }
        });
        let io =
            GuestIo { to_host, completions, workflows: None, ends_process: false, host_busy: Arc::default() };
        (io, refuse)
    }
}

/// Why an evaluation did not produce an [`Outcome`].
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A resource limit stopped the script.
    #[error(transparent)]
    Limit(#[from] LimitHit),
    /// The guest trapped for a reason that is not a limit.
    #[error("the script engine stopped: {0}")]
    Trap(String),
    /// The guest broke the host protocol (a bug in odw's guest).
    #[error("guest protocol error: {0}")]
    Protocol(String),
    /// wasmtime could not be set up or the guest could not be compiled.
    #[error("cannot start the sandbox: {0}")]
    Setup(String),
}

/// The compiled guest, ready to instantiate.
///
/// It may still be loading ([`Sandbox::start`]): loading it (the engine,
/// the precompiled guest mapped and linked) is the longest step of a run's
/// start, and most of that start (the configuration, the run's directory,
/// the script from the compile cache) needs nothing of it but where the
/// cache is. What needs the engine waits for it, once.
pub struct Sandbox {
    cache_dir: Option<PathBuf>,
    loaded: OnceLock<Result<Loaded, String>>,
    loading: Mutex<Option<std::thread::JoinHandle<Result<Loaded, SandboxError>>>>,
}

/// What a sandbox loads.
struct Loaded {
    engine: Engine,
    linker: Linker<GuestState>,
    guest: Compiled,
    ticker: Arc<AtomicBool>,
    /// The shipped guest being copied into the cache, if the load started that.
    copying: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// How an evaluation's instance starts.
pub enum Boot<'a> {
    /// The guest evaluates `activation.source`.
    Source,
    /// The guest first compiles `compile.source` (a body wrapped as an
    /// uncalled function) and hands its state to `image` — for the compile
    /// cache — then runs it with the activation. If the script does not
    /// compile, nothing is sent and the run reports why.
    Compile { compile: &'a Activation, image: tokio::sync::oneshot::Sender<Image> },
    /// The guest starts from a workflow module's state (see [`Preset`]).
    Preset(&'a Preset),
    /// A workflow module that is not the guest's code, compiled on its own.
    Module(&'a Compiled),
}

/// A module compiled for this sandbox and linked against its imports: the
/// guest itself, or a pre-initialised workflow module.
pub struct Compiled {
    pre: InstancePre<GuestState>,
}

impl Drop for Loaded {
    fn drop(&mut self) {
        self.ticker.store(false, Ordering::Relaxed);
    }
}

/// Everything one evaluation's `Store` holds.
pub(crate) struct GuestState {
    activation: Vec<u8>,
    /// Bytes staged for the guest's next `take_payload`.
    payload: Vec<u8>,
    to_host: mpsc::UnboundedSender<GuestMsg>,
    /// Messages posted and not yet sent on `to_host` (see [`GuestState::post`]).
    outbox: Vec<GuestMsg>,
    completions: mpsc::UnboundedReceiver<Completion>,
    workflows: Option<Arc<dyn FindWorkflow>>,
    next_id: u32,
    in_flight: u32,
    /// Completions the guest has taken so far.
    received: u64,
    outcome: Option<Vec<u8>>,
    /// The logical clock in ms, as the WASI clock shows it to libc.
    clock_ms: f64,
    /// The PRNG state behind WASI `random_get`.
    random: u64,
    limits: SandboxLimits,
    /// Epoch ticks spent since the guest last waited for an agent.
    cpu_ticks: u64,
    /// See [`GuestIo::host_busy`].
    host_busy: Arc<AtomicBool>,
}

/// The most messages the guest's outbox holds before it is sent.
const OUTBOX: usize = 64;

impl GuestState {
    /// Queues a message for the host. Messages go out in the order posted,
    /// together: when the guest waits for a completion, when [`OUTBOX`] are
    /// queued, at every epoch tick (so a busy script holds none back for more
    /// than [`EPOCH_TICK`]) and when the evaluation ends. Sent one by one,
    /// each `agent()` of a fan-out woke the scheduler's thread on its own:
    /// about a thousand wake-ups for a thousand calls. But while the host is
    /// handling a burst (`host_busy`) a message is sent at once: sending
    /// wakes nobody then, and the host takes it in the same burst, where
    /// held back it waited for the next flush (a resume of 100 calls had its
    /// last 36 handled only once the guest waited).
    fn post(&mut self, msg: GuestMsg) {
        self.outbox.push(msg);
        if self.outbox.len() >= OUTBOX || self.host_busy.load(Ordering::Relaxed) {
            self.flush();
        }
    }

    /// The next completion for the guest, once the outbox is sent (the
    /// call it waits for may be in it); `None` when no call is in flight.
    /// Tells the host when the guest blocks with nothing queued.
    async fn next_completion(&mut self) -> wasmtime::Result<Option<Completion>> {
        self.flush();
        if self.in_flight == 0 {
            return Ok(None);
        }
        if self.completions.is_empty() {
            self.post(GuestMsg::Idle { received: self.received });
            self.flush();
        }
        let completion = self
            .completions
            .recv()
            .await
            .ok_or_else(|| wasmtime::Error::msg("the run was stopped while agents were in flight"))?;
        Ok(Some(completion))
    }

    /// Stages `payload` (`count` completions, the last at `clock`) for the
    /// guest and returns its length. The CPU limit counts from here.
    fn hand_over(&mut self, count: u32, clock: f64, payload: Vec<u8>) -> u32 {
        self.in_flight = self.in_flight.saturating_sub(count);
        self.received += u64::from(count);
        self.clock_ms = clock;
        self.cpu_ticks = 0;
        self.payload = payload;
        self.payload.len() as u32
    }

    /// Sends what is queued. A closed channel means the host is shutting
    /// the run down; the guest learns it when it waits.
    fn flush(&mut self) {
        for msg in self.outbox.drain(..) {
            let _ = self.to_host.send(msg);
        }
    }
}

/// Ends a finished evaluation's store. What the guest posted is sent and
/// its channel to the host closed here and now, so the host sees the guest
/// end at once. Freeing the instance unmaps its linear memory (megabytes
/// of touched pages for a large run, ~0.3 ms for a thousand calls), and
/// holds the address space's lock while it does, which every page fault of
/// the run's end then waits for, on whatever thread the unmapping runs.
/// So when the process ends with the evaluation (`ends_process`) it is not
/// freed at all: the address space goes whole at the exit, once odw is
/// gone (see the guardian), which made a no-agent run 0.16 ms and a
/// one-agent run 0.23 ms shorter. Otherwise (`odw serve`, `odw mcp`, a
/// meta or a compile check) it is freed on a blocking thread beside the
/// rest of the run's end.
fn retire(mut store: Store<GuestState>, ends_process: bool) {
    let state = store.data_mut();
    state.flush();
    state.to_host = mpsc::unbounded_channel().0;
    if ends_process {
        std::mem::forget(store);
    } else {
        drop(tokio::task::spawn_blocking(move || drop(store)));
    }
}

impl Drop for GuestState {
    /// An evaluation that ends (or traps) still delivers what it posted.
    fn drop(&mut self) {
        self.flush();
    }
}

impl Loaded {
    fn load(cache_dir: Option<&Path>) -> Result<Loaded, SandboxError> {
        let engine = Engine::new(&wasmtime_config::wasmtime_config())
            .map_err(|e| SandboxError::Setup(e.to_string()))?;
        let (module, copying) = guest::load_guest(&engine, cache_dir)?;
        let mut linker = Linker::new(&engine);
        imports::add_to_linker(&mut linker).map_err(|e| SandboxError::Setup(e.to_string()))?;
        wasi::add_to_linker(&mut linker).map_err(|e| SandboxError::Setup(e.to_string()))?;
        let pre = linker.instantiate_pre(&module).map_err(|e| SandboxError::Setup(format!("{e:#}")))?;

        let ticker = Arc::new(AtomicBool::new(true));
        let running = ticker.clone();
        let ticking = engine.clone();
        std::thread::Builder::new()
            .name("odw-epoch".into())
            .spawn(move || {
                while running.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    ticking.increment_epoch();
                }
            })
            .map_err(|e| SandboxError::Setup(format!("cannot start the epoch ticker: {e}")))?;
        Ok(Loaded { engine, linker, guest: Compiled { pre }, ticker, copying: Mutex::new(copying) })
    }
}

impl Sandbox {
    /// Loads the guest precompiled (from `cache_dir`, else as shipped in the
    /// binary), or compiles it when neither suits this CPU and engine.
    pub fn new(cache_dir: Option<&Path>) -> Result<Sandbox, SandboxError> {
        let loaded = Loaded::load(cache_dir)?;
        let cache_dir = cache_dir.map(Path::to_path_buf);
        Ok(Sandbox { cache_dir, loaded: OnceLock::from(Ok(loaded)), loading: Mutex::new(None) })
    }

    /// A sandbox that loads as [`Sandbox::new`] does, on a thread of its
    /// own, while the caller goes on; its first evaluation or compile waits
    /// for the load and reports its error, if any. (If no thread can be
    /// started, that first use loads it.)
    pub fn start(cache_dir: Option<PathBuf>) -> Sandbox {
        let dir = cache_dir.clone();
        // Beside the thread that will run the guest (see `helpers`).
        let loading = crate::helpers::spawn("odw-load", move || Loaded::load(dir.as_deref())).ok();
        Sandbox { cache_dir, loaded: OnceLock::new(), loading: Mutex::new(loading) }
    }

    /// Waits for the files this sandbox's load is still writing (the
    /// shipped guest copied into the cache, on a fresh install), so that the
    /// process does not end in the middle of one: for the end of a command
    /// that used the sandbox. A command that never used it does not wait,
    /// as it did not wait for the load.
    pub fn settle(&self) {
        if let Some(Ok(loaded)) = self.loaded.get() {
            let copying = loaded.copying.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
            if let Some(copying) = copying {
                let _ = copying.join();
            }
        }
    }

    /// The engine and the guest, once loaded.
    fn loaded(&self) -> Result<&Loaded, SandboxError> {
        let loaded = self.loaded.get_or_init(|| {
            let loading = self.loading.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
            let loaded = match loading {
                Some(thread) => thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                None => Loaded::load(self.cache_dir.as_deref()),
            };
            loaded.map_err(|e| match e {
                SandboxError::Setup(message) => message,
                other => other.to_string(),
            })
        });
        loaded.as_ref().map_err(|message| SandboxError::Setup(message.clone()))
    }

    /// The guest module's imports as `module::name`: every capability it has.
    pub fn imports(&self) -> Vec<String> {
        crate::wasm::imports(GUEST_WASM).unwrap_or_default()
    }

    /// Where compiled modules are cached, if anywhere.
    pub fn cache_dir(&self) -> Option<&Path> {
        self.cache_dir.as_deref()
    }

    /// Compiles a workflow module (or loads it precompiled from the cache)
    /// and links it against the sandbox's imports, and only those: a module
    /// that asks for anything else is refused here.
    pub fn compile(&self, bytes: &[u8]) -> Result<Compiled, SandboxError> {
        let hash = blake3::hash(bytes);
        let loaded = self.loaded()?;
        let module = guest::load_module(&loaded.engine, self.cache_dir.as_deref(), "module", &hash, |_| {
            Ok(guest::ModuleSource::Wasm(bytes.to_vec()))
        })?;
        let pre = loaded.linker.instantiate_pre(&module).map_err(|e| {
            SandboxError::Setup(format!("the module needs what the sandbox does not offer: {e:#}"))
        })?;
        Ok(Compiled { pre })
    }

    /// Evaluates `activation.source` in a fresh instance of the guest.
    /// Agent calls go out on `io.to_host`; their completions must come back
    /// on `io.completions`.
    pub async fn run(
        &self,
        activation: &Activation,
        limits: SandboxLimits,
        io: GuestIo,
    ) -> Result<Outcome, SandboxError> {
        self.evaluate(Boot::Source, activation, limits, io).await
    }

    /// Evaluates a workflow in a fresh instance started as `boot` says.
    pub async fn evaluate(
        &self,
        boot: Boot<'_>,
        activation: &Activation,
        limits: SandboxLimits,
        io: GuestIo,
    ) -> Result<Outcome, SandboxError> {
        let ends_process = io.ends_process;
        let mut store = self.store(activation, limits, io)?;
        let trap = |e: wasmtime::Error| limits::classify(e, &limits);
        let pre = match &boot {
            Boot::Module(module) => &module.pre,
            _ => &self.loaded()?.guest.pre,
        };
        let instance = pre.instantiate_async(&mut store).await.map_err(trap)?;
        match boot {
            Boot::Source | Boot::Module(_) => {}
            Boot::Preset(preset) => preset.apply(&mut store, &instance)?,
            Boot::Compile { compile, image } => {
                let staged =
                    serde_json::to_vec(compile).map_err(|e| SandboxError::Protocol(e.to_string()))?;
                let run = std::mem::replace(&mut store.data_mut().activation, staged);
                let init = instance.get_typed_func::<(), ()>(&mut store, INIT_FUNC).map_err(trap)?;
                init.call_async(&mut store, ()).await.map_err(trap)?;
                store.data_mut().activation = run;
                // The guest reports through `finish` only when the script
                // does not compile; `_start` then evaluates the source
                // itself, which reports the error at its place in the file.
                if store.data_mut().outcome.take().is_none() {
                    let _ = image.send(Image::capture(&mut store, &instance)?);
                }
            }
        }
        let start = instance.get_typed_func::<(), ()>(&mut store, "_start").map_err(trap)?;
        start.call_async(&mut store, ()).await.map_err(trap)?;
        let outcome = store.data_mut().outcome.take();
        retire(store, ends_process);
        let outcome =
            outcome.ok_or_else(|| SandboxError::Protocol("the guest exited without an outcome".into()))?;
        serde_json::from_slice(&outcome).map_err(|e| SandboxError::Protocol(format!("bad outcome: {e}")))
    }

    /// Compiles `compile.source` (a workflow body wrapped as an uncalled
    /// function, [`crate::loader::Script::compile_only`]) in a fresh guest
    /// and returns the guest's state right after: what a workflow module
    /// starts from.
    pub async fn image(&self, compile: &Activation, limits: SandboxLimits) -> Result<Image, SandboxError> {
        let (io, refuse) = GuestIo::isolated();
        let mut store = self.store(compile, limits, io)?;
        let trap = |e: wasmtime::Error| limits::classify(e, &limits);
        let captured = async {
            let instance = self.loaded()?.guest.pre.instantiate_async(&mut store).await.map_err(trap)?;
            let init = instance.get_typed_func::<(), ()>(&mut store, INIT_FUNC).map_err(trap)?;
            init.call_async(&mut store, ()).await.map_err(trap)?;
            if let Some(outcome) = store.data_mut().outcome.take() {
                let outcome: Outcome = serde_json::from_slice(&outcome)
                    .map_err(|e| SandboxError::Protocol(format!("bad outcome: {e}")))?;
                let message = outcome.error.map(|e| format!("{}: {}", e.name, e.message)).unwrap_or_default();
                return Err(SandboxError::Setup(format!("the workflow does not compile: {message}")));
            }
            Image::capture(&mut store, &instance)
        }
        .await;
        refuse.abort();
        captured
    }

    /// A fresh store for one evaluation, with its limits and CPU accounting.
    fn store(
        &self,
        activation: &Activation,
        limits: SandboxLimits,
        io: GuestIo,
    ) -> Result<Store<GuestState>, SandboxError> {
        let GuestIo { to_host, completions, workflows, ends_process: _, host_busy } = io;
        let activation_json =
            serde_json::to_vec(activation).map_err(|e| SandboxError::Protocol(e.to_string()))?;
        let state = GuestState {
            activation: activation_json,
            payload: Vec::new(),
            to_host,
            outbox: Vec::new(),
            completions,
            workflows,
            next_id: 0,
            in_flight: 0,
            received: 0,
            outcome: None,
            clock_ms: activation.clock,
            random: u64::from(activation.seed[0]) << 32 | u64::from(activation.seed[1]),
            limits,
            cpu_ticks: 0,
            host_busy,
        };
        let mut store = Store::new(&self.loaded()?.engine, state);
        store.limiter(|s| s);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut ctx| {
            let state = ctx.data_mut();
            state.flush();
            state.cpu_ticks += 1;
            if state.cpu_ticks * EPOCH_TICK.as_millis() as u64 >= state.limits.cpu.as_millis() as u64 {
                return Err(LimitHit::Cpu { limit: state.limits.cpu }.into());
            }
            // Yield to tokio every tick so a busy script never starves the
            // tasks that run its agents.
            Ok(UpdateDeadline::Yield(1))
        });
        Ok(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The complete list of what the guest can call: changing it widens or
    /// narrows the sandbox, so it must be a deliberate, reviewed change.
    #[test]
    fn the_guest_imports_exactly_the_protocol_and_the_stubbed_wasi_calls() {
        let mut imports = crate::wasm::imports(GUEST_WASM).unwrap();
        imports.sort();
        assert_eq!(
            imports,
            [
                "odw::activation",
                "odw::agent_start",
                "odw::emit",
                "odw::finish",
                "odw::load",
                "odw::take_payload",
                "odw::wait_batch",
                "wasi_snapshot_preview1::clock_time_get",
                "wasi_snapshot_preview1::environ_get",
                "wasi_snapshot_preview1::environ_sizes_get",
                "wasi_snapshot_preview1::fd_close",
                "wasi_snapshot_preview1::fd_fdstat_get",
                "wasi_snapshot_preview1::fd_seek",
                "wasi_snapshot_preview1::fd_write",
                "wasi_snapshot_preview1::proc_exit",
                "wasi_snapshot_preview1::random_get",
            ]
        );
    }

    /// Messages reach the host in the order the script sent them, however
    /// the outbox groups them, and the last ones (after the last wait, more
    /// than one outbox's worth) arrive too.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_host_gets_every_message_in_the_order_sent() {
        let activation = activation(
            "log('first'); const a = agent('one'); log('second'); await a;
            for (let i = 0; i < 150; i++) log('n' + i);
            return 1;",
        );
        let (to_host, mut from_guest) = mpsc::unbounded_channel();
        let (to_guest, completions) = mpsc::unbounded_channel();
        let host = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some(msg) = from_guest.recv().await {
                match msg {
                    GuestMsg::Agent { id, request } => {
                        seen.push(format!("agent {}", request.unwrap().prompt));
                        let value = Some(serde_json::json!("done"));
                        let _ = to_guest.send(Completion {
                            id,
                            ok: true,
                            value,
                            error: None,
                            usage: None,
                            clock: 0.0,
                        });
                    }
                    GuestMsg::Event(GuestEvent::Log { message }) => seen.push(message),
                    GuestMsg::Event(other) => seen.push(format!("{other:?}")),
                    GuestMsg::Idle { .. } => {}
                }
            }
            seen
        });
        let sandbox = Sandbox::new(None).unwrap();
        let io =
            GuestIo { to_host, completions, workflows: None, ends_process: false, host_busy: Arc::default() };
        let outcome = sandbox.run(&activation, SandboxLimits::default(), io).await.unwrap();
        assert!(outcome.ok, "{outcome:?}");
        let mut expected: Vec<String> = vec!["first".into(), "agent one".into(), "second".into()];
        expected.extend((0..150).map(|i| format!("n{i}")));
        assert_eq!(host.await.unwrap(), expected);
    }

    /// The activation of a script `o.js` whose body is `body`.
    fn activation(body: &str) -> Activation {
        let source = format!("export const meta = {{ name: 'o', description: '' }};\n{body}");
        let script = crate::loader::Script::parse(Path::new("o.js"), source).unwrap();
        Activation {
            source: script.body.clone(),
            filename: "o.js".into(),
            line_one_shift: script.line_one_shift,
            args: serde_json::Value::Null,
            seed: [0, 0],
            clock: 0.0,
            budget: None,
        }
    }

    /// What a script returns, evaluated with no agent to serve.
    async fn value_of(sandbox: &Sandbox, body: &str) -> serde_json::Value {
        let (io, refuse) = GuestIo::isolated();
        let outcome = sandbox.run(&activation(body), SandboxLimits::default(), io).await.unwrap();
        refuse.abort();
        assert!(outcome.ok, "{outcome:?}");
        outcome.value.unwrap()
    }

    /// A sandbox that loads while its caller goes on: where its cache is
    /// is known at once, and its first uses, side by side, share one load.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_started_sandbox_serves_its_first_uses_from_one_load() {
        let cache = tempfile::tempdir().unwrap();
        let sandbox = Sandbox::start(Some(cache.path().to_path_buf()));
        assert_eq!(sandbox.cache_dir(), Some(cache.path()));
        let (one, two) = tokio::join!(value_of(&sandbox, "return 1;"), value_of(&sandbox, "return 'two';"));
        assert_eq!((one, two), (serde_json::json!(1), serde_json::json!("two")));
        sandbox.settle();
        let files: Vec<_> = std::fs::read_dir(cache.path()).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(files.len(), 1, "one precompiled artifact: {files:?}");
    }

    #[test]
    fn a_second_sandbox_loads_the_cached_module() {
        let cache = tempfile::tempdir().unwrap();
        // The copy into the cache is written beside the load; `settle` waits for it.
        Sandbox::new(Some(cache.path())).unwrap().settle();
        let files: Vec<_> = std::fs::read_dir(cache.path()).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(files.len(), 1, "one precompiled artifact: {files:?}");
        let written = std::fs::metadata(&files[0]).unwrap().modified().unwrap();
        let sandbox = Sandbox::new(Some(cache.path())).unwrap();
        assert_eq!(std::fs::metadata(&files[0]).unwrap().modified().unwrap(), written, "not rewritten");
        assert_eq!(sandbox.imports().len(), 16);
    }
}
