export const meta = { name: 'parallel-order-kept', description: 'conformance case parallel_order_kept' }
return await parallel([() => agent('TASK slow @sleep=800'), () => agent('TASK fast')])
