export const meta = { name: 'json-methods', description: 'conformance case json_methods' }
const r = await agent('TASK json', { schema: { type: 'object', properties: { k: { type: 'string' } }, required: ['k'] } })
return JSON.parse(JSON.stringify(r))
