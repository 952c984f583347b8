export const meta = { name: 'pipeline-null-stops-item', description: 'conformance case pipeline_null_stops_item' }
return await pipeline([1, 2, 3], (x) => (x === 2 ? null : x * 10), (prev) => prev + 1)
