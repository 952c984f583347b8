// implement-review-duel.js — one CLI implements, another reviews, in rounds:
// the reviewer either approves or returns blocking comments, which the
// implementer addresses in the next round. Two different CLIs (e.g. claude
// implements, codex reviews) catch each other's blind spots. The loop is
// capped by args.maxRounds and the result says whether it was approved or
// capped.
//
// Pattern: a two-CLI implement/review duel (ODW).
//
// args:   {"task": string = "add a --json flag to `odw status`",
//          "implementer": string?  // adapter name; default: the run's adapter
//          "reviewer": string?     // adapter name; default: the run's adapter
//          "maxRounds": number = 3}
// agents: 2
//         = 2 per round (implement + review). echo's reviewer approves in round 1.
// result: {"task": string, "approved": boolean, "rounds": number, "capped": boolean,
//          "history": [{"round": number, "summary": string, "approve": boolean,
//                       "blocking": string[]}],
//          "final": string}
//
//   odw run examples/implement-review-duel.js --wait \
//     --args '{"implementer": "claude", "reviewer": "codex"}'
export const meta = {
  name: 'implement-review-duel',
  description: 'One CLI implements, another reviews, until approved or the round cap',
  phases: [{ title: 'Duel', detail: 'implement → review, one phase per round' }],
};

const task = (args && args.task) || 'add a --json flag to `odw status`';
const maxRounds = (args && args.maxRounds) || 3;
// `adapter` is only set when given: without it, each call uses the run's
// adapter (--adapter or the config's defaultAdapter), so this runs on echo.
const implementerOpts = args && args.implementer ? { adapter: args.implementer } : {};
const reviewerOpts = args && args.reviewer ? { adapter: args.reviewer } : {};

const WORK = {
  type: 'object',
  required: ['summary', 'filesChanged'],
  properties: { summary: { type: 'string' }, filesChanged: { type: 'array', items: { type: 'string' } } },
};
const REVIEW = {
  type: 'object',
  required: ['approve', 'blocking'],
  properties: {
    approve: { type: 'boolean' },
    // Only issues that must be fixed before merging; nits go elsewhere.
    blocking: { type: 'array', items: { type: 'string' } },
  },
};

const history = [];
let approved = false;
let last = null;
let rounds = 0;
while (rounds < maxRounds && !approved) {
  rounds += 1;
  phase(`Round ${rounds}`);
  const feedback = last && last.blocking.length ? `\n\nAddress these review comments:\n- ${last.blocking.join('\n- ')}` : '';
  const work = await agent(`Implement: ${task}. Summarise what you changed.${feedback}`, {
    label: `implement-r${rounds}`,
    schema: WORK,
    ...implementerOpts,
  });
  last = await agent(
    `Review this change for "${task}". Approve only if nothing blocks merging.\n\n` +
      `Summary: ${work.summary}\nFiles: ${work.filesChanged.join(', ')}`,
    { label: `review-r${rounds}`, schema: REVIEW, ...reviewerOpts },
  );
  approved = last.approve;
  history.push({ round: rounds, summary: work.summary, approve: last.approve, blocking: last.blocking });
  log(`round ${rounds}: ${approved ? 'approved' : `${last.blocking.length} blocking comment(s)`}`);
}

const capped = !approved;
if (capped) log(`not approved after ${maxRounds} round(s); raise args.maxRounds or take over`);
return {
  task,
  approved,
  rounds,
  capped,
  history,
  final: approved ? 'approved' : `unresolved: ${last ? last.blocking.join('; ') : 'no review'}`,
};
