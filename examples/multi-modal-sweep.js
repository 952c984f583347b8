// multi-modal-sweep.js — sweep one target with several different *methods*
// (read the code, exercise it, search for known-bad patterns, compare with
// the docs), each with its own instructions, then merge what they found by
// location. Different methods find different classes of problems; the merge
// records which modes agreed on each location.
//
// Pattern: multi-modal sweep (Claude Code's Workflow tool).
//
// args:   {"target": string = "the HTTP retry logic in src/net/",
//          "modes": string[] = ["read", "run", "grep", "docs"]}   // any subset
// agents: 5
//         = 1 per mode (4) + 1 merger.
// result: {"target": string, "modes": string[],
//          "byMode": {[mode]: number},          // findings per mode (null = mode failed)
//          "merged": [{"location": string, "issue": string, "modes": string[]}],
//          "summary": string}
//
//   odw run examples/multi-modal-sweep.js --wait --args '{"modes": ["read", "grep"]}'
export const meta = {
  name: 'multi-modal-sweep',
  description: 'Sweep a target with several methods in parallel, merge findings by location',
  phases: [{ title: 'Sweep' }, { title: 'Merge' }],
};

const target = (args && args.target) || 'the HTTP retry logic in src/net/';
const MODES = {
  read: 'Read the code line by line and reason about edge cases (empty input, overflow, concurrency).',
  run: 'Exercise it: write and run small experiments or tests that probe its behaviour; report what failed.',
  grep: 'Search for known-bad patterns (unwrap on I/O, unbounded retries, swallowed errors, TODOs).',
  docs: 'Compare its behaviour with what the docs and comments promise; report every mismatch.',
};
const modes = (args && args.modes) || Object.keys(MODES);
const unknown = modes.filter((m) => !MODES[m]);
if (unknown.length) throw new Error(`unknown mode(s) ${unknown.join(', ')}; known: ${Object.keys(MODES).join(', ')}`);

const FINDINGS = {
  type: 'object',
  required: ['findings'],
  properties: {
    findings: {
      type: 'array',
      items: {
        type: 'object',
        required: ['location', 'issue'],
        properties: { location: { type: 'string' }, issue: { type: 'string' } },
      },
    },
  },
};

phase('Sweep');
const swept = await parallel(
  modes.map((m) => () =>
    agent(`Sweep ${target} using ONE method only.\nMethod (${m}): ${MODES[m]}`, {
      label: `sweep:${m}`,
      schema: FINDINGS,
    }),
  ),
);

// Merge by location in mode order (deterministic), remembering which modes
// reported each location.
const byLocation = new Map();
const byMode = {};
modes.forEach((m, i) => {
  const found = swept[i] ? swept[i].findings : null;
  byMode[m] = found ? found.length : null;
  for (const f of found || []) {
    const entry = byLocation.get(f.location) || { location: f.location, issue: f.issue, modes: [] };
    if (!entry.modes.includes(m)) entry.modes.push(m);
    byLocation.set(f.location, entry);
  }
});
const merged = [...byLocation.values()];
log(`${merged.length} location(s) from ${modes.length} mode(s)`);

phase('Merge');
const summary = await agent(
  `Summarise the sweep of ${target} for a maintainer. Locations found by several methods ` +
    `come first.\n\n` +
    merged.map((e) => `- ${e.location} [${e.modes.join(', ')}]: ${e.issue}`).join('\n'),
  { label: 'merger' },
);

return { target, modes, byMode, merged, summary };
