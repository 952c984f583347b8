// expect: error must not start with '-'
export const meta = { name: 'hostile', description: 'an attack on the host' };
return await agent('x', { model: '--allowed-tools=run_shell_command' });
