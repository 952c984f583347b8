// daily-digest.js — gather the day's news from several sources in parallel,
// rank each item's importance, and write one digest dated today. The date
// comes from `new Date()`, which odw records: a replay or resume of this run
// gets the same date, so the digest reproduces byte for byte.
//
// Pattern: daily digest (ODW).
//
// args:   {"sources": string[] = ["merged pull requests", "new issues", "CI failures"],
//          "repo": string = "the current repository",
//          "maxPerSource": number = 10}
// agents: 4
//         = 1 gatherer per source (3) + 1 editor.
// result: {"date": "YYYY-MM-DD", "repo": string,
//          "sections": [{"source": string, "items": [{"title": string,
//                        "importance": "high"|"medium"|"low"}] | null, "capped": boolean}],
//          "digest": string}
//
//   odw run examples/daily-digest.js --wait --adapter claude --args '{"repo": "odw"}'
export const meta = {
  name: 'daily-digest',
  description: "Gather the day's events from several sources and write one ranked digest",
  phases: [{ title: 'Gather' }, { title: 'Edit' }],
};

const sources = (args && args.sources) || ['merged pull requests', 'new issues', 'CI failures'];
const repo = (args && args.repo) || 'the current repository';
const maxPerSource = (args && args.maxPerSource) || 10;
const date = new Date().toISOString().slice(0, 10);

const ITEMS = {
  type: 'object',
  required: ['items'],
  properties: {
    items: {
      type: 'array',
      maxItems: maxPerSource,
      items: {
        type: 'object',
        required: ['title', 'importance'],
        properties: { title: { type: 'string' }, importance: { enum: ['high', 'medium', 'low'] } },
      },
    },
  },
};

phase('Gather');
const gathered = await parallel(
  sources.map((source) => () =>
    agent(
      `List today's (${date}) ${source} in ${repo}, at most ${maxPerSource}, most important first. ` +
        `Rate each item's importance for the team.`,
      { label: `gather:${source}`, schema: ITEMS },
    ),
  ),
);
const sections = sources.map((source, i) => ({
  source,
  items: gathered[i] ? gathered[i].items : null,
  // No silent caps: a full list may mean there was more.
  capped: gathered[i] ? gathered[i].items.length >= maxPerSource : false,
}));
for (const s of sections) {
  if (s.items === null) log(`source failed: ${s.source}`);
  else if (s.capped) log(`${s.source}: showing the first ${maxPerSource}; there may be more`);
}

phase('Edit');
const rank = { high: 0, medium: 1, low: 2 };
const lines = sections
  .flatMap((s) => (s.items || []).map((it) => ({ ...it, source: s.source })))
  .sort((a, b) => rank[a.importance] - rank[b.importance]);
const digest = await agent(
  `Write the ${date} digest for ${repo}: high-importance items first, one line each, then a ` +
    `one-paragraph outlook.` +
    (sections.some((s) => s.items === null)
      ? ` Say that these sources could not be read: ${sections.filter((s) => s.items === null).map((s) => s.source).join(', ')}.`
      : '') +
    `\n\n${lines.map((l) => `- [${l.importance}] (${l.source}) ${l.title}`).join('\n')}`,
  { label: 'editor' },
);

return { date, repo, sections, digest };
