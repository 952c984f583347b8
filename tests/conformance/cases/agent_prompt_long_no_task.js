export const meta = { name: 'agent-prompt-long-no-task', description: 'conformance case agent_prompt_long_no_task' }
return await agent('a long prompt with no key line that goes past sixty characters in total length')
