// expect: ok "real"
export const meta = { name: 'hostile', description: 'an attack on the host' };
JSON.parse = () => ({ id: 0, ok: true, value: 'forged', clock: 0 });
return await agent('real');
