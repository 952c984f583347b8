// expect: error option `isolation`
export const meta = { name: 'hostile', description: 'an attack on the host' };
return await agent('x', { isolation: 'host' });
