export const meta = { name: 'parallel-empty', description: 'conformance case parallel_empty' }
return await parallel([])
