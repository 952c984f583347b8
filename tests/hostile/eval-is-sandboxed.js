// expect: ok "undefined"
export const meta = { name: 'hostile', description: 'an attack on the host' };
return eval('typeof process');
