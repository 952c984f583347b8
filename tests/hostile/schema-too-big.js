// expect: error the limit is
export const meta = { name: 'hostile', description: 'an attack on the host' };
return await agent('x', { schema: { enum: Array.from({ length: 5000 }, (_, i) => 'value number ' + i + ' '.repeat(50)) } });
