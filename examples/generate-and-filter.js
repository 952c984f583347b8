// generate-and-filter.js — several generators brainstorm in parallel; the
// ideas are deduplicated, each survivor is checked against hard constraints
// by a cheap filter agent, and one ranker orders what passed. Generate wide,
// filter hard, rank once.
//
// Pattern: generate-and-filter (ODW).
//
// args:   {"goal": string = "names for a CLI that runs sandboxed agent workflows",
//          "generators": number = 3,
//          "perGenerator": number = 2,
//          "constraints": string = "one word, pronounceable, no existing well-known tool of that name"}
// agents: 5
//         = generators (3) + 1 filter per unique idea + 1 ranker (only if any passed).
//         echo's ideas are all "echo": 6 ideas → 1 unique → 3 + 1 + 1.
// result: {"goal": string, "generated": number, "duplicates": number,
//          "kept": [{"idea": string, "reason": string}],
//          "rejected": [{"idea": string, "reason": string}],
//          "ranking": string[]}
//
//   odw run examples/generate-and-filter.js --wait --adapter claude --args '{"generators": 5}'
export const meta = {
  name: 'generate-and-filter',
  description: 'Brainstorm in parallel, deduplicate, filter each idea against constraints, rank',
  phases: [{ title: 'Generate' }, { title: 'Filter' }, { title: 'Rank' }],
};

const goal = (args && args.goal) || 'names for a CLI that runs sandboxed agent workflows';
const generators = (args && args.generators) || 3;
const perGenerator = (args && args.perGenerator) || 2;
const constraints =
  (args && args.constraints) || 'one word, pronounceable, no existing well-known tool of that name';

phase('Generate');
const batches = await parallel(
  Array.from({ length: generators }, (_, g) => () =>
    agent(`Propose exactly ${perGenerator} ${goal}. Generator ${g + 1} of ${generators}: be different.`, {
      label: `generator-${g + 1}`,
      schema: {
        type: 'object',
        required: ['ideas'],
        properties: {
          ideas: { type: 'array', minItems: perGenerator, maxItems: perGenerator, items: { type: 'string' } },
        },
      },
    }),
  ),
);
const all = batches.filter(Boolean).flatMap((b) => b.ideas);
// Deduplicate case- and space-insensitively, keeping the first spelling.
const seen = new Map();
for (const idea of all) {
  const key = idea.trim().toLowerCase();
  if (!seen.has(key)) seen.set(key, idea.trim());
}
const unique = [...seen.values()];
log(`${all.length} ideas, ${all.length - unique.length} duplicates, ${unique.length} to filter`);

phase('Filter');
const checks = await parallel(
  unique.map((idea, i) => () =>
    agent(`Does "${idea}" satisfy ALL of these constraints: ${constraints}? Answer keep or not, with a reason.`, {
      label: `filter-${i + 1}`,
      schema: {
        type: 'object',
        required: ['keep', 'reason'],
        properties: { keep: { type: 'boolean' }, reason: { type: 'string' } },
      },
    }),
  ),
);
const kept = [];
const rejected = [];
unique.forEach((idea, i) => {
  const c = checks[i];
  // A failed check rejects the idea (and says so): unchecked is not kept.
  if (c && c.keep) kept.push({ idea, reason: c.reason });
  else rejected.push({ idea, reason: c ? c.reason : 'filter agent failed' });
});

phase('Rank');
let ranking = [];
if (kept.length > 0) {
  const r = await agent(`Rank these ${goal}, best first:\n${kept.map((k) => `- ${k.idea}`).join('\n')}`, {
    label: 'ranker',
    schema: {
      type: 'object',
      required: ['ranking'],
      properties: { ranking: { type: 'array', items: { type: 'string' } } },
    },
  });
  ranking = r.ranking;
} else {
  log('nothing passed the filter; no ranking');
}

return { goal, generated: all.length, duplicates: all.length - unique.length, kept, rejected, ranking };
