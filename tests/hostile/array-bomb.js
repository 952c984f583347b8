// expect: error Error
export const meta = { name: 'hostile', description: 'an attack on the host' };
return new Array(2 ** 31).fill(1).length;
