export const meta = { name: 'schema-no-task-key', description: 'conformance case schema_no_task_key' }
return await agent('plain prompt with a schema', { schema: { type: 'object', properties: { s: { type: 'string' } }, required: ['s'] } })
