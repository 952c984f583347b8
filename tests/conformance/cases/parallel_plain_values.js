export const meta = { name: 'parallel-plain-values', description: 'conformance case parallel_plain_values' }
return await parallel([() => 1, () => 'two', async () => ({ three: 3 }), () => null])
