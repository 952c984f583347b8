// flags: --budget 50
// expect: error BudgetError
export const meta = { name: 'hostile', description: 'an attack on the host' };
JSON.parse = (t) => ({ ...JSON, id: Number(t.match(/"id":(\d+)/)[1]), ok: true, value: '', usage: { input: 0, output: 0 } });
for (let i = 0; i < 40; i++) await agent('spend some tokens on this call please ' + i);
return 'ran past the budget';
