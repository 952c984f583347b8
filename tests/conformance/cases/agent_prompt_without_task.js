export const meta = { name: 'agent-prompt-without-task', description: 'conformance case agent_prompt_without_task' }
return await agent('hello world, no key line here')
