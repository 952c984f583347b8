// expect: ok "undefined"
export const meta = { name: 'hostile', description: 'an attack on the host' };
const F = (async () => {}).constructor; return await F('return typeof require')();
