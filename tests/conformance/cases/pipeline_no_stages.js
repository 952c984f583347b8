export const meta = { name: 'pipeline-no-stages', description: 'conformance case pipeline_no_stages' }
return await pipeline(['a', 'b'])
