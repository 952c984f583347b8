export const meta = { name: 'schema-nested', description: 'conformance case schema_nested' }
return await agent('TASK nested', { schema: { type: 'object', properties: {
  findings: { type: 'array', items: { type: 'object', properties: { file: { type: 'string' }, line: { type: 'integer' } }, required: ['file', 'line'] } },
  summary: { type: 'string' } }, required: ['findings', 'summary'] } })
