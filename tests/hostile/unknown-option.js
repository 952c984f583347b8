// expect: error unknown option
export const meta = { name: 'hostile', description: 'an attack on the host' };
return await agent('x', { shell: 'rm -rf /' });
