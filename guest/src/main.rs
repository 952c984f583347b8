//! The odw guest: QuickJS (through `javy`) compiled to `wasm32-wasip1`.
//!
//! The guest is deliberately small. Rust does three things: it reads the
//! activation from the host, evaluates the prelude (`prelude.js`, which
//! implements every workflow primitive in JavaScript) and the script, and runs
//! the event loop. Everything a workflow can observe is a pure function of the
//! activation (script, args, seed, clock) and of the ordered completions the
//! host delivers, which is what makes runs replayable.
//!
//! The loop: drain QuickJS's job queue; if the script has finished, stop;
//! otherwise block in `wait_batch` (the host parks this wasm fiber without
//! blocking a thread) and hand the completions to the prelude one at a time,
//! draining the job queue after each, exactly as if each had come alone.
//!
//! Pre-initialisation (`odw build`, and the host's compile cache): the host
//! calls [`initialize`] once with the script, then snapshots this module's
//! memory. The snapshot holds a QuickJS runtime with the prelude set up
//! (its primitives installed, for this script's file name) and the script
//! compiled, so `_start` in the snapshot only gives the prelude the run's
//! values (`activate`) and runs the script; nothing run-specific (args,
//! seed, clock, budget) is in it.

mod host;

use javy::quickjs::{
    Ctx, Exception, Function, Object, Persistent, String as JsString, Value, context::EvalOptions,
};
use std::cell::{Cell, RefCell};

/// The prelude: an expression evaluating to `function (host, init) -> control`.
const PRELUDE: &str = include_str!("prelude.js");

thread_local! {
    /// Set once the prelude has reported the run's outcome through `finish`.
    static FINISHED: Cell<bool> = const { Cell::new(false) };
    /// What [`initialize`] compiled, waiting in the snapshot for `_start`.
    static PREPARED: RefCell<Option<Prepared>> = const { RefCell::new(None) };
}

/// A runtime with the prelude set up and one script compiled but not yet run.
struct Prepared {
    runtime: javy::Runtime,
    /// The prelude's control object, not yet activated.
    control: Persistent<Object<'static>>,
    /// The script's body as an uncalled async function.
    script: Persistent<Function<'static>>,
}

/// What a run starts from: prepared ahead of time, or source to evaluate.
enum Start<'js> {
    Compiled { control: Object<'js>, script: Function<'js> },
    Source,
}

/// Sets the prelude up for the script named by the activation and compiles
/// the script (`source` is the body wrapped as an uncalled function), and
/// keeps both for `_start`. Called by the host only while building a
/// snapshot, with no run's values in the activation; a failure is reported
/// through `finish` like any internal error, and leaves nothing prepared.
#[unsafe(export_name = "wizer-initialize")]
pub extern "C" fn initialize() {
    let activation = host::read_activation();
    let runtime = match new_runtime() {
        Ok(rt) => rt,
        Err(message) => return host::finish_internal(&message),
    };
    let compiled = runtime.context().with(|ctx| -> Result<_, String> {
        let init = ctx.json_parse(activation).map_err(|e| format!("activation is not JSON: {e}"))?;
        let fields = init.as_object().ok_or("activation is not a JSON object")?.clone();
        let control = boot_prelude(&ctx, evaluate_prelude(&ctx)?, init)?;
        let script: Function = evaluate(&ctx, get(&fields, "source")?, get(&fields, "filename")?)
            .map_err(|e| describe(&ctx, e))?;
        Ok((Persistent::save(&ctx, control), Persistent::save(&ctx, script)))
    });
    match compiled {
        Ok((control, script)) => {
            PREPARED.with(|p| *p.borrow_mut() = Some(Prepared { runtime, control, script }))
        }
        Err(message) => host::finish_internal(&message),
    }
}

fn main() {
    let activation = host::read_activation();
    if let Some(Prepared { runtime, control, script }) = PREPARED.with(|p| p.borrow_mut().take()) {
        runtime.context().with(|ctx| {
            let start = control
                .restore(&ctx)
                .and_then(|control| Ok(Start::Compiled { control, script: script.restore(&ctx)? }));
            let result = start.map_err(js_err).and_then(|start| run(&ctx, &activation, start));
            if let Err(message) = result {
                host::finish_internal(&message);
            }
        });
        return;
    }
    let runtime = match new_runtime() {
        Ok(rt) => rt,
        Err(message) => return host::finish_internal(&message),
    };
    runtime.context().with(|ctx| {
        if let Err(message) = run(&ctx, &activation, Start::Source) {
            host::finish_internal(&message);
        }
    });
}

fn new_runtime() -> Result<javy::Runtime, String> {
    let mut config = javy::Config::default();
    // `console` is re-defined by the prelude to emit log events; javy's own
    // console would write to WASI stdout, which the host discards anyway.
    config
        .log_stream(Box::new(std::io::sink()))
        .err_stream(Box::new(std::io::sink()))
        // javy never collects cycles by default (its programs are short-lived);
        // workflows can run for hours, so let QuickJS's cycle collector run.
        .gc_threshold(8 << 20);
    javy::Runtime::new(config).map_err(|e| format!("cannot start QuickJS: {e}"))
}

/// Evaluates the prelude and the script, then drives the event loop until the
/// prelude reports an outcome. `Err` is an internal error of the guest itself;
/// script errors are reported by the prelude as ordinary outcomes.
fn run<'js>(ctx: &Ctx<'js>, activation: &str, start: Start<'js>) -> Result<(), String> {
    let init = ctx.json_parse(activation).map_err(|e| format!("activation is not JSON: {e}"))?;
    let init_obj = init.as_object().ok_or("activation is not a JSON object")?.clone();
    let (control, script) = match start {
        Start::Compiled { control, script } => (control, Some(script)),
        Start::Source => (boot_prelude(ctx, evaluate_prelude(ctx)?, init.clone())?, None),
    };
    call(&control, "activate", (init,))?;
    let value = match script {
        Some(script) => script.call::<_, Value>(()),
        None => evaluate(ctx, get(&init_obj, "source")?, get(&init_obj, "filename")?),
    };
    match value {
        Ok(value) => call(&control, "track", (value,))?,
        Err(_) => call(&control, "fail", (ctx.catch(),))?,
    }

    // Looked up once: they run for every completion of the run.
    let receive: Function = control.get("receive").map_err(js_err)?;
    let deliver_next: Function = control.get("deliverNext").map_err(js_err)?;
    loop {
        while ctx.execute_pending_job() {}
        if FINISHED.with(Cell::get) {
            return Ok(());
        }
        let Some(batch) = host::wait_batch() else {
            call(&control, "deadlock", ())?;
            continue;
        };
        receive.call::<_, ()>((batch,)).map_err(|e| describe(ctx, e))?;
        while deliver_next.call::<_, bool>(()).map_err(|e| describe(ctx, e))? {
            while ctx.execute_pending_job() {}
            if FINISHED.with(Cell::get) {
                return Ok(());
            }
        }
    }
}

/// Evaluates workflow code as a global (sloppy-mode) script under `filename`.
fn evaluate<'js, V: javy::quickjs::FromJs<'js>>(
    ctx: &Ctx<'js>,
    source: String,
    filename: String,
) -> javy::quickjs::Result<V> {
    let mut options = EvalOptions::default();
    options.global = true;
    options.strict = false;
    options.filename = Some(filename);
    ctx.eval_with_options(source, options)
}

/// Compiles the prelude into its factory function.
fn evaluate_prelude<'js>(ctx: &Ctx<'js>) -> Result<Function<'js>, String> {
    let mut options = EvalOptions::default();
    options.filename = Some("odw:prelude".into());
    ctx.eval_with_options(PRELUDE, options).map_err(|e| describe(ctx, e))
}

/// Installs the raw host functions and calls the prelude's factory with them.
fn boot_prelude<'js>(
    ctx: &Ctx<'js>,
    factory: Function<'js>,
    init: Value<'js>,
) -> Result<Object<'js>, String> {
    let raw = Object::new(ctx.clone()).map_err(js_err)?;
    // A JS string may hold a lone surrogate, which UTF-8 (and so the
    // request's JSON) cannot carry: that call is refused with a TypeError,
    // like a prompt that is not a string.
    let start = Function::new(
        ctx.clone(),
        |ctx: Ctx<'js>, prompt: JsString<'js>, opts: String, phase: Option<JsString<'js>>| {
            let text = |s: &JsString<'js>, what: &str| {
                s.to_string().map_err(|_| {
                    Exception::throw_type(
                        &ctx,
                        &format!("agent(): {what} is not valid Unicode (a lone surrogate)"),
                    )
                })
            };
            let prompt = text(&prompt, "the prompt")?;
            let phase = phase.map(|p| text(&p, "the phase title")).transpose()?;
            javy::quickjs::Result::Ok(host::agent_start(&prompt, &opts, phase.as_deref()))
        },
    );
    let emit = Function::new(ctx.clone(), |event: String| host::emit(&event));
    let finish = Function::new(ctx.clone(), |outcome: String| {
        host::finish(&outcome);
        FINISHED.with(|f| f.set(true));
    });
    let load = Function::new(ctx.clone(), |request: String| host::load(&request));
    // Evaluates code the prelude got from `load` (a meta literal, a nested
    // workflow's body) under its own file name, inside this same sandbox.
    let evaluate = Function::new(ctx.clone(), |ctx: Ctx<'js>, source: String, filename: String| {
        evaluate::<Value<'js>>(&ctx, source, filename)
    });
    raw.set("load", load.map_err(js_err)?).map_err(js_err)?;
    raw.set("evaluate", evaluate.map_err(js_err)?).map_err(js_err)?;
    raw.set("start", start.map_err(js_err)?).map_err(js_err)?;
    raw.set("emit", emit.map_err(js_err)?).map_err(js_err)?;
    raw.set("finish", finish.map_err(js_err)?).map_err(js_err)?;

    factory.call((raw, init)).map_err(|e| describe(ctx, e))
}

fn get<'js, T: javy::quickjs::FromJs<'js>>(obj: &Object<'js>, key: &str) -> Result<T, String> {
    obj.get(key).map_err(|e| format!("activation field `{key}`: {e}"))
}

fn call<'js, A: javy::quickjs::function::IntoArgs<'js>>(
    control: &Object<'js>,
    name: &str,
    args: A,
) -> Result<(), String> {
    let f: Function = control.get(name).map_err(js_err)?;
    f.call::<_, ()>(args).map_err(|e| describe(control.ctx(), e))
}

fn js_err(e: javy::quickjs::Error) -> String {
    e.to_string()
}

fn describe(ctx: &Ctx<'_>, e: javy::quickjs::Error) -> String {
    javy::from_js_error(ctx.clone(), e).to_string()
}
