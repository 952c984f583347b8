// expect: error from a getter
export const meta = { name: 'hostile', description: 'an attack on the host' };
return await agent('x', { get label() { throw new Error('from a getter'); } });
