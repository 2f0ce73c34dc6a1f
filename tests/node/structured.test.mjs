// structured.test.mjs - structured outputs through the official OpenAI
// Node.js SDK: response_format json_schema (real MaskBench schemas and
// hand-written ones) and json_object on chat and completions, streaming,
// n = 2, logprobs and stop strings with a grammar, vLLM structured_outputs
// (regex, choice, json, grammar) and guided_*, llama.cpp grammar /
// json_schema, 400s naming the field for constraints that do not compile,
// two constraints, bad shapes. Every returned JSON is checked by
// check_json.py: complete outputs (finish_reason "stop") parse and validate
// against their schema with python3-jsonschema; outputs cut by max_tokens
// must be a JSON prefix.
// Env: PAGODA_URL, PAGODA_MODEL, PAGODA_TESTDATA (for ../shared/maskbench).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import OpenAI from 'openai';

const URL_ = process.env.PAGODA_URL;
const MODEL = process.env.PAGODA_MODEL;
const DATA = process.env.PAGODA_TESTDATA || '../shared';
const client = new OpenAI({ baseURL: `${URL_}/v1`, apiKey: 'none', maxRetries: 0, timeout: 120000 });
const CHECKER = new URL('./check_json.py', import.meta.url).pathname;

// items: [{schema, text, complete}] -> asserts every one is fine
function checkJson(items, label) {
  const out = JSON.parse(execFileSync('python3', [CHECKER], { input: JSON.stringify(items) }).toString());
  assert.equal(out.length, items.length);
  out.forEach((r, i) => assert.ok(r.ok, `${label}[${i}]: ${r.why}\ntext: ${items[i].text}\nschema: ${JSON.stringify(items[i].schema).slice(0, 300)}`));
}

const PERSON = {
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 20 },
    age: { type: 'integer', minimum: 0, maximum: 150 },
    email: { type: 'string', format: 'email' },
    pets: { type: 'array', items: { enum: ['cat', 'dog', 'fish'] }, maxItems: 3 },
    born: { type: 'string', format: 'date' },
  },
  required: ['name', 'age', 'pets'],
  additionalProperties: false,
};
const NESTED = {
  $defs: { node: { type: 'object', properties: { v: { type: 'number' }, kids: { type: 'array', items: { $ref: '#/$defs/node' }, maxItems: 2 } }, required: ['v'] } },
  $ref: '#/$defs/node',
};
const ONEOF = { anyOf: [{ type: 'string', pattern: '^[a-z]{3}$' }, { type: 'object', properties: { ok: { type: 'boolean' }, id: { type: 'string', format: 'uuid' } }, required: ['ok', 'id'] }] };

// real schemas from MaskBench (JSONSchemaBench) that the compiler accepts
const MASKBENCH = ['Glaiveai2K---book_flight_05dcf13f.json', 'BFCL_simple_118.json', 'Snowplow---sp_100_Normalized.json',
  'Kubernetes---kb_100_Normalized.json', 'Github_easy---o21096.json', 'Glaiveai2K---schedule_meeting_a452974e.json',
  'Kubernetes---kb_14_Normalized.json'];
function maskbenchSchemas() {
  const out = [];
  for (const f of MASKBENCH) {
    const p = `${DATA}/maskbench/${f}`;
    if (existsSync(p)) out.push([f, JSON.parse(readFileSync(p, 'utf8')).schema]);
  }
  return out;
}

const MSG = [{ role: 'user', content: 'Tell me about a little girl.' }];

test('chat response_format json_schema: real and hand-written schemas, n = 2, complete outputs validate', async () => {
  const schemas = [['person', PERSON], ['nested', NESTED], ['oneof', ONEOF], ...maskbenchSchemas()];
  assert.ok(schemas.length >= 6, 'MaskBench schemas missing');
  const items = [];
  let complete = 0;
  for (const [name, schema] of schemas) {
    const r = await client.chat.completions.create({
      model: MODEL, messages: MSG, max_tokens: 160, n: 2, temperature: 0.8, seed: 11,
      response_format: { type: 'json_schema', json_schema: { name: name.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, 60), schema, strict: true } },
    });
    assert.equal(r.choices.length, 2);
    for (const c of r.choices) {
      assert.ok(['stop', 'length'].includes(c.finish_reason), c.finish_reason);
      const text = c.message.content;
      if (c.finish_reason === 'stop') complete++;
      items.push({ schema, text, complete: c.finish_reason === 'stop' });
    }
  }
  checkJson(items, 'json_schema');
  assert.ok(complete >= 4, `only ${complete} complete outputs`);
});

test('completions response_format json_object and json_schema; greedy is reproducible', async () => {
  const r = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 120, temperature: 0, response_format: { type: 'json_object' } });
  const c = r.choices[0];
  checkJson([{ schema: { type: 'object' }, text: c.text, complete: c.finish_reason === 'stop' }], 'json_object');
  if (c.finish_reason === 'stop') assert.equal(typeof JSON.parse(c.text), 'object');
  const s = { type: 'object', properties: { a: { type: 'integer', minimum: -5, maximum: 999 }, b: { type: 'boolean' } }, required: ['a', 'b'], additionalProperties: false };
  const r1 = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 60, temperature: 0, response_format: { type: 'json_schema', json_schema: { name: 's', schema: s } } });
  const r2 = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 60, temperature: 0, response_format: { type: 'json_schema', json_schema: { name: 's', schema: s } } });
  assert.equal(r1.choices[0].text, r2.choices[0].text);
  assert.equal(r1.choices[0].finish_reason, 'stop');
  checkJson([{ schema: s, text: r1.choices[0].text, complete: true }], 'completion json_schema');
  // response_format text = unconstrained
  const t = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 10, temperature: 0, response_format: { type: 'text' } });
  const u = await client.completions.create({ model: MODEL, prompt: 'Once upon a time', max_tokens: 10, temperature: 0 });
  assert.equal(t.choices[0].text, u.choices[0].text);
});

test('streaming with a schema equals the non-streamed output; max_tokens cut gives a JSON prefix', async () => {
  const req = { model: MODEL, messages: MSG, max_tokens: 150, temperature: 0.9, seed: 5, n: 2,
    response_format: { type: 'json_schema', json_schema: { name: 'person', schema: PERSON } } };
  const whole = await client.chat.completions.create(req);
  const stream = await client.chat.completions.create({ ...req, stream: true });
  const text = ['', ''], finish = [null, null];
  for await (const ch of stream) for (const c of ch.choices) {
    if (c.delta?.content) text[c.index] += c.delta.content;
    if (c.finish_reason) finish[c.index] = c.finish_reason;
  }
  for (const i of [0, 1]) {
    assert.equal(text[i], whole.choices[i].message.content);
    assert.equal(finish[i], whole.choices[i].finish_reason);
  }
  const cut = await client.chat.completions.create({ ...req, n: 1, max_tokens: 7, stream: false });
  assert.equal(cut.choices[0].finish_reason, 'length');
  checkJson([{ schema: PERSON, text: cut.choices[0].message.content, complete: false }], 'cut');
  assert.ok(cut.choices[0].message.content.startsWith('{'));
});

test('logprobs and stop strings keep working with a grammar', async () => {
  const r = await client.chat.completions.create({ model: MODEL, messages: MSG, max_tokens: 80, temperature: 0, logprobs: true, top_logprobs: 2,
    response_format: { type: 'json_schema', json_schema: { name: 'p', schema: PERSON } } });
  const c = r.choices[0];
  assert.ok(c.logprobs.content.length >= 1 && c.logprobs.content.length <= r.usage.completion_tokens);
  for (const t of c.logprobs.content) assert.ok(t.logprob <= 0 && t.top_logprobs.length === 2);
  const s = await client.chat.completions.create({ model: MODEL, messages: MSG, max_tokens: 80, temperature: 0, stop: [','],
    response_format: { type: 'json_schema', json_schema: { name: 'p', schema: PERSON } } });
  assert.equal(s.choices[0].finish_reason, 'stop');
  assert.ok(!s.choices[0].message.content.includes(','));
  assert.ok(c.message.content.startsWith(s.choices[0].message.content));
});

test('vLLM structured_outputs / guided_* and llama.cpp grammar / json_schema', async () => {
  const P = 'Once upon a time';
  for (let seed = 0; seed < 3; seed++) {
    const r = await client.completions.create({ model: MODEL, prompt: P, max_tokens: 30, temperature: 1, seed, structured_outputs: { regex: '[a-z]{1,8}( [a-z]{1,8}){0,3}\\.' } });
    assert.match(r.choices[0].text, /^[a-z]{1,8}( [a-z]{1,8}){0,3}\.$/);
    assert.equal(r.choices[0].finish_reason, 'stop');
  }
  const choices = ['happy', 'sad', 'very sleepy'];
  const c = await client.completions.create({ model: MODEL, prompt: P, max_tokens: 20, n: 3, temperature: 1.2, seed: 2, structured_outputs: { choice: choices } });
  for (const x of c.choices) { assert.ok(choices.includes(x.text), x.text); assert.equal(x.finish_reason, 'stop'); }
  const g = await client.completions.create({ model: MODEL, prompt: P, max_tokens: 20, temperature: 1, seed: 3, grammar: 'root ::= ("yes" | "no") " " [0-9]' });
  assert.match(g.choices[0].text, /^(yes|no) [0-9]$/);
  const gg = await client.completions.create({ model: MODEL, prompt: P, max_tokens: 20, temperature: 1, seed: 3, structured_outputs: { grammar: 'root ::= ("yes" | "no") " " [0-9]' } });
  assert.equal(gg.choices[0].text, g.choices[0].text);
  const gc = await client.completions.create({ model: MODEL, prompt: P, max_tokens: 20, guided_choice: ['left', 'right'] });
  assert.ok(['left', 'right'].includes(gc.choices[0].text));
  const gr = await client.completions.create({ model: MODEL, prompt: P, max_tokens: 20, guided_regex: '[0-9]{4}' });
  assert.match(gr.choices[0].text, /^[0-9]{4}$/);
  const S = { type: 'object', properties: { n: { type: 'integer', minimum: 1, maximum: 9 } }, required: ['n'] };
  const items = [];
  for (const body of [{ json_schema: S }, { guided_json: S }, { guided_json: JSON.stringify(S) }, { structured_outputs: { json: S } }, { structured_outputs: { json_object: true } }]) {
    const r = await client.completions.create({ model: MODEL, prompt: P, max_tokens: 60, temperature: 0, ...body });
    items.push({ schema: body.structured_outputs?.json_object ? { type: 'object' } : S, text: r.choices[0].text, complete: r.choices[0].finish_reason === 'stop' });
  }
  checkJson(items, 'json fields');
  // flexible whitespace: still valid JSON for the schema
  const f = await client.chat.completions.create({ model: MODEL, messages: MSG, max_tokens: 120, temperature: 1, seed: 9,
    response_format: { type: 'json_schema', json_schema: { name: 'p', schema: PERSON } }, structured_outputs: { whitespace: 'flexible' } });
  checkJson([{ schema: PERSON, text: f.choices[0].message.content, complete: f.choices[0].finish_reason === 'stop' }], 'flexible');
});

test('constraints that do not compile, two constraints and bad shapes -> 400 naming the field', async () => {
  const bad = async (body, param, re) => {
    await assert.rejects(client.chat.completions.create({ model: MODEL, messages: MSG, max_tokens: 5, ...body }), (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError, String(e));
      assert.equal(e.status, 400);
      assert.equal(e.type, 'invalid_request_error');
      assert.equal(e.param, param);
      if (re) assert.match(e.message, re);
      return true;
    });
  };
  await bad({ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'string', pattern: '(?<=a)b' } } } }, 'response_format.json_schema.schema', /invalid JSON schema.*(lookaround|lookbehind|pattern)/i);
  await bad({ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', properties: { a: { type: 'integer', minimum: 5, maximum: 1 } }, required: ['a'] } } } }, 'response_format.json_schema.schema', /invalid JSON schema/);
  await bad({ response_format: { type: 'json_schema', json_schema: { name: 'x' } } }, 'response_format.json_schema.schema', /required/);
  await bad({ response_format: { type: 'xml' } }, 'response_format.type');
  await bad({ response_format: 'json' }, 'response_format');
  await bad({ grammar: 'root ::= undefined-rule' }, 'grammar', /invalid grammar.*undefined/);
  await bad({ grammar: 'root ::= "a' }, 'grammar', /invalid grammar/);
  await bad({ structured_outputs: { regex: '(a' } }, 'structured_outputs.regex', /invalid regex/);
  await bad({ structured_outputs: { choice: [] } }, 'structured_outputs.choice');
  await bad({ structured_outputs: { structural_tag: 'x' } }, 'structured_outputs.structural_tag');
  await bad({ structured_outputs: { regex: 'a', choice: ['b'] } }, 'structured_outputs.choice', /only one/);
  await bad({ response_format: { type: 'json_object' }, grammar: 'root ::= "a"' }, 'grammar', /only one/);
  await bad({ guided_json: '{not json' }, 'guided_json', /invalid JSON schema/);
  await bad({ json_schema: { type: 'string', format: 'ipv6' } }, 'json_schema', /ipv6/);
  // the raw body: OpenAI's error object with the param
  const r = await fetch(`${URL_}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: 'x', max_tokens: 2, guided_regex: '(?=a)' }) });
  assert.equal(r.status, 400);
  const j = await r.json();
  assert.equal(j.error.param, 'guided_regex');
  assert.equal(j.error.type, 'invalid_request_error');
  assert.match(j.error.message, /^invalid regex in 'guided_regex': /);
  // the server still serves constrained requests afterwards
  const ok = await client.completions.create({ model: MODEL, prompt: 'x', max_tokens: 20, structured_outputs: { choice: ['fine'] } });
  assert.equal(ok.choices[0].text, 'fine');
});
