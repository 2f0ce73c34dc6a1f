// responses.test.mjs - the OpenAI Responses API (/v1/responses) through the
// official OpenAI Node.js SDK (client.responses) against `pagoda serve` with
// stories260K under the Qwen 2.5 chat template: create, stream (event order,
// sequence numbers), streamed == whole for one seed, previous_response_id
// (history counted in input_tokens; 404 for an unknown id), retrieve and
// delete, store false, a forced function call (arguments validated with
// python3-jsonschema) and its function_call_output round trip, json_schema
// text format, refused inputs (400 naming the field), and a client that
// drops a stream cancels its request (/metrics counter).
// Env: PAGODA_URL, PAGODA_MODEL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import OpenAI from 'openai';

const URL_ = process.env.PAGODA_URL;
const MODEL = process.env.PAGODA_MODEL;
const client = new OpenAI({ baseURL: `${URL_}/v1`, apiKey: 'none', maxRetries: 0, timeout: 120000 });

function validate(schema, instance) {
  const py = 'import json,sys,jsonschema\n' +
    's,i=json.load(sys.stdin)\n' +
    'try:\n    jsonschema.validate(i, s); print("")\n' +
    'except jsonschema.ValidationError as e:\n    print("invalid: " + e.message)\n';
  const r = spawnSync('python3', ['-c', py], { input: JSON.stringify([schema, instance]), encoding: 'utf8' });
  assert.equal(r.status, 0, `python3-jsonschema failed: ${r.stderr}`);
  return r.stdout.trim();
}

const WEATHER = {
  type: 'object',
  properties: {
    city: { type: 'string', minLength: 1, maxLength: 12 },
    unit: { enum: ['celsius', 'fahrenheit'] },
  },
  required: ['city', 'unit'],
  additionalProperties: false,
};
const TOOL = { type: 'function', name: 'get_weather', description: 'Current weather in a city', parameters: WEATHER, strict: true };

// a series of /metrics; with protocol set, that protocol's (the request
// series are labelled protocol="openai|responses|...")
// (summed over its other labels)
async function metric(name, protocol) {
  const t = await (await fetch(`${URL_}/metrics`)).text();
  const lines = t.split('\n').filter((l) => (l.startsWith(`pagoda:${name}{`) || l.startsWith(`pagoda:${name} `)) &&
    (!protocol || l.includes(`protocol="${protocol}"`)));
  assert.ok(lines.length, `metric ${name} ${protocol ?? ''} missing`);
  return lines.reduce((a, l) => a + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

async function status(p, want, param) {
  try {
    await p;
    assert.fail(`expected ${want}`);
  } catch (e) {
    assert.ok(e instanceof OpenAI.APIError, String(e));
    assert.equal(e.status, want, e.message);
    if (param !== undefined) assert.equal(e.error?.param ?? e.param, param, JSON.stringify(e.error));
    return e;
  }
}

test('create: the response object', async () => {
  const r = await client.responses.create({
    model: MODEL, input: 'Once upon a time', instructions: 'Tell a story.', max_output_tokens: 12,
    temperature: 0.7, seed: 3, metadata: { run: 'a' }, user: 'u1',
  });
  assert.match(r.id, /^resp_[0-9a-f]{24}$/);
  assert.equal(r.object, 'response');
  assert.ok(Number.isInteger(r.created_at));
  assert.ok(['completed', 'incomplete'].includes(r.status), r.status);
  if (r.status === 'incomplete') assert.deepEqual(r.incomplete_details, { reason: 'max_output_tokens' });
  assert.equal(r.model, MODEL);
  assert.equal(r.instructions, 'Tell a story.');
  assert.equal(r.max_output_tokens, 12);
  assert.equal(r.temperature, 0.7);
  assert.deepEqual(r.metadata, { run: 'a' });
  assert.equal(r.user, 'u1');
  assert.equal(r.store, true);
  assert.equal(r.error, null);
  assert.equal(r.output.length, 1);
  const m = r.output[0];
  assert.equal(m.type, 'message');
  assert.equal(m.role, 'assistant');
  assert.match(m.id, /^msg_/);
  assert.equal(m.content[0].type, 'output_text');
  assert.deepEqual(m.content[0].annotations, []);
  assert.equal(r.output_text, m.content[0].text); // the SDK's convenience
  assert.ok(r.output_text.length > 0);
  const u = r.usage;
  assert.ok(u.input_tokens > 0 && u.output_tokens > 0 && u.output_tokens <= 12, JSON.stringify(u));
  assert.equal(u.total_tokens, u.input_tokens + u.output_tokens);
  assert.equal(typeof u.input_tokens_details.cached_tokens, 'number');
  assert.equal(u.output_tokens_details.reasoning_tokens, 0);
});

function checkStream(events) {
  events.forEach((e, i) => assert.equal(e.sequence_number, i, `sequence_number of event ${i} (${e.type})`));
  const types = events.map((e) => e.type);
  assert.equal(types[0], 'response.created');
  assert.equal(types[1], 'response.in_progress');
  const last = events[events.length - 1];
  assert.ok(['response.completed', 'response.incomplete'].includes(last.type), last.type);
  assert.equal(events[0].response.status, 'in_progress');
  assert.equal(events[0].response.id, last.response.id);
  return { types, last };
}

test('stream: event order and sequence numbers; streamed text == whole text for one seed', async () => {
  const body = { model: MODEL, input: 'Once upon a time', max_output_tokens: 24, temperature: 0.9, seed: 11 };
  const whole = await client.responses.create(body);
  const events = [];
  for await (const e of await client.responses.create({ ...body, stream: true })) events.push(e);
  const { types, last } = checkStream(events);
  const want = ['response.output_item.added', 'response.content_part.added'];
  assert.deepEqual(types.slice(2, 4), want);
  const nd = types.filter((t) => t === 'response.output_text.delta').length;
  assert.ok(nd >= 1);
  assert.deepEqual(types.slice(4, 4 + nd), Array(nd).fill('response.output_text.delta'));
  assert.deepEqual(types.slice(4 + nd), ['response.output_text.done', 'response.content_part.done',
    'response.output_item.done', last.type]);
  const item = events[2].item;
  for (const e of events.slice(3, -2)) {
    assert.equal(e.item_id, item.id);
    assert.equal(e.output_index, 0);
    assert.equal(e.content_index, 0);
  }
  const text = events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join('');
  assert.equal(events[4 + nd].text, text);
  assert.equal(last.response.output[0].content[0].text, text);
  assert.equal(text, whole.output_text);
  assert.equal(last.response.status, whole.status);
  assert.deepEqual(last.response.usage.output_tokens, whole.usage.output_tokens);
});

test('batch invariance: concurrent requests, streamed or whole, give the text of the request alone', async () => {
  const body = { model: MODEL, input: 'The little dog', max_output_tokens: 32, temperature: 0.9, seed: 21 };
  const alone = (await client.responses.create(body)).output_text;
  const streamed = async () => {
    let t = '';
    for await (const e of await client.responses.create({ ...body, stream: true }))
      if (e.type === 'response.output_text.delta') t += e.delta;
    return t;
  };
  const other = client.responses.create({ ...body, input: 'A long story about a cat', seed: 5, max_output_tokens: 64 });
  const got = await Promise.all([streamed(), client.responses.create(body).then((r) => r.output_text), streamed(),
    client.responses.create(body).then((r) => r.output_text), other]);
  for (const t of got.slice(0, 4)) assert.equal(t, alone);
});

test('previous_response_id: the history is prepended; unknown ids are 404', async () => {
  const r1 = await client.responses.create({ model: MODEL, input: 'Tom had a red ball.', max_output_tokens: 8, seed: 1 });
  const alone = await client.responses.create({ model: MODEL, input: 'What did Tom have?', max_output_tokens: 4, seed: 1 });
  const r2 = await client.responses.create({
    model: MODEL, input: 'What did Tom have?', max_output_tokens: 4, seed: 1, previous_response_id: r1.id,
  });
  assert.equal(r2.previous_response_id, r1.id);
  // r1's input and output come before r2's own input
  assert.ok(r2.usage.input_tokens >= alone.usage.input_tokens + r1.usage.output_tokens,
    `${r2.usage.input_tokens} vs ${alone.usage.input_tokens} + ${r1.usage.output_tokens}`);
  // a chain of three carries both earlier turns
  const r3 = await client.responses.create({ model: MODEL, input: 'And then?', max_output_tokens: 4, previous_response_id: r2.id });
  assert.ok(r3.usage.input_tokens > r2.usage.input_tokens, `${r3.usage.input_tokens} <= ${r2.usage.input_tokens}`);
  const e = await status(client.responses.create({ model: MODEL, input: 'x', previous_response_id: 'resp_nope' }), 404,
    'previous_response_id');
  assert.equal(e.code, 'previous_response_not_found');
});

test('retrieve and delete; store false keeps nothing', async () => {
  const r = await client.responses.create({ model: MODEL, input: 'Lily saw a cat.', max_output_tokens: 6, seed: 5 });
  const g = await client.responses.retrieve(r.id);
  assert.deepEqual(g, r);
  await client.responses.delete(r.id);
  await status(client.responses.retrieve(r.id), 404);
  await status(client.responses.delete(r.id), 404);
  const raw = await fetch(`${URL_}/v1/responses/${r.id}`, { method: 'DELETE' });
  assert.equal(raw.status, 404);
  assert.equal((await raw.json()).error.code, 'response_not_found');
  const ok = await client.responses.create({ model: MODEL, input: 'Hi', max_output_tokens: 2 });
  const d = await fetch(`${URL_}/v1/responses/${ok.id}`, { method: 'DELETE' });
  assert.deepEqual(await d.json(), { id: ok.id, object: 'response', deleted: true });
  const ns = await client.responses.create({ model: MODEL, input: 'Hi', max_output_tokens: 2, store: false });
  assert.equal(ns.store, false);
  await status(client.responses.retrieve(ns.id), 404);
  await status(client.responses.create({ model: MODEL, input: 'x', previous_response_id: ns.id }), 404);
});

test('forced function call, then its output sent back (both ways)', async () => {
  const ask = [{ role: 'user', content: 'What is the weather in Paris?' }];
  const r = await client.responses.create({
    model: MODEL, input: ask, tools: [TOOL], tool_choice: { type: 'function', name: 'get_weather' }, seed: 2,
    max_output_tokens: 120,
  });
  const calls = r.output.filter((o) => o.type === 'function_call');
  assert.equal(calls.length, 1, JSON.stringify(r.output));
  const c = calls[0];
  assert.equal(c.name, 'get_weather');
  assert.match(c.id, /^fc_/);
  assert.match(c.call_id, /^call_/);
  assert.equal(c.status, 'completed');
  assert.equal(typeof c.arguments, 'string');
  assert.equal(validate(WEATHER, JSON.parse(c.arguments)), '');
  assert.deepEqual(r.tool_choice, { type: 'function', name: 'get_weather' });
  assert.equal(r.tools[0].name, 'get_weather');
  // the call and its output in the input
  const out = { type: 'function_call_output', call_id: c.call_id, output: '{"temp": 21}' };
  const back = await client.responses.create({
    model: MODEL, input: [...ask, c, out], tools: [TOOL], tool_choice: 'none', max_output_tokens: 8, seed: 2,
  });
  assert.equal(back.output[0].type, 'message');
  const plain = await client.responses.create({ model: MODEL, input: ask, tools: [TOOL], tool_choice: 'none', max_output_tokens: 1 });
  assert.ok(back.usage.input_tokens > plain.usage.input_tokens, `${back.usage.input_tokens} <= ${plain.usage.input_tokens}`);
  // the same through previous_response_id
  const chained = await client.responses.create({
    model: MODEL, previous_response_id: r.id, input: [out], tools: [TOOL], tool_choice: 'none', max_output_tokens: 8, seed: 2,
  });
  assert.equal(chained.output[0].type, 'message');
  assert.equal(chained.usage.input_tokens, back.usage.input_tokens); // the same conversation
  // an output for a call nobody made
  await status(client.responses.create({ model: MODEL, input: [...ask, { ...out, call_id: 'call_x' }] }), 400, 'input[1].call_id');
});

test('forced function call streamed: arguments deltas and done', async () => {
  const events = [];
  for await (const e of await client.responses.create({
    model: MODEL, input: 'Weather in Rome?', tools: [TOOL], tool_choice: 'required', parallel_tool_calls: false,
    seed: 4, max_output_tokens: 120, stream: true,
  })) events.push(e);
  const { types, last } = checkStream(events);
  const added = events.find((e) => e.type === 'response.output_item.added' && e.item.type === 'function_call');
  assert.ok(added, types.join(','));
  assert.equal(added.item.name, 'get_weather');
  const args = events.filter((e) => e.type === 'response.function_call_arguments.delta' && e.item_id === added.item.id)
    .map((e) => e.delta).join('');
  const done = events.find((e) => e.type === 'response.function_call_arguments.done');
  assert.equal(done.arguments, args);
  assert.equal(validate(WEATHER, JSON.parse(args)), '');
  const fc = last.response.output.find((o) => o.type === 'function_call');
  assert.equal(fc.arguments, args);
  assert.equal(fc.call_id, added.item.call_id);
  assert.ok(types.indexOf('response.function_call_arguments.done') < types.lastIndexOf('response.output_item.done'));
});

test('text.format json_schema: the output validates', async () => {
  const schema = {
    type: 'object',
    properties: { name: { type: 'string', maxLength: 10 }, age: { type: 'integer', minimum: 0, maximum: 120 } },
    required: ['name', 'age'],
    additionalProperties: false,
  };
  for (const seed of [1, 2]) {
    const r = await client.responses.create({
      model: MODEL, input: 'A person as JSON', max_output_tokens: 120, seed,
      text: { format: { type: 'json_schema', name: 'person', schema, strict: true } },
    });
    assert.equal(r.status, 'completed', JSON.stringify(r.output));
    assert.equal(r.text.format.type, 'json_schema');
    assert.equal(validate(schema, JSON.parse(r.output_text)), '', r.output_text);
  }
  const j = await client.responses.create({ model: MODEL, input: 'JSON', max_output_tokens: 60, seed: 1, text: { format: { type: 'json_object' } } });
  if (j.status === 'completed') assert.equal(typeof JSON.parse(j.output_text), 'object');
  await status(client.responses.create({ model: MODEL, input: 'x', text: { format: { type: 'json_schema', name: 'n', schema: { type: 'nonsense' } } } }),
    400, 'text.format.schema');
});

test('refused inputs: 400 naming the field', async () => {
  const b = { model: MODEL, max_output_tokens: 2 };
  await status(client.responses.create({ ...b, input: 'x', tools: [{ type: 'web_search' }] }), 400, 'tools[0].type');
  await status(client.responses.create({ ...b, input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'http://x' }] }] }),
    400, 'input[0].content');
  await status(client.responses.create({ ...b, input: 'x', background: true }), 400, 'background');
  await status(client.responses.create({ ...b, input: 'x', bogus: 1 }), 400, 'bogus');
  await status(client.responses.create({ ...b }), 400, 'input');
  await status(client.responses.create({ ...b, input: 'x', max_output_tokens: 0 }), 400, 'max_output_tokens');
  await status(client.responses.create({ ...b, input: 'x', temperature: 9 }), 400, 'temperature');
  await status(client.responses.create({ ...b, input: 'x', tool_choice: { type: 'function', name: 'nope' }, tools: [TOOL] }), 400, 'tool_choice');
  await status(client.responses.create({ ...b, input: [{ type: 'item_reference', id: 'x' }] }), 400, 'input[0]');
  await status(client.responses.create({ ...b, input: 'x', max_output_tokens: 100000 }), 400);
  await status(client.responses.create({ ...b, model: 'other', input: 'x' }), 404, 'model');
  const r = await fetch(`${URL_}/v1/responses`, { method: 'POST', body: '{"input":', headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 400);
  assert.equal((await r.json()).error.code, 'invalid_json');
});

test('a client that drops a stream cancels its request', async () => {
  const before = await metric('client_disconnects_total', 'responses');
  const reqs = await metric('http_requests_total', 'responses');
  const ac = new AbortController();
  let deltas = 0;
  try {
    const s = await client.responses.create({ model: MODEL, input: 'Once', max_output_tokens: 400, ignore_eos: true, stream: true },
      { signal: ac.signal });
    for await (const e of s) {
      if (e.type === 'response.output_text.delta' && ++deltas === 10) {
        ac.abort(); // events already buffered by the SDK are not read
        break;
      }
    }
  } catch (e) {
    assert.ok(e instanceof OpenAI.APIUserAbortError || e.name === 'AbortError', String(e));
  }
  assert.equal(deltas, 10);
  let after = before;
  for (let i = 0; i < 100 && after === before; i++) {
    await new Promise((res) => setTimeout(res, 100));
    after = await metric('client_disconnects_total', 'responses');
  }
  assert.equal(after, before + 1);
  // nothing left running
  let running = 1;
  for (let i = 0; i < 100 && running; i++) {
    running = await metric('num_requests_running');
    if (running) await new Promise((res) => setTimeout(res, 100));
  }
  assert.equal(running, 0);
  // this protocol's request series counted the request
  assert.equal(await metric('http_requests_total', 'responses'), reqs + 1, 'http_requests_total{protocol="responses"}');
});
