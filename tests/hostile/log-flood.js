// expect: any
export const meta = { name: 'hostile', description: 'an attack on the host' };
const line = 'x'.repeat(60000);
for (let i = 0; i < 2000; i++) log(line);
return 'flooded';
