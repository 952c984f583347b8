export const meta = { name: 'agent-promise-all', description: 'conformance case agent_promise_all' }
return await Promise.all([agent('TASK p1'), agent('TASK p2'), agent('TASK p3')])
