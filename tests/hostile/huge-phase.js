// expect: ok "phased"
export const meta = { name: 'hostile', description: 'an attack on the host' };
phase('p'.repeat(1e6));
return 'phased';
