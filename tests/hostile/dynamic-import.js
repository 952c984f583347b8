// expect: error dynamic `import()` is not allowed
export const meta = { name: 'hostile', description: 'an attack on the host' };
return await import('fs');
