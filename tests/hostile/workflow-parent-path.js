// expect: error must be a relative path below
export const meta = { name: 'hostile', description: 'an attack on the host' };
return await workflow({ scriptPath: '../outside.js' });
