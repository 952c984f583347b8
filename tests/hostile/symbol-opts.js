// expect: ok "x"
export const meta = { name: 'hostile', description: 'an attack on the host' };
return await agent('x', { [Symbol('adapter')]: 'claude' });
