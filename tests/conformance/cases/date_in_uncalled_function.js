// @odw result "defined only"
// @why odw makes the clock deterministic instead of refusing; `odw validate` warns
export const meta = { name: 'date-in-uncalled-function', description: 'conformance case date_in_uncalled_function' }
function never() { return Date.now() }
return 'defined only'
