// fan-out-reduce.js — map one agent over every item in parallel, then reduce
// the results in a tree: batches of `batch` summaries are merged by one agent
// each, and a final agent merges the batch summaries. A tree keeps every
// reducer's input small, however many items there are.
//
// Pattern: fan-out-reduce (ODW).
//
// args:   {"items": string[] = 6 modules (see DEFAULT_ITEMS),
//          "batch": number = 3}
// agents: 9
//         = items (6) + ceil(items / batch) batch reducers (2) + 1 final reducer.
// result: {"items": string[],
//          "mapped": [{"item": string, "risk": "low"|"medium"|"high", "notes": string} | null],
//          "batches": [{"items": string[], "summary": string}],
//          "final": {"headline": string, "highRisk": string[]}}
//
//   odw run examples/fan-out-reduce.js --wait --args '{"items": ["a.rs", "b.rs"], "batch": 5}'
export const meta = {
  name: 'fan-out-reduce',
  description: 'Assess every item in parallel, then reduce the assessments in a tree',
  phases: [{ title: 'Map' }, { title: 'Reduce batches' }, { title: 'Reduce' }],
};

const DEFAULT_ITEMS = ['auth', 'billing', 'search', 'notifications', 'export', 'admin'];
const items = (args && args.items) || DEFAULT_ITEMS;
const batch = (args && args.batch) || 3;

const RISK = {
  type: 'object',
  required: ['risk', 'notes'],
  properties: { risk: { enum: ['low', 'medium', 'high'] }, notes: { type: 'string' } },
};

phase('Map');
const mapped = await parallel(
  items.map((item) => async () => {
    const r = await agent(`Assess the upgrade risk of the ${item} module. Rate it and explain briefly.`, {
      label: `map:${item}`,
      schema: RISK,
    });
    return { item, risk: r.risk, notes: r.notes };
  }),
);
const failed = items.filter((_, i) => mapped[i] === null);
if (failed.length) log(`${failed.length} item(s) could not be assessed: ${failed.join(', ')}`);

phase('Reduce batches');
const groups = [];
for (let i = 0; i < mapped.length; i += batch) groups.push(mapped.slice(i, i + batch).filter(Boolean));
const batches = await parallel(
  groups.map((g, b) => async () => ({
    items: g.map((m) => m.item),
    summary: await agent(
      `Summarise these risk assessments in two sentences:\n` +
        g.map((m) => `- ${m.item} [${m.risk}]: ${m.notes}`).join('\n'),
      { label: `reduce-${b + 1}` },
    ),
  })),
);

phase('Reduce');
const final = await agent(
  `Merge these batch summaries into a one-line headline and the list of high-risk modules.` +
    (failed.length ? ` These were NOT assessed: ${failed.join(', ')}.` : '') +
    `\n\n${batches.filter(Boolean).map((b) => b.summary).join('\n\n')}`,
  {
    label: 'reduce-final',
    schema: {
      type: 'object',
      required: ['headline', 'highRisk'],
      properties: { headline: { type: 'string' }, highRisk: { type: 'array', items: { type: 'string' } } },
    },
  },
);

return { items, mapped, batches, final };
