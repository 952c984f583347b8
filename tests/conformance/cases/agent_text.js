export const meta = { name: 'agent-text', description: 'conformance case agent_text' }
return await agent('TASK say hello')
