// expect: ok "x"
export const meta = { name: 'hostile', description: 'an attack on the host' };
Object.prototype.adapter = 'claude';
Object.prototype.model = '--yolo';
const out = await agent('x');
delete Object.prototype.adapter; delete Object.prototype.model;
return out;
