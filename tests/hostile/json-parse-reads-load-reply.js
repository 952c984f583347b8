// expect: ok null
export const meta = { name: 'hostile', description: 'an attack on the host' };
let leak = null;
const parse = JSON.parse;
JSON.parse = (t) => { if (String(t).includes('metaSource')) leak = t; return parse(t); };
try { await workflow({ scriptPath: 'child.js' }); } catch (_) {}
return leak;
