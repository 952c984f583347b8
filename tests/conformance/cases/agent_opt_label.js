export const meta = { name: 'agent-opt-label', description: 'conformance case agent_opt_label' }
return await agent('TASK labelled', { label: 'my-label' })
