export const meta = { name: 'parallel-basic', description: 'conformance case parallel_basic' }
return await parallel([() => agent('TASK one'), () => agent('TASK two')])
