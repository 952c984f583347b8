export const meta = { name: 'parallel-thunk-returns-undefined', description: 'conformance case parallel_thunk_returns_undefined' }
return await parallel([() => undefined, async () => {}, () => 1])
