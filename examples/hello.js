// hello.js — the smallest useful workflow: two agents in parallel, then one
// that combines their answers.
//
// args:   {"name": "world"} (optional)
// agents: 3 (2 in parallel, then 1)
// result: {"greetings": [string, string], "summary": string}
//
//   odw run examples/hello.js --wait                       # built-in echo adapter
//   odw run examples/hello.js --wait --adapter claude      # a real agent
export const meta = {
  name: 'hello',
  description: 'Greets someone twice in parallel, then summarises the greetings',
  phases: [{ title: 'Greet' }, { title: 'Summarise' }],
};

const name = (args && args.name) || 'world';

phase('Greet');
const greetings = await parallel([
  () => agent(`Write a one-line greeting for ${name}.`, { label: 'greeter-1' }),
  () => agent(`Write a one-line greeting for ${name}, in French.`, { label: 'greeter-2' }),
]);
log(`got ${greetings.filter(Boolean).length} greetings`);

phase('Summarise');
const summary = await agent(`Summarise these greetings in one line:\n${greetings.join('\n')}`, {
  label: 'summariser',
});

return { greetings, summary };
