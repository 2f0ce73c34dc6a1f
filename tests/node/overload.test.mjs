// overload.test.mjs - admission under overload and limits on client input.
// Server (production.test.sh, A): --max-seqs 4 --max-queued-requests 16
// --max-messages 8 --max-tokens-limit 1000. Env: PAGODA_URL, PAGODA_MODEL,
// PAGODA_PID (RSS from /proc), PAGODA_RSS_LIMIT_KB.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import OpenAI from 'openai';

const URL_ = process.env.PAGODA_URL;
const MODEL = process.env.PAGODA_MODEL;
const PID = Number(process.env.PAGODA_PID);
const RSS_LIMIT_KB = Number(process.env.PAGODA_RSS_LIMIT_KB || 262144);
const client = new OpenAI({ baseURL: `${URL_}/v1`, apiKey: 'none', maxRetries: 0, timeout: 60000 });

function rssKB() {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${PID}/status`, 'utf8'));
  return Number(m[1]);
}

let nScrapes = 0;
async function metricsText() {
  nScrapes++;
  return (await fetch(`${URL_}/metrics`)).text();
}
function metric(text, name, labels = '') {
  const esc = (x) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // request series carry protocol="openai" (these requests are OpenAI's); engine gauges do not
  const re = new RegExp(`^pagoda:${name}\\{model_name="[^"]*"(?:,protocol="openai")?${labels ? ',' + esc(labels) : ''}\\} ([0-9.e+-]+)$`, 'm');
  const m = re.exec(text);
  return m ? Number(m[1]) : 0;
}

test('200 concurrent requests: each a full answer or a 429 with Retry-After; metrics agree; RSS bounded', async () => {
  const before = await metricsText();
  const scrapes0 = nScrapes;
  let peak = rssKB();
  const sampler = setInterval(() => { try { peak = Math.max(peak, rssKB()); } catch {} }, 25);
  const N = 200, MAXTOK = 48;
  const one = async (i) => {
    const r = await fetch(`${URL_}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, prompt: `Story ${i}: Once upon a time`, max_tokens: MAXTOK, ignore_eos: true, temperature: 0.8, seed: i, stream: i % 3 === 0 }),
      signal: AbortSignal.timeout(90000), // none may hang
    });
    const text = await r.text();
    return { status: r.status, retry: r.headers.get('retry-after'), text, i };
  };
  const t0 = Date.now();
  const res = await Promise.all(Array.from({ length: N }, (_, i) => one(i)));
  clearInterval(sampler);
  peak = Math.max(peak, rssKB());
  let ok = 0, busy = 0;
  for (const r of res) {
    if (r.status === 200) {
      ok++;
      if (r.i % 3 === 0) { // streamed: ends with a finish chunk and [DONE]
        const ev = [...r.text.matchAll(/^data: (.*)$/gm)].map((m) => m[1]);
        assert.equal(ev.at(-1), '[DONE]', `request ${r.i}`);
        assert.equal(JSON.parse(ev.at(-2)).choices[0].finish_reason, 'length');
      } else {
        const b = JSON.parse(r.text);
        assert.equal(b.choices[0].finish_reason, 'length', `request ${r.i}`);
        assert.equal(b.usage.completion_tokens, MAXTOK);
      }
    } else {
      assert.equal(r.status, 429, `request ${r.i}: status ${r.status} ${r.text}`);
      busy++;
      assert.ok(Number(r.retry) >= 1, 'Retry-After');
      const e = JSON.parse(r.text).error;
      assert.equal(e.type, 'rate_limit_error');
      assert.equal(e.code, 'server_busy');
      assert.ok(e.message.length > 0);
    }
  }
  assert.equal(ok + busy, N);
  assert.ok(ok >= 4, `served ${ok}`);
  assert.ok(busy >= 1, 'the queue bound was never hit');
  console.log(`overload: ${ok} served, ${busy} got 429, ${Date.now() - t0} ms, peak RSS ${peak} kB (limit ${RSS_LIMIT_KB})`);
  assert.ok(peak < RSS_LIMIT_KB, `peak RSS ${peak} kB`);
  // idle again (the engine publishes its stats once per step), every block back
  let m;
  const t1 = Date.now();
  do { m = await metricsText(); if (metric(m, 'num_requests_running')) await new Promise((r) => setTimeout(r, 50)); } while (metric(m, 'num_requests_running') && Date.now() - t1 < 3000);
  assert.equal(metric(m, 'num_requests_running'), 0);
  assert.equal(metric(m, 'num_requests_waiting'), 0);
  assert.equal(metric(m, 'kv_blocks_used'), 0);
  // the server agrees with what the clients saw
  const after = await metricsText();
  const d = (name, labels) => metric(after, name, labels) - metric(before, name, labels);
  assert.equal(d('request_success_total', 'finished_reason="length"'), ok);
  assert.equal(d('request_rejected_total', 'reason="queue_full"'), busy);
  assert.equal(d('http_requests_total', 'status="429"'), busy);
  // every 200 was a served request or one of our own scrapes (each counted once sent)
  assert.equal(d('http_requests_total', 'status="200"'), ok + (nScrapes - scrapes0));
  assert.equal(d('generation_tokens_total'), ok * MAXTOK);
  assert.equal(d('e2e_request_latency_seconds_count'), ok);
  assert.equal(d('time_to_first_token_seconds_count'), ok);
  assert.equal(d('inter_token_latency_seconds_count'), ok * (MAXTOK - 1));
  assert.equal(d('time_per_output_token_seconds_count'), ok * (MAXTOK - 1));
});

test('metrics: vLLM-style histograms, counters and gauges are exported', async () => {
  const t = await metricsText();
  for (const h of ['time_to_first_token_seconds', 'inter_token_latency_seconds', 'time_per_output_token_seconds', 'e2e_request_latency_seconds',
    'request_queue_time_seconds', 'request_prefill_time_seconds', 'request_decode_time_seconds']) {
    assert.match(t, new RegExp(`^# TYPE pagoda:${h} histogram$`, 'm'), h);
    assert.match(t, new RegExp(`^pagoda:${h}_bucket\\{model_name="${MODEL}",protocol="openai",le="\\+Inf"\\} \\d+$`, 'm'), h);
    assert.match(t, new RegExp(`^pagoda:${h}_sum\\{model_name="${MODEL}",protocol="openai"\\} [0-9.e+-]+$`, 'm'), h);
    assert.equal(metric(t, `${h}_bucket`, 'le="+Inf"'), metric(t, `${h}_count`), h);
    // buckets are cumulative
    const b = [...t.matchAll(new RegExp(`^pagoda:${h}_bucket\\{[^}]*\\} (\\d+)$`, 'gm'))].map((x) => Number(x[1]));
    for (let i = 1; i < b.length; i++) assert.ok(b[i] >= b[i - 1], h);
  }
  for (const c of ['prompt_tokens_total', 'generation_tokens_total', 'num_preemptions_total', 'prefix_cache_queries_total', 'prefix_cache_hits_total'])
    assert.match(t, new RegExp(`^# TYPE pagoda:${c} counter$`, 'm'), c);
  for (const g of ['num_requests_running', 'num_requests_waiting', 'kv_cache_usage_perc', 'batch_size'])
    assert.match(t, new RegExp(`^# TYPE pagoda:${g} gauge$`, 'm'), g);
  for (const f of ['stop', 'length', 'abort', 'timeout'])
    assert.match(t, new RegExp(`^pagoda:request_success_total\\{model_name="${MODEL}",protocol="openai",finished_reason="${f}"\\} \\d+$`, 'm'));
});

test('limits on client input are 400s naming the field; the server keeps serving', async () => {
  const bad = async (body, param, path = 'completions') => {
    const r = await fetch(`${URL_}/v1/${path}`, { method: 'POST', body: JSON.stringify({ model: MODEL, ...body }) });
    const j = await r.json();
    assert.equal(r.status, 400, `${param}: ${JSON.stringify(j)}`);
    assert.equal(j.error.type, 'invalid_request_error');
    if (param) assert.equal(j.error.param, param);
  };
  const msgs = Array.from({ length: 9 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: 'hi' }));
  await bad({ messages: msgs }, 'messages', 'chat/completions'); // --max-messages 8
  await bad({ prompt: 'x', max_tokens: 1001 }, 'max_tokens'); // --max-tokens-limit 1000
  await bad({ messages: [{ role: 'user', content: 'x' }], max_completion_tokens: 1001 }, 'max_tokens', 'chat/completions');
  await bad({ prompt: 'x', n: 65 }, 'n');
  await bad({ prompt: 'x', stop: Array.from({ length: 17 }, (_, i) => `s${i}`) }, 'stop');
  await bad({ prompt: 'x', stop: ['a'.repeat(257)] }, 'stop');
  const lb = {};
  for (let i = 0; i < 5000; i++) lb[String(i)] = 1;
  await bad({ prompt: 'x', logit_bias: lb }, 'logit_bias');
  await bad({ prompt: Array.from({ length: 65 }, () => 'hi') }, 'prompt');
  await bad({ prompt: 'x', timeout: -1 }, 'timeout');
  await bad({ prompt: 'x', timeout: 'soon' }, 'timeout');
  await bad({ prompt: 'x', priority: 1.5 }, 'priority');
  await bad({ prompt: 'x', cache_salt: 7 }, 'cache_salt');
  // 8 messages are fine
  const ok = await client.chat.completions.create({ model: MODEL, messages: msgs.slice(0, 8), max_tokens: 2 });
  assert.equal(ok.choices.length, 1);
  // health and readiness without auth (none configured here)
  assert.equal((await fetch(`${URL_}/health`)).status, 200);
  const rd = await fetch(`${URL_}/ready`);
  assert.equal(rd.status, 200);
  assert.equal((await rd.json()).status, 'ready');
});

test('traceparent: generated when absent, trace id kept when valid, malformed ignored', async () => {
  const r1 = await fetch(`${URL_}/v1/models`);
  const tp1 = r1.headers.get('traceparent');
  assert.match(tp1, /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/);
  const given = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  const r2 = await fetch(`${URL_}/v1/models`, { headers: { traceparent: given } });
  const tp2 = r2.headers.get('traceparent').split('-');
  assert.equal(tp2[1], '0af7651916cd43dd8448eb211c80319c');
  assert.notEqual(tp2[2], 'b7ad6b7169203331');
  assert.equal(tp2[3], '01');
  for (const bad of ['00-00000000000000000000000000000000-b7ad6b7169203331-01', 'garbage', '00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01']) {
    const r = await fetch(`${URL_}/v1/models`, { headers: { traceparent: bad } });
    const t = r.headers.get('traceparent').split('-');
    assert.notEqual(t[1], bad.split('-')[1] ?? '');
    assert.match(t[1], /^[0-9a-f]{32}$/);
  }
});
