// ollama.test.mjs - Ollama's API through the official `ollama` JS client
// (0.6.4) against `pagoda serve` on stories260K (Qwen 2.5 template, an API
// key): list, ps, version, show; chat and generate, streamed (NDJSON) and
// not, streamed text == whole text for the same seed; options; format
// "json" and a JSON Schema (validated by check_json.py with
// python3-jsonschema); tools rendered into the prompt and a tool-result
// round trip; the Ollama error shape for 400/401/404; a client that aborts
// mid-stream is cancelled (client_disconnects_total, nothing left running).
// Env: PAGODA_URL, PAGODA_MODEL (the alias), PAGODA_KEY.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { Ollama } from 'ollama';

const URL_ = process.env.PAGODA_URL;
const MODEL = process.env.PAGODA_MODEL;
const KEY = process.env.PAGODA_KEY;
const ollama = new Ollama({ host: URL_, headers: { Authorization: `Bearer ${KEY}` } });
const CHECKER = new URL('./check_json.py', import.meta.url).pathname;

function checkJson(items, label) {
  const out = JSON.parse(execFileSync('python3', [CHECKER], { input: JSON.stringify(items) }).toString());
  out.forEach((r, i) => assert.ok(r.ok, `${label}[${i}]: ${r.why}\ntext: ${items[i].text}`));
}

// the sum over a metric's series (a protocol="ollama" series once
// requests are labelled by protocol)
async function metric(name, label = '') {
  const t = await (await fetch(`${URL_}/metrics`)).text();
  const re = new RegExp(`^pagoda:${name}\\{([^}]*)\\} ([0-9.e+-]+)$`, 'gm');
  let sum = 0, n = 0;
  for (const m of t.matchAll(re)) if (m[1].includes(label)) { sum += Number(m[2]); n++; }
  assert.ok(n > 0, `no series ${name}{${label}}`);
  return sum;
}

async function rejects(p, status, re) {
  try {
    await p;
  } catch (e) {
    assert.equal(e.status_code, status, `status of: ${e.message}`);
    if (re) assert.match(e.message, re);
    return e;
  }
  assert.fail(`expected HTTP ${status}`);
}

const OPTS = { seed: 7, temperature: 0.9, num_predict: 24 };
const MSGS = [{ role: 'system', content: 'You tell stories.' }, { role: 'user', content: 'Once upon a time' }];

test('list, ps, version and show', async () => {
  const l = await ollama.list();
  assert.equal(l.models.length, 1);
  const m = l.models[0];
  assert.equal(m.name, `${MODEL}:latest`);
  assert.equal(m.model, m.name);
  assert.match(m.digest, /^[0-9a-f]{64}$/);
  assert.ok(m.size > 1000000 && m.size < 2000000, `size ${m.size}`);
  assert.ok(!Number.isNaN(Date.parse(m.modified_at)));
  assert.deepEqual(m.details, { parent_model: '', format: 'gguf', family: 'llama', families: ['llama'], parameter_size: '293K', quantization_level: 'F32' });
  const again = await ollama.list();
  assert.equal(again.models[0].digest, m.digest, 'stable digest');
  const ps = await ollama.ps();
  assert.equal(ps.models[0].name, m.name);
  assert.equal(ps.models[0].size_vram, 0);
  assert.ok(Date.parse(ps.models[0].expires_at) > Date.now());
  const v = await ollama.version();
  assert.match(v.version, /^\d+\.\d+\.\d+$/);
  for (const name of [MODEL, `${MODEL}:latest`]) {
    const s = await ollama.show({ model: name });
    assert.match(s.template, /<\|im_start\|>/, 'the chat template text');
    assert.equal(s.model_info['general.architecture'], 'llama');
    assert.equal(s.model_info['llama.block_count'], 5);
    assert.equal(s.model_info['general.parameter_count'], 292800);
    assert.deepEqual(s.capabilities, ['completion', 'tools']);
    assert.equal(s.details.quantization_level, 'F32');
  }
  await rejects(ollama.show({ model: 'llama3:8b' }), 404, /model 'llama3:8b' not found/);
  await rejects(ollama.show({ model: `${MODEL}:7b` }), 404, /not found/);
});

test('chat: streamed text equals the whole answer for the same seed', async () => {
  const whole = await ollama.chat({ model: MODEL, messages: MSGS, options: OPTS });
  assert.equal(whole.model, MODEL);
  assert.equal(whole.message.role, 'assistant');
  assert.ok(whole.message.content.length > 0);
  assert.equal(whole.done, true);
  assert.ok(['stop', 'length'].includes(whole.done_reason));
  assert.ok(whole.prompt_eval_count > 10 && whole.eval_count > 0 && whole.eval_count <= 24);
  for (const k of ['total_duration', 'load_duration', 'prompt_eval_duration', 'eval_duration']) assert.ok(Number.isInteger(whole[k]) && whole[k] >= 0, k);
  assert.ok(whole.total_duration >= whole.eval_duration);
  assert.match(whole.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
  const parts = [];
  for await (const p of await ollama.chat({ model: `${MODEL}:latest`, messages: MSGS, options: OPTS, stream: true })) parts.push(p);
  assert.ok(parts.length > 2);
  const last = parts.at(-1);
  assert.equal(last.done, true);
  assert.equal(last.done_reason, whole.done_reason);
  assert.equal(last.eval_count, whole.eval_count);
  assert.ok(parts.slice(0, -1).every((p) => p.done === false && p.message.role === 'assistant'));
  assert.equal(parts.map((p) => p.message.content).join(''), whole.message.content);
  const other = await ollama.chat({ model: MODEL, messages: MSGS, options: { ...OPTS, seed: 8 } });
  assert.notEqual(other.message.content, whole.message.content, 'another seed, another text');
});

test('generate: streaming, raw, system, options', async () => {
  const req = { model: MODEL, prompt: 'Lily went to the park', options: OPTS };
  const whole = await ollama.generate(req);
  assert.ok(whole.response.length > 0 && whole.done);
  let text = '';
  let n = 0;
  for await (const p of await ollama.generate({ ...req, stream: true })) {
    n++;
    if (!p.done) text += p.response;
    else assert.equal(p.eval_count, whole.eval_count);
  }
  assert.ok(n > 2);
  assert.equal(text, whole.response);
  // raw: the prompt as is (3 tokens with BOS), greedy
  const raw = await ollama.generate({ model: MODEL, prompt: 'Once upon', raw: true, options: { temperature: 0, num_predict: 6 } });
  assert.equal(raw.prompt_eval_count, 3);
  assert.equal(raw.eval_count, 6);
  assert.equal(raw.done_reason, 'length');
  assert.match(raw.response, /^ a time/);
  // (the Qwen 2.5 template has a default system prompt of ~30 tokens)
  const sys = await ollama.generate({ ...req, system: 'You are a storyteller. '.repeat(20) });
  assert.ok(sys.prompt_eval_count > whole.prompt_eval_count + 40, 'the system prompt is rendered');
  const stopped = await ollama.generate({ model: MODEL, prompt: 'Once upon', raw: true, options: { temperature: 0, num_predict: 20, stop: ['time'] } });
  assert.equal(stopped.response, ' a ');
  assert.equal(stopped.done_reason, 'stop');
  // num_ctx above the server's context is clamped; a prompt beyond a small num_ctx is a 400
  const big = await ollama.generate({ ...req, options: { ...OPTS, num_ctx: 1 << 20 } });
  assert.equal(big.response, whole.response);
  await rejects(ollama.generate({ ...req, options: { num_ctx: 8 } }), 400, /context is 8 tokens/);
  // nothing to generate: Ollama's "load" answer
  const load = await ollama.generate({ model: MODEL, prompt: '' });
  assert.equal(load.done_reason, 'load');
  const cload = await ollama.chat({ model: MODEL, messages: [] });
  assert.equal(cload.done_reason, 'load');
});

test('concurrent seeded streams equal their solo runs', async () => {
  const reqs = Array.from({ length: 6 }, (_, i) => ({ model: MODEL, messages: [{ role: 'user', content: `Tell story ${i}` }], options: { seed: 100 + i, temperature: 1, num_predict: 16 } }));
  const solo = [];
  for (const r of reqs) solo.push((await ollama.chat(r)).message.content);
  const conc = await Promise.all(reqs.map(async (r) => {
    let t = '';
    for await (const p of await ollama.chat({ ...r, stream: true })) t += p.message.content;
    return t;
  }));
  assert.deepEqual(conc, solo);
});

test('format: "json" and a JSON Schema go through the grammar engine', async () => {
  const items = [];
  const j = await ollama.chat({ model: MODEL, messages: MSGS, format: 'json', options: { seed: 3, num_predict: 60 } });
  items.push({ schema: { type: 'object' }, text: j.message.content, complete: j.done_reason === 'stop' });
  const schema = { type: 'object', properties: { name: { type: 'string', maxLength: 12 }, age: { type: 'integer', minimum: 0, maximum: 120 } }, required: ['name', 'age'], additionalProperties: false };
  for (const seed of [1, 2]) {
    const g = await ollama.generate({ model: MODEL, prompt: 'A person:', format: schema, options: { seed, num_predict: 80 } });
    items.push({ schema, text: g.response, complete: g.done_reason === 'stop' });
    let t = '';
    for await (const p of await ollama.generate({ model: MODEL, prompt: 'A person:', format: schema, options: { seed, num_predict: 80 }, stream: true })) t += p.response;
    assert.equal(t, g.response, 'streamed == whole under a grammar');
  }
  assert.ok(items.some((x) => x.complete), 'at least one complete JSON answer');
  checkJson(items, 'format');
  await rejects(ollama.chat({ model: MODEL, messages: MSGS, format: { type: 'nonsense' } }), 400, /invalid JSON schema in "format"/);
  await rejects(ollama.chat({ model: MODEL, messages: MSGS, format: 'yaml' }), 400, /"format" must be/);
});

const TOOLS = [{ type: 'function', function: { name: 'get_weather', description: 'Weather of a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];

test('tools: rendered into the prompt; a tool-result round trip', async () => {
  const plain = await ollama.chat({ model: MODEL, messages: [{ role: 'user', content: 'Weather in Paris?' }], options: { num_predict: 8, seed: 1 } });
  const withTools = await ollama.chat({ model: MODEL, messages: [{ role: 'user', content: 'Weather in Paris?' }], tools: TOOLS, options: { num_predict: 8, seed: 1 } });
  assert.ok(withTools.prompt_eval_count > plain.prompt_eval_count + 20, 'the tools are in the prompt');
  assert.ok(withTools.done);
  const history = [
    { role: 'user', content: 'Weather in Paris?' },
    { role: 'assistant', content: '', tool_calls: [{ function: { name: 'get_weather', arguments: { city: 'Paris' } } }] },
    { role: 'tool', content: '{"temp": 21}', tool_name: 'get_weather' },
  ];
  const rt = await ollama.chat({ model: MODEL, messages: history, tools: TOOLS, options: { num_predict: 8, seed: 1 } });
  assert.ok(rt.prompt_eval_count > withTools.prompt_eval_count, 'the call and its result are rendered');
  let n = 0;
  for await (const p of await ollama.chat({ model: MODEL, messages: history, tools: TOOLS, options: { num_predict: 8, seed: 1 }, stream: true })) n += p.done ? 0 : 1;
  assert.ok(n >= 1);
  await rejects(ollama.chat({ model: MODEL, messages: MSGS, tools: [{ type: 'function', function: { name: 'bad name!' } }] }), 400, /function.name/);
  await rejects(ollama.chat({ model: MODEL, messages: [{ role: 'assistant', content: '', tool_calls: [{ function: { name: 'x', arguments: 'nope' } }] }] }), 400, /tool_calls\[0\]/);
});

test('errors in Ollama\'s shape', async () => {
  await rejects(ollama.chat({ model: 'llama3', messages: MSGS }), 404, /model "llama3" not found, try pulling it first/);
  await rejects(ollama.generate({ model: MODEL, prompt: 'x', images: ['aGVsbG8='] }), 400, /images are not supported/);
  await rejects(ollama.chat({ model: MODEL, messages: [{ role: 'user', content: 'x', images: ['aGVsbG8='] }] }), 400, /images/);
  await rejects(ollama.generate({ model: MODEL, prompt: 'x', template: '{{ .Prompt }}' }), 400, /template/);
  await rejects(ollama.generate({ model: MODEL, prompt: 'x', suffix: 'y' }), 400, /suffix/);
  await rejects(ollama.generate({ model: MODEL, prompt: 'x', context: [1, 2, 3] }), 400, /context/);
  await rejects(ollama.generate({ model: MODEL, prompt: 'x', keep_alive: '5 minutes' }), 400, /keep_alive/);
  await rejects(ollama.generate({ model: MODEL, prompt: 'x', options: { temperature: 'hot' } }), 400, /option "temperature" must be a number/);
  await rejects(ollama.generate({ model: MODEL, prompt: 'x', options: { num_predict: 0 } }), 400, /num_predict/);
  await rejects(ollama.chat({ model: MODEL, messages: [{ role: 'robot', content: 'x' }] }), 400, /role/);
  for (const ka of ['5m', '1h30m', '300s', '-1', '0', 0, 3600, -1]) {
    const r = await ollama.generate({ model: MODEL, prompt: 'x', keep_alive: ka, options: { num_predict: 1, mirostat: 2, unknown_option: true } });
    assert.ok(r.done, `keep_alive ${ka}`);
  }
  // no key: 401 in Ollama's shape (also for the small endpoints)
  const anon = new Ollama({ host: URL_ });
  await rejects(anon.chat({ model: MODEL, messages: MSGS }), 401, /API key/);
  await rejects(anon.list(), 401, /API key/);
  const r = await fetch(`${URL_}/api/chat`, { method: 'POST', body: '{"model":', headers: { Authorization: `Bearer ${KEY}` } });
  assert.equal(r.status, 400);
  assert.deepEqual(Object.keys(await r.json()), ['error']);
});

test('a client that aborts mid-stream cancels its request', async () => {
  const before = await metric('client_disconnects_total', 'protocol="ollama"');
  // a string of at least 1500 characters: the answer cannot end on its own before the abort
  const it = await ollama.generate({ model: MODEL, prompt: 'Once', format: { type: 'string', minLength: 1500 }, options: { num_predict: -1 }, stream: true });
  let n = 0;
  await assert.rejects(async () => {
    for await (const p of it) {
      assert.equal(p.done, false);
      if (++n === 3) it.abort();
    }
  });
  let d, running;
  const t0 = Date.now();
  do {
    await new Promise((r) => setTimeout(r, 50));
    d = await metric('client_disconnects_total', 'protocol="ollama"');
    running = await metric('num_requests_running');
  } while ((d === before || running) && Date.now() - t0 < 10000);
  assert.equal(d, before + 1, 'the disconnect was counted');
  assert.equal(running, 0, 'nothing left running');
  // this file's requests are labelled protocol="ollama" (the openai series saw none of them)
  assert.ok(await metric('http_requests_total', 'protocol="ollama",status="200"') > 20);
  assert.ok(await metric('http_requests_total', 'protocol="ollama",status="400"') > 10);
  assert.ok(await metric('e2e_request_latency_seconds_count', 'protocol="ollama"') > 10);
});
