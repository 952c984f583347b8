// odw dashboard. The page folds each run's events itself: it loads them from
// GET /api/runs/:id/events and follows GET /api/stream (Server-Sent Events);
// it never polls. Everything a script or an agent produced is inserted with
// textContent, never as HTML.
'use strict';

const FINAL = new Set(['done', 'failed', 'stopped', 'interrupted']);
const $ = (id) => document.getElementById(id);

/** An element with a class and text (never HTML). */
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function fmtDuration(ms) {
  if (ms == null || !isFinite(ms) || ms < 0) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60), r = Math.floor(s % 60);
  if (m < 60) return `${m}m ${String(r).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

function fmtTime(iso) {
  const d = new Date(iso);
  if (isNaN(d)) return '–';
  const today = new Date().toDateString() === d.toDateString();
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return today ? time : `${d.toLocaleDateString([], { month: 'short', day: 'numeric' })} ${time}`;
}

const fmtInt = (n) => (n == null ? '–' : Number(n).toLocaleString('en-US'));

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  };
  const res = await fetch(path, init);
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.error || `${res.status} ${res.statusText}`);
  return data;
}

// ---- the run list -----------------------------------------------------------

const runs = new Map(); // id -> {summary, row}

function upsertRun(s) {
  let entry = runs.get(s.id);
  if (!entry) {
    const row = el('li', 'run-row');
    row.dataset.id = s.id;
    row.tabIndex = 0;
    row.addEventListener('click', () => select(s.id, true));
    row.addEventListener('keydown', (e) => { if (e.key === 'Enter') select(s.id, true); });
    entry = { summary: s, row, at: Date.now() };
    runs.set(s.id, entry);
    placeRow(entry);
  }
  entry.summary = s;
  entry.at = Date.now();
  drawRow(entry);
  $('runs-count').textContent = String(runs.size);
  if (view && view.id === s.id) drawHead();
}

/** Newest first: run ids sort by start time. */
function placeRow(entry) {
  const list = $('runs');
  // The list arrives newest first: most rows go at the end.
  if (!list.lastElementChild || list.lastElementChild.dataset.id > entry.summary.id) {
    list.append(entry.row);
    return;
  }
  const after = [...list.children].find((r) => r.dataset.id < entry.summary.id);
  list.insertBefore(entry.row, after || null);
}

function liveDuration(s, at) {
  return FINAL.has(s.state) ? s.durationMs : s.durationMs + (Date.now() - at);
}

function drawRow(entry) {
  const s = entry.summary, row = entry.row;
  row.replaceChildren();
  row.classList.toggle('selected', !!(view && view.id === s.id));
  const top = el('div', 'row-top');
  top.append(el('span', `dot st-${s.state}`), el('span', 'row-name', s.workflow), el('span', `row-state st-${s.state}`, s.state));
  const bottom = el('div', 'row-bottom');
  const a = s.agents || {};
  bottom.append(
    el('span', null, fmtTime(s.started)),
    el('span', 'row-dur', fmtDuration(liveDuration(s, entry.at))),
    el('span', null, `${fmtInt(a.dispatched)} ${a.dispatched === 1 ? 'agent' : 'agents'}`),
    el('span', null, `${fmtInt(s.tokens)} tok`),
  );
  row.append(top, bottom);
}

async function loadRuns() {
  const list = await api('/api/runs');
  for (const s of list) upsertRun(s);
}

// ---- one run: folding its events -------------------------------------------

let view = null; // the selected run

function newView(id) {
  return {
    id, n: 0, loading: true, queued: [], meta: null,
    columns: new Map(), // phase title -> {box, list}
    cards: new Map(), // agent index -> card
    phase: null, state: 'pending', result: undefined, error: undefined,
  };
}

function column(title) {
  const key = title || '';
  let col = view.columns.get(key);
  if (!col) {
    const box = el('div', 'phase');
    const head = el('div', 'phase-head');
    const count = el('span', 'phase-count', '');
    head.append(el('span', 'phase-title', title || 'No phase'), count);
    const list = el('div', 'cards');
    box.append(head, list);
    $('phases').append(box);
    col = { box, list, count, agents: 0, done: 0 };
    view.columns.set(key, col);
  }
  return col;
}

/** A phase that fans out wider than a column spreads its cards over a grid. */
const WIDE = 6;

function drawColumnCount(col) {
  col.count.textContent = `${col.done}/${col.agents}`;
  col.box.classList.toggle('wide', col.agents > WIDE);
}

function fold(ev) {
  const t = ev.type;
  if (t === 'run_started') {
    view.state = 'running';
    for (const p of Array.isArray(ev.phases) ? ev.phases : []) {
      const title = typeof p === 'string' ? p : p && p.title;
      if (typeof title === 'string') column(title);
    }
  } else if (t === 'phase_started') {
    view.phase = ev.title;
    const col = column(ev.title);
    for (const c of view.columns.values()) c.box.classList.toggle('current', c === col);
  } else if (t === 'log') {
    addLog(ev.ts, 'log', ev.message);
  } else if (t === 'agent_queued') {
    agentStarted(ev, 'queued');
  } else if (t === 'agent_started') {
    agentStarted(ev, 'running');
  } else if (t === 'agent_finished' || t === 'agent_failed') {
    agentEnded(ev, t === 'agent_failed');
  } else if (t === 'run_paused') {
    view.state = 'paused';
    addLog(ev.ts, 'control', 'paused');
  } else if (t === 'run_resumed') {
    view.state = 'running';
    addLog(ev.ts, 'control', 'resumed');
  } else if (t === 'run_finished' || t === 'run_failed' || t === 'run_stopped') {
    view.state = { run_finished: 'done', run_failed: 'failed', run_stopped: 'stopped' }[t];
    for (const c of view.columns.values()) c.box.classList.remove('current');
    for (const card of view.cards.values()) {
      if (card.state !== 'running' && card.state !== 'queued') continue;
      card.ms = Date.parse(ev.ts) - card.started;
      tickCard(card);
      setCardState(card, view.state === 'stopped' ? 'stopped' : 'failed');
    }
    if (t === 'run_finished') addLog(ev.ts, 'end', `done in ${fmtDuration(ev.ms)}`);
    else if (t === 'run_failed') addLog(ev.ts, 'error', `failed: ${ev.error && ev.error.message}`);
    else addLog(ev.ts, 'control', `stopped after ${fmtDuration(ev.ms)}`);
    loadOutcome(view.id);
  } else if (t === 'journal_error') {
    addLog(ev.ts, 'error', `#${ev.index} not journalled: ${ev.error}`);
  }
}

/** A card for a call that waits for a slot (`queued`) or runs; a queued
 *  card turns running when its `agent_started` comes. */
function agentStarted(ev, state = 'running') {
  const known = view.cards.get(ev.index);
  if (known) {
    known.started = Date.parse(ev.ts);
    if (typeof ev.prompt === 'string' && !known.box.querySelector('details.prompt')) addPrompt(known, ev.prompt);
    setCardState(known, state);
    tickCard(known);
    return;
  }
  const col = column(ev.phase);
  const card = {
    index: ev.index, state: 'running', started: Date.parse(ev.ts), ms: null, col,
    box: el('article', 'card'),
  };
  card.box.dataset.index = ev.index;
  const head = el('div', 'card-head');
  card.label = el('span', 'card-label', ev.label);
  card.label.title = ev.label;
  card.badge = el('span', 'badge small');
  head.append(card.label, card.badge);
  const facts = el('div', 'card-facts');
  const source = ev.cached ? 'cached' : 'live';
  facts.append(el('span', 'adapter', ev.model ? `${ev.adapter} · ${ev.model}` : ev.adapter), el('span', `src ${source}`, source));
  card.elapsed = el('span', 'elapsed', '');
  card.tokens = el('span', 'tokens', '');
  facts.append(card.elapsed, card.tokens);
  card.preview = el('div', 'preview');
  card.preview.hidden = true;
  card.box.append(head, facts, card.preview);
  if (typeof ev.prompt === 'string') addPrompt(card, ev.prompt);
  // Cards in call order: parallel calls may start in any order.
  const later = [...col.list.children].find((c) => Number(c.dataset.index) > ev.index);
  col.list.insertBefore(card.box, later || null);
  col.agents += 1;
  drawColumnCount(col);
  view.cards.set(ev.index, card);
  setCardState(card, state);
  tickCard(card);
}

function addPrompt(card, prompt) {
  const details = el('details', 'prompt');
  details.append(el('summary', null, 'prompt'), el('pre', null, prompt));
  card.box.append(details);
}

function agentEnded(ev, failed) {
  let card = view.cards.get(ev.index);
  if (!card) {
    agentStarted(ev);
    card = view.cards.get(ev.index);
  }
  card.ms = ev.ms;
  const u = ev.usage || {};
  const tokens = (u.input || 0) + (u.output || 0);
  card.tokens.textContent = `${fmtInt(tokens)} tok${u.estimated ? ' (est.)' : ''}`;
  if (ev.attempts > 1) card.tokens.textContent += ` · ${ev.attempts} attempts`;
  const text = failed ? ev.error : ev.preview;
  if (typeof text === 'string' && text.length) {
    card.preview.textContent = text;
    card.preview.classList.toggle('error', failed);
    card.preview.hidden = false;
  }
  card.col.done += 1;
  drawColumnCount(card.col);
  setCardState(card, failed ? 'failed' : 'done');
  tickCard(card);
}

function setCardState(card, state) {
  card.state = state;
  card.box.dataset.state = state;
  card.box.className = `card st-${state}`;
  card.badge.className = `badge small st-${state}`;
  card.badge.textContent = state;
}

function tickCard(card) {
  if (card.state === 'queued') { card.elapsed.textContent = 'waiting for a slot'; return; }
  const ms = card.ms != null ? card.ms : Date.now() - card.started;
  card.elapsed.textContent = fmtDuration(ms);
}

function addLog(ts, kind, message) {
  const li = el('li', `log-line kind-${kind}`);
  li.append(el('time', null, fmtTime(ts)), el('span', 'log-text', message));
  $('log').append(li);
}

async function loadOutcome(id) {
  try {
    const r = await api(`/api/runs/${encodeURIComponent(id)}/result`);
    if (!view || view.id !== id) return;
    view.result = r.value;
    view.error = r.error;
    drawOutcome();
  } catch (e) { /* the header still shows the state */ }
}

function drawOutcome() {
  const box = $('outcome');
  if (view.error) {
    box.className = view.state === 'stopped' ? 'outcome stopped' : 'outcome error';
    const where = view.error.location ? ` (line ${view.error.location.line})` : '';
    $('outcome-title').textContent = `${view.error.name || 'Error'}${where}`;
    $('outcome-body').textContent = view.error.message || '';
  } else if (view.result !== undefined) {
    box.className = 'outcome ok';
    $('outcome-title').textContent = 'Result';
    $('outcome-body').textContent = typeof view.result === 'string' ? view.result : JSON.stringify(view.result, null, 2);
  } else {
    box.hidden = true;
    return;
  }
  box.hidden = false;
}

function drawHead() {
  const entry = runs.get(view.id);
  const s = entry && entry.summary;
  const state = s ? s.state : view.state;
  $('run-workflow').textContent = (s && s.workflow) || (view.meta && view.meta.workflow) || view.id;
  $('run-desc').textContent = (view.meta && view.meta.description) || '';
  const badge = $('run-state');
  badge.textContent = state;
  badge.className = `badge st-${state}`;
  $('run-id').textContent = view.id;
  $('run-report').href = `/runs/${encodeURIComponent(view.id)}/report`;
  $('run-adapter').textContent = (view.meta && view.meta.adapter) || '–';
  if (s) {
    $('run-started').textContent = fmtTime(s.started);
    $('run-duration').textContent = fmtDuration(liveDuration(s, entry.at));
    const a = s.agents || {};
    const parts = [`${fmtInt(a.dispatched)} dispatched`];
    if (a.running) parts.push(`${a.running} running`);
    parts.push(`${fmtInt(a.done)} done`);
    if (a.failed) parts.push(`${a.failed} failed`);
    $('run-agents').textContent = parts.join(' · ');
    $('run-tokens').textContent = fmtInt(s.tokens);
  }
  const ended = FINAL.has(state);
  $('btn-pause').hidden = ended || state === 'paused';
  $('btn-resume').hidden = ended || state !== 'paused';
  $('btn-stop').hidden = ended;
}

/** Applies stream event `n` of the selected run, fetching any gap first. */
function onRunEvent(msg) {
  if (!view || msg.run !== view.id) return;
  if (view.loading) { view.queued.push(msg); return; }
  if (msg.n < view.n) return; // already folded
  if (msg.n > view.n) { view.queued.push(msg); catchUp(view); return; }
  fold(msg.event);
  view.n += 1;
}

async function catchUp(v) {
  v.loading = true;
  try {
    for (;;) {
      const page = await api(`/api/runs/${encodeURIComponent(v.id)}/events?since=${v.n}`);
      if (view !== v) return;
      for (const ev of page.events) { fold(ev); v.n += 1; }
      if (!page.more) break;
    }
  } catch (e) {
    if (view === v) showError('control-error', `cannot load the events: ${e.message}`);
  }
  if (view !== v) return;
  v.loading = false;
  const queued = v.queued.sort((a, b) => a.n - b.n);
  v.queued = [];
  for (const m of queued) onRunEvent(m);
  drawHead();
}

async function select(id, push) {
  if (push) history.pushState({}, '', `/runs/${encodeURIComponent(id)}`);
  view = newView(id);
  for (const e of runs.values()) e.row.classList.toggle('selected', e.summary.id === id);
  $('empty').hidden = true;
  $('run').hidden = false;
  $('phases').replaceChildren();
  $('log').replaceChildren();
  $('outcome').hidden = true;
  $('control-error').hidden = true;
  const v = view;
  try {
    const one = await api(`/api/runs/${encodeURIComponent(id)}`);
    if (view !== v) return;
    v.meta = one.meta;
    upsertRun(one.summary);
  } catch (e) {
    showError('control-error', e.message);
  }
  drawHead();
  await catchUp(v);
  if (view === v && FINAL.has(v.state)) loadOutcome(id);
}

function showError(id, message) {
  const box = $(id);
  box.textContent = message;
  box.hidden = false;
}

async function control(action) {
  if (!view) return;
  $('control-error').hidden = true;
  try {
    await api(`/api/runs/${encodeURIComponent(view.id)}/control`, { action });
  } catch (e) {
    showError('control-error', `${action}: ${e.message}`);
  }
}

// ---- the stream ----------------------------------------------------------------

function connect() {
  const source = new EventSource('/api/stream');
  let first = true;
  source.addEventListener('open', () => {
    $('conn').textContent = 'live';
    $('conn').className = 'conn on';
    if (first) {
      first = false;
      // After the stream is open, so a run that starts meanwhile is in one or the other.
      loadRuns().then(() => {
        const m = location.pathname.match(/^\/runs\/([^/]+)$/);
        if (m) select(decodeURIComponent(m[1]), false);
      }).catch((e) => showError('start-error', `cannot list the runs: ${e.message}`));
    }
  });
  source.addEventListener('error', () => {
    $('conn').textContent = 'reconnecting…';
    $('conn').className = 'conn off';
  });
  source.addEventListener('run', (e) => upsertRun(JSON.parse(e.data)));
  source.addEventListener('event', (e) => onRunEvent(JSON.parse(e.data)));
  source.addEventListener('reset', () => {
    loadRuns().catch(() => {});
    if (view) select(view.id, false);
  });
}

// Local clocks only: elapsed times of running agents and live durations.
setInterval(() => {
  if (view) {
    for (const card of view.cards.values()) if (card.state === 'running') tickCard(card);
    if (runs.has(view.id)) drawHead();
  }
  for (const e of runs.values()) if (!FINAL.has(e.summary.state)) drawRow(e);
}, 1000);

document.addEventListener('DOMContentLoaded', () => {
  $('btn-pause').addEventListener('click', () => control('pause'));
  $('btn-resume').addEventListener('click', () => control('resume'));
  $('btn-stop').addEventListener('click', () => control('stop'));
  $('start').addEventListener('submit', async (e) => {
    e.preventDefault();
    $('start-error').hidden = true;
    const raw = $('start-args').value.trim();
    let args = null;
    if (raw) { try { args = JSON.parse(raw); } catch { args = raw; } }
    try {
      const { id } = await api('/api/runs', { workflow: $('start-name').value.trim(), args });
      select(id, true);
    } catch (err) {
      showError('start-error', err.message);
    }
  });
  window.addEventListener('popstate', () => {
    const m = location.pathname.match(/^\/runs\/([^/]+)$/);
    if (m) select(decodeURIComponent(m[1]), false);
  });
  connect();
});
