// @workflow child
export const meta = { name: 'workflow-nested-no-args', description: 'conformance case workflow_nested_no_args' }
return await workflow('child')
