// @odw logs ["text line","42","null","[object Object]","1,2","true"]
// @why odw logs String(value); Claude Code writes objects and arrays as `[object]`
// @compare logs
export const meta = { name: 'log-values', description: 'conformance case log_values' }
log('text line')
log(42)
log(null)
log({ a: 1 })
log([1, 2])
log(true)
return 'logged'
