export const meta = { name: 'pipeline-throwing-stage', description: 'conformance case pipeline_throwing_stage' }
return await pipeline(['ok', 'bad'], (x) => { if (x === 'bad') throw new Error('stage threw'); return x }, (p) => p + '!')
