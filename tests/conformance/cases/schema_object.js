export const meta = { name: 'schema-object', description: 'conformance case schema_object' }
return await agent('TASK object', { schema: { type: 'object', properties: { a: { type: 'string' }, n: { type: 'integer' } }, required: ['a', 'n'] } })
