// @odw result {"before":0,"grew":true}
// @why odw's budget counts the run's own agents only; Claude Code's starts with the tokens of the session that launched the run
export const meta = { name: 'budget-spent-grows', description: 'conformance case budget_spent_grows' }
const before = budget.spent()
await agent('TASK spend')
return { before, grew: budget.spent() >= before }
