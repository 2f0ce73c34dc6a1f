// soak-client.mjs - mixed traffic for scripts/soak.sh (not a node:test file,
// not run by `make test`). Runs WORKERS loops for SOAK_SECONDS against
// PAGODA_URL, each iteration one randomly chosen action:
//   good traffic (completions, streams, chat, n=2, logprobs, seeds),
//   client disconnects (mid-stream and while waiting), deadlines,
//   bad requests (malformed JSON, wrong types, unknown model, wrong key,
//   oversized body, unknown path), a rate-limited key, /metrics scrapes.
// Every outcome is checked against what that action may legally get; the
// summary (JSON on the last line) lists counts per action and status and
// every unexpected outcome. Exit 1 if any.
const URL_ = process.env.PAGODA_URL;
const MODEL = process.env.PAGODA_MODEL || 'stories260K';
const SECONDS = Number(process.env.SOAK_SECONDS || 600);
const WORKERS = Number(process.env.SOAK_WORKERS || 12);
const KEY = process.env.SOAK_KEY; // a key without limits
const LIMITED = process.env.SOAK_LIMITED_KEY; // a key with a small rpm
const METRICS_KEY = process.env.SOAK_METRICS_KEY;

const rnd = (n) => Math.floor(Math.random() * n);
const prompts = ['Once upon a time', 'Lily went to the park', 'Tom had a red ball', 'The sun was hot and', 'A little dog named Max'];

const counts = {};
const unexpected = [];
const note = (action, outcome) => { const k = `${action} ${outcome}`; counts[k] = (counts[k] || 0) + 1; };
const bad = (action, what) => { if (unexpected.length < 50) unexpected.push(`${action}: ${what}`); note(action, 'UNEXPECTED'); };

const headers = (key = KEY) => ({ 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) });
const post = (path, body, { key = KEY, signal } = {}) =>
  fetch(`${URL_}${path}`, { method: 'POST', headers: headers(key), body: typeof body === 'string' ? body : JSON.stringify(body), signal });

async function expectStatus(action, p, allowed) {
  try {
    const r = await p;
    const t = await r.text();
    if (!allowed.includes(r.status)) return bad(action, `status ${r.status} ${t.slice(0, 200)}`);
    if (r.status >= 400) {
      let e;
      try { e = JSON.parse(t).error; } catch { return bad(action, `non-JSON error body ${t.slice(0, 100)}`); }
      if (!e || typeof e.message !== 'string') return bad(action, 'error body without message');
      if (r.status === 429 && !r.headers.get('retry-after')) return bad(action, '429 without Retry-After');
    }
    note(action, r.status);
    return { status: r.status, text: t };
  } catch (e) {
    bad(action, `network error ${e.message}`);
  }
}

function checkCompletion(action, res, n = 1) {
  if (!res || res.status !== 200) return;
  let j;
  try { j = JSON.parse(res.text); } catch { return bad(action, 'bad JSON'); }
  if (!Array.isArray(j.choices) || j.choices.length !== n) return bad(action, 'choices');
  for (const c of j.choices) if (!['stop', 'length'].includes(c.finish_reason)) bad(action, `finish_reason ${c.finish_reason}`);
}

function checkStream(action, res) {
  if (!res || res.status !== 200) return;
  const ev = [...res.text.matchAll(/^data: (.*)$/gm)].map((m) => m[1]);
  if (ev.at(-1) !== '[DONE]') return bad(action, 'stream without [DONE]');
  for (const e of ev.slice(0, -1)) {
    let j;
    try { j = JSON.parse(e); } catch { return bad(action, 'bad SSE JSON'); }
    if (j.error && j.error.code !== 'request_timeout') return bad(action, `stream error ${j.error.message}`);
  }
}

const actions = [
  [6, 'complete', async () => checkCompletion('complete', await expectStatus('complete', post('/v1/completions', { model: MODEL, prompt: prompts[rnd(5)], max_tokens: 8 + rnd(64), temperature: 0.8 }), [200, 429]))],
  [4, 'stream', async () => checkStream('stream', await expectStatus('stream', post('/v1/completions', { model: MODEL, prompt: prompts[rnd(5)], max_tokens: 16 + rnd(128), stream: true, stream_options: { include_usage: true } }), [200, 429]))],
  [3, 'chat', async () => checkCompletion('chat', await expectStatus('chat', post('/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: prompts[rnd(5)] }], max_tokens: 16 + rnd(32), logprobs: true, top_logprobs: 2 }), [200, 429]))],
  [2, 'n2', async () => checkCompletion('n2', await expectStatus('n2', post('/v1/completions', { model: MODEL, prompt: prompts[rnd(5)], max_tokens: 24, n: 2, seed: rnd(1000), logprobs: 1 }), [200, 429]), 2)],
  [2, 'disconnect_stream', async () => {
    const ac = new AbortController();
    try {
      const r = await post('/v1/completions', { model: MODEL, prompt: prompts[rnd(5)], max_tokens: 400, ignore_eos: true, stream: true }, { signal: ac.signal });
      const rd = r.body.getReader();
      for (let i = 0; i < 1 + rnd(4); i++) { const x = await rd.read(); if (x.done) break; }
      ac.abort();
      note('disconnect_stream', r.status);
    } catch (e) { if (e.name !== 'AbortError') bad('disconnect_stream', e.message); else note('disconnect_stream', 'aborted'); }
  }],
  [2, 'disconnect_wait', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 5 + rnd(80));
    try { const r = await post('/v1/completions', { model: MODEL, prompt: prompts[rnd(5)], max_tokens: 600, ignore_eos: true }, { signal: ac.signal }); await r.text(); note('disconnect_wait', r.status); }
    catch (e) { if (e.name !== 'AbortError') bad('disconnect_wait', e.message); else note('disconnect_wait', 'aborted'); }
  }],
  [2, 'deadline', async () => {
    const res = await expectStatus('deadline', post('/v1/completions', { model: MODEL, prompt: prompts[rnd(5)], max_tokens: 800, ignore_eos: true, timeout: 0.02 + rnd(50) / 1000 }), [200, 429, 504]);
    checkCompletion('deadline', res);
  }],
  [1, 'bad_json', () => expectStatus('bad_json', post('/v1/completions', '{"prompt": "x",'), [400])],
  [1, 'bad_type', () => expectStatus('bad_type', post('/v1/completions', { model: MODEL, prompt: 'x', max_tokens: 'many' }), [400])],
  [1, 'bad_model', () => expectStatus('bad_model', post('/v1/completions', { model: 'nope', prompt: 'x' }), [404])],
  [1, 'bad_limits', () => expectStatus('bad_limits', post('/v1/completions', { model: MODEL, prompt: 'x', n: 1000, stop: Array(40).fill('x') }), [400])],
  [1, 'too_large', () => expectStatus('too_large', post('/v1/completions', { model: MODEL, prompt: 'a'.repeat(300000) }), [413])],
  [1, 'not_found', () => expectStatus('not_found', fetch(`${URL_}/v2/nothing`, { headers: headers() }), [404])],
  [1, 'wrong_key', () => expectStatus('wrong_key', post('/v1/completions', { model: MODEL, prompt: 'x' }, { key: 'sk-wrong' }), KEY ? [401] : [200, 429])],
  [1, 'limited_key', () => expectStatus('limited_key', post('/v1/completions', { model: MODEL, prompt: 'x', max_tokens: 2 }, { key: LIMITED || KEY }), [200, 429])],
  [1, 'metrics', () => expectStatus('metrics', fetch(`${URL_}/metrics`, { headers: METRICS_KEY ? { authorization: `Bearer ${METRICS_KEY}` } : {} }), [200])],
];
const total = actions.reduce((a, x) => a + x[0], 0);
function pick() { let k = rnd(total); for (const a of actions) { if (k < a[0]) return a; k -= a[0]; } return actions[0]; }

const end = Date.now() + SECONDS * 1000;
let n = 0;
async function worker() {
  while (Date.now() < end) {
    const a = pick();
    n++;
    try { await a[2](); } catch (e) { bad(a[1], `exception ${e.message}`); }
  }
}
const t0 = Date.now();
const progress = setInterval(() => process.stderr.write(`soak: ${Math.round((Date.now() - t0) / 1000)} s, ${n} requests, ${unexpected.length} unexpected\n`), 30000);
await Promise.all(Array.from({ length: WORKERS }, worker));
clearInterval(progress);
console.log(JSON.stringify({ requests: n, seconds: (Date.now() - t0) / 1000, unexpected, counts }));
process.exit(unexpected.length ? 1 : 0);
