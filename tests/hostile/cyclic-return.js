// expect: error not JSON-serialisable
export const meta = { name: 'hostile', description: 'an attack on the host' };
const a = {}; a.self = a; return a;
