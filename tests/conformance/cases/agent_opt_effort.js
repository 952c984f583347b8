export const meta = { name: 'agent-opt-effort', description: 'conformance case agent_opt_effort' }
return await agent('TASK with effort', { effort: 'low' })
