// perspective-diverse-verify.js — one author drafts an artifact; reviewers
// who each take a different perspective (persona via `agentType`) check it
// independently; a reconciler merges their concerns into one verdict.
// Diverse perspectives catch what several copies of the same reviewer miss.
//
// Pattern: perspective-diverse verify (Claude Code's Workflow tool).
//
// args:   {"task": string = "a migration plan from REST polling to webhooks",
//          "perspectives": string[] = ["security engineer", "on-call operator",
//                                      "API consumer", "maintainer"]}
// agents: 6
//         = 1 author + 1 per perspective (4) + 1 reconciler.
// result: {"task": string, "draft": string,
//          "reviews": [{"perspective": string, "ok": boolean, "concerns": string[]} | null],
//          "verdict": {"approved": boolean, "mustFix": string[]},
//          "missingReviews": number}
//
//   odw run examples/perspective-diverse-verify.js --wait
export const meta = {
  name: 'perspective-diverse-verify',
  description: 'Draft once, review from several distinct perspectives, reconcile',
  phases: [{ title: 'Draft' }, { title: 'Review' }, { title: 'Reconcile' }],
};

const task = (args && args.task) || 'a migration plan from REST polling to webhooks';
const perspectives = (args && args.perspectives) || [
  'security engineer',
  'on-call operator',
  'API consumer',
  'maintainer',
];

const REVIEW = {
  type: 'object',
  required: ['ok', 'concerns'],
  properties: {
    ok: { type: 'boolean' },
    concerns: { type: 'array', items: { type: 'string' } },
  },
};
const VERDICT = {
  type: 'object',
  required: ['approved', 'mustFix'],
  properties: {
    approved: { type: 'boolean' },
    mustFix: { type: 'array', items: { type: 'string' } },
  },
};

phase('Draft');
const draft = await agent(`Write ${task}. Be concrete: steps, owners, rollback.`, { label: 'author' });

phase('Review');
// Reviewers must not see each other's answers: parallel(), one barrier.
const reviews = await parallel(
  perspectives.map((p) => async () => {
    const r = await agent(
      `Review the draft below strictly from the point of view of a ${p}. ` +
        `List only concerns that matter from that point of view.\n\n${draft}`,
      { label: `review:${p}`, agentType: p, schema: REVIEW },
    );
    return { perspective: p, ok: r.ok, concerns: r.concerns };
  }),
);
const got = reviews.filter(Boolean);
// No silent caps: a reviewer that failed is counted and reported.
const missingReviews = reviews.length - got.length;
if (missingReviews > 0) log(`${missingReviews} review(s) failed and are missing`);

phase('Reconcile');
const verdict = await agent(
  `Reconcile these reviews of "${task}". Merge duplicate concerns, drop ones that ` +
    `contradict the draft's stated scope, and list what must be fixed before approval.\n\n` +
    got.map((r) => `## ${r.perspective} (${r.ok ? 'ok' : 'not ok'})\n- ${r.concerns.join('\n- ')}`).join('\n\n'),
  { label: 'reconciler', schema: VERDICT },
);

return { task, draft, reviews, verdict, missingReviews };
