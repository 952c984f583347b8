// expect: error validate(source)
export const meta = { name: 'hostile', description: 'an attack on the host' };
return validate(123);
