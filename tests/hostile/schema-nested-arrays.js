// expect: error larger than
export const meta = { name: 'hostile', description: 'an attack on the host' };
return await agent('x', { schema: { type: 'array', minItems: 2000, items: { type: 'array', minItems: 2000, items: { type: 'string' } } } });
