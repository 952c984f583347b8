export const meta = { name: 'result-nothing', description: 'conformance case result_nothing' }
await agent('TASK nothing returned')
