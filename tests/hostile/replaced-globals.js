// expect: ok "x"
export const meta = { name: 'hostile', description: 'an attack on the host' };
Object.defineProperty(globalThis, 'JSON', { value: { parse() { return {}; }, stringify() { return '{}'; } } });
String = () => 'forged'; Number = () => 0;
return await agent('x');
