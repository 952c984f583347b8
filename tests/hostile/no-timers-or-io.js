// expect: ok ["undefined","undefined","undefined","undefined"]
export const meta = { name: 'hostile', description: 'an attack on the host' };
return [typeof setTimeout, typeof require, typeof std, typeof os];
