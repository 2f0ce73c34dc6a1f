// demo.test.mjs - the built-in demo model (pagoda serve without -m): says
// so in /v1/models and serves completions and ChatML chat like a real model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const URL_ = process.env.PAGODA_URL;
const client = new OpenAI({ baseURL: `${URL_}/v1`, apiKey: 'none', maxRetries: 0 });

test('demo model', async () => {
  const list = await client.models.list();
  const m = list.data[0];
  assert.equal(m.id, 'pagoda-demo');
  assert.equal(m.owned_by, 'pagoda-demo');
  assert.match(m.description, /random weights.*pagoda serve -m/);
  const r = await client.completions.create({ model: m.id, prompt: 'Hello', max_tokens: 10, temperature: 0.5, seed: 1, ignore_eos: true });
  assert.equal(r.usage.completion_tokens, 10);
  const r2 = await client.completions.create({ model: m.id, prompt: 'Hello', max_tokens: 10, temperature: 0.5, seed: 1, ignore_eos: true });
  assert.equal(r2.choices[0].text, r.choices[0].text);
  // byte-level vocabulary: every byte of the prompt is one token, plus BOS
  const t = await (await fetch(`${URL_}/tokenize`, { method: 'POST', body: JSON.stringify({ prompt: 'héllo' }) })).json();
  assert.equal(t.count, 1 + Buffer.byteLength('héllo'));
  const c = await client.chat.completions.create({ model: m.id, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5, stream: true });
  let n = 0;
  for await (const ch of c) n++;
  assert.ok(n >= 2);
  // ChatML: <|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n with BOS
  const cc = await client.chat.completions.create({ model: m.id, messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 });
  const expect = await (await fetch(`${URL_}/tokenize`, { method: 'POST', body: JSON.stringify({ prompt: '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n' }) })).json();
  assert.equal(cc.usage.prompt_tokens, expect.count);
});
