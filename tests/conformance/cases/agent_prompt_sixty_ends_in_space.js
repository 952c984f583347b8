export const meta = { name: 'agent-prompt-sixty-ends-in-space', description: 'conformance case agent_prompt_sixty_ends_in_space' }
return await agent('x'.repeat(59) + ' tail after the cut')
