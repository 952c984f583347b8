// deep-research.js — plan a research question into sub-questions, research
// each, fact-check every claim the researchers make, and write a report from
// the supported claims only. Unsupported and uncertain claims are listed, not
// hidden.
//
// Pattern: deep research with fact-check (ODW).
//
// args:   {"question": string = "How do Temporal and Restate make workflow code replayable?",
//          "breadth": number = 3,         // sub-questions
//          "maxClaims": number = 4,       // claims per sub-question
//          "reservePerQuestion": number = 20000}  // with --budget: fewer sub-questions if short
// agents: 8
//         = 1 planner + per sub-question (1 researcher + 1 checker per claim) + 1 writer.
//         echo gives 3 sub-questions with 1 claim each → 1 + 3 × (1 + 1) + 1.
// result: {"question": string, "subQuestions": string[], "droppedForBudget": number,
//          "claims": [{"subQuestion": string, "claim": string, "source": string,
//                      "verdict": "supported"|"unsupported"|"uncertain"}],
//          "report": string}
//
//   odw run examples/deep-research.js --wait --adapter claude --budget 400000 \
//     --args '{"question": "What limits SQLite write throughput?"}'
export const meta = {
  name: 'deep-research',
  description: 'Plan, research sub-questions, fact-check every claim, report from supported claims',
  phases: [
    { title: 'Plan' },
    { title: 'Research', detail: 'research → fact-check, per sub-question (pipeline)' },
    { title: 'Write' },
  ],
};

const question = (args && args.question) || 'How do Temporal and Restate make workflow code replayable?';
const breadth = (args && args.breadth) || 3;
const maxClaims = (args && args.maxClaims) || 4;
const reservePerQuestion = (args && args.reservePerQuestion) || 20000;

phase('Plan');
const plan = await agent(
  `Split this research question into exactly ${breadth} sub-questions that together answer it ` +
    `and overlap as little as possible:\n${question}`,
  {
    label: 'planner',
    schema: {
      type: 'object',
      required: ['subQuestions'],
      properties: {
        subQuestions: { type: 'array', minItems: breadth, maxItems: breadth, items: { type: 'string' } },
      },
    },
  },
);

// Budget awareness: with --budget, research only as many sub-questions as the
// remaining budget allows — and say so in the result.
let subQuestions = plan.subQuestions;
const affordable = Math.floor(budget.remaining() / reservePerQuestion);
const droppedForBudget = Math.max(0, subQuestions.length - Math.max(1, affordable));
if (droppedForBudget > 0) {
  subQuestions = subQuestions.slice(0, subQuestions.length - droppedForBudget);
  log(`budget: researching ${subQuestions.length} of ${plan.subQuestions.length} sub-questions`);
}

const RESEARCH = {
  type: 'object',
  required: ['answer', 'claims'],
  properties: {
    answer: { type: 'string' },
    claims: {
      type: 'array',
      maxItems: maxClaims,
      items: {
        type: 'object',
        required: ['claim', 'source'],
        properties: { claim: { type: 'string' }, source: { type: 'string' } },
      },
    },
  },
};
const CHECK = {
  type: 'object',
  required: ['verdict'],
  properties: { verdict: { enum: ['supported', 'unsupported', 'uncertain'] }, note: { type: 'string' } },
};

phase('Research');
// pipeline(): a sub-question's claims are checked as soon as its research is
// done, while other sub-questions are still being researched.
const researched = await pipeline(
  subQuestions,
  (sq, _item, i) =>
    agent(`Research: ${sq}\nGive a short answer and at most ${maxClaims} factual claims, each with a source.`, {
      label: `research-${i + 1}`,
      schema: RESEARCH,
    }),
  async (found, sq, i) => {
    const checks = await parallel(
      found.claims.map((c, k) => () =>
        agent(
          `Fact-check this claim independently; do not trust the given source blindly.\n` +
            `Claim: ${c.claim}\nCited source: ${c.source}`,
          { label: `check-${i + 1}.${k + 1}`, schema: CHECK },
        ),
      ),
    );
    return found.claims.map((c, k) => ({
      subQuestion: sq,
      claim: c.claim,
      source: c.source,
      // A checker that failed leaves the claim 'uncertain', never 'supported'.
      verdict: checks[k] ? checks[k].verdict : 'uncertain',
    }));
  },
);
const claims = researched.filter(Boolean).flat();
const supported = claims.filter((c) => c.verdict === 'supported');
log(`${supported.length} of ${claims.length} claims supported`);

phase('Write');
const report = await agent(
  `Write a research report answering: ${question}\nUse ONLY these fact-checked claims, cite their ` +
    `sources, and end with a list of open points.\n\n` +
    supported.map((c) => `- ${c.claim} (${c.source})`).join('\n') +
    `\n\nNot supported or uncertain (mention as open points):\n` +
    claims.filter((c) => c.verdict !== 'supported').map((c) => `- ${c.claim}`).join('\n'),
  { label: 'writer' },
);

return { question, subQuestions, droppedForBudget, claims, report };
