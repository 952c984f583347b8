// expect: error cannot read `nope.js`
export const meta = { name: 'hostile', description: 'an attack on the host' };
return await workflow({ scriptPath: 'nope.js' });
