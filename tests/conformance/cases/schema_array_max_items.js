export const meta = { name: 'schema-array-max-items', description: 'conformance case schema_array_max_items' }
return await agent('TASK short list', { schema: { type: 'object', properties: { items: { type: 'array', items: { type: 'integer' }, maxItems: 1 } }, required: ['items'] } })
