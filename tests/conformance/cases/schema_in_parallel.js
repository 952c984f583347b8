export const meta = { name: 'schema-in-parallel', description: 'conformance case schema_in_parallel' }
const s = { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] }
return await parallel(['a', 'b', 'c'].map(x => () => agent('TASK par ' + x, { schema: s })))
