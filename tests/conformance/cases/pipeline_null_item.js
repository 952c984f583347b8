export const meta = { name: 'pipeline-null-item', description: 'conformance case pipeline_null_item' }
return await pipeline(['a', null, 'c'], (x) => 'seen ' + x)
