// tools.test.mjs - tool calling through the official OpenAI Node.js SDK
// against `pagoda serve` with stories260K under the Qwen 2.5 chat template
// (Hermes-style <tool_call> markers): forced calls (required, named,
// streamed) whose arguments validate against their parameter schemas with
// a real JSON Schema validator (Debian's python3-jsonschema), tool_choice
// none, auto, a tool-result round trip, 400s that name the field, and an
// agent loop (question -> forced call -> executed here -> result -> answer).
// Env: PAGODA_URL, PAGODA_MODEL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import OpenAI from 'openai';

const URL_ = process.env.PAGODA_URL;
const MODEL = process.env.PAGODA_MODEL;
const client = new OpenAI({ baseURL: `${URL_}/v1`, apiKey: 'none', maxRetries: 0, timeout: 120000 });

// bounded schemas: every value has a finite grammar, so a forced call ends
const WEATHER = {
  type: 'object',
  properties: {
    city: { type: 'string', minLength: 1, maxLength: 12 },
    unit: { enum: ['celsius', 'fahrenheit'] },
    days: { type: 'integer', minimum: 1, maximum: 7 },
  },
  required: ['city', 'unit'],
  additionalProperties: false,
};
const TIME = {
  type: 'object',
  properties: { tz: { enum: ['UTC', 'CET', 'PST'] }, hour24: { type: 'boolean' } },
  required: ['tz', 'hour24'],
  additionalProperties: false,
};
const TOOLS = [
  { type: 'function', function: { name: 'get_weather', description: 'Current weather in a city', parameters: WEATHER } },
  { type: 'function', function: { name: 'get_time', description: 'The time in a time zone', parameters: TIME } },
];
const SCHEMAS = { get_weather: WEATHER, get_time: TIME };
const ASK = [{ role: 'user', content: 'What is the weather in Paris, and what time is it?' }];

// validates [schema, instance] pairs with python3-jsonschema in one process
// (a python start costs ~1 s on a loaded host); returns '' or the error per pair
function validateMany(pairs) {
  const py = 'import json,sys,jsonschema\n' +
    'out=[]\n' +
    'for s,i in json.load(sys.stdin):\n' +
    '    try:\n        jsonschema.validate(i, s); out.append("")\n' +
    '    except jsonschema.ValidationError as e:\n        out.append("invalid: " + e.message)\n' +
    'print(json.dumps(out))\n';
  const r = spawnSync('python3', ['-c', py], { input: JSON.stringify(pairs), encoding: 'utf8' });
  assert.equal(r.status, 0, `python3-jsonschema failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}
const validate = (schema, instance) => validateMany([[schema, instance]])[0];

// every call well formed, of a known tool (or wantName), its arguments valid
// against that tool's schema (one validator run for all); returns the arguments
function checkCalls(calls, wantName) {
  const args = calls.map((call) => {
    assert.equal(call.type, 'function');
    assert.match(call.id, /^call_[0-9a-f]{16,}$/);
    if (wantName) assert.equal(call.function.name, wantName);
    assert.ok(SCHEMAS[call.function.name], `unknown tool ${call.function.name}`);
    return JSON.parse(call.function.arguments);
  });
  const errs = validateMany(calls.map((call, i) => [SCHEMAS[call.function.name], args[i]]));
  errs.forEach((e, i) => assert.equal(e, '', `${calls[i].function.name}(${calls[i].function.arguments})`));
  return args;
}
const checkCall = (call, wantName) => checkCalls([call], wantName)[0];

test('the validator itself rejects a bad instance', () => {
  assert.match(validate(WEATHER, { city: 'Paris', unit: 'kelvin' }), /^invalid/);
  assert.equal(validate(WEATHER, { city: 'Paris', unit: 'celsius' }), '');
});

test('tool_choice required: one call (parallel_tool_calls false), valid arguments', async () => {
  const all = [];
  for (const seed of [1, 2, 3]) {
    const r = await client.chat.completions.create({
      model: MODEL, messages: ASK, tools: TOOLS, tool_choice: 'required', parallel_tool_calls: false,
      max_tokens: 200, seed, temperature: 0.8,
    });
    const c = r.choices[0];
    assert.equal(c.finish_reason, 'tool_calls');
    assert.equal(c.message.role, 'assistant');
    assert.equal(c.message.content, null);
    assert.equal(c.message.tool_calls.length, 1);
    all.push(c.message.tool_calls[0]);
  }
  checkCalls(all);
});

test('tool_choice required with parallel calls: every call valid, ids unique', async () => {
  const r = await client.chat.completions.create({
    model: MODEL, messages: ASK, tools: TOOLS, tool_choice: 'required', max_tokens: 200, seed: 7,
  });
  const c = r.choices[0];
  assert.ok(c.message.tool_calls.length >= 1);
  checkCalls(c.message.tool_calls);
  const ids = new Set(c.message.tool_calls.map((x) => x.id));
  assert.equal(ids.size, c.message.tool_calls.length);
});

test('named tool_choice: that function, valid arguments', async () => {
  for (const name of ['get_weather', 'get_time']) {
    const r = await client.chat.completions.create({
      model: MODEL, messages: ASK, tools: TOOLS, tool_choice: { type: 'function', function: { name } },
      max_tokens: 200, seed: 11,
    });
    const c = r.choices[0];
    assert.equal(c.finish_reason, 'tool_calls');
    assert.equal(c.message.tool_calls.length, 1);
    checkCalls(c.message.tool_calls, name);
  }
});

async function streamed(body) {
  const stream = await client.chat.completions.create({ ...body, stream: true });
  const calls = [];
  let finish = null, content = '';
  for await (const chunk of stream) {
    const ch = chunk.choices[0];
    if (!ch) continue;
    if (ch.finish_reason) finish = ch.finish_reason;
    if (ch.delta.content) content += ch.delta.content;
    for (const d of ch.delta.tool_calls ?? []) {
      assert.equal(typeof d.index, 'number');
      if (!calls[d.index]) {
        // the first delta of a call carries id, type and the name
        assert.equal(d.index, calls.length, 'calls start in order');
        assert.match(d.id, /^call_/);
        assert.equal(d.type, 'function');
        assert.ok(d.function.name);
        calls[d.index] = { id: d.id, type: d.type, function: { name: d.function.name, arguments: d.function.arguments ?? '' } };
      } else {
        assert.equal(d.id, undefined, 'the id is sent once');
        assert.equal(d.function.name, undefined, 'the name is sent once');
        calls[d.index].function.arguments += d.function.arguments ?? '';
      }
    }
  }
  return { calls, finish, content };
}

test('streamed forced calls: index, id, type and name once, then argument pieces', async () => {
  const cases = [
    { tool_choice: 'required', parallel_tool_calls: false },
    { tool_choice: { type: 'function', function: { name: 'get_weather' } } },
  ];
  for (const tc of cases) {
    const body = { model: MODEL, messages: ASK, tools: TOOLS, ...tc, max_tokens: 150, seed: 5 };
    const { calls, finish, content } = await streamed(body);
    assert.equal(finish, 'tool_calls');
    assert.equal(content, '');
    assert.equal(calls.length, 1);
    checkCall(calls[0], typeof tc.tool_choice === 'object' ? 'get_weather' : undefined);
    // the same request whole gives the same call (same seed)
    const whole = await client.chat.completions.create(body);
    assert.deepEqual(whole.choices[0].message.tool_calls.map((x) => [x.function.name, x.function.arguments]),
      calls.map((x) => [x.function.name, x.function.arguments]));
  }
  // parallel calls until max_tokens: every whole call valid, and the stream
  // reassembles exactly what the whole answer says (a call cut off by
  // max_tokens stays text in both)
  for (const seed of [6]) {
    const body = { model: MODEL, messages: ASK, tools: TOOLS, tool_choice: 'required', max_tokens: 120, seed };
    const s = await streamed(body);
    const whole = (await client.chat.completions.create(body)).choices[0];
    assert.equal(s.content, whole.message.content ?? '');
    assert.deepEqual(whole.message.tool_calls.map((x) => [x.function.name, x.function.arguments]),
      s.calls.map((x) => [x.function.name, x.function.arguments]));
    checkCalls(s.calls);
    assert.equal(s.finish, 'tool_calls');
  }
});

test('tool_choice none: no calls, text content', async () => {
  const r = await client.chat.completions.create({
    model: MODEL, messages: ASK, tools: TOOLS, tool_choice: 'none', max_tokens: 30, seed: 1,
  });
  const c = r.choices[0];
  assert.equal(c.message.tool_calls, undefined);
  assert.equal(typeof c.message.content, 'string');
  assert.ok(['stop', 'length'].includes(c.finish_reason));
});

test('tool_choice auto: an answer or valid calls, never an error', async () => {
  for (const seed of [1, 2, 3, 4]) {
    const r = await client.chat.completions.create({ model: MODEL, messages: ASK, tools: TOOLS, max_tokens: 60, seed });
    const c = r.choices[0];
    if (c.message.tool_calls) {
      assert.equal(c.finish_reason, 'tool_calls');
      checkCalls(c.message.tool_calls);
    } else {
      assert.equal(typeof c.message.content, 'string');
    }
  }
});

test('a tool result round trip renders and answers', async () => {
  const messages = [
    ...ASK,
    { role: 'assistant', content: null, tool_calls: [
      { id: 'call_abc', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris", "unit": "celsius"}' } },
      { id: 'call_def', type: 'function', function: { name: 'get_time', arguments: '{"tz": "CET", "hour24": true}' } },
    ] },
    { role: 'tool', tool_call_id: 'call_abc', content: '{"temperature": 21, "sky": "clear"}' },
    { role: 'tool', tool_call_id: 'call_def', content: '14:05' },
  ];
  const r = await client.chat.completions.create({ model: MODEL, messages, tools: TOOLS, tool_choice: 'none', max_tokens: 20, seed: 3 });
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.ok(r.usage.prompt_tokens > 0);
  // the prompt holds the tool results: more tokens than without them
  const r0 = await client.chat.completions.create({ model: MODEL, messages: ASK, tools: TOOLS, tool_choice: 'none', max_tokens: 1 });
  assert.ok(r.usage.prompt_tokens > r0.usage.prompt_tokens + 20);
});

async function status400(body, param) {
  const r = await fetch(`${URL_}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: MODEL, max_tokens: 4, ...body }) });
  const j = await r.json();
  assert.equal(r.status, 400, JSON.stringify(j));
  assert.equal(j.error.type, 'invalid_request_error');
  assert.equal(j.error.param, param, j.error.message);
  return j.error.message;
}

test('bad tool input: 400 naming the field', async () => {
  await status400({ messages: ASK, tools: TOOLS, tool_choice: { type: 'function', function: { name: 'get_news' } } }, 'tool_choice');
  await status400({ messages: ASK, tools: TOOLS, tool_choice: 'sometimes' }, 'tool_choice');
  await status400({ messages: ASK, tool_choice: 'required' }, 'tool_choice');
  await status400({ messages: ASK, tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', not: {} } } }] },
    'tools[0].function.parameters');
  await status400({ messages: ASK, tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { a: { $ref: '#/nowhere' } } } } }] },
    'tools[0].function.parameters');
  await status400({ messages: ASK, tools: [{ type: 'retrieval' }] }, 'tools[0]');
  await status400({ messages: ASK, tools: [{ type: 'function', function: { description: 'no name' } }] }, 'tools[0]');
  await status400({ messages: ASK, tools: [{ type: 'function', function: { name: 'bad name!' } }] }, 'tools[0]');
  await status400({ messages: ASK, tools: [TOOLS[0], TOOLS[0]] }, 'tools');
  await status400({ messages: ASK, tools: {} }, 'tools');
  await status400({ messages: ASK, tools: TOOLS, parallel_tool_calls: 'yes' }, 'parallel_tool_calls');
  await status400({ messages: [...ASK, { role: 'tool', tool_call_id: 'call_missing', content: 'x' }], tools: TOOLS }, 'messages[1].tool_call_id');
  await status400({ messages: [...ASK, { role: 'tool', content: 'x' }] }, 'messages[1].tool_call_id');
  await status400({ messages: [...ASK, { role: 'assistant', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{oops' } }] }] },
    'messages[1].tool_calls[0]');
  await status400({ messages: [...ASK, { role: 'assistant', tool_calls: 'x' }] }, 'messages[1]');
  await status400({ messages: ASK, functions: [{ name: 'f' }] }, 'functions');
  await status400({ messages: ASK, reasoning_format: 'loud' }, 'reasoning_format');
  await status400({ messages: ASK, tools: TOOLS, tool_choice: 'required', response_format: { type: 'json_object' } }, 'tool_choice');
  // the SDK raises its BadRequestError
  await assert.rejects(client.chat.completions.create({ model: MODEL, messages: ASK, tools: TOOLS, tool_choice: { type: 'function', function: { name: 'nope' } } }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400);
});

test('agent loop: question, forced call executed here, result back, final answer', async () => {
  const impl = {
    get_weather: (a) => ({ city: a.city, unit: a.unit, temperature: a.unit === 'celsius' ? 21 : 70, sky: 'clear' }),
    get_time: (a) => ({ tz: a.tz, time: a.hour24 ? '14:05' : '2:05 PM' }),
  };
  const messages = [{ role: 'system', content: 'You are a helpful assistant.' }, ...ASK];
  const first = await client.chat.completions.create({ model: MODEL, messages, tools: TOOLS, tool_choice: 'required', max_tokens: 200, seed: 21 });
  const msg = first.choices[0].message;
  assert.equal(first.choices[0].finish_reason, 'tool_calls');
  assert.ok(msg.tool_calls.length >= 1);
  messages.push(msg); // the SDK's message object goes back as is
  const allArgs = checkCalls(msg.tool_calls);
  for (const [i, call] of msg.tool_calls.entries()) {
    const args = allArgs[i];
    messages.push({ role: 'tool', tool_call_id: call.id, content: JSON.stringify(impl[call.function.name](args)) });
  }
  const final = await client.chat.completions.create({ model: MODEL, messages, tools: TOOLS, max_tokens: 40, seed: 22 });
  const c = final.choices[0];
  assert.ok(['stop', 'length', 'tool_calls'].includes(c.finish_reason));
  if (c.message.tool_calls) checkCalls(c.message.tool_calls);
  else assert.equal(typeof c.message.content, 'string');
  // and once more with the answer forced to text
  const text = await client.chat.completions.create({ model: MODEL, messages, tools: TOOLS, tool_choice: 'none', max_tokens: 40, seed: 23 });
  assert.equal(text.choices[0].message.tool_calls, undefined);
  assert.ok(text.choices[0].message.content.length > 0);
});
