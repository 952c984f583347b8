export const meta = { name: 'schema-scalars', description: 'conformance case schema_scalars' }
return await agent('TASK scalars', { schema: { type: 'object', properties: { b: { type: 'boolean' }, num: { type: 'number' }, z: { type: 'null' }, m: { type: 'number', minimum: 3 } }, required: ['b', 'num', 'z', 'm'] } })
