export const meta = { name: 'result-string', description: 'conformance case result_string' }
return 'just a string'
