// expect: ok 8
export const meta = { name: 'hostile', description: 'an attack on the host' };
const big = 'y'.repeat(8e6);
const out = await parallel(Array.from({ length: 8 }, (_, i) => () => agent(big + i)));
return out.filter((r) => r.length > 8e6 - 1).length;
