// expect: any
export const meta = { name: 'hostile', description: 'an attack on the host' };
return Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000);
