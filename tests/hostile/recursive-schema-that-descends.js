// expect: ok [null]
export const meta = { name: 'hostile', description: 'an attack on the host' };
return await agent('x', { schema: { items: { $ref: '#' } } });
