// expect: error prompt must be a string
export const meta = { name: 'hostile', description: 'an attack on the host' };
return await agent({ toString() { return 'x'; } });
