// tournament.js — candidates play a single-elimination bracket. Every match
// is judged twice with the candidates' order swapped, which cancels a judge's
// bias for the first (or second) position; a split decision goes to the lower
// seed. Byes (odd rounds) are reported in the bracket.
//
// Pattern: tournament (ODW).
//
// args:   {"task": string = "a commit message for: 'retry failed agent calls with backoff'",
//          "candidates": number = 4}
// agents: 10
//         = candidates (4) + 2 judges per match × (candidates − 1) matches (3 × 2).
// result: {"task": string,
//          "champion": {"seed": number, "text": string},
//          "bracket": [[{"a": number, "b": number | null, "winner": number, "split": boolean}]]}
//
//   odw run examples/tournament.js --wait --args '{"candidates": 8}'
export const meta = {
  name: 'tournament',
  description: 'Single-elimination bracket with order-swapped double judging per match',
  phases: [{ title: 'Candidates' }, { title: 'Bracket', detail: 'one phase per round' }],
};

const task = (args && args.task) || "a commit message for: 'retry failed agent calls with backoff'";
const candidates = (args && args.candidates) || 4;

phase('Candidates');
const texts = await parallel(
  Array.from({ length: candidates }, (_, i) => () =>
    agent(`Write ${task}. Variant ${i + 1} of ${candidates}; make it distinct.`, { label: `seed-${i + 1}` }),
  ),
);
// Seeds whose writer failed do not enter the bracket; they are logged.
let alive = texts.map((t, seed) => ({ seed, text: t })).filter((c) => c.text !== null);
if (alive.length < candidates) log(`${candidates - alive.length} candidate(s) failed to generate`);

const PICK = {
  type: 'object',
  required: ['winner', 'reason'],
  properties: { winner: { enum: ['A', 'B'] }, reason: { type: 'string' } },
};
const judge = (first, second, label) =>
  agent(`Which is better for this task: ${task}\n\nA:\n${first.text}\n\nB:\n${second.text}`, {
    label,
    schema: PICK,
  });

const bracket = [];
let round = 0;
while (alive.length > 1) {
  round += 1;
  phase(`Round ${round}`);
  const pairs = [];
  for (let i = 0; i < alive.length; i += 2) pairs.push([alive[i], alive[i + 1] || null]);
  const results = await parallel(
    pairs.map(([a, b], m) => async () => {
      if (!b) return { a: a.seed, b: null, winner: a.seed, split: false }; // bye
      const [ab, ba] = await parallel([
        () => judge(a, b, `r${round}m${m + 1}-ab`),
        () => judge(b, a, `r${round}m${m + 1}-ba`),
      ]);
      // Votes for a: 'A' in the a-first order, 'B' in the swapped order.
      const forA = (ab && ab.winner === 'A' ? 1 : 0) + (ba && ba.winner === 'B' ? 1 : 0);
      const forB = (ab && ab.winner === 'B' ? 1 : 0) + (ba && ba.winner === 'A' ? 1 : 0);
      const split = forA === forB;
      const winner = forA > forB ? a.seed : forB > forA ? b.seed : Math.min(a.seed, b.seed);
      return { a: a.seed, b: b.seed, winner, split };
    }),
  );
  bracket.push(results);
  const bySeed = new Map(alive.map((c) => [c.seed, c]));
  alive = results.map((r) => bySeed.get(r.winner));
  log(`round ${round}: ${results.filter((r) => r.split).length} split decision(s)`);
}

const champion = alive[0] ? { seed: alive[0].seed, text: alive[0].text } : null;
return { task, champion, bracket };
