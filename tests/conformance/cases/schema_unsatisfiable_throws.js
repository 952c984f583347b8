// @odw result {"threw":true}
// @why odw rejects with an Error of the script's own realm (instanceof Error holds); Claude Code's rejection value is not an instance of the script's Error
export const meta = { name: 'schema-unsatisfiable-throws', description: 'conformance case schema_unsatisfiable_throws' }
try { return await agent('TASK digits', { schema: { type: 'object', properties: { d: { type: 'string', pattern: '^[0-9]+$' } }, required: ['d'] } }) }
catch (e) { return { threw: e instanceof Error } }
