// ollama_embed.test.mjs - Ollama's /api/embed and /api/embeddings through
// the official `ollama` JS client against `pagoda serve` on emb-bert (the
// embedding queue): the vectors equal OpenAI's /v1/embeddings for the same
// texts (both normalised), /api/embeddings is the same vector before
// normalisation, an input alone equals the same input in a batch, and
// errors come in Ollama's shape. Env: PAGODA_URL, PAGODA_MODEL.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ollama } from 'ollama';

const URL_ = process.env.PAGODA_URL;
const MODEL = process.env.PAGODA_MODEL;
const ollama = new Ollama({ host: URL_ });
const TEXTS = ['hello world', 'The quick brown fox jumps over the lazy dog.', 'good bye'];

async function openai(input) {
  const r = await fetch(`${URL_}/v1/embeddings`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ model: MODEL, input }) });
  assert.equal(r.status, 200);
  return (await r.json()).data.map((d) => d.embedding);
}

const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

test('/api/embed equals /v1/embeddings; batch invariance', async () => {
  const r = await ollama.embed({ model: MODEL, input: TEXTS });
  assert.equal(r.model, MODEL);
  assert.equal(r.embeddings.length, 3);
  assert.ok(r.prompt_eval_count > 10);
  assert.ok(Number.isInteger(r.total_duration) && r.total_duration > 0 && r.load_duration === 0);
  const ref = await openai(TEXTS);
  for (let i = 0; i < 3; i++) {
    assert.equal(r.embeddings[i].length, ref[i].length);
    assert.deepEqual(r.embeddings[i], ref[i], `input ${i}`);
    assert.ok(Math.abs(norm(r.embeddings[i]) - 1) < 1e-5);
  }
  const one = await ollama.embed({ model: `${MODEL}:latest`, input: TEXTS[1] });
  assert.deepEqual(one.embeddings[0], r.embeddings[1], 'alone == in a batch');
});

test('/api/embeddings: the vector before normalisation', async () => {
  const r = await ollama.embeddings({ model: MODEL, prompt: TEXTS[0] });
  const e = (await ollama.embed({ model: MODEL, input: TEXTS[0] })).embeddings[0];
  const n = norm(r.embedding);
  assert.ok(Math.abs(n - 1) > 1e-3, 'not normalised');
  r.embedding.forEach((x, i) => assert.ok(Math.abs(x / n - e[i]) < 1e-5, `dim ${i}`));
});

test('errors in Ollama\'s shape', async () => {
  const bad = async (p, status, re) => {
    try { await p; } catch (e) { assert.equal(e.status_code, status, e.message); assert.match(e.message, re); return; }
    assert.fail(`expected ${status}`);
  };
  await bad(ollama.embed({ model: 'nomic-embed-text', input: 'x' }), 404, /model "nomic-embed-text" not found/);
  await bad(ollama.embed({ model: MODEL, input: [] }), 400, /must not be empty/);
  await bad(ollama.embed({ model: MODEL, input: 'x', keep_alive: 'soon' }), 400, /keep_alive/);
  await bad(ollama.embed({ model: MODEL, input: 'x', dimensions: 8 }), 400, /dimensions/);
  await bad(ollama.chat({ model: MODEL, messages: [{ role: 'user', content: 'x' }] }), 400, /does not support generation/);
  const s = await ollama.show({ model: MODEL });
  assert.deepEqual(s.capabilities, ['embedding']);
});
