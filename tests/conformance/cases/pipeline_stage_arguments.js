export const meta = { name: 'pipeline-stage-arguments', description: 'conformance case pipeline_stage_arguments' }
return await pipeline(['p', 'q'], (prev, item, index) => ({ prev, item, index }), (prev, item, index) => [prev.item, item, index])
