// @odw result true
// @why odw makes the clock deterministic instead of refusing; `odw validate` warns
export const meta = { name: 'new-date-refused', description: 'conformance case new_date_refused' }
return new Date().getFullYear() > 2000
