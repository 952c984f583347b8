// expect: error uncaught non-Error value
export const meta = { name: 'hostile', description: 'an attack on the host' };
throw { secret: 1 };
