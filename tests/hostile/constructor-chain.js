// expect: ok "undefined"
export const meta = { name: 'hostile', description: 'an attack on the host' };
return (function () {}).constructor('return typeof process')();
