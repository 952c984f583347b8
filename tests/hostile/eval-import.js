// expect: error Error
export const meta = { name: 'hostile', description: 'an attack on the host' };
return await eval("import('os')");
