// expect: error Error
export const meta = { name: 'hostile', description: 'an attack on the host' };
const o = {}; o.toString = () => String(o); return agent(String(o));
