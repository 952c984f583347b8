// @odw result "ran"
// @why odw accepts meta anywhere at the top level; `odw validate` warns
const before = 1
export const meta = { name: 'meta-not-first', description: 'conformance case' }
return 'ran'
