export const meta = { name: 'agent-fail-in-parallel', description: 'conformance case agent_fail_in_parallel' }
return await parallel([() => agent('TASK ok one'), () => agent('TASK bad @fail')])
