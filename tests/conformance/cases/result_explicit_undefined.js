export const meta = { name: 'result-explicit-undefined', description: 'conformance case result_explicit_undefined' }
return undefined
