// anthropic.test.mjs - the Anthropic Messages API (POST /v1/messages,
// /v1/messages/count_tokens) through the official @anthropic-ai/sdk against
// `pagoda serve` on stories260K (run by tests/anthropic.test.sh).
// Server A (PAGODA_KEY set): Qwen 2.5 template (Hermes tool calls), an API key.
// Server B (PAGODA_THINKING=1): DeepSeek-R1 template (the prompt opens
// <think>, so the answer is reasoning: thinking blocks), no key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';

const URL_ = process.env.PAGODA_URL;
const MODEL = process.env.PAGODA_MODEL;
const KEY = process.env.PAGODA_KEY || 'none';
const THINKING = process.env.PAGODA_THINKING === '1';
const client = new Anthropic({ baseURL: URL_, apiKey: KEY, maxRetries: 0, timeout: 120000 });
const ASK = [{ role: 'user', content: 'What is the weather in Paris?' }];

// bounded schema: the forced call's grammar is finite, so the call ends
const WEATHER = {
  type: 'object',
  properties: { city: { type: 'string', minLength: 1, maxLength: 12 }, unit: { enum: ['celsius', 'fahrenheit'] } },
  required: ['city', 'unit'],
  additionalProperties: false,
};
const TOOLS = [{ name: 'get_weather', description: 'Current weather in a city', input_schema: WEATHER }];

async function metricsText() {
  return (await fetch(`${URL_}/metrics`)).text();
}
function metric(text, name, labels) {
  const esc = (x) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`^pagoda:${name}\\{model_name="[^"]*",${esc(labels)}\\} ([0-9.e+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

// the raw events of one streamed request, and the text of its text blocks
async function streamEvents(body) {
  const s = await client.messages.create({ ...body, stream: true });
  const ev = [];
  for await (const e of s) ev.push(e);
  return ev;
}
const textOf = (ev, kind = 'text_delta', key = 'text') =>
  ev.filter((e) => e.type === 'content_block_delta' && e.delta.type === kind).map((e) => e.delta[key]).join('');

// the raw SSE frames (the SDK drops pings): [{event, data}], each event
// name equal to its data's type
async function rawEvents(body) {
  const r = await fetch(`${URL_}/v1/messages`, {
    method: 'POST', headers: { 'x-api-key': KEY, 'content-type': 'application/json' }, body: JSON.stringify({ ...body, stream: true }),
  });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/event-stream/);
  const frames = (await r.text()).split('\n\n').filter((f) => f.length);
  return frames.map((f) => {
    const m = /^event: ([a-z_]+)\ndata: (.*)$/s.exec(f);
    assert.ok(m, `malformed frame ${JSON.stringify(f)}`);
    const data = JSON.parse(m[2]);
    assert.equal(data.type, m[1]);
    return data;
  });
}

// the order Anthropic's stream follows: message_start, ping (the raw
// stream; the SDK drops it), blocks (start, deltas of that block, stop),
// message_delta, message_stop
function checkOrder(ev, raw = false) {
  const types = ev.map((e) => e.type);
  assert.equal(types[0], 'message_start');
  if (raw) assert.equal(types[1], 'ping');
  assert.equal(types.at(-1), 'message_stop');
  assert.equal(types.at(-2), 'message_delta');
  let open = -1, next = 0;
  for (const e of ev.slice(1, -2)) {
    if (e.type === 'ping') continue;
    if (e.type === 'content_block_start') {
      assert.equal(open, -1, 'a block starts while another is open');
      assert.equal(e.index, next++);
      open = e.index;
    } else if (e.type === 'content_block_delta') {
      assert.equal(e.index, open, 'a delta outside its block');
    } else if (e.type === 'content_block_stop') {
      assert.equal(e.index, open);
      open = -1;
    } else {
      assert.fail(`unexpected event ${e.type} inside the message`);
    }
  }
  assert.equal(open, -1, 'a block was left open');
  return types;
}

if (!THINKING) {
  test('create: a message with text, usage and a stop reason', async () => {
    const r = await client.messages.create({ model: MODEL, max_tokens: 24, messages: ASK, metadata: { user_id: 'u-1' } });
    assert.match(r.id, /^msg_[0-9a-f]{24}$/);
    assert.equal(r.type, 'message');
    assert.equal(r.role, 'assistant');
    assert.equal(r.model, MODEL);
    assert.equal(r.content.length, 1);
    assert.equal(r.content[0].type, 'text');
    assert.ok(r.content[0].text.length > 0);
    assert.ok(['end_turn', 'max_tokens'].includes(r.stop_reason), r.stop_reason);
    assert.equal(r.stop_sequence, null);
    assert.ok(r.usage.output_tokens >= 1 && r.usage.output_tokens <= 24);
    assert.ok(r.usage.input_tokens + r.usage.cache_read_input_tokens > 10);
    assert.equal(r.usage.cache_creation_input_tokens, 0);
    // the same prompt again: its prefix is read from the cache
    const r2 = await client.messages.create({ model: MODEL, max_tokens: 4, messages: ASK });
    assert.ok(r2.usage.cache_read_input_tokens > 0, JSON.stringify(r2.usage));
    assert.equal(r2.usage.input_tokens + r2.usage.cache_read_input_tokens, r.usage.input_tokens + r.usage.cache_read_input_tokens);
  });

  test('system prompt (string and text blocks) and stop_sequences', async () => {
    const base = { model: MODEL, max_tokens: 60, messages: ASK, temperature: 0.9, seed: 3 };
    const a = await client.messages.create({ ...base, system: 'You tell short stories.' });
    const b = await client.messages.create({ ...base, system: [{ type: 'text', text: 'You tell short stories.' }] });
    assert.deepEqual(a.content, b.content); // the same rendered prompt
    const text = a.content[0].text;
    // a stop sequence taken from the answer itself: the answer ends before it
    const m = /\s\S{2,}/.exec(text.slice(5));
    assert.ok(m, `no word to stop at in ${JSON.stringify(text)}`);
    const stop = m[0];
    const c = await client.messages.create({ ...base, system: 'You tell short stories.', stop_sequences: ['zzzq', stop] });
    assert.equal(c.stop_reason, 'stop_sequence');
    assert.equal(c.stop_sequence, stop);
    assert.equal(c.content[0].text, text.slice(0, text.indexOf(stop)));
    const ev = await streamEvents({ ...base, system: 'You tell short stories.', stop_sequences: ['zzzq', stop] });
    assert.equal(textOf(ev), c.content[0].text);
    const md = ev.find((e) => e.type === 'message_delta');
    assert.equal(md.delta.stop_reason, 'stop_sequence');
    assert.equal(md.delta.stop_sequence, stop);
  });

  test('stream: every event in order; streamed text == created text for the same seed', async () => {
    const body = { model: MODEL, max_tokens: 40, messages: ASK, temperature: 0.9, top_p: 0.95, top_k: 40, seed: 42 };
    const whole = await client.messages.create(body);
    const raw = await rawEvents(body);
    const types = checkOrder(raw, true);
    for (const t of ['message_start', 'ping', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop'])
      assert.ok(types.includes(t), t);
    assert.equal(textOf(raw), whole.content[0].text);
    const ev = await streamEvents(body); // through the SDK: the same events but the pings
    assert.deepEqual(ev.map((e) => e.type), types.filter((t) => t !== 'ping'));
    const start = ev[0].message;
    assert.match(start.id, /^msg_/);
    assert.equal(start.role, 'assistant');
    assert.deepEqual(start.content, []);
    assert.equal(start.stop_reason, null);
    assert.equal(ev[1].content_block.type, 'text');
    assert.equal(textOf(ev), whole.content[0].text);
    const md = ev.at(-2);
    assert.equal(md.delta.stop_reason, whole.stop_reason);
    assert.equal(md.usage.output_tokens, whole.usage.output_tokens);
    // the SDK's accumulating helper agrees
    const fin = await client.messages.stream(body).finalMessage();
    assert.equal(fin.content[0].text, whole.content[0].text);
    assert.equal(fin.usage.output_tokens, whole.usage.output_tokens);
    assert.equal(fin.stop_reason, whole.stop_reason);
  });

  test('forced tool_use (tool_choice tool) and a tool_result round trip', async () => {
    const body = { model: MODEL, max_tokens: 200, messages: ASK, tools: TOOLS, tool_choice: { type: 'tool', name: 'get_weather' }, temperature: 0.8, seed: 5 };
    const r = await client.messages.create(body);
    assert.equal(r.stop_reason, 'tool_use');
    const uses = r.content.filter((b) => b.type === 'tool_use');
    assert.equal(uses.length, 1);
    const use = uses[0];
    assert.match(use.id, /^toolu_/);
    assert.equal(use.name, 'get_weather');
    assert.equal(typeof use.input, 'object');
    assert.ok(typeof use.input.city === 'string' && use.input.city.length >= 1 && use.input.city.length <= 12, JSON.stringify(use.input));
    assert.ok(['celsius', 'fahrenheit'].includes(use.input.unit));
    assert.deepEqual(Object.keys(use.input).sort(), ['city', 'unit']);
    // streamed: a tool_use block whose input_json_delta pieces make the same input
    const ev = await streamEvents(body);
    checkOrder(ev);
    const st = ev.find((e) => e.type === 'content_block_start' && e.content_block.type === 'tool_use');
    assert.ok(st, 'no tool_use block in the stream');
    assert.equal(st.content_block.name, 'get_weather');
    assert.deepEqual(st.content_block.input, {});
    assert.deepEqual(JSON.parse(textOf(ev, 'input_json_delta', 'partial_json')), use.input);
    assert.equal(ev.at(-2).delta.stop_reason, 'tool_use');
    const fin = await client.messages.stream(body).finalMessage();
    assert.deepEqual(fin.content.find((b) => b.type === 'tool_use').input, use.input);
    // the result goes back; the model answers (tool_choice auto)
    const msgs = [...ASK, { role: 'assistant', content: r.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '18 degrees, sunny' }, { type: 'text', text: 'Thanks!' }] }];
    const r2 = await client.messages.create({ model: MODEL, max_tokens: 16, messages: msgs, tools: TOOLS, tool_choice: { type: 'none' } });
    assert.equal(r2.content[0].type, 'text');
    assert.ok(r2.stop_reason === 'max_tokens' || r2.stop_reason === 'end_turn');
    // the tool result is in the prompt: more tokens than without it
    const n1 = await client.messages.countTokens({ model: MODEL, messages: msgs, tools: TOOLS });
    const msgs2 = structuredClone(msgs);
    msgs2[2].content[0].content = [{ type: 'text', text: '18 degrees, sunny, light wind from the west' }];
    const n2 = await client.messages.countTokens({ model: MODEL, messages: msgs2, tools: TOOLS });
    assert.ok(n2.input_tokens > n1.input_tokens, `${n2.input_tokens} > ${n1.input_tokens}`);
    // a tool_result that answers no tool_use
    await assert.rejects(client.messages.create({ model: MODEL, max_tokens: 4, messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_nope', content: 'x' }] }] }),
      (e) => e.status === 400 && /tool_use_id/.test(e.error.error.message));
  });

  test('count_tokens: exactly the prompt a request renders (system and tools included)', async () => {
    const body = { model: MODEL, system: 'Be brief.', messages: ASK, tools: TOOLS };
    const n = await client.messages.countTokens(body);
    assert.ok(Number.isInteger(n.input_tokens) && n.input_tokens > 10);
    const r = await client.messages.create({ ...body, max_tokens: 2 });
    assert.equal(r.usage.input_tokens + r.usage.cache_read_input_tokens, n.input_tokens);
    const bare = await client.messages.countTokens({ model: MODEL, messages: ASK });
    assert.ok(bare.input_tokens < n.input_tokens, 'tools and system add tokens');
    const r0 = await client.messages.create({ model: MODEL, messages: ASK, max_tokens: 2 });
    assert.equal(r0.usage.input_tokens + r0.usage.cache_read_input_tokens, bare.input_tokens);
    // tool_choice none: the tools are not rendered, in both
    const nn = await client.messages.countTokens({ ...body, tool_choice: { type: 'none' } });
    const rn = await client.messages.create({ ...body, tool_choice: { type: 'none' }, max_tokens: 2 });
    assert.equal(rn.usage.input_tokens + rn.usage.cache_read_input_tokens, nn.input_tokens);
    assert.ok(nn.input_tokens < n.input_tokens);
  });

  test('errors in Anthropic\'s shape: 400, 401, 404, 429', async () => {
    const bad = async (body, re, status = 400) => {
      await assert.rejects(client.messages.create({ model: MODEL, messages: ASK, max_tokens: 4, ...body }), (e) => {
        assert.equal(e.status, status);
        assert.equal(e.error.type, 'error');
        assert.equal(e.error.error.type, status === 404 ? 'not_found_error' : 'invalid_request_error');
        assert.match(e.error.error.message, re);
        return true;
      });
    };
    await bad({ max_tokens: undefined }, /'max_tokens' is required/);
    await bad({ max_tokens: 0 }, /max_tokens/);
    await bad({ messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } }] }] }, /image blocks are not supported/);
    await bad({ messages: [{ role: 'system', content: 'x' }] }, /role must be 'user' or 'assistant'/);
    await bad({ messages: [] }, /must not be empty/);
    await bad({ messages: [...ASK, { role: 'assistant', content: 'Sure' }] }, /prefill/);
    await bad({ tools: TOOLS, tool_choice: { type: 'tool', name: 'nope' } }, /not in 'tools'/);
    await bad({ tool_choice: { type: 'any' } }, /needs 'tools'/);
    await bad({ tools: [{ type: 'web_search_20250305', name: 'web_search' }] }, /server tool/);
    await bad({ temperature: 'hot' }, /'temperature' must be a number/);
    await bad({ stop_sequences: [''] }, /stop_sequences\[0\]/);
    await bad({ frequency_penalty: 1 }, /unknown field 'frequency_penalty'/);
    await bad({ model: 'claude-x' }, /does not exist/, 404);
    await bad({ max_tokens: 100000 }, /maximum context length/);
    // invalid JSON
    const raw = await fetch(`${URL_}/v1/messages`, { method: 'POST', headers: { 'x-api-key': KEY, 'content-type': 'application/json' }, body: '{"model": ' });
    assert.equal(raw.status, 400);
    const rb = await raw.json();
    assert.equal(rb.type, 'error');
    assert.equal(rb.error.type, 'invalid_request_error');
    // a wrong x-api-key: 401 authentication_error (raised by the HTTP layer)
    const wrong = new Anthropic({ baseURL: URL_, apiKey: 'sk-wrong', maxRetries: 0 });
    await assert.rejects(wrong.messages.create({ model: MODEL, messages: ASK, max_tokens: 4 }), (e) => {
      assert.equal(e.status, 401);
      assert.equal(e.error.type, 'error');
      assert.equal(e.error.error.type, 'authentication_error');
      return true;
    });
    await assert.rejects(wrong.messages.countTokens({ model: MODEL, messages: ASK }), (e) => e.status === 401 && e.error.error.type === 'authentication_error');
    // the same key works as a Bearer token, and x-api-key works on the OpenAI routes (one key set)
    const bearer = await fetch(`${URL_}/v1/messages`, { method: 'POST', headers: { authorization: `Bearer ${KEY}` }, body: JSON.stringify({ model: MODEL, messages: ASK, max_tokens: 2 }) });
    assert.equal(bearer.status, 200);
    assert.equal((await fetch(`${URL_}/v1/models`, { headers: { 'x-api-key': KEY } })).status, 200);
    assert.equal((await fetch(`${URL_}/v1/models`, { headers: { 'x-api-key': 'sk-wrong' } })).status, 401);
    // anthropic-version / anthropic-beta are accepted (the SDK sends the first)
    const hv = await fetch(`${URL_}/v1/messages`, { method: 'POST', headers: { 'x-api-key': KEY, 'anthropic-version': '2023-06-01', 'anthropic-beta': 'tools-2024-04-04' }, body: JSON.stringify({ model: MODEL, messages: ASK, max_tokens: 2 }) });
    assert.equal(hv.status, 200);
    // a key over its per-key request limit (1 per minute): 429 rate_limit_error with Retry-After
    const lim = new Anthropic({ baseURL: URL_, apiKey: process.env.PAGODA_LIMITED_KEY, maxRetries: 0 });
    await lim.messages.create({ model: MODEL, messages: ASK, max_tokens: 2 });
    await assert.rejects(lim.messages.create({ model: MODEL, messages: ASK, max_tokens: 2 }), (e) => {
      assert.equal(e.status, 429);
      assert.equal(e.error.error.type, 'rate_limit_error');
      assert.match(e.error.error.message, /Rate limit reached for key 'limited'/);
      assert.ok(Number(e.headers.get('retry-after')) >= 1);
      return true;
    });
    // an unknown route under /v1/messages/: 404 not_found_error
    await assert.rejects(client.messages.batches.create({ requests: [] }), (e) => e.status === 404 && e.error.error.type === 'not_found_error');
    // counted under protocol="anthropic"
    const t = await metricsText();
    assert.ok(metric(t, 'http_requests_total', 'protocol="anthropic",status="401"') >= 2);
    assert.ok(metric(t, 'http_requests_total', 'protocol="anthropic",status="400"') >= 10);
    assert.ok(metric(t, 'http_requests_total', 'protocol="anthropic",status="200"') >= 5);
    assert.equal(metric(t, 'request_rejected_total', 'protocol="anthropic",reason="rate_limit"'), 1);
  });

  test('a client that leaves mid-stream cancels its request', async () => {
    // a seed whose answer runs to max_tokens, so the stream is surely still going when the client leaves
    const body = { model: MODEL, max_tokens: 300, messages: ASK, temperature: 1.0 };
    let seed = 0;
    for (let s = 100; s < 110 && !seed; s++) {
      const r = await client.messages.create({ ...body, seed: s });
      if (r.stop_reason === 'max_tokens') seed = s;
    }
    assert.ok(seed, 'no seed runs to max_tokens');
    const t0 = await metricsText();
    const gone0 = metric(t0, 'client_disconnects_total', 'protocol="anthropic"');
    const abort0 = metric(t0, 'request_success_total', 'protocol="anthropic",finished_reason="abort"');
    const stream = await client.messages.create({ ...body, seed, stream: true });
    let deltas = 0;
    for await (const e of stream) {
      if (e.type === 'content_block_delta' && ++deltas === 3) break; // leaving the loop aborts the request
    }
    let t, gone = gone0, abort = abort0;
    for (let i = 0; i < 200 && (gone === gone0 || abort === abort0); i++) {
      await new Promise((r) => setTimeout(r, 100));
      t = await metricsText();
      gone = metric(t, 'client_disconnects_total', 'protocol="anthropic"');
      abort = metric(t, 'request_success_total', 'protocol="anthropic",finished_reason="abort"');
    }
    assert.equal(gone, gone0 + 1, 'client_disconnects_total{protocol="anthropic"}');
    assert.equal(abort, abort0 + 1, 'request_success_total{finished_reason="abort"}');
    const st = await (await fetch(`${URL_}/v1/stats`)).json();
    assert.equal(st.protocols.anthropic.disconnects, gone);
    assert.ok(st.protocols.anthropic.requests >= 10);
    assert.equal(st.running.filter((x) => x.protocol === 'anthropic').length, 0);
  });
} else {
  test('thinking: reasoning becomes thinking blocks (stream: thinking_delta), same text both ways', async () => {
    const body = { model: MODEL, max_tokens: 30, messages: ASK, temperature: 0.9, seed: 9 };
    const r = await client.messages.create(body);
    assert.equal(r.content[0].type, 'thinking');
    assert.ok(r.content[0].thinking.length > 0);
    const ev = await streamEvents(body);
    checkOrder(ev);
    assert.equal(ev[1].content_block.type, 'thinking');
    const raw = await rawEvents(body);
    checkOrder(raw, true);
    assert.equal(textOf(raw, 'thinking_delta', 'thinking'), r.content[0].thinking);
    assert.equal(textOf(ev, 'thinking_delta', 'thinking'), r.content[0].thinking);
    assert.equal(textOf(ev), r.content.filter((b) => b.type === 'text').map((b) => b.text).join(''));
    const fin = await client.messages.stream(body).finalMessage();
    assert.equal(fin.content[0].thinking, r.content[0].thinking);
  });
}
