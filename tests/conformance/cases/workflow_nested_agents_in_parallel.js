// @workflow child
export const meta = { name: 'workflow-nested-agents-in-parallel', description: 'conformance case workflow_nested_agents_in_parallel' }
return await parallel([() => workflow('child', { x: 3 }), () => agent('TASK parent side')])
