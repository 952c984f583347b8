// expect: error did not conform
export const meta = { name: 'hostile', description: 'an attack on the host' };
return await agent('x', { schema: { type: 'array', minItems: 50, items: { type: 'string', pattern: '^(a+)+$' } } });
