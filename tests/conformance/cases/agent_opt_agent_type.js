// @agent-type reviewer
export const meta = { name: 'agent-opt-agent-type', description: 'conformance case agent_opt_agent_type' }
return await agent('TASK as reviewer', { agentType: 'reviewer' })
