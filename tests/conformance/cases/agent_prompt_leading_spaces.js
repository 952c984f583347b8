export const meta = { name: 'agent-prompt-leading-spaces', description: 'conformance case agent_prompt_leading_spaces' }
return await agent('    TASK indented key line')
