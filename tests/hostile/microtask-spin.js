// expect: error CPU limit
export const meta = { name: 'hostile', description: 'an attack on the host' };
for (;;) await null;
