// expect: error CPU limit
export const meta = { name: 'hostile', description: 'an attack on the host' };
return /^(a+)+$/.test('a'.repeat(40) + 'b');
