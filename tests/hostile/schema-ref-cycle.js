// expect: error cycle
export const meta = { name: 'hostile', description: 'an attack on the host' };
return await agent('x', { schema: { $defs: { a: { $ref: '#/$defs/b' }, b: { $ref: '#/$defs/a' } }, $ref: '#/$defs/a' } });
