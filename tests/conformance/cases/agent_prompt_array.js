// @odw fails
// @why odw throws a TypeError for a prompt that is not a string (almost always a bug) instead of sending `[object]`
export const meta = { name: 'agent-prompt-array', description: 'conformance case agent_prompt_array' }
return await agent(['TASK x', 'y'])
