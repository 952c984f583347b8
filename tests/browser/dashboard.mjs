// The dashboard in headless Chromium, run by tests/serve.rs
// (`the_page_shows_runs_live_and_stops_one`) against a live `odw serve`.
//
// 1. A run started from the page's form: its agent cards appear and finish;
//    the time from an agent finishing (its event's timestamp) to its card
//    showing `done` is measured for each card.
// 2. A run started from the CLI appears without a reload, and the label and
//    log line it made of HTML are shown as text, never run.
// 3. A slow run started from the form is paused, resumed and stopped with
//    the buttons.
// Screenshots go to $ARTIFACTS. Exits non-zero on the first failed check.
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';

const { ODW_URL, ODW_BIN, ODW_DIR, ODW_RUNS, ARTIFACTS } = process.env;
const check = (ok, what) => {
  if (!ok) throw new Error(`check failed: ${what}`);
  console.log(`ok: ${what}`);
};

/** Waits for `fn` (run in the page) to return true: page.waitForFunction
 * would need 'unsafe-eval', which the page's CSP forbids. */
async function waitUntil(fn, arg, ms, what) {
  const deadline = Date.now() + ms;
  while (!(await page.evaluate(fn, arg))) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
let page;
try {
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('dialog', (d) => { errors.push(`dialog: ${d.message()}`); d.dismiss(); });
  // Count requests: after the first load the page must not poll.
  const requests = [];
  page.on('request', (r) => requests.push(`${r.method()} ${r.url()}`));

  await page.goto(ODW_URL);
  await page.waitForSelector('#conn.on', { timeout: 10000 });
  check(true, 'the stream is connected');

  // Record when each card turns `done`, as the page's clock sees it.
  await page.evaluate(() => {
    window.__doneAt = {};
    window.__states = new Set();
    new MutationObserver((records) => {
      for (const r of records) {
        const card = r.target;
        if (card.dataset && card.dataset.state) window.__states.add(card.dataset.state);
        if (card.dataset && card.dataset.state === 'done' && !(card.dataset.index in window.__doneAt)) {
          window.__doneAt[card.dataset.index] = Date.now();
        }
      }
    }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ['data-state'] });
  });

  // 1. Start `quick` from the form.
  await page.fill('#start-name', 'quick');
  await page.click('#start button');
  await page.waitForSelector('#run:not([hidden]) .card', { timeout: 20000 });
  check(true, 'agent cards appear');
  const quickId = await page.textContent('#run-id');
  await waitUntil(() => document.querySelectorAll('.card[data-state="done"]').length === 12, null, 30000, '12 done cards');
  check(true, 'all 12 agent cards finish');
  // Calls wait for one of the run's slots: their cards show it first.
  check(await page.evaluate(() => window.__states.has('queued') && window.__states.has('running')),
    'cards show queued, then running');
  await page.waitForSelector('#run-state.st-done', { timeout: 10000 });
  await page.waitForSelector('#outcome.ok', { timeout: 10000 });
  check((await page.textContent('#outcome-body')).includes('ship it'), 'the result is shown');
  const columns = await page.$$eval('.phase-title', (ts) => ts.map((t) => t.textContent));
  check(JSON.stringify(columns) === JSON.stringify(['Gather', 'Review']), `phase columns ${columns}`);
  const logs = await page.$$eval('.log-text', (ts) => ts.map((t) => t.textContent));
  check(logs.includes('gathering sources') && logs.includes('all checked'), 'log lines are shown');
  await page.click('.card[data-index="0"] details summary');
  check((await page.textContent('.card[data-index="0"] details pre')) === 'source 1 sleep:0.1', 'the prompt on demand');
  check((await page.textContent('.card[data-index="0"] .preview')) === 'mock:source 1 sleep:0.1', 'a result preview');
  await page.screenshot({ path: `${ARTIFACTS}/dashboard.png` });

  const doneAt = await page.evaluate(() => window.__doneAt);
  const events = await page.evaluate(async (id) => (await (await fetch(`/api/runs/${id}/events`)).json()).events, quickId);
  const latencies = events.filter((e) => e.type === 'agent_finished' && String(e.index) in doneAt)
    .map((e) => doneAt[e.index] - Date.parse(e.ts)).sort((a, b) => a - b);
  check(latencies.length === 12, `a latency for each card (${latencies.length})`);
  const median = latencies[Math.floor(latencies.length / 2)];
  console.log(`latency median ${median} ms (min ${latencies[0]}, max ${latencies[latencies.length - 1]}) over ${latencies.length} cards`);

  // 2. A run from the CLI appears without a reload; its HTML stays text.
  const loads = requests.filter((u) => u.endsWith('/page.js')).length;
  const injectId = execFileSync(ODW_BIN, ['run', 'inject.js', '--runs-root', ODW_RUNS], { cwd: ODW_DIR, env: { ...process.env, HOME: ODW_DIR } })
    .toString().trim();
  await page.waitForSelector(`.run-row[data-id="${injectId}"]`, { timeout: 10000 });
  check(true, 'a run started from the CLI appears without a reload');
  await page.click(`.run-row[data-id="${injectId}"]`);
  await page.waitForSelector('#run-state.st-done', { timeout: 20000 });
  await page.waitForSelector('.card[data-state="done"]', { timeout: 10000 });
  const label = await page.textContent('.card .card-label');
  check(label === '<img src=x onerror="window.__pwned=1">', `the label is shown as text: ${label}`);
  const logText = await page.$$eval('.log-text', (ts) => ts.map((t) => t.textContent));
  check(logText.some((t) => t.startsWith('<script>window.__pwned = 2</script>')), 'the log line is shown as text');
  check((await page.textContent('.phase-title')) === '<b>phase</b>', 'the phase title is shown as text');
  check(await page.evaluate(() => document.querySelectorAll('#main img, #main script, #main b, #main i').length === 0), 'no element was made from run output');
  await page.waitForSelector('#outcome.ok', { timeout: 10000 });
  check((await page.textContent('#outcome-body')) === '<i>done</i>', 'the result is shown as text');
  check(await page.evaluate(() => window.__pwned === undefined), 'nothing from the run executed');
  check(requests.filter((u) => u.endsWith('/page.js')).length === loads, 'the page was not reloaded');
  await page.screenshot({ path: `${ARTIFACTS}/dashboard-injection.png` });

  // 3. Stop a slow run with the button.
  await page.fill('#start-name', 'slow');
  await page.click('#start button');
  await page.waitForSelector('#run-state.st-running', { timeout: 20000 });
  await page.waitForSelector('.card[data-state="running"]', { timeout: 20000 });
  const slowId = await page.textContent('#run-id');
  check(slowId !== quickId && slowId !== injectId, 'the slow run is shown');
  await page.click('#btn-pause');
  await page.waitForSelector('#run-state.st-paused', { timeout: 15000 });
  check(await page.isVisible('#btn-resume'), 'paused, with a Resume button');
  await page.click('#btn-resume');
  await page.waitForSelector('#run-state.st-running', { timeout: 15000 });
  check(true, 'resumed');
  await page.click('#btn-stop');
  await page.waitForSelector('#run-state.st-stopped', { timeout: 15000 });
  check(true, 'the stopped state is shown');
  await page.waitForSelector(`.run-row[data-id="${slowId}"] .row-state.st-stopped`, { timeout: 10000 });
  check(true, 'the run list shows it stopped');
  check(await page.isHidden('#btn-stop'), 'the stop button is gone for an ended run');
  await page.screenshot({ path: `${ARTIFACTS}/dashboard-stopped.png` });

  // Polling would show as repeated API requests; the stream is one request.
  const streams = requests.filter((u) => u.startsWith('GET') && u.endsWith('/api/stream')).length;
  const lists = requests.filter((u) => u.startsWith('GET') && u.endsWith('/api/runs')).length;
  check(streams === 1 && lists === 1, `one stream and one list request (stream ${streams}, list ${lists})`);
  check(errors.length === 0, `no page errors ${JSON.stringify(errors)}`);
} catch (e) {
  if (page) await page.screenshot({ path: `${ARTIFACTS}/dashboard-failure.png` }).catch(() => {});
  console.log(String(e.stack || e));
  process.exitCode = 1;
} finally {
  await browser.close();
}
