// @odw result "ran"
// @why odw evaluates meta in the sandbox, so any expression works; `odw validate` warns
export const meta = { name: 'meta-not-literal', description: 'conformance ' + 'case' }
return 'ran'
