// expect: error can never settle
export const meta = { name: 'hostile', description: 'an attack on the host' };
await new Promise(() => {});
