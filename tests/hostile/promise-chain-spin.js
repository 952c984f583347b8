// expect: error LimitError
export const meta = { name: 'hostile', description: 'an attack on the host' };
const spin = () => Promise.resolve().then(spin); spin(); await new Promise(() => {});
