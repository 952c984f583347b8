// expect: any
export const meta = { name: 'hostile', description: 'an attack on the host' };
Promise.prototype.then = function () { return this; };
return await agent('x');
