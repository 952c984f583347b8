// judge-panel.js — several candidates are written independently; each is
// scored by a panel of judges against the same rubric; the mean score ranks
// them. Ties break by candidate index, so the winner never depends on which
// agent finished first.
//
// Pattern: judge panel (Claude Code's Workflow tool).
//
// args:   {"task": string = "a one-paragraph README intro for a CLI that syncs dotfiles",
//          "candidates": number = 3,
//          "judges": number = 3}
// agents: 12
//         = candidates × (1 writer + judges) = 3 × (1 + 3).
// result: {"task": string,
//          "winner": {"index": number, "text": string, "mean": number},
//          "ranking": [{"index": number, "mean": number, "scores": number[]}]}
//
//   odw run examples/judge-panel.js --wait --args '{"candidates": 4, "judges": 5}'
export const meta = {
  name: 'judge-panel',
  description: 'Write several candidates, score each with a panel of judges, rank by mean',
  phases: [{ title: 'Write and judge', detail: 'a pipeline: each candidate is judged as soon as it is written' }],
};

const task = (args && args.task) || 'a one-paragraph README intro for a CLI that syncs dotfiles';
const candidates = (args && args.candidates) || 3;
const judges = (args && args.judges) || 3;

const RUBRIC = `Score 1-10: accuracy (nothing claimed that the tool does not do), clarity ` +
  `for a first-time reader, brevity. Penalise marketing language.`;
const SCORE = {
  type: 'object',
  required: ['score', 'rationale'],
  properties: {
    score: { type: 'integer', minimum: 1, maximum: 10 },
    rationale: { type: 'string' },
  },
};

phase('Write and judge');
// pipeline(): candidate 2 can be judged while candidate 3 is still being
// written — no barrier between writing and judging.
const judged = await pipeline(
  Array.from({ length: candidates }, (_, i) => i),
  (i) => agent(`Write ${task}. Take approach #${i + 1} of ${candidates}: make it distinct.`, {
    label: `writer-${i + 1}`,
  }),
  async (text, i) => {
    const verdicts = await parallel(
      Array.from({ length: judges }, (_, j) => () =>
        agent(`${RUBRIC}\n\nTask: ${task}\n\nCandidate:\n${text}`, {
          label: `judge-${i + 1}.${j + 1}`,
          schema: SCORE,
        }),
      ),
    );
    const scores = verdicts.filter(Boolean).map((v) => v.score);
    const mean = scores.length ? scores.reduce((a, b) => a + b, 0) / scores.length : 0;
    return { index: i, text, mean, scores };
  },
);

// A candidate whose writer failed is null: it cannot win, and is reported.
const ranked = judged.filter(Boolean).sort((a, b) => b.mean - a.mean || a.index - b.index);
if (ranked.length < candidates) log(`${candidates - ranked.length} candidate(s) failed`);
const best = ranked[0];

return {
  task,
  winner: best ? { index: best.index, text: best.text, mean: best.mean } : null,
  ranking: ranked.map(({ index, mean, scores }) => ({ index, mean, scores })),
};
