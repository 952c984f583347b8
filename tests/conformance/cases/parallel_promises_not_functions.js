export const meta = { name: 'parallel-promises-not-functions', description: 'conformance case parallel_promises_not_functions' }
try { await parallel([agent('TASK eager')]); return 'no throw' }
catch (e) { return { threw: true, message: e.message } }
