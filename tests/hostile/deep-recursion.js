// expect: error Error
export const meta = { name: 'hostile', description: 'an attack on the host' };
function f(n) { return f(n + 1) + 1; }
return f(0);
