// Authoring types for odw workflows (Claude Code's Workflow dialect plus
// ODW's extensions). Editors use them for completion and checking of plain
// `.js` workflows; see types/tsconfig.json. The semantics of each primitive
// are those of docs/dialect.md; the comments here summarise them.
//
// A workflow file is `export const meta = {...}` followed by the body of an
// async function (top-level `await` and `return`). These are *globals* of
// that body, declared for a script (no imports needed).

/** One phase announced in `meta.phases`, laid out before the body runs. */
interface OdwPhase {
  title: string;
  detail?: string;
}

/** `export const meta = {...}`: the first statement of every workflow. */
interface Meta {
  /** Non-empty; names the run directory (`<runsRoot>/<slug(name)>/<runId>`). */
  name: string;
  description: string;
  phases?: OdwPhase[];
  /** Other keys are kept and shown, not refused. */
  [key: string]: unknown;
}

/** A JSON Schema (draft 2020-12 keywords); validated by the engine. */
type JsonSchema = { [keyword: string]: any } | boolean;

/** The options of `agent(prompt, opts)`. Unknown keys are refused. */
interface AgentOptions {
  /** Display name in progress and events; default the adapter name. */
  label?: string;
  /** Groups this call under a phase without changing the current phase. */
  phase?: string;
  /** JSON Schema: the agent must answer with a valid instance (retried `schemaRetries` times). */
  schema?: JsonSchema;
  /** Passed to the adapter's model flag. */
  model?: string;
  effort?: string;
  /** `'worktree'`: run the agent in its own git worktree; its diff is kept. Default `'inplace'`. */
  isolation?: 'inplace' | 'worktree';
  /** A named agent: `claude --agent NAME` (`.claude/agents/NAME.md`); for CLIs without one, a persona line ("You are acting as: …"). */
  agentType?: string;
  /** odw/ODW extension: which adapter runs this call (default: the run's adapter). */
  adapter?: string;
}

/**
 * `error.name` of the errors odw raises. A caught `agent()` failure is an
 * `AgentError` (a schema call's; a plain call resolves `null`); the
 * others are fatal and end the run even when caught.
 */
type OdwErrorName = 'AgentError' | 'BudgetError' | 'LimitError' | 'ProtocolError' | 'ConfigError' | 'SchemaError' | 'WorkspaceError' | 'ReplayDivergence' | 'TypeError' | 'Error' | 'Stopped' | 'RunError' | 'InternalError';

/** An error odw raises; `fatal` ones end the run even when caught. */
interface OdwError extends Error {
  name: OdwErrorName;
  readonly fatal?: true;
  /** The configuration key of the limit that was hit (`LimitError`). */
  limit?: string;
}

/** `agent()` options that carry a schema. */
interface AgentOptionsWithSchema extends AgentOptions {
  schema: JsonSchema;
}

/**
 * Runs one agent. With `opts.schema` resolves to the validated value (type it
 * with the generic: `agent<{ok: boolean}>(p, {schema})`), else to the agent's
 * final text. As in Claude Code, a call without a schema whose agent fails
 * resolves to `null` (and logs `[label] failed: …`); a schema call that gets
 * no valid value rejects, and fatal errors (budget, limits, stop) always do.
 */
declare function agent<T = any>(prompt: string, opts: AgentOptionsWithSchema): Promise<T>;
declare function agent(prompt: string, opts?: AgentOptions): Promise<string | null>;

/** Unwraps a thunk's result: `() => Promise<T>` or `() => T` gives `T`. */
type OdwThunkResult<F> = F extends () => infer R ? Awaited<R> : never;

/**
 * Starts every thunk at once (subject to the concurrency cap) and waits for
 * all. A thunk that throws or rejects yields `null` in its slot; result order
 * is input order.
 */
declare function parallel<const F extends readonly (() => any)[]>(
  thunks: F,
): Promise<OdwIsAny<F> extends true ? any[] : { -readonly [K in keyof F]: OdwThunkResult<F[K]> | null }>;

/** `true` for `any` (e.g. thunks built from an untyped agent answer). */
type OdwIsAny<T> = 0 extends 1 & T ? true : false;

/** One pipeline stage: `(prev, item, index)`; the first stage gets `(item, item, index)`. */
type PipelineStage<Item = any, Prev = any, Next = any> = (prev: Prev, item: Item, index: number) => Next | Promise<Next>;

/**
 * Each item flows through all stages on its own, with no barrier between
 * stages. A stage that throws makes that item `null` and skips its later
 * stages. Result order is item order; zero stages returns the items.
 */
declare function pipeline<Item>(items: readonly Item[]): Promise<Item[]>;
declare function pipeline<Item, R1>(items: readonly Item[], s1: PipelineStage<Item, Item, R1>): Promise<(R1 | null)[]>;
declare function pipeline<Item, R1, R2>(
  items: readonly Item[],
  s1: PipelineStage<Item, Item, R1>,
  s2: PipelineStage<Item, R1, R2>,
): Promise<(R2 | null)[]>;
declare function pipeline<Item, R1, R2, R3>(
  items: readonly Item[],
  s1: PipelineStage<Item, Item, R1>,
  s2: PipelineStage<Item, R1, R2>,
  s3: PipelineStage<Item, R2, R3>,
): Promise<(R3 | null)[]>;
declare function pipeline<Item>(items: readonly Item[], ...stages: PipelineStage<Item>[]): Promise<any[]>;

/** Later `agent()` calls without `opts.phase` belong to this phase. */
declare function phase(title: string): void;

/** Adds a `log` event with `String(message)`. */
declare function log(message: unknown): void;

/** The value given with `--args` (JSON, `@file` or a raw string), verbatim; `undefined` when none (as in Claude Code). */
declare const args: any;

/** The token budget of the run (`--budget`). */
interface OdwBudget {
  /** Tokens allowed, or `null` without `--budget`. */
  readonly total: number | null;
  /** Tokens used so far (adapter-reported, or estimated). */
  spent(): number;
  /** `Infinity` without a budget, else `max(0, total − spent)`. */
  remaining(): number;
}
declare const budget: OdwBudget;

/**
 * Runs another workflow inline — by saved name or `{scriptPath}` (relative
 * to the calling script) — and resolves to its return value. One level deep.
 */
declare function workflow<T = any>(nameOrRef: string | { scriptPath: string }, args?: unknown): Promise<T>;

/** One problem `validate()` found, at a 1-based line and column. */
interface OdwValidationError {
  line: number;
  column: number;
  message: string;
}

/** ODW extension: compiles a candidate workflow without running it. */
declare function validate(source: string): { ok: boolean; meta?: Meta; errors: OdwValidationError[] };
