// expect: error maxAgents
export const meta = { name: 'hostile', description: 'an attack on the host' };
await parallel(Array.from({ length: 5000 }, (_, i) => () => agent('a' + i)));
return 'all ran';
