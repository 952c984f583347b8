export const meta = { name: 'phase-then-agents', description: 'conformance case phase_then_agents' }
phase('First')
const a = await agent('TASK in first')
phase('Second')
const b = await agent('TASK in second')
return [a, b]
