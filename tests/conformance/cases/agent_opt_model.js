export const meta = { name: 'agent-opt-model', description: 'conformance case agent_opt_model' }
return await agent('TASK with model', { model: 'sonnet' })
