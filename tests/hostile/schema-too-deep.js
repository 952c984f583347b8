// expect: error deeper than
export const meta = { name: 'hostile', description: 'an attack on the host' };
let s = { type: 'string' };
for (let i = 0; i < 100; i++) s = { type: 'array', items: s };
return await agent('x', { schema: s });
