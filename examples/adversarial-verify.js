// adversarial-verify.js — a finder reports problems in a target; each finding
// is then attacked by independent skeptics who try to refute it. Only
// findings a majority of skeptics could not refute are reported as confirmed;
// the refuted ones are reported too (never dropped silently).
//
// Pattern: adversarial verify (Claude Code's Workflow tool and ODW).
//
// args:   {"target": string = "the function parseConfig in src/config.rs",
//          "skeptics": number = 2,        // skeptics per finding
//          "maxFindings": number = 5}     // the finder reports at most this many
// agents: 3
//         = 1 finder + skeptics × findings. echo reports 1 finding → 1 + 2 × 1.
// result: {"target": string,
//          "confirmed": [{"title", "evidence", "refutedBy": number, "votes": number}],
//          "refuted":   [{"title", "evidence", "refutedBy": number, "votes": number}],
//          "findingsCap": {"max": number, "reached": boolean}}
//
//   odw run examples/adversarial-verify.js --wait
//   odw run examples/adversarial-verify.js --wait --adapter claude \
//     --args '{"target": "src/main.rs", "skeptics": 3}'
export const meta = {
  name: 'adversarial-verify',
  description: 'Find problems, then let independent skeptics try to refute each one',
  phases: [{ title: 'Find' }, { title: 'Refute', detail: 'skeptics × findings, in parallel' }],
};

const target = (args && args.target) || 'the function parseConfig in src/config.rs';
const skeptics = (args && args.skeptics) || 2;
const maxFindings = (args && args.maxFindings) || 5;

// Hand-off 1: the finder's findings, as data.
const FINDINGS = {
  type: 'object',
  required: ['findings'],
  properties: {
    findings: {
      type: 'array',
      maxItems: maxFindings,
      items: {
        type: 'object',
        required: ['title', 'evidence'],
        properties: { title: { type: 'string' }, evidence: { type: 'string' } },
      },
    },
  },
};

// Hand-off 2: one skeptic's verdict. The enum lists the neutral outcome
// first; a skeptic must argue its way to 'refuted'.
const VERDICT = {
  type: 'object',
  required: ['verdict', 'reason'],
  properties: {
    verdict: { enum: ['stands', 'refuted'] },
    reason: { type: 'string' },
  },
};

phase('Find');
const { findings } = await agent(
  `List concrete problems in ${target}. For each, give a short title and the evidence ` +
    `(file, line, the input that triggers it). Report at most ${maxFindings}; if there are ` +
    `more, report the most severe.`,
  { label: 'finder', schema: FINDINGS },
);
log(`${findings.length} finding(s) to attack with ${skeptics} skeptic(s) each`);

phase('Refute');
// Every (finding, skeptic) pair is independent: one flat parallel() starts
// them all at once. A skeptic that fails yields null and counts as no vote.
const jobs = findings.flatMap((f, i) =>
  Array.from({ length: skeptics }, (_, s) => () =>
    agent(
      `You are a skeptic. Try hard to REFUTE this finding about ${target}. ` +
        `Only answer 'stands' if you cannot refute it.\n\nFinding: ${f.title}\nEvidence: ${f.evidence}`,
      { label: `skeptic-${i + 1}.${s + 1}`, schema: VERDICT },
    ),
  ),
);
const verdicts = await parallel(jobs);

const judged = findings.map((f, i) => {
  const mine = verdicts.slice(i * skeptics, (i + 1) * skeptics).filter(Boolean);
  const refutedBy = mine.filter((v) => v.verdict === 'refuted').length;
  return { title: f.title, evidence: f.evidence, refutedBy, votes: mine.length };
});
// A finding is confirmed when it got votes and fewer than half refuted it.
const confirmed = judged.filter((f) => f.votes > 0 && f.refutedBy * 2 < f.votes);
const refuted = judged.filter((f) => !confirmed.includes(f));
log(`${confirmed.length} confirmed, ${refuted.length} refuted or unverified`);

return {
  target,
  confirmed,
  refuted,
  // No silent caps: say whether the finder hit its limit.
  findingsCap: { max: maxFindings, reached: findings.length >= maxFindings },
};
