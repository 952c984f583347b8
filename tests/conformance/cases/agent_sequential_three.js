export const meta = { name: 'agent-sequential-three', description: 'conformance case agent_sequential_three' }
const out = []
for (const t of ['a', 'b', 'c']) out.push(await agent('TASK step ' + t))
return out
