// expect: ok [1,null]
export const meta = { name: 'hostile', description: 'an attack on the host' };
return await parallel([() => 1, () => { throw new Error('x'); }]);
