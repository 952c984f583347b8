// completeness-critic.js — turn a request into an explicit checklist, let a
// worker answer it, then let a critic check the answer against every item.
// While the critic finds items missing, the worker revises — up to
// args.maxRounds revisions; the result reports whether the cap was hit.
//
// Pattern: completeness critic (Claude Code's Workflow tool).
//
// args:   {"request": string = "document every CLI flag of `odw run` with an example each",
//          "maxRounds": number = 3}
// agents: 3
//         = 1 checklist + (1 worker + 1 critic) per round. echo's critic says
//         complete: true in round 1 → 1 + 2.
// result: {"request": string, "checklist": string[], "answer": string,
//          "complete": boolean, "missing": string[], "rounds": number,
//          "capped": boolean}
//
//   odw run examples/completeness-critic.js --wait --adapter claude
export const meta = {
  name: 'completeness-critic',
  description: 'Answer, then have a critic check every requirement; revise until complete (capped)',
  phases: [{ title: 'Checklist' }, { title: 'Answer and critique', detail: 'one phase per round' }],
};

const request = (args && args.request) || 'document every CLI flag of `odw run` with an example each';
const maxRounds = (args && args.maxRounds) || 3;

phase('Checklist');
const { checklist } = await agent(
  `Turn this request into a checklist of independent, verifiable requirements:\n${request}`,
  {
    label: 'checklist',
    schema: {
      type: 'object',
      required: ['checklist'],
      properties: { checklist: { type: 'array', minItems: 1, items: { type: 'string' } } },
    },
  },
);

const CRITIQUE = {
  type: 'object',
  required: ['complete', 'missing'],
  properties: {
    complete: { type: 'boolean' },
    // Items of the checklist the answer does not fully satisfy.
    missing: { type: 'array', items: { type: 'string' } },
  },
};

let answer = '';
let critique = { complete: false, missing: checklist };
let rounds = 0;
while (rounds < maxRounds) {
  rounds += 1;
  phase(`Round ${rounds}`);
  answer = await agent(
    rounds === 1
      ? `${request}\n\nCover every item:\n- ${checklist.join('\n- ')}`
      : `Revise your answer so that it also covers:\n- ${critique.missing.join('\n- ')}\n\nYour answer so far:\n${answer}`,
    { label: `worker-r${rounds}` },
  );
  critique = await agent(
    `Check the answer against EVERY checklist item. An item is missing unless it is fully ` +
      `covered.\n\nChecklist:\n- ${checklist.join('\n- ')}\n\nAnswer:\n${answer}`,
    { label: `critic-r${rounds}`, schema: CRITIQUE },
  );
  log(`round ${rounds}: ${critique.complete ? 'complete' : `${critique.missing.length} missing`}`);
  if (critique.complete) break;
}

const capped = !critique.complete;
if (capped) log(`still incomplete after ${maxRounds} round(s): reporting what is missing`);
return {
  request,
  checklist,
  answer,
  complete: critique.complete,
  missing: critique.complete ? [] : critique.missing,
  rounds,
  capped,
};
