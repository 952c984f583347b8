// expect: ok []
export const meta = { name: 'hostile', description: 'an attack on the host' };
const bad = ['process','require','std','os','fetch','XMLHttpRequest','WebAssembly','setTimeout','Deno','Bun'];
return Object.getOwnPropertyNames(globalThis).filter((n) => bad.includes(n));
