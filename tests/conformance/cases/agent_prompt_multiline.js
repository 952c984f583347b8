export const meta = { name: 'agent-prompt-multiline', description: 'conformance case agent_prompt_multiline' }
return await agent('line one\nline two TASK in the middle\nline three')
