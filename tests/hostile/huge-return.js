// expect: any
export const meta = { name: 'hostile', description: 'an attack on the host' };
return 'x'.repeat(20e6).length;
