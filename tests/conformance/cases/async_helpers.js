export const meta = { name: 'async-helpers', description: 'conformance case async_helpers' }
async function ask(t) { return (await agent('TASK helper ' + t)).split(':')[1] }
return [await ask('a'), await ask('b')]
