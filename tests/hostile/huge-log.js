// expect: ok "logged"
export const meta = { name: 'hostile', description: 'an attack on the host' };
for (let i = 0; i < 10; i++) log('x'.repeat(3e6));
return 'logged';
