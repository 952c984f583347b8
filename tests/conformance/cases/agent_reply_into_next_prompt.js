export const meta = { name: 'agent-reply-into-next-prompt', description: 'conformance case agent_reply_into_next_prompt' }
const a = await agent('TASK first reply ends in spaces   ')
const b = await agent('TASK second\n' + a + '|')
return { a, b }
