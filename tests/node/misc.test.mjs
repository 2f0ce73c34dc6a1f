// misc.test.mjs - issue 20's server items, against a server started by
// tests/server_misc.test.sh with --cors-origin http://allowed.example and
// --log-format json: GET /v1/models/{id} through the SDK (models.retrieve,
// 404 for an unknown id), CORS preflight and headers, HEAD wherever GET
// works, and two dropped requests whose log lines the shell checks
// afterwards (x-request-id drop-stream / drop-plain).
// Env: PAGODA_URL, PAGODA_MODEL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import OpenAI from 'openai';

const URL_ = process.env.PAGODA_URL;
const MODEL = process.env.PAGODA_MODEL;
const client = new OpenAI({ baseURL: `${URL_}/v1`, apiKey: 'none', maxRetries: 0, timeout: 60000 });

test('models.retrieve: the served id, 404 for others', async () => {
  const m = await client.models.retrieve(MODEL);
  assert.equal(m.id, MODEL);
  assert.equal(m.object, 'model');
  await assert.rejects(client.models.retrieve('no-such-model'), (e) => e.status === 404 && e.code === 'model_not_found');
  const r = await fetch(`${URL_}/v1/models/${MODEL}/x`);
  assert.equal(r.status, 404);
  await r.text();
});

test('CORS preflight and response headers', async () => {
  const p = await fetch(`${URL_}/v1/chat/completions`, {
    method: 'OPTIONS',
    headers: { Origin: 'http://allowed.example', 'Access-Control-Request-Method': 'POST',
               'Access-Control-Request-Headers': 'authorization, content-type' },
  });
  assert.equal(p.status, 204);
  await p.text();
  assert.equal(p.headers.get('access-control-allow-origin'), 'http://allowed.example');
  assert.match(p.headers.get('access-control-allow-methods'), /POST/);
  const ah = p.headers.get('access-control-allow-headers').toLowerCase();
  assert.ok(ah.includes('authorization') && ah.includes('content-type'), ah);
  const q = await fetch(`${URL_}/v1/chat/completions`, { method: 'OPTIONS', headers: { Origin: 'http://other.example' } });
  assert.equal(q.status, 204);
  await q.text();
  assert.equal(q.headers.get('access-control-allow-origin'), null);
  const r = await fetch(`${URL_}/v1/models`, { headers: { Origin: 'http://allowed.example' } });
  assert.equal(r.headers.get('access-control-allow-origin'), 'http://allowed.example');
  await r.text();
  const s = await fetch(`${URL_}/v1/models`, { headers: { Origin: 'http://other.example' } });
  assert.equal(s.headers.get('access-control-allow-origin'), null);
  await s.text();
  const c = await fetch(`${URL_}/v1/completions`, {
    method: 'POST', headers: { Origin: 'http://allowed.example', 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: MODEL, prompt: 'Hi', max_tokens: 2 }),
  });
  assert.equal(c.status, 200);
  await c.text();
  assert.equal(c.headers.get('access-control-allow-origin'), 'http://allowed.example');
});

test('HEAD wherever GET works', async () => {
  for (const path of ['/health', '/ready', '/metrics', '/v1/models', `/v1/models/${MODEL}`]) {
    const g = await fetch(URL_ + path);
    await g.text();
    const h = await fetch(URL_ + path, { method: 'HEAD' });
    assert.equal(h.status, g.status, path);
    assert.equal(h.headers.get('content-type'), g.headers.get('content-type'), path);
    assert.equal((await h.text()).length, 0, path);
  }
  const h = await fetch(`${URL_}/v1/completions`, { method: 'HEAD' });
  assert.equal(h.status, 405);
  await h.text();
});

// Raw request so that the connection can be dropped at a chosen point.
function raw(id, body, onData) {
  return new Promise((resolve) => {
    const u = new URL(URL_);
    const req = http.request({ host: u.hostname, port: u.port, path: '/v1/completions', method: 'POST',
      headers: { 'Content-Type': 'application/json', 'x-request-id': id } });
    req.on('response', (res) => res.on('data', (d) => onData(d, req, resolve)));
    req.on('error', () => resolve());
    req.on('close', () => resolve());
    req.end(JSON.stringify(body));
    // a real drop (RST): a FIN alone would be a half-close, which still gets its answer (issue 29)
    if (!onData) setTimeout(() => { if (req.socket) req.socket.resetAndDestroy(); else req.destroy(); }, 300);
  });
}

test('dropped stream and dropped request (log checked by the shell)', async () => {
  let chunks = 0;
  await raw('drop-stream', { model: MODEL, prompt: 'Once', max_tokens: 1900, ignore_eos: true, stream: true, n: 4 },
    (d, req) => {
      chunks += d.toString().split('\n').filter((l) => l.startsWith('data: {')).length;
      if (chunks >= 40) req.destroy();
    });
  assert.ok(chunks >= 40);
  console.log(`DROP_STREAM_CHUNKS=${chunks}`);
  await raw('drop-plain', { model: MODEL, prompt: 'Once', max_tokens: 1900, ignore_eos: true, n: 8 }, null);
  await new Promise((r) => setTimeout(r, 1500));
  const h = await fetch(`${URL_}/health`);
  assert.equal(h.status, 200);
  await h.text();
});

test('min_tokens and include_stop_str_in_output (vLLM) are honoured', async () => {
  const base = { model: MODEL, prompt: 'Once upon a time', temperature: 0 };
  const c = (b) => client.completions.create(b);
  const full = (await c({ ...base, max_tokens: 24 })).choices[0].text;
  assert.ok(full.length > 12, full);
  // a stop string from inside the greedy text: cut before it, or kept with the flag
  const stop = full.slice(6, 10), at = full.indexOf(stop);
  const cut = await c({ ...base, max_tokens: 24, stop: [stop] });
  assert.equal(cut.choices[0].text, full.slice(0, at));
  assert.equal(cut.choices[0].finish_reason, 'stop');
  const inc = await c({ ...base, max_tokens: 24, stop: [stop], include_stop_str_in_output: true });
  assert.equal(inc.choices[0].text, full.slice(0, at + stop.length));
  assert.equal(inc.choices[0].finish_reason, 'stop');
  // the same through a stream: the pieces join to the same text
  let streamed = '';
  for await (const ch of await c({ ...base, max_tokens: 24, stop: [stop], include_stop_str_in_output: true, stream: true }))
    streamed += ch.choices[0]?.text ?? '';
  assert.equal(streamed, inc.choices[0].text);
  // min_tokens: stop strings are not looked for before it
  const mt = await c({ ...base, max_tokens: 24, stop: [stop], min_tokens: cut.usage.completion_tokens + 2 });
  assert.ok(mt.usage.completion_tokens >= cut.usage.completion_tokens + 2, JSON.stringify(mt.usage));
  assert.ok(mt.choices[0].text.length > cut.choices[0].text.length);
});

test('fields: honoured or 400 naming them, never ignored', async () => {
  const base = { model: MODEL, prompt: 'Once', max_tokens: 2, temperature: 0 };
  const chatBase = { model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2, temperature: 0 };
  const bad = async (f, body, field, re) => {
    await assert.rejects(f(body), (e) => e.status === 400 && e.param === field && re.test(e.message), field);
  };
  const c = (b) => client.completions.create(b), ch = (b) => client.chat.completions.create(b);
  await bad(c, { ...base, bogus_field: 1 }, 'bogus_field', /unknown field 'bogus_field'/);
  await bad(ch, { ...chatBase, store: true }, 'store', /unknown field 'store'/);
  await bad(ch, { ...chatBase, echo: true }, 'echo', /unknown field/);
  await bad(ch, { ...chatBase, tools: [] }, 'tools', /must not be empty/);
  await bad(ch, { ...chatBase, tool_choice: 'auto' }, 'tool_choice', /needs 'tools'/);
  await bad(c, { ...base, echo: true, logprobs: 1 }, 'echo', /not supported/);
  await bad(c, { ...base, min_tokens: 3 }, 'min_tokens', /must not exceed max_tokens/);
  for (const extra of [{ skip_special_tokens: true }, { skip_special_tokens: false, spaces_between_special_tokens: false },
    { include_stop_str_in_output: false }, { min_tokens: 0 }, { spaces_between_special_tokens: true }]) {
    const r = await c({ ...base, ...extra });
    assert.equal(r.choices.length, 1, JSON.stringify(extra));
    const q = await ch({ ...chatBase, ...extra });
    assert.equal(q.choices.length, 1, JSON.stringify(extra));
  }
});
