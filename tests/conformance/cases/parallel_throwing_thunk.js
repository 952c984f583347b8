// @compare logs
export const meta = { name: 'parallel-throwing-thunk', description: 'conformance case parallel_throwing_thunk' }
return await parallel([() => agent('TASK fine'), () => { throw new Error('thunk threw') }, async () => 'plain'])
