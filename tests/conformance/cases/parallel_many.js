export const meta = { name: 'parallel-many', description: 'conformance case parallel_many' }
return await parallel(Array.from({ length: 6 }, (_, i) => () => agent('TASK many ' + i)))
