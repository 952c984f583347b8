export const meta = { name: 'pipeline-empty-items', description: 'conformance case pipeline_empty_items' }
return await pipeline([], (x) => x)
