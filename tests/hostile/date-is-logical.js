// expect: ok true
export const meta = { name: 'hostile', description: 'an attack on the host' };
const a = Date.now(); for (let i = 0; i < 1e5; i++) {} return Date.now() === a;
