// load.test.mjs - client disconnects cancel their engine requests at once
// (running count back to 0, every KV block free again; a non-streaming client is seen to leave when its socket is reset; one
// that only closes its sending side is half-closed and still gets its
// answer, issue 29 / tests/reliability.test.sh), and 32 concurrent
// seeded streaming requests give exactly the text each gives alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import OpenAI from 'openai';

const URL_ = process.env.PAGODA_URL;
const MODEL = process.env.PAGODA_MODEL;
const u = new URL(URL_);
const client = new OpenAI({ baseURL: `${URL_}/v1`, apiKey: 'none', maxRetries: 0, timeout: 120000 });

async function metrics() {
  const t = await (await fetch(`${URL_}/metrics`)).text();
  const get = (k) => Number(new RegExp(`^pagoda:${k}\\{[^}]*\\} ([0-9.e+-]+)$`, 'm').exec(t)[1]);
  return { running: get('num_requests_running'), waiting: get('num_requests_waiting'), total: get('kv_blocks_total'), free: get('kv_blocks_free'), used: get('kv_blocks_used') };
}

// Opens a streaming request and resolves once `chunks` data events arrived; returns the socket.
function openStream(body, chunks) {
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(u.port), u.hostname);
    const b = Buffer.from(JSON.stringify(body));
    s.on('connect', () => s.write(`POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${b.length}\r\n\r\n${b}`));
    let seen = 0;
    s.on('data', (d) => { seen += (d.toString().match(/data: \{/g) || []).length; if (seen >= chunks) resolve(s); });
    s.on('error', reject);
    setTimeout(() => reject(new Error('stream did not start')), 20000);
  });
}

test('8 streaming clients dropping mid-stream are cancelled at once', async () => {
  const before = await metrics();
  const socks = await Promise.all(Array.from({ length: 8 }, (_, i) =>
    openStream({ model: MODEL, prompt: `Story ${i}: Once upon a time`, max_tokens: 1500, ignore_eos: true, temperature: 0.8, seed: i, stream: true }, 3)));
  const mid = await metrics();
  assert.ok(mid.running + mid.waiting >= 1, 'requests are in flight');
  assert.ok(mid.used > 0);
  for (const s of socks) s.destroy();
  const t0 = Date.now();
  let m;
  do { await new Promise((r) => setTimeout(r, 50)); m = await metrics(); } while ((m.running || m.waiting || m.used) && Date.now() - t0 < 1000);
  assert.equal(m.running, 0, 'running after 1 s');
  assert.equal(m.waiting, 0);
  assert.equal(m.used, 0, 'KV blocks held after 1 s');
  assert.equal(m.free, before.total);
});

test('a non-streaming client whose connection is reset while waiting is cancelled', async () => {
  const s = net.connect(Number(u.port), u.hostname);
  const b = JSON.stringify({ model: MODEL, prompt: 'Once upon a time', max_tokens: 1800, ignore_eos: true });
  await new Promise((r) => s.on('connect', r));
  s.write(`POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: ${b.length}\r\n\r\n${b}`);
  let m;
  const t1 = Date.now();
  do { await new Promise((r) => setTimeout(r, 20)); m = await metrics(); } while (m.running === 0 && Date.now() - t1 < 5000);
  assert.equal(m.running, 1);
  s.resetAndDestroy(); // RST: a real disconnect (a FIN alone is a half-close: the answer is still sent)
  const t0 = Date.now();
  do { await new Promise((r) => setTimeout(r, 50)); m = await metrics(); } while ((m.running || m.used) && Date.now() - t0 < 1000);
  assert.equal(m.running, 0);
  assert.equal(m.used, 0);
});

async function streamText(req) {
  const s = await client.completions.create({ ...req, stream: true });
  let t = '';
  for await (const c of s) t += c.choices[0]?.text ?? '';
  return t;
}

test('32 concurrent seeded streams equal their solo runs', async () => {
  const reqs = Array.from({ length: 32 }, (_, i) => ({ model: MODEL, prompt: i % 2 ? 'Lily went to the park' : 'Once upon a time', max_tokens: 12 + (i % 4) * 6, temperature: 0.9, seed: 1000 + i }));
  const solo = [];
  for (const r of reqs) solo.push((await client.completions.create(r)).choices[0].text);
  const conc = await Promise.all(reqs.map(streamText));
  for (let i = 0; i < reqs.length; i++) assert.equal(conc[i], solo[i], `request ${i}`);
  assert.ok(new Set(solo).size > 16, 'seeds give different texts');
  // the engine publishes its stats once per step: allow it a moment
  let m;
  const t0 = Date.now();
  do { m = await metrics(); if (m.running) await new Promise((r) => setTimeout(r, 50)); } while (m.running && Date.now() - t0 < 2000);
  assert.equal(m.running, 0);
});
