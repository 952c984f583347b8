// expect: error Error
export const meta = { name: 'hostile', description: 'an attack on the host' };
let s = 'x';
for (let i = 0; i < 40; i++) s = s + s;
return s.length;
