// expect: error maxPromptMb
export const meta = { name: 'hostile', description: 'an attack on the host' };
return (await agent('x'.repeat(20e6))).length;
