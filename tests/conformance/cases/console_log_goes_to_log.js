// @compare logs
export const meta = { name: 'console-log-goes-to-log', description: 'conformance case console_log_goes_to_log' }
console.log('console line', { k: 2 })
return 'done'
