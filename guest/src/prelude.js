// The workflow primitives, in JavaScript, on top of the raw host protocol.
//
// This file is one function expression: the guest calls it with the raw host
// functions (`start`, `emit`, `finish`) and the script's part of the
// activation (`filename`, `lineOneShift`), and gets back the control object
// its event loop drives (`activate`, `track`, `receive`, `deliverNext`,
// `deadlock`, `fail`). Nothing here can reach the host except through those
// raw functions, and they are not reachable from the script.
//
// A compiled script's snapshot (the compile cache) holds this function
// already called: what a run adds is `activate` with the run's own part of
// the activation (args, seed, clock, budget), before the script starts.
// Setting the primitives up was ~120 µs of every run in the sandbox.
//
// Determinism: everything the script can observe is a function of the
// activation and of the ordered completions. `Date` is a logical clock that
// moves only when a completion is delivered; `Math.random` is a PRNG seeded
// from the activation.
(function (host, init) {
  'use strict';

  const global = globalThis;
  const OriginalDate = Date;

  // Intrinsics the prelude depends on, captured before the script runs: the
  // script shares this realm and may replace any global or prototype method
  // afterwards. What the host sends (completions, load replies) is read
  // only through these. Budget, maxAgents and the other limits are enforced
  // by the host in any case; these keep the script from lying to itself
  // about what the host said.
  const jsonParse = JSON.parse;
  const jsonStringify = JSON.stringify;
  const toNumber = Number;
  const toText = String;
  const keysOf = Object.keys;
  const isArray = Array.isArray;
  const apply = Reflect.apply;
  const toWellFormed = String.prototype.toWellFormed;
  const defineProperty = Object.defineProperty;
  const freeze = Object.freeze;
  const create = Object.create;
  const dictionary = () => create(null);
  const member = (list, value) => {
    for (let i = 0; i < list.length; i++) if (list[i] === value) return true;
    return false;
  };
  const filename = init.filename;
  const lineOneShift = init.lineOneShift | 0;

  // ---- determinism -------------------------------------------------------

  // Set by `activate`.
  let clock = 0;

  function LogicalDate(...parts) {
    if (!new.target) return new OriginalDate(clock).toString();
    return parts.length === 0 ? new OriginalDate(clock) : new OriginalDate(...parts);
  }
  LogicalDate.prototype = OriginalDate.prototype;
  LogicalDate.now = () => clock;
  LogicalDate.parse = OriginalDate.parse;
  LogicalDate.UTC = OriginalDate.UTC;
  defineProperty(OriginalDate.prototype, 'constructor', {
    value: LogicalDate, writable: true, configurable: true,
  });

  // sfc32, seeded from the 64-bit run seed (two 32-bit halves) by `seed`.
  let a = 0, b = 0, c = 0, d = 0;
  function next32() {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    const t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    const r = (t + d) | 0;
    c = (c + r) | 0;
    return r >>> 0;
  }
  function seed(halves) {
    [a, b, c, d] = [halves[0] >>> 0, halves[1] >>> 0, 0x9e3779b9, 0x243f6a88];
    for (let i = 0; i < 16; i++) next32();
  }
  const random = () => (next32() * 2097152 + (next32() >>> 11)) / 9007199254740992;

  // ---- errors --------------------------------------------------------------

  class WorkflowError extends Error {
    constructor(name, message, fatal) {
      super(message);
      this.name = name;
      if (fatal) defineProperty(this, 'fatal', { value: true });
    }
  }

  // The first fatal condition (maxAgents, budget, stop, a broken schema). It
  // ends the run even if the script catches it.
  let fatal = null;
  const isFatal = (e) => e !== null && typeof e === 'object' && e.fatal === true;
  const noteFatal = (e) => { if (isFatal(e) && fatal === null) fatal = e; };

  // Line 1 carries the async wrapper the host opened there; shift columns back
  // so every position is the one in the user's file.
  const escaped = filename.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const lineOne = new RegExp(escaped + ':1:(\\d+)', 'g');
  const fixPositions = (text) =>
    lineOneShift === 0 ? text
      : text.replace(lineOne, (_, col) => `${filename}:1:${Math.max(1, col - lineOneShift)}`);

  function describe(e) {
    if (e instanceof Error) {
      const stack = fixPositions(String(e.stack || ''));
      const out = { name: String(e.name), message: fixPositions(String(e.message)), stack };
      const at = stack.match(new RegExp(escaped + ':(\\d+):(\\d+)'));
      if (at) out.location = { file: filename, line: Number(at[1]), column: Number(at[2]) };
      if (isFatal(e)) out.fatal = true;
      if (e.limit) out.limit = e.limit;
      return out;
    }
    let message;
    try { message = typeof e === 'string' ? e : jsonStringify(e); } catch (_) { message = String(e); }
    return { name: 'Error', message: `uncaught non-Error value: ${message}` };
  }

  // JSON.stringify writes a lone surrogate as an escape (`\ud800`) that the
  // host's JSON parser refuses, which lost the whole outcome; it carries
  // U+FFFD there instead. (A surrogate pair is written as itself, so every
  // surrogate escape not after an odd run of backslashes is a lone one.)
  const loneSurrogate = /(?<!\\)((?:\\\\)*)\\ud[89a-f][0-9a-f]{2}/g;

  let finished = false;
  function finishWith(outcome) {
    if (finished) return;
    finished = true;
    host.finish(jsonStringify(outcome).replace(loneSurrogate, '$1\\ufffd'));
  }
  const fail = (e) => finishWith({ ok: false, error: describe(e) });

  function succeed(value) {
    if (fatal !== null) return fail(fatal);
    let json;
    try {
      json = jsonStringify(value === undefined ? null : value);
    } catch (e) {
      return fail(new TypeError(`the workflow's return value is not JSON-serialisable: ${e.message}`));
    }
    finishWith({ ok: true, value: json === undefined ? null : jsonParse(json) });
  }

  // ---- agent ---------------------------------------------------------------

  const AGENT_OPTS = ['label', 'phase', 'schema', 'model', 'effort', 'isolation', 'agentType', 'adapter'];
  const STRING_OPTS = ['label', 'phase', 'model', 'effort', 'agentType', 'adapter'];
  const ISOLATION = ['inplace', 'worktree'];
  const pending = dictionary();
  let spent = 0;
  // Set by `activate`.
  let budgetTotal = null;

  function typeName(v) {
    return v === null ? 'null' : isArray(v) ? 'array' : typeof v;
  }

  // The options of a call made without any: shared, and sent as `{}`
  // without JSON.stringify (see agentIn): most calls of a fan-out pass none.
  const NO_OPTS = freeze({});

  function checkOpts(opts) {
    if (opts === undefined || opts === null) return NO_OPTS;
    if (typeof opts !== 'object' || isArray(opts)) {
      throw new TypeError(`agent(prompt, opts): opts must be an object, got ${typeName(opts)}`);
    }
    const clean = {};
    for (const key of keysOf(opts)) {
      const value = opts[key];
      if (!member(AGENT_OPTS, key)) {
        throw new TypeError(`agent(): unknown option \`${key}\`; allowed: ${AGENT_OPTS.join(', ')}`);
      }
      if (value === undefined || value === null) continue;
      if (member(STRING_OPTS, key) && typeof value !== 'string') {
        throw new TypeError(`agent(): option \`${key}\` must be a string, got ${typeName(value)}`);
      }
      if (key === 'schema' && (typeof value !== 'object' && typeof value !== 'boolean')) {
        throw new TypeError(`agent(): option \`schema\` must be a JSON Schema object, got ${typeName(value)}`);
      }
      if (key === 'isolation' && !member(ISOLATION, value)) {
        throw new TypeError(`agent(): option \`isolation\` must be one of '${ISOLATION.join("', '")}', got ${jsonStringify(value)}`);
      }
      clean[key] = value;
    }
    return clean;
  }

  // Where agent() was called, read only if the call fails: the stack from
  // the caller of `above` (agent, or a nested workflow's agent) on, two
  // frames: the caller and the caller's caller. `captureStackTrace` leaves
  // out `above` and the frames above it rather than formatting them to be
  // dropped; formatting is most of what a call site costs (four frames
  // 3.2 µs a call in the sandbox, these two 2.0), and a whole stack once
  // cost a tenth of a resumed run.
  const captureStackTrace = Error.captureStackTrace;
  function callSite(above) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 2;
    const site = {};
    captureStackTrace(site, above);
    Error.stackTraceLimit = limit;
    return site;
  }

  const siteText = (site) => String(site.stack || '');

  // Where a call was made: the top-level script or a nested workflow. A
  // nested workflow has its own current phase (its phase() must not move the
  // parent's, as in Claude Code) and prefixes its log lines with `[name] `.
  const topScope = { phase: null, logPrefix: '', phasePrefix: '' };

  function agent(prompt, opts) {
    return agentIn(topScope, callSite(agent), prompt, opts);
  }

  // How a failed call is named in its `[label] failed: …` log line: the
  // label, else the head of the prompt (Claude Code does the same). Worked
  // out only when a call fails: splitting every prompt cost every call.
  const callName = (waiter) =>
    waiter[LABEL] !== undefined ? waiter[LABEL] : toText(waiter[PROMPT]).split('\n')[0].slice(0, 40);

  // A call waiting for its completion, in `pending` by id: an array of
  // these fields, not an object, because a seven-field object literal cost
  // every call 0.9 µs in the sandbox and the array 0.3. SLOT and SLOT_AT:
  // the parallel() slot this call's promise was handed to as it is (see
  // `parallelSlot`), told by `deliver` directly.
  const RESOLVE = 0, REJECT = 1, SITE = 2, SCOPE = 3, LENIENT = 4, LABEL = 5, PROMPT = 6,
    SLOT = 7, SLOT_AT = 8;

  // The promise of the latest agent() call and its waiter (null if the call
  // threw), while that call is pending: how parallelSlot recognises a thunk
  // that returned the call it just made, the usual `() => agent(...)`.
  let lastCall = null;
  let lastWaiter = null;

  // The resolving functions of the promise being made: one executor for
  // every call, not a closure per call (0.3 µs a call in the sandbox).
  let settleCall = null;
  let failCall = null;
  const captureSettlers = (resolve, reject) => {
    settleCall = resolve;
    failCall = reject;
  };

  function agentIn(scope, site, prompt, opts) {
    const call = new Promise(captureSettlers);
    const resolve = settleCall;
    const reject = failCall;
    let waiter = null;
    // What throws here rejects the call, as a throw in its executor would.
    try {
      if (typeof prompt !== 'string') {
        throw new TypeError(`agent(prompt): prompt must be a string, got ${typeName(prompt)}`);
      }
      const clean = checkOpts(opts);
      if (fatal !== null) throw fatal;
      if (budgetTotal !== null && spent >= budgetTotal) {
        const e = new WorkflowError('BudgetError',
          `token budget exhausted: ${spent} of ${budgetTotal} tokens spent; raise --budget to continue`, true);
        noteFatal(e);
        throw e;
      }
      const phase = clean.phase !== undefined ? clean.phase : scope.phase;
      // The guest writes the request around the options' JSON (see
      // `host::agent_start`): quicker than JSON.stringify of the prompt here.
      const id = host.start(prompt, clean === NO_OPTS ? '{}' : jsonStringify(clean), phase);
      // Only a plain call resolves to null on failure: with a schema the
      // script asked for a value it can rely on, so a failure still throws.
      const lenient = clean.schema === undefined;
      waiter = [resolve, reject, site, scope, lenient, clean.label, prompt, null, 0];
      pending[id] = waiter;
    } catch (e) {
      reject(e);
    }
    lastCall = call;
    lastWaiter = waiter;
    return call;
  }

  // The completions of the last batch the host sent, each
  // `[id, ok, input tokens, output tokens, clock, value or error]` (the
  // last left out when there is none), delivered one at a time by
  // `deliverNext`: the guest drains the job queue after each.
  let batch = [];
  let next = 0;

  function receive(text) {
    batch = jsonParse(text);
    next = 0;
  }

  function deliverNext() {
    if (next >= batch.length) return false;
    const completion = batch[next];
    batch[next++] = undefined;
    deliver(completion);
    return true;
  }

  // Read by index, not destructured: destructuring goes through the array
  // iterator, which the script can replace.
  function deliver(completion) {
    const id = completion[0];
    const ok = completion[1];
    const at = completion[4];
    const body = completion[5];
    if (typeof at === 'number') clock = at;
    spent += toNumber(completion[2]) + toNumber(completion[3]);
    const waiter = pending[id];
    if (!waiter) return;
    delete pending[id];
    if (waiter === lastWaiter) {
      lastCall = null;
      lastWaiter = null;
    }
    // The slot is told after the promise settles, as its own reaction
    // would have been, but now rather than a job later.
    const slot = waiter[SLOT];
    if (ok) {
      waiter[RESOLVE](body);
      if (slot !== null) slot(waiter[SLOT_AT], slotValue(body));
    } else {
      const err = body || {};
      const e = new WorkflowError(err.name || 'AgentError', toText(err.message), err.fatal === true);
      if (err.limit) e.limit = err.limit;
      // Claude Code resolves a failed agent (its API calls failed) to null
      // and logs it, at top level and inside parallel(), rather than
      // rejecting; a script written for it checks for null. Fatal
      // conditions and schema calls still reject.
      if (waiter[LENIENT] && !e.fatal && e.name === 'AgentError') {
        const why = e.message.replace(/^agent `[^`]*` failed: /, '');
        logIn(waiter[SCOPE], `[${callName(waiter)}] failed: ${why}`);
        waiter[RESOLVE](null);
        if (slot !== null) slot(waiter[SLOT_AT], null);
        return;
      }
      e.stack = `${e.name}: ${e.message}\n${siteText(waiter[SITE])}`;
      noteFatal(e);
      waiter[REJECT](e);
      if (slot !== null) slot(waiter[SLOT_AT], slotFailed(e, `parallel[${waiter[SLOT_AT]}]`));
    }
  }

  // ---- combinators ---------------------------------------------------------

  const messageOf = (e) => (e instanceof Error ? toText(e.message) : toText(e));

  // What a slot of parallel()/pipeline() that threw becomes: null, with a
  // log line naming the slot (`parallel[3] failed: …`, as Claude Code logs
  // it); a fatal error is kept to end the run instead.
  function slotFailed(e, slot) {
    noteFatal(e);
    if (!isFatal(e)) log(`${slot} failed: ${messageOf(e)}`);
    return null;
  }

  const slotValue = (v) => (v === undefined ? null : v);

  // One slot of parallel(): `settle(i, value)` with the thunk's value, or
  // with null if it throws or rejects. One promise reaction per slot: the
  // slots settle into parallel()'s own count rather than each becoming a
  // promise that Promise.all then watches, which took a second promise,
  // reaction and job per slot (0.7 of a slot's 3.3 µs in the guest). The
  // value is the same; the barrier only resolves a microtask sooner, within
  // the same completion's turn.
  //
  // A thunk that returns the agent() call it just made (`() => agent(…)`,
  // most slots of a fan-out) needs no reaction at all: the call's waiter
  // tells the slot when it is delivered. Any other value, and a call
  // already handed to a slot, is watched through its promise.
  function parallelSlot(thunk, i, settle) {
    let value;
    try {
      value = thunk();
    } catch (e) {
      settle(i, slotFailed(e, `parallel[${i}]`));
      return;
    }
    if (value === lastCall && lastWaiter !== null && lastWaiter[SLOT] === null) {
      lastWaiter[SLOT] = settle;
      lastWaiter[SLOT_AT] = i;
      return;
    }
    Promise.resolve(value).then(
      (v) => settle(i, slotValue(v)),
      (e) => settle(i, slotFailed(e, `parallel[${i}]`)),
    );
  }

  // Claude Code's own messages, so a script that catches them reads the same.
  async function parallel(thunks) {
    if (!isArray(thunks)) throw new TypeError('parallel() expects an array of functions');
    const count = thunks.length;
    for (let i = 0; i < count; i++) {
      if (typeof thunks[i] !== 'function') {
        throw new TypeError('parallel() expects an array of functions, not promises. Wrap each call: () => agent(...)');
      }
    }
    const results = new Array(count);
    await new Promise((resolve) => {
      let left = count;
      const settle = (i, value) => {
        results[i] = value;
        if (--left === 0) resolve();
      };
      if (count === 0) resolve();
      for (let i = 0; i < count; i++) parallelSlot(thunks[i], i, settle);
    });
    if (fatal !== null) throw fatal;
    return results;
  }

  async function pipeline(items, ...stages) {
    if (items === null || typeof items !== 'object' || typeof items[Symbol.iterator] !== 'function') {
      throw new TypeError(`pipeline(items, ...stages): items must be an array, got ${typeName(items)}`);
    }
    if (stages.length === 1 && isArray(stages[0])) stages = stages[0];
    stages.forEach((s, k) => {
      if (typeof s !== 'function') {
        throw new TypeError(`pipeline(): stage ${k + 1} must be a function, got ${typeName(s)}`);
      }
    });
    const list = Array.from(items);
    if (stages.length === 0) return list;
    // As in Claude Code: a null item, or a stage returning null, ends that
    // item's chain with null; undefined is passed on to the next stage.
    const results = await Promise.all(list.map(async (item, index) => {
      try {
        let prev = item;
        for (const stage of stages) {
          if (prev === null) return null;
          prev = await stage(prev, item, index);
        }
        return slotValue(prev);
      } catch (e) {
        return slotFailed(e, `pipeline[${index}]`);
      }
    }));
    if (fatal !== null) throw fatal;
    return results;
  }

  // ---- phases, logs, budget --------------------------------------------------

  // Text that is only shown (phase titles, log lines) with any lone
  // surrogate made U+FFFD: the host takes JSON, which cannot carry one, and
  // refused the whole message (and so the run) before.
  // (A nested workflow's prefix, from its name, is text of the script's too.)
  const wellFormed = (text) => apply(toWellFormed, toText(text), []);

  function phaseIn(scope, title) {
    scope.phase = wellFormed(scope.phasePrefix + toText(title));
    host.emit(jsonStringify({ type: 'phase', title: scope.phase }));
  }

  function logIn(scope, message) {
    host.emit(jsonStringify({ type: 'log', message: wellFormed(scope.logPrefix + toText(message)) }));
  }

  const phase = (title) => phaseIn(topScope, title);
  const log = (message) => logIn(topScope, message);

  const show = (v) => {
    if (typeof v === 'string') return v;
    try { const s = jsonStringify(v); return s === undefined ? String(v) : s; } catch (_) { return String(v); }
  };
  const consoleOf = (scope) => {
    const line = (...parts) => logIn(scope, parts.map(show).join(' '));
    return freeze({ log: line, info: line, warn: line, error: line, debug: line });
  };

  const budgetOf = (total) => freeze({
    total,
    spent: () => spent,
    remaining: () => (total === null ? Infinity : Math.max(0, total - spent)),
  });

  // ---- nested workflows and validation ------------------------------------

  const load = (request) => jsonParse(host.load(jsonStringify(request)));

  function problem(e, file) {
    const stack = String((e && e.stack) || '');
    const esc = String(file).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const at = stack.match(new RegExp(esc + ':(\\d+):(\\d+)'));
    return {
      line: at ? Number(at[1]) : 0,
      column: at ? Number(at[2]) : 0,
      message: e instanceof Error ? `${e.name}: ${e.message}` : String(e),
    };
  }

  // The same rules as the host's `Meta::check`: phases that are not
  // `{title}` objects are dropped, as Claude Code drops them.
  function checkMeta(meta) {
    if (meta === null || typeof meta !== 'object') return 'meta must be an object';
    if (typeof meta.name !== 'string' || meta.name.trim() === '') return '`meta.name` must be a non-empty string';
    if (typeof meta.description !== 'string') return '`meta.description` must be a string';
    if (meta.phases !== undefined) {
      if (!isArray(meta.phases)) return '`meta.phases` must be an array of `{title, detail?}`';
      meta.phases = meta.phases.filter((p) => p !== null && typeof p === 'object' && typeof p.title === 'string');
    }
    return null;
  }

  // validate(source) -> {ok, meta?, errors: [{line, column, message}]}; runs nothing.
  function validate(source) {
    if (typeof source !== 'string') {
      throw new TypeError(`validate(source): source must be a string, got ${typeName(source)}`);
    }
    const loaded = load({ source, filename: 'candidate.js' });
    if (!loaded.ok) return { ok: false, errors: [loaded.error] };
    let meta;
    try {
      meta = host.evaluate(loaded.metaSource, loaded.filename);
    } catch (e) {
      return { ok: false, errors: [problem(e, loaded.filename)] };
    }
    const bad = checkMeta(meta);
    if (bad) return { ok: false, meta, errors: [{ line: 1, column: 1, message: bad }] };
    try {
      host.evaluate(loaded.compileOnly, loaded.filename);
    } catch (e) {
      return { ok: false, meta, errors: [problem(e, loaded.filename)] };
    }
    return { ok: true, meta, errors: [] };
  }

  function tooDeep() {
    throw new Error('workflow(): nested workflows go one level deep, and this one is already nested; ' +
      'call the inner workflow from the top-level script instead');
  }

  // workflow(nameOrRef, args?): runs another workflow inline, sharing this
  // run's agents, concurrency, budget and journal.
  async function workflow(ref, childArgs) {
    let request;
    if (typeof ref === 'string') request = { ref: { name: ref } };
    else if (ref !== null && typeof ref === 'object' && typeof ref.scriptPath === 'string') {
      request = { ref: { scriptPath: ref.scriptPath } };
    } else {
      throw new TypeError('workflow(nameOrRef, args?): give a saved workflow\'s name or {scriptPath}');
    }
    const loaded = load(request);
    const shown = jsonStringify(ref);
    if (!loaded.ok) {
      const e = loaded.error;
      const where = e.line ? ` (${loaded.filename}:${e.line}:${e.column})` : '';
      throw new Error(`workflow(${shown}): ${e.message}${where}`);
    }
    const meta = host.evaluate(loaded.metaSource, loaded.filename);
    const bad = checkMeta(meta);
    if (bad) throw new Error(`workflow(${shown}): ${bad}`);
    const body = host.evaluate(loaded.body, loaded.filename);
    // The child's own scope: its phase starts as the caller's current one and
    // moves only for its own calls; its log lines are prefixed with its name.
    const name = typeof ref === 'string' ? ref : meta.name;
    const scope = { phase: topScope.phase, logPrefix: `[${name}] `, phasePrefix: `${meta.name} · ` };
    const childAgent = (prompt, opts) => agentIn(scope, callSite(childAgent), prompt, opts);
    log(`▸ running dynamic workflow ${name}`);
    const value = await body(childArgs, (title) => phaseIn(scope, title), tooDeep, childAgent,
      (message) => logIn(scope, message), consoleOf(scope));
    log(`▸ ${name} done`);
    return value;
  }

  // ---- install ---------------------------------------------------------------

  const define = (obj, name, value) =>
    defineProperty(obj, name, { value, writable: true, configurable: true, enumerable: false });

  define(global, 'Date', LogicalDate);
  define(Math, 'random', random);
  define(global, 'agent', agent);
  define(global, 'parallel', parallel);
  define(global, 'pipeline', pipeline);
  define(global, 'phase', phase);
  define(global, 'log', log);
  // Given their values by `activate`, defined here to keep their place.
  define(global, 'args', undefined);
  define(global, 'budget', budgetOf(null));
  define(global, 'workflow', workflow);
  define(global, 'validate', validate);
  define(global, 'console', consoleOf(topScope));

  return {
    // The run's part of the activation, before the script starts.
    activate(run) {
      clock = toNumber(run.clock);
      seed(run.seed);
      budgetTotal = run.budget === null || run.budget === undefined ? null : toNumber(run.budget);
      // `args` is undefined when none was given, as in Claude Code (the
      // host sends null for "none", so `--args null` reads as none too).
      define(global, 'args', run.args === null ? undefined : run.args);
      define(global, 'budget', budgetOf(budgetTotal));
    },
    track(value) {
      Promise.resolve(value).then(succeed, fail);
    },
    receive,
    deliverNext,
    deadlock() {
      fail(new Error('the workflow is waiting on a promise that can never settle ' +
        '(no agent call is in flight)'));
    },
    fail,
  };
})
