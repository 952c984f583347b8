// flags: --budget 1
// expect: error BudgetError
export const meta = { name: 'hostile', description: 'an attack on the host' };
try { await agent('spend'); await agent('more'); } catch (e) {}
return 'caught it';
