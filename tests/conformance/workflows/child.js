export const meta = { name: 'child', description: 'a nested workflow for the conformance cases' }
phase('Child phase')
log('child says hi')
const r = await agent('TASK child work ' + (args ? args.x : 'none'))
return { child: r, argsType: typeof args }
