export const meta = { name: 'result-null', description: 'conformance case result_null' }
return null
