// expect: any
export const meta = { name: 'hostile', description: 'an attack on the host' };
const r = []; for (let i = 0; i < 1e4; i++) r.push(new WeakRef({ i })); return r.length;
