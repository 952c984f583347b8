export const meta = { name: 'hostile', description: 'an attack on the host' };
return 'child ran';
