// @odw result {"process":"undefined","require":"undefined","fetch":"undefined","setTimeout":"undefined"}
// @why odw's sandbox has no timers: a timer is a source of ordering that the journal does not record
export const meta = { name: 'globals-absent', description: 'conformance case globals_absent' }
return { process: typeof process, require: typeof require, fetch: typeof fetch, setTimeout: typeof setTimeout }
