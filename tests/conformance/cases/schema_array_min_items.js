export const meta = { name: 'schema-array-min-items', description: 'conformance case schema_array_min_items' }
return await agent('TASK list', { schema: { type: 'object', properties: { items: { type: 'array', items: { type: 'string' }, minItems: 3 } }, required: ['items'] } })
