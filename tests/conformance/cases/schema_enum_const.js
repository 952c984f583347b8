export const meta = { name: 'schema-enum-const', description: 'conformance case schema_enum_const' }
return await agent('TASK enum', { schema: { type: 'object', properties: { e: { enum: ['x', 'y'] }, k: { const: 'fixed' } }, required: ['e', 'k'] } })
