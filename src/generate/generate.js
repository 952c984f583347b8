// generate.js — odw's built-in generator: an agent writes a workflow for a
// task, odw's own validate() checks it, and every error goes back to the
// agent until the script compiles or the attempts run out.
//
// args: { task: string, skill: string (the authoring guide, SKILL.md),
//         maxAttempts?: number (default 3, at most 10) }
// agents: one per attempt, at most maxAttempts.
// result: { ok, source, meta, attempts, errors, history: [{ attempt, errors }] }
//   ok false: the last script and its errors; the caller decides what to do.
//
// `odw generate` runs this; save your own `generate.js` (see `odw workflows
// list`) to replace it.
export const meta = {
  name: 'generate',
  description: 'Write a workflow for a task, validate it, feed the errors back until it compiles',
  phases: [{ title: 'Write' }],
};

const task = args && typeof args.task === 'string' ? args.task.trim() : '';
if (!task) throw new Error('generate: args.task must be a non-empty string (the task to write a workflow for)');
const skill = args && typeof args.skill === 'string' ? args.skill : '';
const wanted = args && Number.isInteger(args.maxAttempts) ? args.maxAttempts : 3;
const maxAttempts = Math.min(Math.max(wanted, 1), 10);

// A run-directory-safe name from the task's first words.
const slug = task.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40)
  .replace(/-+$/g, '') || 'generated';

// The answer's last fenced code block (```js, ```javascript, or bare), or
// the whole answer when it has no fence but looks like a workflow.
function extract(reply) {
  const text = String(reply);
  const fence = /```[ \t]*(js|javascript|mjs)?[ \t]*\n([\s\S]*?)```/g;
  let last = null;
  for (let m = fence.exec(text); m !== null; m = fence.exec(text)) last = m[2];
  if (last !== null) return last;
  return text.includes('export const meta') ? text : null;
}

const where = (e) => (e.line ? `line ${e.line}, column ${e.column}: ` : '');

// What the agent starts from: valid as it stands, so that an agent that
// only echoes (the echo adapter) still ends with a workflow that compiles.
const skeleton = [
  'export const meta = {',
  `  name: ${JSON.stringify(slug)},`,
  `  description: ${JSON.stringify(task.split('\n')[0].slice(0, 200))},`,
  "  phases: [{ title: 'Work' }],",
  '};',
  '',
  "phase('Work');",
  `const answer = await agent(${JSON.stringify(task)}, { label: 'worker' });`,
  'return { answer };',
].join('\n');

const history = [];
let source = null;
let errors = [];
let verdict = null;
phase('Write');
for (let attempt = 1; attempt <= maxAttempts; attempt++) {
  const parts = [
    'You write odw workflows: one JavaScript file in the dialect the guide below describes.',
    '',
    '<guide>',
    skill,
    '</guide>',
    '',
    '<task>',
    task,
    '</task>',
    '',
  ];
  if (source !== null || errors.length > 0) {
    parts.push(
      `Your previous answer (attempt ${attempt - 1}) does not compile. odw validate reported:`,
      ...errors.map((e) => `- ${where(e)}${e.message}`),
      '',
      'The script you sent:',
      '```js',
      source === null ? '(no script found in the answer)' : source,
      '```',
      '',
      'Fix every error and send the whole corrected file.',
      '',
    );
  }
  parts.push(
    'Answer with the complete workflow file in one ```js fenced block, and nothing after it.',
    'Keep every agent count bounded and visible in the result (no silent caps).',
    'Start from this skeleton and replace its body with the workflow the task needs:',
    '',
    '```js',
    skeleton,
    '```',
  );
  const reply = await agent(parts.join('\n'), { label: `write #${attempt}` });
  source = extract(reply);
  verdict = null;
  if (source === null) {
    errors = [{ line: 0, column: 0, message: 'the answer has no ```js fenced block with the workflow' }];
  } else {
    verdict = validate(source);
    errors = verdict.errors;
  }
  history.push({ attempt, errors });
  log(errors.length === 0 ? `attempt ${attempt}: the script compiles`
    : `attempt ${attempt}: ${errors.length} error(s): ${where(errors[0])}${errors[0].message}`);
  if (verdict !== null && verdict.ok) {
    return { ok: true, source, meta: verdict.meta, attempts: attempt, errors: [], history };
  }
}
return { ok: false, source, meta: verdict ? verdict.meta || null : null, attempts: maxAttempts, errors, history };
