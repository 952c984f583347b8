// expect: error is not a saved workflow's name
export const meta = { name: 'hostile', description: 'an attack on the host' };
return await workflow('/etc/passwd');
