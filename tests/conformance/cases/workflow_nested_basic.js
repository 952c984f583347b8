// @workflow child
export const meta = { name: 'workflow-nested-basic', description: 'conformance case workflow_nested_basic' }
return await workflow('child', { x: 1 })
