// expect: error memory
export const meta = { name: 'hostile', description: 'an attack on the host' };
const hoard = [];
for (;;) hoard.push('x'.repeat(1 << 20) + hoard.length);
