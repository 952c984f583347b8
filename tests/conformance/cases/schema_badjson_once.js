export const meta = { name: 'schema-badjson-once', description: 'conformance case schema_badjson_once' }
return await agent('TASK retry me @badjson-once', { schema: { type: 'object', properties: { v: { type: 'integer' } }, required: ['v'] } })
