export const meta = { name: 'agent-opt-phase', description: 'conformance case agent_opt_phase' }
return await agent('TASK phased', { phase: 'Review' })
