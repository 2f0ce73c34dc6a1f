// drain.test.mjs - graceful shutdown: SIGTERM while 24 streams run. The
// streams finish normally, new requests get 503 (draining), /ready says 503
// and /health 200 while draining; the server then exits by itself (its exit
// status is checked by production.test.sh). Server C: --max-seqs 2,
// --shutdown-grace 30. Env: PAGODA_URL, PAGODA_MODEL, PAGODA_PID.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const URL_ = process.env.PAGODA_URL;
const MODEL = process.env.PAGODA_MODEL;
const PID = Number(process.env.PAGODA_PID);
const client = new OpenAI({ baseURL: `${URL_}/v1`, apiKey: 'none', maxRetries: 0, timeout: 60000 });

test('SIGTERM during 24 streams: they finish within the grace period; new work gets 503; then exit', async () => {
  const MAXTOK = 450; // 2 running x 29 blocks fit the 64-block pool
  // 24 streams (12 waves of 2): the drain must outlast the checks below
  // even on a loaded machine (8 drained in 0.5 s and the late request
  // sometimes found the server gone)
  const NSTREAMS = 24;
  const streams = await Promise.all(Array.from({ length: NSTREAMS }, (_, i) =>
    client.completions.create({ model: MODEL, prompt: `Story ${i}: Once upon a time`, max_tokens: MAXTOK, ignore_eos: true, seed: i, temperature: 0.7, stream: true, stream_options: { include_usage: true } })));
  // read them concurrently; signal once tokens are flowing
  let firstChunk;
  const flowing = new Promise((r) => { firstChunk = r; });
  const results = streams.map(async (s) => {
    let text = '', finish = null, usage = null;
    for await (const c of s) {
      firstChunk();
      if (c.usage) usage = c.usage;
      if (c.choices[0]) { text += c.choices[0].text; if (c.choices[0].finish_reason) finish = c.choices[0].finish_reason; }
    }
    return { text, finish, usage };
  });
  await flowing;
  const t0 = Date.now();
  process.kill(PID, 'SIGTERM');
  // new work is refused while the streams drain. The signal is seen within
  // one 50 ms tick: wait for /ready to say so first (a completion sent in
  // that window is accepted and would queue behind the waiting streams)
  const t1 = Date.now();
  let rd0;
  do {
    rd0 = await fetch(`${URL_}/ready`);
    await rd0.text();
    if (rd0.status !== 503) await new Promise((res) => setTimeout(res, 10));
  } while (rd0.status !== 503 && Date.now() - t1 < 2000);
  assert.equal(rd0.status, 503, '/ready still 200 two seconds after SIGTERM');
  const r = await fetch(`${URL_}/v1/completions`, { method: 'POST', body: JSON.stringify({ model: MODEL, prompt: 'late', max_tokens: 2 }) });
  assert.equal(r.status, 503);
  assert.ok(Number(r.headers.get('retry-after')) >= 1);
  const e = (await r.json()).error;
  assert.equal(e.code, 'draining');
  const rd = await fetch(`${URL_}/ready`);
  assert.equal(rd.status, 503);
  assert.equal((await rd.json()).status, 'draining');
  const h = await fetch(`${URL_}/health`);
  assert.equal(h.status, 200);
  assert.equal((await h.json()).status, 'draining');
  // every stream completes normally
  const out = await Promise.all(results);
  for (const o of out) {
    assert.equal(o.finish, 'length');
    assert.equal(o.usage.completion_tokens, MAXTOK);
    assert.ok(o.text.length > 0);
  }
  const dt = Date.now() - t0;
  assert.ok(dt < 30000, `streams took ${dt} ms after SIGTERM (grace 30 s)`);
  // and the process stops listening by itself (production.test.sh checks its exit status)
  let refused = false;
  const t2 = Date.now();
  while (!refused && Date.now() - t2 < 5000) {
    try {
      const x = await fetch(`${URL_}/health`, { signal: AbortSignal.timeout(1000) });
      await x.text();
      await new Promise((res) => setTimeout(res, 50));
    } catch { refused = true; }
  }
  assert.ok(refused, 'the server stopped listening');
});
