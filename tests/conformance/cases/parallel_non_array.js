export const meta = { name: 'parallel-non-array', description: 'conformance case parallel_non_array' }
try { await parallel('nope'); return 'no throw' }
catch (e) { return { threw: true, message: e.message } }
