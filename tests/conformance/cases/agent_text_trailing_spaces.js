export const meta = { name: 'agent-text-trailing-spaces', description: 'conformance case agent_text_trailing_spaces' }
return await agent('TASK end with spaces   ')
