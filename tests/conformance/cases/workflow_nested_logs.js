// @workflow child
// @compare logs
export const meta = { name: 'workflow-nested-logs', description: 'conformance case workflow_nested_logs' }
log('parent before')
const r = await workflow('child', { x: 2 })
log('parent after')
return r
