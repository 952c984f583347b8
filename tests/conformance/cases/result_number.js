export const meta = { name: 'result-number', description: 'conformance case result_number' }
return 3.5
