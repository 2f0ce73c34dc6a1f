// pcache_disk.mjs - client of tests/pcache_disk.test.sh (the prefix cache
// on disk through the server, OpenAI Node SDK). Modes:
//   cold STATE   send the requests, save texts and usage to STATE (JSON)
//   warm STATE   after a restart: the same requests must report cached
//                tokens (completions, chat, streamed usage) and give the
//                same texts; another API key or another cache_salt must
//                not hit (tenant isolation), with the same texts
//   same STATE   the same texts (cached tokens not checked)
// Env: PAGODA_URL.
import fs from 'node:fs';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const [mode, stateFile] = process.argv.slice(2);
const base = `${process.env.PAGODA_URL}/v1`;
const k1 = new OpenAI({ baseURL: base, apiKey: 'key-one', maxRetries: 0, timeout: 60000 });
const k2 = new OpenAI({ baseURL: base, apiKey: 'key-two', maxRetries: 0, timeout: 60000 });
const MODEL = (await k1.models.list()).data[0].id;
const story = 'Once upon a time there was a little girl named Lily. She liked to play in the park with her friend Tom. ';
const P1 = story.repeat(9) + 'One day';
const P2 = 'The sun was hot that summer. ' + story.repeat(7) + 'Then';
const SYS = story.repeat(8);

async function completion(c, prompt, extra = {}) {
  const r = await c.completions.create({ model: MODEL, prompt, max_tokens: 16, temperature: 0, ...extra });
  return { text: r.choices[0].text, usage: r.usage };
}
async function chat(c) {
  const r = await c.chat.completions.create({
    model: MODEL, max_tokens: 16, temperature: 0,
    messages: [{ role: 'system', content: SYS }, { role: 'user', content: 'Tell me more.' }],
  });
  return { text: r.choices[0].message.content, usage: r.usage };
}
async function streamed(c, prompt) {
  const s = await c.completions.create({ model: MODEL, prompt, max_tokens: 16, temperature: 0, stream: true,
                                         stream_options: { include_usage: true } });
  let text = '', usage = null;
  for await (const ch of s) {
    if (ch.choices && ch.choices.length) text += ch.choices[0].text;
    if (ch.usage) usage = ch.usage;
  }
  return { text, usage };
}
async function all() {
  return { p1: await completion(k1, P1), chat: await chat(k1), p2: await streamed(k1, P2) };
}
// the cached tokens of a hit: every full block of the prompt but the one
// holding its last token (16-token blocks)
const want = (u) => Math.floor((u.prompt_tokens - 1) / 16) * 16;

if (mode === 'cold') {
  const r = await all();
  for (const [k, v] of Object.entries(r)) {
    assert.ok(v.usage && v.usage.prompt_tokens > 100, `${k}: long prompt`);
    assert.equal(v.usage.prompt_tokens_details.cached_tokens, 0, `${k}: nothing cached before`);
  }
  fs.writeFileSync(stateFile, JSON.stringify(r));
  console.log('cold: ' + Object.entries(r).map(([k, v]) => `${k} ${v.usage.prompt_tokens} prompt tokens`).join(', '));
} else if (mode === 'warm') {
  const cold = JSON.parse(fs.readFileSync(stateFile));
  const r = await all();
  for (const k of ['p1', 'chat', 'p2']) {
    assert.equal(r[k].text, cold[k].text, `${k}: same text as the cold run`);
    assert.equal(r[k].usage.prompt_tokens, cold[k].usage.prompt_tokens);
    assert.equal(r[k].usage.prompt_tokens_details.cached_tokens, want(r[k].usage),
                 `${k}: cached tokens after the restart`);
  }
  // another key (tenant) and another cache_salt: no hit, same text
  const o = await completion(k2, P1);
  assert.equal(o.text, cold.p1.text);
  assert.equal(o.usage.prompt_tokens_details.cached_tokens, 0, 'another key must not hit');
  const s = await completion(k1, P1, { cache_salt: 'tenant-b' });
  assert.equal(s.text, cold.p1.text);
  assert.equal(s.usage.prompt_tokens_details.cached_tokens, 0, 'another cache_salt must not hit');
  // and a second time it hits its own (in-memory) blocks
  const s2 = await completion(k1, P1, { cache_salt: 'tenant-b' });
  assert.equal(s2.usage.prompt_tokens_details.cached_tokens, want(s2.usage));
  console.log('warm: ' + Object.entries(r).map(([k, v]) =>
    `${k} ${v.usage.prompt_tokens_details.cached_tokens}/${v.usage.prompt_tokens} cached`).join(', '));
} else if (mode === 'same') {
  const cold = JSON.parse(fs.readFileSync(stateFile));
  const r = await all();
  for (const k of ['p1', 'chat', 'p2']) assert.equal(r[k].text, cold[k].text, `${k}: same text`);
  console.log('same: ' + Object.entries(r).map(([k, v]) =>
    `${k} ${v.usage.prompt_tokens_details.cached_tokens}/${v.usage.prompt_tokens} cached`).join(', '));
} else {
  console.error('usage: pcache_disk.mjs cold|warm|same STATE');
  process.exit(2);
}
