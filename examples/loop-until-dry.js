// loop-until-dry.js — keep sending searchers after new findings until a whole
// round brings nothing new ("dry"), or until the round cap. Each round tells
// the searchers what is already known, and findings are deduplicated by key.
// The result says why the loop stopped: 'dry' or 'maxRounds' — never a
// silent cap.
//
// Pattern: loop-until-dry (Claude Code's Workflow tool and ODW).
//
// args:   {"target": string = "every place the code base reads an environment variable",
//          "searchers": number = 2,    // agents per round
//          "maxRounds": number = 4}
// agents: 4
//         = searchers × rounds. On echo every searcher reports the key "echo":
//         round 1 finds it, round 2 finds nothing new → dry after 2 rounds.
// result: {"target": string, "findings": [{"key": string, "detail": string, "round": number}],
//          "rounds": number, "stoppedBecause": "dry" | "maxRounds"}
//
//   odw run examples/loop-until-dry.js --wait --args '{"maxRounds": 6}'
export const meta = {
  name: 'loop-until-dry',
  description: 'Search in rounds until a round finds nothing new (or the round cap)',
  phases: [{ title: 'Search', detail: 'one phase per round' }, { title: 'Report' }],
};

const target = (args && args.target) || 'every place the code base reads an environment variable';
const searchers = (args && args.searchers) || 2;
const maxRounds = (args && args.maxRounds) || 4;

const FOUND = {
  type: 'object',
  required: ['findings'],
  properties: {
    findings: {
      type: 'array',
      items: {
        type: 'object',
        required: ['key', 'detail'],
        // key: a stable identifier (e.g. "src/config.rs:42") used to deduplicate.
        properties: { key: { type: 'string' }, detail: { type: 'string' } },
      },
    },
  },
};

const known = new Map(); // key → finding, in discovery order
let rounds = 0;
let stoppedBecause = 'maxRounds';

while (rounds < maxRounds) {
  rounds += 1;
  phase(`Search round ${rounds}`);
  const already = [...known.keys()];
  const answers = await parallel(
    Array.from({ length: searchers }, (_, s) => () =>
      agent(
        `Find ${target}. Searcher ${s + 1} of ${searchers}: take a different angle from the others. ` +
          (already.length
            ? `Already known (do not repeat): ${already.join(', ')}.`
            : 'Nothing is known yet.') +
          ' Report only new findings; an empty list is a fine answer.',
        { label: `search-r${rounds}-${s + 1}`, schema: FOUND },
      ),
    ),
  );
  let fresh = 0;
  // Merge in searcher order (input order), not finish order: deterministic.
  for (const a of answers) {
    for (const f of (a && a.findings) || []) {
      if (!known.has(f.key)) {
        known.set(f.key, { key: f.key, detail: f.detail, round: rounds });
        fresh += 1;
      }
    }
  }
  log(`round ${rounds}: ${fresh} new, ${known.size} known`);
  if (fresh === 0) {
    stoppedBecause = 'dry';
    break;
  }
}

phase('Report');
if (stoppedBecause === 'maxRounds') {
  log(`stopped at the round cap (${maxRounds}) while still finding new things; raise args.maxRounds`);
}
return { target, findings: [...known.values()], rounds, stoppedBecause };
