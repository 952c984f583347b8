// expect: ok true
export const meta = { name: 'hostile', description: 'an attack on the host' };
const v = validate("export const meta = {name:'c', description:''};\nwhile (true) {}");
return v.ok;
