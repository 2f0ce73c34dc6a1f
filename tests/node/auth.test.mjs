// auth.test.mjs - API keys, per-key rate limits with OpenAI's headers,
// SIGHUP reload of the key file, prefix-cache isolation between keys, the
// metrics key. Server (production.test.sh, B): --api-key-file with
//   alpha 5 rpm | beta 200 tpm | gamma unlimited | eps unlimited
// and --metrics-key mk-test-metrics-9. Env: PAGODA_URL, PAGODA_MODEL,
// PAGODA_PID (for SIGHUP), PAGODA_KEYS_FILE.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import OpenAI from 'openai';

const URL_ = process.env.PAGODA_URL;
const MODEL = process.env.PAGODA_MODEL;
const PID = Number(process.env.PAGODA_PID);
const KEYS = process.env.PAGODA_KEYS_FILE;
const K = { alpha: 'sk-test-alpha-0001', beta: 'sk-test-beta-0002', gamma: 'sk-test-gamma-0003', eps: 'sk-test-eps-0004', delta: 'sk-test-delta-0005' };
const sdk = (key) => new OpenAI({ baseURL: `${URL_}/v1`, apiKey: key, maxRetries: 0, timeout: 60000 });

function post(path, key, body, headers = {}) {
  const h = { 'content-type': 'application/json', ...headers };
  if (key) h.authorization = `Bearer ${key}`;
  return fetch(`${URL_}${path}`, { method: 'POST', headers: h, body: JSON.stringify({ model: MODEL, ...body }) });
}

test('missing or wrong key -> 401 invalid_api_key; probes need none; /metrics needs its key', async () => {
  for (const key of [null, 'sk-wrong', K.alpha + 'x', K.alpha.slice(0, -1), '']) {
    const r = await post('/v1/completions', key, { prompt: 'x', max_tokens: 1 });
    assert.equal(r.status, 401, String(key));
    const e = (await r.json()).error;
    assert.equal(e.code, 'invalid_api_key');
    assert.equal(e.type, 'invalid_request_error');
    assert.ok(!JSON.stringify(e).includes('sk-'), 'the error never echoes a key');
  }
  for (const p of ['/v1/models']) assert.equal((await fetch(`${URL_}${p}`)).status, 401, p);
  assert.equal((await post('/tokenize', null, { prompt: 'x' })).status, 401);
  await assert.rejects(sdk('sk-wrong').models.list(), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401 && e.code === 'invalid_api_key');
  // the SDK with a good key
  assert.equal((await sdk(K.gamma).models.list()).data[0].id, MODEL);
  // probes are open
  assert.equal((await fetch(`${URL_}/health`)).status, 200);
  assert.equal((await fetch(`${URL_}/ready`)).status, 200);
  // /metrics: its own key, not an API key
  assert.equal((await fetch(`${URL_}/metrics`)).status, 401);
  assert.equal((await fetch(`${URL_}/metrics`, { headers: { authorization: `Bearer ${K.gamma}` } })).status, 401);
  const m = await fetch(`${URL_}/metrics`, { headers: { authorization: 'Bearer mk-test-metrics-9' } });
  assert.equal(m.status, 200);
  assert.match(await m.text(), /^pagoda:http_requests_total\{model_name="[^"]+",protocol="openai",status="401"\} \d+$/m);
});

test('requests per minute, per key, with x-ratelimit-* headers and Retry-After', async () => {
  const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'; // logged (production.test.sh checks)
  for (let i = 0; i < 5; i++) {
    const r = await post('/v1/completions', K.alpha, { prompt: 'Once upon a time', max_tokens: 2 }, { traceparent: tp });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-ratelimit-limit-requests'), '5');
    assert.equal(r.headers.get('x-ratelimit-remaining-requests'), String(4 - i));
    assert.match(r.headers.get('x-ratelimit-reset-requests'), /^(\d+ms|\d+s|\d+m\d+s)$/);
    assert.equal(r.headers.get('x-ratelimit-limit-tokens'), null, 'no token limit for alpha');
    assert.equal(r.headers.get('traceparent').split('-')[1], '4bf92f3577b34da6a3ce929d0e0e4736');
    await r.json();
  }
  const r = await post('/v1/completions', K.alpha, { prompt: 'Once upon a time', max_tokens: 2 });
  assert.equal(r.status, 429);
  const ra = Number(r.headers.get('retry-after'));
  assert.ok(ra >= 1 && ra <= 12, `Retry-After ${ra}`); // one request refills in 12 s
  assert.equal(r.headers.get('x-ratelimit-remaining-requests'), '0');
  assert.equal(r.headers.get('x-ratelimit-limit-requests'), '5');
  const e = (await r.json()).error;
  assert.equal(e.type, 'rate_limit_error');
  assert.equal(e.code, 'rate_limit_exceeded');
  assert.match(e.message, /alpha/);
  // the SDK sees a RateLimitError
  await assert.rejects(sdk(K.alpha).completions.create({ model: MODEL, prompt: 'x', max_tokens: 1 }), (x) => x instanceof OpenAI.RateLimitError);
  // other keys are not affected
  const g = await post('/v1/completions', K.gamma, { prompt: 'Once upon a time', max_tokens: 2 });
  assert.equal(g.status, 200);
  assert.equal(g.headers.get('x-ratelimit-limit-requests'), null);
  // metrics count the rejections
  const m = await (await fetch(`${URL_}/metrics`, { headers: { authorization: 'Bearer mk-test-metrics-9' } })).text();
  assert.ok(Number(/^pagoda:request_rejected_total\{[^}]*reason="rate_limit"\} (\d+)$/m.exec(m)[1]) >= 2);
});

test('tokens per minute: prompt + generated tokens are charged; then 429 with token headers', async () => {
  const body = { prompt: 'Once upon a time', max_tokens: 150, ignore_eos: true };
  const r1 = await post('/v1/completions', K.beta, body);
  assert.equal(r1.status, 200);
  assert.equal(r1.headers.get('x-ratelimit-limit-tokens'), '200');
  assert.equal(r1.headers.get('x-ratelimit-remaining-tokens'), '200'); // headers show the state at admission
  const u1 = (await r1.json()).usage;
  assert.equal(u1.total_tokens, 155);
  const r2 = await post('/v1/completions', K.beta, body);
  assert.equal(r2.status, 200);
  const rem = Number(r2.headers.get('x-ratelimit-remaining-tokens'));
  assert.ok(rem >= 45 && rem <= 60, `remaining ${rem} after 155 of 200`);
  await r2.json();
  const r3 = await post('/v1/completions', K.beta, body);
  assert.equal(r3.status, 429);
  assert.equal(r3.headers.get('x-ratelimit-remaining-tokens'), '0');
  assert.match(r3.headers.get('x-ratelimit-reset-tokens'), /^(\d+s|\d+m\d+s)$/);
  assert.ok(Number(r3.headers.get('retry-after')) >= 10);
  assert.equal((await r3.json()).error.code, 'rate_limit_exceeded_tokens');
});

test('prefix cache is isolated between keys (also with the same cache_salt)', async () => {
  const prompt = 'The old lighthouse keeper counted the ships every night, and one night he counted a ship that had no sails, no lights and no crew at all, only a small grey cat sitting at the wheel.';
  const cached = async (key, extra = {}) => {
    const r = await post('/v1/completions', key, { prompt, max_tokens: 1, ...extra });
    assert.equal(r.status, 200);
    return (await r.json()).usage.prompt_tokens_details.cached_tokens;
  };
  assert.equal(await cached(K.gamma), 0, 'first use');
  const hit = await cached(K.gamma);
  assert.ok(hit >= 16, `same key: a prefix-cache hit (${hit} tokens)`);
  assert.equal(await cached(K.eps), 0, 'another key: a miss');
  assert.ok((await cached(K.eps)) >= 16, 'and then its own hit');
  // an explicit cache_salt is combined with the key: tenants still never share
  assert.equal(await cached(K.gamma, { cache_salt: 'shared' }), 0, 'salted: a new namespace');
  assert.ok((await cached(K.gamma, { cache_salt: 'shared' })) >= 16);
  assert.equal(await cached(K.eps, { cache_salt: 'shared' }), 0, 'same salt, other key: a miss');
  // chat responses carry cached_tokens too
  const c1 = await sdk(K.gamma).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: prompt }], max_tokens: 1 });
  const c2 = await sdk(K.gamma).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: prompt }], max_tokens: 1 });
  assert.equal(c1.usage.prompt_tokens_details.cached_tokens, 0);
  assert.ok(c2.usage.prompt_tokens_details.cached_tokens >= 16);
});

test('SIGHUP reloads the key file: a new key works, a removed key is refused, buckets are kept', async () => {
  assert.equal((await post('/v1/completions', K.delta, { prompt: 'x', max_tokens: 1 })).status, 401);
  const text = fs.readFileSync(KEYS, 'utf8').replace(/^sk-test-gamma-0003.*$/m, '') + `${K.delta} delta 100 0\n`;
  fs.writeFileSync(KEYS, text);
  process.kill(PID, 'SIGHUP');
  let st = 0;
  const t0 = Date.now();
  do {
    await new Promise((r) => setTimeout(r, 50));
    st = (await post('/v1/completions', K.delta, { prompt: 'x', max_tokens: 1 })).status;
  } while (st !== 200 && Date.now() - t0 < 3000);
  assert.equal(st, 200, 'the added key works');
  assert.equal((await post('/v1/completions', K.gamma, { prompt: 'x', max_tokens: 1 })).status, 401, 'the removed key is refused');
  assert.equal((await post('/v1/completions', K.alpha, { prompt: 'x', max_tokens: 1 })).status, 429, "alpha's bucket survived the reload");
  // a broken file keeps the old keys
  fs.writeFileSync(KEYS, 'sk-ok ok 1 2 3 4 5\n');
  process.kill(PID, 'SIGHUP');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await post('/v1/completions', K.delta, { prompt: 'x', max_tokens: 1 })).status, 200);
});
