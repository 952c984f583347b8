// @odw fails
// @why odw throws a TypeError for a prompt that is not a string (almost always a bug) instead of sending `42`
export const meta = { name: 'agent-prompt-number', description: 'conformance case agent_prompt_number' }
return await agent(42)
