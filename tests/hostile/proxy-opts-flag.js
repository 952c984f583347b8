// expect: error must not start with '-'
export const meta = { name: 'hostile', description: 'an attack on the host' };
const opts = new Proxy({}, { ownKeys: () => ['model'], getOwnPropertyDescriptor: () => ({ value: '--yolo', enumerable: true, configurable: true }), get: () => '--yolo' });
return await agent('x', opts);
