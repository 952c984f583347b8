// @compare logs
export const meta = { name: 'agent-fail-resolves-null', description: 'conformance case agent_fail_resolves_null' }
const r = await agent('TASK broken @fail', { label: 'breaker' })
return { r, isNull: r === null }
