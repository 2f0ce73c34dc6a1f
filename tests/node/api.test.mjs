// api.test.mjs - `pagoda serve` through the official OpenAI Node.js SDK:
// completions and chat, streaming and not, n > 1, logprobs, stop strings,
// seed reproducibility, usage, and the SDK's error classes.
// Env: PAGODA_URL (http://host:port), PAGODA_MODEL (the served alias).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const URL_ = process.env.PAGODA_URL;
const MODEL = process.env.PAGODA_MODEL;
const client = new OpenAI({ baseURL: `${URL_}/v1`, apiKey: 'none', maxRetries: 0, timeout: 60000 });
const PROMPT = 'Once upon a time, there was a little';

async function tokenize(prompt, add_special_tokens = true) {
  const r = await fetch(`${URL_}/tokenize`, { method: 'POST', body: JSON.stringify({ prompt, add_special_tokens }) });
  assert.equal(r.status, 200);
  return r.json();
}

test('models, health, metrics', async () => {
  const list = await client.models.list();
  assert.equal(list.data.length, 1);
  assert.equal(list.data[0].id, MODEL);
  assert.equal(list.data[0].object, 'model');
  const h = await fetch(`${URL_}/health`);
  assert.equal(h.status, 200);
  const m = await (await fetch(`${URL_}/metrics`)).text();
  for (const k of ['pagoda:num_requests_running', 'pagoda:num_requests_waiting', 'pagoda:kv_cache_usage_perc', 'pagoda:kv_blocks_free'])
    assert.match(m, new RegExp(`^${k}\\{model_name="${MODEL}"\\} [0-9.]+$`, 'm'), k);
});

test('completion (greedy): text, usage, ids, finish_reason', async () => {
  const r = await client.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 24, temperature: 0 });
  assert.equal(r.object, 'text_completion');
  assert.match(r.id, /^cmpl-[0-9a-f]{8,}$/);
  assert.equal(r.model, MODEL);
  assert.equal(r.choices.length, 1);
  assert.ok(r.choices[0].text.length > 0);
  assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
  const t = await tokenize(PROMPT);
  assert.equal(r.usage.prompt_tokens, t.count);
  assert.ok(r.usage.completion_tokens >= 1 && r.usage.completion_tokens <= 24);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  if (r.choices[0].finish_reason === 'length') assert.equal(r.usage.completion_tokens, 24);
  // greedy is deterministic
  const r2 = await client.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 24, temperature: 0 });
  assert.equal(r2.choices[0].text, r.choices[0].text);
  assert.notEqual(r2.id, r.id);
  // a token-id prompt gives the same as its text
  const r3 = await client.completions.create({ model: MODEL, prompt: t.tokens, max_tokens: 24, temperature: 0 });
  assert.equal(r3.choices[0].text, r.choices[0].text);
});

test('completion streaming equals non-streaming; include_usage', async () => {
  const req = { model: MODEL, prompt: PROMPT, max_tokens: 30, temperature: 0.9, seed: 42 };
  const whole = await client.completions.create(req);
  const stream = await client.completions.create({ ...req, stream: true, stream_options: { include_usage: true } });
  let text = '', chunks = 0, finish = null, usage = null, ids = new Set(), afterUsage = false;
  for await (const c of stream) {
    ids.add(c.id);
    assert.equal(c.object, 'text_completion');
    if (c.usage) { usage = c.usage; assert.equal(c.choices.length, 0); afterUsage = true; continue; }
    assert.ok(!afterUsage, 'usage chunk must be last');
    chunks++;
    text += c.choices[0].text;
    if (c.choices[0].finish_reason) finish = c.choices[0].finish_reason;
  }
  assert.equal(ids.size, 1);
  assert.equal(text, whole.choices[0].text);
  assert.equal(finish, whole.choices[0].finish_reason);
  assert.ok(chunks >= 2, 'token-by-token chunks');
  assert.deepEqual(usage, whole.usage);
});

test('seed reproducibility and n > 1', async () => {
  const req = { model: MODEL, prompt: PROMPT, max_tokens: 20, temperature: 1.0, seed: 7, n: 3 };
  const a = await client.completions.create(req);
  const b = await client.completions.create(req);
  assert.equal(a.choices.length, 3);
  assert.deepEqual(a.choices.map((c) => c.index).sort(), [0, 1, 2]);
  assert.deepEqual(a.choices.map((c) => c.text), b.choices.map((c) => c.text));
  assert.ok(new Set(a.choices.map((c) => c.text)).size > 1, 'choices differ');
  const c = await client.completions.create({ ...req, seed: 8 });
  assert.notDeepEqual(c.choices.map((x) => x.text), a.choices.map((x) => x.text));
  // n > 1 streaming: every index gets its text and a finish_reason
  const s = await client.completions.create({ ...req, stream: true });
  const texts = ['', '', ''], fins = [null, null, null];
  for await (const ch of s) for (const x of ch.choices) { texts[x.index] += x.text; if (x.finish_reason) fins[x.index] = x.finish_reason; }
  assert.deepEqual(texts, a.choices.map((x) => x.text));
  assert.ok(fins.every((f) => f === 'stop' || f === 'length'));
  // usage counts the prompt once and every choice's tokens
  const t = await tokenize(PROMPT);
  assert.equal(a.usage.prompt_tokens, t.count);
  assert.ok(a.usage.completion_tokens >= 3);
});

test('prompt lists give prompt * n choices', async () => {
  const r = await client.completions.create({ model: MODEL, prompt: ['Tom had a', 'The sun'], n: 2, max_tokens: 8, temperature: 0 });
  assert.equal(r.choices.length, 4);
  assert.deepEqual(r.choices.map((c) => c.index), [0, 1, 2, 3]);
  assert.equal(r.choices[0].text, r.choices[1].text); // greedy: same per prompt
  const one = await client.completions.create({ model: MODEL, prompt: 'The sun', max_tokens: 8, temperature: 0 });
  assert.equal(r.choices[2].text, one.choices[0].text);
});

test('legacy logprobs and echo', async () => {
  const r = await client.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 8, temperature: 0, logprobs: 3 });
  const lp = r.choices[0].logprobs;
  assert.equal(lp.tokens.length, r.usage.completion_tokens);
  assert.equal(lp.token_logprobs.length, lp.tokens.length);
  assert.equal(lp.top_logprobs.length, lp.tokens.length);
  assert.equal(lp.text_offset.length, lp.tokens.length);
  for (let i = 0; i < lp.tokens.length; i++) {
    assert.ok(lp.token_logprobs[i] <= 0);
    const tops = Object.entries(lp.top_logprobs[i]);
    assert.ok(tops.length >= 1 && tops.length <= 3);
    // greedy: the chosen token is the best alternative
    const best = Math.max(...tops.map(([, v]) => v));
    assert.ok(Math.abs(best - lp.token_logprobs[i]) < 1e-5);
  }
  assert.ok(lp.text_offset.every((o, i) => i === 0 || o >= lp.text_offset[i - 1]));
  const e = await client.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 8, temperature: 0, echo: true });
  assert.equal(e.choices[0].text, PROMPT + r.choices[0].text);
});

test('stop strings', async () => {
  const base = await client.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 40, temperature: 0 });
  const text = base.choices[0].text;
  assert.ok(text.length > 10);
  const stop = text.slice(6, 9); // a substring the greedy text is known to contain
  const cut = text.slice(0, text.indexOf(stop));
  const r = await client.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 40, temperature: 0, stop: [stop, 'zzzzqqq'] });
  assert.equal(r.choices[0].text, cut);
  assert.equal(r.choices[0].finish_reason, 'stop');
  const s = await client.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 40, temperature: 0, stop, stream: true });
  let st = '';
  for await (const c of s) st += c.choices[0]?.text ?? '';
  assert.equal(st, cut);
});

test('chat completions: message, streaming deltas, logprobs', async () => {
  const messages = [{ role: 'system', content: 'You tell stories.' }, { role: 'user', content: 'Tell me about a cat.' }];
  const r = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 16, temperature: 0.7, seed: 3, logprobs: true, top_logprobs: 2 });
  assert.equal(r.object, 'chat.completion');
  assert.match(r.id, /^chatcmpl-/);
  const ch = r.choices[0];
  assert.equal(ch.message.role, 'assistant');
  assert.equal(typeof ch.message.content, 'string');
  assert.ok(['stop', 'length'].includes(ch.finish_reason));
  const content = ch.logprobs.content;
  assert.equal(content.length, r.usage.completion_tokens);
  for (const t of content) {
    assert.equal(typeof t.token, 'string');
    assert.ok(t.logprob <= 0);
    assert.ok(Array.isArray(t.bytes));
    assert.equal(t.top_logprobs.length, 2);
    assert.ok(t.top_logprobs[0].logprob >= t.top_logprobs[1].logprob);
  }
  assert.equal(Buffer.from(content.flatMap((t) => t.bytes)).toString('utf8'), ch.message.content);

  const stream = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 16, temperature: 0.7, seed: 3, stream: true, stream_options: { include_usage: true } });
  let first = null, text = '', finish = null, usage = null;
  for await (const c of stream) {
    assert.equal(c.object, 'chat.completion.chunk');
    if (c.usage) { usage = c.usage; continue; }
    if (!first) first = c.choices[0].delta;
    text += c.choices[0].delta.content ?? '';
    if (c.choices[0].finish_reason) finish = c.choices[0].finish_reason;
  }
  assert.deepEqual(first, { role: 'assistant', content: '' });
  assert.equal(text, ch.message.content);
  assert.equal(finish, ch.finish_reason);
  assert.equal(usage.completion_tokens, r.usage.completion_tokens);
  assert.equal(usage.prompt_tokens, r.usage.prompt_tokens);
  // max_completion_tokens is honoured; content parts are accepted
  const r2 = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }], max_completion_tokens: 3, temperature: 0, ignore_eos: true });
  assert.equal(r2.usage.completion_tokens, 3);
  assert.equal(r2.choices[0].finish_reason, 'length');
});

test('sampling extensions are accepted and act', async () => {
  // top_k 1 is greedy whatever the temperature
  const g = await client.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 12, temperature: 0 });
  const k = await client.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 12, temperature: 1.5, top_k: 1, seed: 5 });
  assert.equal(k.choices[0].text, g.choices[0].text);
  // logit_bias +100 forces one token
  const t = await tokenize(' cat', false);
  const id = t.tokens[t.tokens.length - 1];
  const b = await client.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 4, temperature: 0, logit_bias: { [id]: 100 }, logprobs: 0 });
  const toks = b.choices[0].logprobs.tokens;
  assert.equal(toks.length, 4);
  const d = await fetch(`${URL_}/detokenize`, { method: 'POST', body: JSON.stringify({ tokens: [id] }) });
  const piece = (await d.json()).prompt;
  assert.ok(piece.length > 0);
  for (const x of toks) assert.equal(x.trim(), piece.trim());
  // penalties, min_p, repetition_penalty, ignore_eos: valid values are accepted
  const p = await client.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 20, temperature: 0.8, seed: 1, presence_penalty: 1.5, frequency_penalty: 0.5, min_p: 0.05, repetition_penalty: 1.2, ignore_eos: true, top_p: 0.9, user: 'u1' });
  assert.equal(p.usage.completion_tokens, 20);
});

test('errors map to the SDK error classes', async () => {
  await assert.rejects(client.completions.create({ model: 'no-such-model', prompt: 'x', max_tokens: 2 }), (e) => e instanceof OpenAI.NotFoundError && e.status === 404);
  await assert.rejects(client.completions.create({ model: MODEL, prompt: 'x', max_tokens: 2, temperature: 5 }), (e) => e instanceof OpenAI.BadRequestError && e.param === 'temperature');
  await assert.rejects(client.completions.create({ model: MODEL, prompt: 'x', max_tokens: 'many' }), OpenAI.BadRequestError);
  await assert.rejects(client.completions.create({ model: MODEL, prompt: 'x', n: 0 }), OpenAI.BadRequestError);
  await assert.rejects(client.completions.create({ model: MODEL, prompt: [999999], max_tokens: 2 }), OpenAI.BadRequestError);
  await assert.rejects(client.completions.create({ model: MODEL, prompt: 'x', logit_bias: { abc: 1 } }), OpenAI.BadRequestError);
  await assert.rejects(client.completions.create({ model: MODEL, prompt: 'x', stop: [''] }), OpenAI.BadRequestError);
  await assert.rejects(client.chat.completions.create({ model: MODEL, messages: [] }), OpenAI.BadRequestError);
  await assert.rejects(client.chat.completions.create({ model: MODEL, messages: [{ role: 'wizard', content: 'hi' }] }), OpenAI.BadRequestError);
  await assert.rejects(client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], top_logprobs: 3 }), OpenAI.BadRequestError);
  // prompt longer than the context: 400, never truncated
  const max = (await tokenize('x')).max_model_len;
  const long = Array(max + 5).fill(5);
  await assert.rejects(client.completions.create({ model: MODEL, prompt: long, max_tokens: 1 }), (e) => e instanceof OpenAI.BadRequestError && e.code === 'context_length_exceeded');
  await assert.rejects(client.completions.create({ model: MODEL, prompt: [1, 2, 3], max_tokens: max }), (e) => e.status === 400 && e.code === 'context_length_exceeded');
  // body over --max-body-bytes (256 KiB in server.test.sh): 413
  await assert.rejects(client.completions.create({ model: MODEL, prompt: 'a'.repeat(300000), max_tokens: 1 }), (e) => e instanceof OpenAI.APIError && e.status === 413);
  // the error body is OpenAI's error object, with x-request-id
  const r = await fetch(`${URL_}/v1/completions`, { method: 'POST', headers: { 'x-request-id': 'my-req-1' }, body: '{"prompt": 5}' });
  assert.equal(r.status, 400);
  assert.equal(r.headers.get('x-request-id'), 'my-req-1');
  const j = await r.json();
  assert.deepEqual(Object.keys(j.error).sort(), ['code', 'message', 'param', 'type']);
  // unknown path 404, wrong method 405
  assert.equal((await fetch(`${URL_}/v1/nothing`)).status, 404);
  const w = await fetch(`${URL_}/v1/completions`);
  assert.equal(w.status, 405);
  assert.equal(w.headers.get('allow'), 'POST');
  // the server is still fine
  const ok = await client.completions.create({ model: MODEL, prompt: 'x', max_tokens: 1 });
  assert.equal(ok.choices.length, 1);
});

test('tokenize / detokenize', async () => {
  const t = await tokenize(PROMPT);
  assert.equal(t.count, t.tokens.length);
  assert.ok(t.max_model_len > 0);
  const d = await (await fetch(`${URL_}/detokenize`, { method: 'POST', body: JSON.stringify({ tokens: t.tokens }) })).json();
  assert.equal(d.prompt, PROMPT);
  const nb = await tokenize(PROMPT, false);
  assert.equal(nb.count, t.count - 1); // no BOS
  assert.equal((await fetch(`${URL_}/detokenize`, { method: 'POST', body: '{"tokens":[-1]}' })).status, 400);
});

test('special-token text in a completions prompt is plain text unless parse_special is set', async () => {
  // "</s>" is stories260K's end-of-sequence control token (id 2)
  const plain = await client.completions.create({ model: MODEL, prompt: 'Hi </s>', max_tokens: 1, temperature: 0 });
  const parsed = await client.completions.create({ model: MODEL, prompt: 'Hi </s>', max_tokens: 1, temperature: 0,
                                                   parse_special: true });
  // as text, "</s>" takes several tokens; parsed, it is the single control token
  assert.ok(plain.usage.prompt_tokens > parsed.usage.prompt_tokens,
            `${plain.usage.prompt_tokens} vs ${parsed.usage.prompt_tokens}`);
});
