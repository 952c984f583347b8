export const meta = { name: 'meta-phases-strings', description: 'conformance case', phases: ['a', 'b'] }
phase('a')
return await agent('TASK with string phases')
