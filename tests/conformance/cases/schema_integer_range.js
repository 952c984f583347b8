export const meta = { name: 'schema-integer-range', description: 'conformance case schema_integer_range' }
return await agent('TASK range', { schema: { type: 'object', properties: { i: { type: 'integer', minimum: 5, maximum: 7 } }, required: ['i'] } })
