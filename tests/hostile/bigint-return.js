// expect: error not JSON-serialisable
export const meta = { name: 'hostile', description: 'an attack on the host' };
return 10n;
