export const meta = { name: 'meta-phases-mixed', description: 'conformance case', phases: [{ title: 'Gather' }, 'loose', { title: 'Report', detail: 'write it up' }, 7] }
phase('Gather')
const r = await agent('TASK mixed phases')
phase('Report')
return r
