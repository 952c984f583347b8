// @odw result "number"
// @why odw makes the clock deterministic instead of refusing; `odw validate` warns
export const meta = { name: 'date-now-refused', description: 'conformance case date_now_refused' }
return typeof Date.now()
