// no-silent-caps.js — process a list of work items under two explicit limits
// (an item cap and, with --budget, a token reserve) and report every item that
// was NOT processed and why. A workflow that quietly handles "the first N"
// looks complete when it is not; this one makes the cut visible in its result.
//
// Pattern: no silent caps (Claude Code's Workflow tool).
//
// args:   {"items": string[] = 8 source files (see DEFAULT_ITEMS),
//          "maxItems": number = 5,          // process at most this many
//          "reservePerItem": number = 2000} // tokens to keep per further item (with --budget)
// agents: 6
//         = min(items, maxItems) reviews (5) + 1 summary.
// result: {"processed": [{"item": string, "verdict": "clean"|"issues", "note": string}],
//          "skipped": [{"item": string, "reason": "maxItems"|"budget"}],
//          "limits": {"maxItems": number, "budgetTotal": number|null},
//          "summary": string}
//
//   odw run examples/no-silent-caps.js --wait --budget 5000
export const meta = {
  name: 'no-silent-caps',
  description: 'Review items under explicit caps and report every skipped item with its reason',
  phases: [{ title: 'Review' }, { title: 'Summarise' }],
};

const DEFAULT_ITEMS = [
  'src/main.rs', 'src/cli.rs', 'src/config.rs', 'src/run.rs',
  'src/journal.rs', 'src/adapters.rs', 'src/schema.rs', 'src/progress.rs',
];
const items = (args && args.items) || DEFAULT_ITEMS;
const maxItems = (args && args.maxItems) || 5;
const reservePerItem = (args && args.reservePerItem) || 2000;

const skipped = [];
const chosen = items.slice(0, maxItems);
for (const item of items.slice(maxItems)) skipped.push({ item, reason: 'maxItems' });
if (skipped.length) log(`cap: reviewing ${chosen.length} of ${items.length} items (args.maxItems = ${maxItems})`);

const REVIEW = {
  type: 'object',
  required: ['verdict', 'note'],
  properties: { verdict: { enum: ['clean', 'issues'] }, note: { type: 'string' } },
};

phase('Review');
// pipeline() with a budget check per item: an item whose turn comes when the
// budget is nearly spent is skipped *and reported*, instead of failing the
// run with a budget error halfway.
const reviewed = await pipeline(chosen, async (item) => {
  if (budget.remaining() < reservePerItem) {
    skipped.push({ item, reason: 'budget' });
    return null;
  }
  const r = await agent(`Review ${item} for correctness problems. Answer 'clean' or 'issues' with a note.`, {
    label: `review:${item}`,
    schema: REVIEW,
  });
  return { item, verdict: r.verdict, note: r.note };
});
const processed = reviewed.filter(Boolean);

phase('Summarise');
const summary = await agent(
  `Summarise these reviews in three lines. State plainly that ${skipped.length} item(s) ` +
    `were NOT reviewed: ${skipped.map((s) => `${s.item} (${s.reason})`).join(', ') || 'none'}.\n\n` +
    processed.map((p) => `${p.item}: ${p.verdict} — ${p.note}`).join('\n'),
  { label: 'summary' },
);

// Order skipped items as they appear in the input, whatever the reason.
skipped.sort((a, b) => items.indexOf(a.item) - items.indexOf(b.item));
return { processed, skipped, limits: { maxItems, budgetTotal: budget.total }, summary };
