export const meta = { name: 'result-boolean-false', description: 'conformance case result_boolean_false' }
return false
