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
//! otherwise block in `wait_next` (the host parks this wasm fiber without
//! blocking a thread) and hand the completion to the prelude.

mod host;

use javy::quickjs::{Ctx, Function, Object, Value, context::EvalOptions};
use std::cell::Cell;

/// The prelude: an expression evaluating to `function (host, init) -> control`.
const PRELUDE: &str = include_str!("prelude.js");

thread_local! {
    /// Set once the prelude has reported the run's outcome through `finish`.
    static FINISHED: Cell<bool> = const { Cell::new(false) };
}

fn main() {
    let activation = host::read_activation();
    let mut config = javy::Config::default();
    // `console` is re-defined by the prelude to emit log events; javy's own
    // console would write to WASI stdout, which the host discards anyway.
    config
        .log_stream(Box::new(std::io::sink()))
        .err_stream(Box::new(std::io::sink()))
        // javy never collects cycles by default (its programs are short-lived);
        // workflows can run for hours, so let QuickJS's cycle collector run.
        .gc_threshold(8 << 20);
    let runtime = match javy::Runtime::new(config) {
        Ok(rt) => rt,
        Err(e) => return host::finish_internal(&format!("cannot start QuickJS: {e}")),
    };
    runtime.context().with(|ctx| {
        if let Err(message) = run(&ctx, &activation) {
            host::finish_internal(&message);
        }
    });
}

/// Evaluates the prelude and the script, then drives the event loop until the
/// prelude reports an outcome. `Err` is an internal error of the guest itself;
/// script errors are reported by the prelude as ordinary outcomes.
fn run<'js>(ctx: &Ctx<'js>, activation: &str) -> Result<(), String> {
    let init = ctx
        .json_parse(activation)
        .map_err(|e| format!("activation is not JSON: {e}"))?;
    let init_obj = init
        .as_object()
        .ok_or("activation is not a JSON object")?
        .clone();
    let control = boot_prelude(ctx, init)?;
    let source: String = get(&init_obj, "source")?;
    let filename: String = get(&init_obj, "filename")?;

    let mut options = EvalOptions::default();
    options.global = true;
    options.strict = false;
    options.filename = Some(filename);
    match ctx.eval_with_options::<Value, _>(source, options) {
        Ok(value) => call(&control, "track", (value,))?,
        Err(_) => call(&control, "fail", (ctx.catch(),))?,
    }

    loop {
        while ctx.execute_pending_job() {}
        if FINISHED.with(Cell::get) {
            return Ok(());
        }
        match host::wait_next() {
            Some(completion) => call(&control, "deliver", (completion,))?,
            None => call(&control, "deadlock", ())?,
        }
    }
}

/// Installs the raw host functions and evaluates the prelude with them.
fn boot_prelude<'js>(ctx: &Ctx<'js>, init: Value<'js>) -> Result<Object<'js>, String> {
    let raw = Object::new(ctx.clone()).map_err(js_err)?;
    let start = Function::new(ctx.clone(), |request: String| host::agent_start(&request));
    let emit = Function::new(ctx.clone(), |event: String| host::emit(&event));
    let finish = Function::new(ctx.clone(), |outcome: String| {
        host::finish(&outcome);
        FINISHED.with(|f| f.set(true));
    });
    let load = Function::new(ctx.clone(), |request: String| host::load(&request));
    // Evaluates code the prelude got from `load` (a meta literal, a nested
    // workflow's body) under its own file name, inside this same sandbox.
    let evaluate = Function::new(ctx.clone(), |ctx: Ctx<'js>, source: String, filename: String| {
        let mut options = EvalOptions::default();
        options.global = true;
        options.strict = false;
        options.filename = Some(filename);
        ctx.eval_with_options::<Value<'js>, _>(source, options)
    });
    raw.set("load", load.map_err(js_err)?).map_err(js_err)?;
    raw.set("evaluate", evaluate.map_err(js_err)?).map_err(js_err)?;
    raw.set("start", start.map_err(js_err)?).map_err(js_err)?;
    raw.set("emit", emit.map_err(js_err)?).map_err(js_err)?;
    raw.set("finish", finish.map_err(js_err)?).map_err(js_err)?;

    let mut options = EvalOptions::default();
    options.filename = Some("odw:prelude".into());
    let factory: Function = ctx
        .eval_with_options(PRELUDE, options)
        .map_err(|e| describe(ctx, e))?;
    factory.call((raw, init)).map_err(|e| describe(ctx, e))
}

fn get<'js, T: javy::quickjs::FromJs<'js>>(obj: &Object<'js>, key: &str) -> Result<T, String> {
    obj.get(key)
        .map_err(|e| format!("activation field `{key}`: {e}"))
}

fn call<'js, A: javy::quickjs::function::IntoArgs<'js>>(
    control: &Object<'js>,
    name: &str,
    args: A,
) -> Result<(), String> {
    let f: Function = control.get(name).map_err(js_err)?;
    f.call::<_, ()>(args)
        .map_err(|e| describe(control.ctx(), e))
}

fn js_err(e: javy::quickjs::Error) -> String {
    e.to_string()
}

fn describe(ctx: &Ctx<'_>, e: javy::quickjs::Error) -> String {
    javy::from_js_error(ctx.clone(), e).to_string()
}
