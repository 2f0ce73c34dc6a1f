// embed.test.mjs - /v1/embeddings and /v1/rerank (issue 23) through the
// official OpenAI Node SDK (embeddings.create, float and base64) and fetch,
// against servers started by tests/embed_server.test.sh. PAGODA_MODE picks
// the checks for the server at PAGODA_URL (model id PAGODA_MODEL):
//   emb   emb-bert (bert encoder, mean pooling): the golden embeddings,
//         token-id inputs, batch invariance (alone vs in a batch of 32, and
//         8 concurrent requests), normalize:false, truncate, the refusals
//         (too long, bad dimensions, completions/chat/rerank on an encoder,
//         malformed bodies), /v1/models capabilities, the metrics
//   matr  emb-bert served with --matryoshka: dimensions truncates + renormalises
//   none  emb-bert served with --pooling none: per-token vectors
//   qwen  arch-qwen2-q8_0 served with --pooling last: the golden last-token
//         embeddings, and generation still works
//   chat  a chat model without pooling: /v1/embeddings refused (400)
//   rr    rr-bert (rank head): the golden rerank scores within 1e-4, sorted,
//         top_n, return_documents, {text} documents, /rerank; refusals
// Golden file: PAGODA_GOLDEN (../shared/embeddings/golden.json).
// Tolerances (issue 23): cosine >= 0.9999, unit norm, rerank 1e-4.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import OpenAI from 'openai';

const URL_ = process.env.PAGODA_URL;
const MODEL = process.env.PAGODA_MODEL;
const MODE = process.env.PAGODA_MODE;
const G = JSON.parse(fs.readFileSync(process.env.PAGODA_GOLDEN, 'utf8'));
const KEY = process.env.PAGODA_KEY || 'none';
const client = new OpenAI({ baseURL: `${URL_}/v1`, apiKey: KEY, maxRetries: 0, timeout: 120000 });

const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);
const norm = (a) => Math.sqrt(dot(a, a));
const cos = (a, b) => dot(a, b) / (norm(a) * norm(b));
const unit = (a) => { const n = norm(a); return a.map((x) => x / n); };
function decode(b64) {
  const buf = Buffer.from(b64, 'base64');
  const out = [];
  for (let i = 0; i < buf.length; i += 4) out.push(buf.readFloatLE(i));
  return out;
}
function checkGolden(data, want, what) {
  assert.equal(data.length, want.length, `${what}: one vector per text`);
  data.forEach((d, i) => {
    assert.equal(d.index, i);
    assert.equal(d.object, 'embedding');
    const v = d.embedding;
    assert.equal(v.length, want[i].length, `${what} ${i}: dimensions`);
    const c = cos(v, want[i]), n = norm(v);
    assert.ok(c >= 0.9999, `${what} ${i}: cosine ${c}`);
    assert.ok(Math.abs(n - 1) < 1e-4, `${what} ${i}: norm ${n}`);
  });
}
async function post(path, body, key = KEY) {
  const r = await fetch(`${URL_}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${key}` },
                                            body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: r.status, body: await r.json() };
}
async function refused(path, body, status, re, key = KEY) {
  const r = await post(path, body, key);
  assert.equal(r.status, status, `${path} ${JSON.stringify(body).slice(0, 80)}: ${JSON.stringify(r.body)}`);
  assert.ok(r.body.error && re.test(r.body.error.message), `message: ${r.body.error && r.body.error.message}`);
  return r.body.error;
}
async function tokenCount(text) {
  const r = await post('/tokenize', { prompt: text });
  assert.equal(r.status, 200);
  return r.body.tokens;
}

if (MODE === 'emb') {
  test('embeddings.create reproduces the golden mean-pooled vectors (float, base64, SDK default)', async () => {
    const f = await client.embeddings.create({ model: MODEL, input: G.texts, encoding_format: 'float' });
    assert.equal(f.object, 'list');
    assert.equal(f.model, MODEL);
    checkGolden(f.data, G.embeddings_mean, 'float');
    let want = 0;
    for (const t of G.texts) want += (await tokenCount(t)).length;
    assert.equal(f.usage.prompt_tokens, want);
    assert.equal(f.usage.total_tokens, want);
    const b = await client.embeddings.create({ model: MODEL, input: G.texts, encoding_format: 'base64' });
    assert.equal(typeof b.data[0].embedding, 'string');
    const dec = b.data.map((d) => ({ ...d, embedding: decode(d.embedding) }));
    checkGolden(dec, G.embeddings_mean, 'base64');
    dec.forEach((d, i) => assert.deepEqual(d.embedding, f.data[i].embedding.map((x) => Math.fround(x)),
                                           `base64 ${i} = the float answer`));
    // the SDK's default asks for base64 and decodes it itself
    const d = await client.embeddings.create({ model: MODEL, input: G.texts });
    checkGolden(d.data, G.embeddings_mean, 'sdk default');
    const one = await client.embeddings.create({ model: MODEL, input: G.texts[1], encoding_format: 'float' });
    checkGolden(one.data, [G.embeddings_mean[1]], 'single string');
    const alias = await post('/embeddings', { input: G.texts[0], encoding_format: 'float' });
    assert.equal(alias.status, 200);
    checkGolden(alias.body.data, [G.embeddings_mean[0]], '/embeddings');
  });

  test('token-id inputs give the same vectors as the text', async () => {
    const ids0 = await tokenCount(G.texts[0]), ids1 = await tokenCount(G.texts[1]);
    const t = await client.embeddings.create({ model: MODEL, input: [G.texts[0], G.texts[1]], encoding_format: 'base64' });
    const a = await client.embeddings.create({ model: MODEL, input: ids0, encoding_format: 'base64' });
    assert.equal(a.data.length, 1);
    assert.equal(a.data[0].embedding, t.data[0].embedding);
    assert.equal(a.usage.prompt_tokens, ids0.length);
    const b = await client.embeddings.create({ model: MODEL, input: [ids0, ids1], encoding_format: 'base64' });
    assert.equal(b.data[1].embedding, t.data[1].embedding);
    await refused('/v1/embeddings', { input: [[1, 2], 'x'] }, 400, /mixes/);
    await refused('/v1/embeddings', { input: [999999999] }, 400, /outside the vocabulary/);
    await refused('/v1/embeddings', { input: [-1] }, 400, /non-negative/);
  });

  test('batch invariance: a text alone, in a batch of 32 and among 8 concurrent requests', async () => {
    const text = G.texts[3];
    const alone = (await client.embeddings.create({ model: MODEL, input: text, encoding_format: 'base64' })).data[0].embedding;
    const batch = [];
    for (let i = 0; i < 32; i++) batch.push(i === 17 ? text : `${G.texts[i % G.texts.length]} filler ${'w '.repeat(i)}${i}`);
    const r = await client.embeddings.create({ model: MODEL, input: batch, encoding_format: 'base64' });
    assert.equal(r.data.length, 32);
    assert.equal(r.data[17].embedding, alone, 'bit-identical alone and in a batch of 32');
    const conc = await Promise.all(Array.from({ length: 8 }, (_, i) =>
      client.embeddings.create({ model: MODEL, input: i % 2 ? [batch[i], text] : [text, batch[i]], encoding_format: 'base64' })));
    conc.forEach((c, i) => assert.equal(c.data[i % 2 ? 1 : 0].embedding, alone, `concurrent request ${i}`));
  });

  test('clients that hang up: their jobs are cancelled and the server keeps serving', async () => {
    const big = Array.from({ length: 64 }, (_, i) => `${G.texts[i % G.texts.length]} ${'more words '.repeat(20)}${i}`);
    const aborted = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => {
      const ac = new AbortController();
      const p = fetch(`${URL_}/v1/embeddings`, { method: 'POST', body: JSON.stringify({ input: big }), signal: ac.signal,
                                                 headers: { Authorization: `Bearer ${KEY}` } });
      setTimeout(() => ac.abort(), i * 3);
      return p.then((r) => r.text());
    }));
    assert.equal(aborted.length, 12);
    const ok = await client.embeddings.create({ model: MODEL, input: G.texts[2], encoding_format: 'float' });
    checkGolden(ok.data, [G.embeddings_mean[2]], 'after hang-ups');
    // every job ends: none is left in /v1/stats' running table
    let running = -1;
    for (let k = 0; k < 200 && running !== 0; k++) {
      const st = await (await fetch(`${URL_}/v1/stats`)).json();
      running = st.running.filter((x) => x.state === 'embedding' || x.state === 'cancelling').length;
      if (running) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(running, 0);
  });

  test('normalize:false keeps the length; too long inputs are refused with the count and the limit; truncate', async () => {
    const raw = await post('/v1/embeddings', { input: G.texts[1], encoding_format: 'float', normalize: false });
    assert.equal(raw.status, 200);
    const v = raw.body.data[0].embedding;
    assert.ok(Math.abs(norm(v) - 1) > 1e-3, `not unit: ${norm(v)}`);
    assert.ok(cos(v, G.embeddings_mean[1]) >= 0.9999);
    const long = 'word '.repeat(600);
    const n = (await tokenCount(long)).length;
    assert.ok(n > 512);
    const e = await refused('/v1/embeddings', { input: ['ok', long] }, 400, new RegExp(`input 1 has ${n} tokens.*limit of 512`));
    assert.equal(e.type, 'invalid_request_error');
    await assert.rejects(client.embeddings.create({ model: MODEL, input: long }),
                         (err) => err.status === 400 && /more than the limit of 512 tokens/.test(err.message));
    const t = await post('/v1/embeddings', { input: long, truncate: true, encoding_format: 'float' });
    assert.equal(t.status, 200);
    assert.equal(t.body.usage.prompt_tokens, 512);
    assert.ok(Math.abs(norm(t.body.data[0].embedding) - 1) < 1e-4);
  });

  test('dimensions: refused on a model that is not Matryoshka (the full size is fine)', async () => {
    await assert.rejects(client.embeddings.create({ model: MODEL, input: 'x', dimensions: 64 }),
                         (err) => err.status === 400 && /does not support the dimensions parameter/.test(err.message));
    const full = await client.embeddings.create({ model: MODEL, input: G.texts[0], dimensions: 128, encoding_format: 'float' });
    checkGolden(full.data, [G.embeddings_mean[0]], 'dimensions 128');
    await refused('/v1/embeddings', { input: 'x', dimensions: 0 }, 400, /dimensions/);
    await refused('/v1/embeddings', { input: 'x', dimensions: 129 }, 400, /dimensions/);
  });

  test('an encoder refuses generation and reranking; bad bodies get 4xx', async () => {
    await assert.rejects(client.completions.create({ model: MODEL, prompt: 'hi', max_tokens: 2 }),
                         (err) => err.status === 400 && /model does not support generation/.test(err.message));
    await assert.rejects(client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }),
                         (err) => err.status === 400 && /model does not support generation/.test(err.message));
    await refused('/v1/rerank', { query: 'q', documents: ['d'] }, 400, /does not support reranking/);
    await refused('/tokenize', { messages: [{ role: 'user', content: 'hi' }] }, 400, /no chat template/);
    await refused('/v1/embeddings', {}, 400, /'input' is required/);
    await refused('/v1/embeddings', { input: [] }, 400, /must not be empty/);
    await refused('/v1/embeddings', { input: '' }, 400, /empty/);
    await refused('/v1/embeddings', { input: 5 }, 400, /'input' must be/);
    await refused('/v1/embeddings', { input: 'x', encoding_format: 'int8' }, 400, /encoding_format/);
    await refused('/v1/embeddings', { input: 'x', frobnicate: 1 }, 400, /unknown field 'frobnicate'/);
    await refused('/v1/embeddings', '{"input": "x",', 400, /JSON object/);
    await refused('/v1/embeddings', { input: 'x', model: 'other' }, 404, /does not exist/);
    await refused('/v1/embeddings', { input: 'x', normalize: 'no' }, 400, /normalize/);
    await refused('/v1/embeddings', { input: 'x', timeout: 0 }, 400, /timeout/);
    // a deadline 1 ns after parsing has passed before any worker looks at the job
    const late = await refused('/v1/embeddings', { input: G.texts, timeout: 1e-9 }, 504, /timed out/);
    assert.equal(late.code, 'timeout');
    await refused('/v1/rerank', { query: 'q', documents: ['d'], timeout: 1e-9 }, 400, /does not support reranking/);
  });

  test('/v1/models says what the model can do; metrics count embeddings', async () => {
    const list = await client.models.list();
    const m = list.data.find((x) => x.id === MODEL);
    assert.deepEqual(m.capabilities, ['embedding']);
    assert.equal(m.pooling, 'mean');
    assert.equal(m.embedding_dimensions, 128);
    assert.equal(m.matryoshka, false);
    const one = await client.models.retrieve(MODEL);
    assert.deepEqual(one.capabilities, ['embedding']);
    const met = await (await fetch(`${URL_}/metrics`)).text();
    const val = (name) => Number((met.match(new RegExp(`^pagoda:${name}\\{model_name="${MODEL}"\\} (\\d+)`, 'm')) || [])[1]);
    assert.ok(val('embedding_requests_total') >= 10, met.slice(0, 200));
    assert.ok(val('embedding_requests_success_total') >= 8);
    assert.ok(val('embedding_prompt_tokens_total') > 100);
    assert.ok(val('embedding_inputs_total') >= 40);
    assert.ok(val('embedding_passes_total') >= 1);
    assert.ok(val('embedding_request_latency_seconds_count') >= 8);
    assert.equal(val('rerank_requests_total'), 0);
    const st = await (await fetch(`${URL_}/v1/stats`)).json();
    assert.ok(st.counters.embedding_requests >= 10);
    assert.ok(st.histograms.embedding.count >= 8);
  });
}

if (MODE === 'matr') {
  test('API keys and rate-limit headers apply to embeddings', async () => {
    await refused('/v1/embeddings', { input: 'x' }, 401, /API key/, 'wrong');
    const r = await fetch(`${URL_}/v1/embeddings`, { method: 'POST', body: '{"input":"x"}' });
    assert.equal(r.status, 401);
    await r.text();
    const ok = await fetch(`${URL_}/v1/embeddings`, { method: 'POST', headers: { Authorization: `Bearer ${KEY}` },
                                                     body: '{"input":"x"}' });
    assert.equal(ok.status, 200);
    await ok.text();
    assert.ok(ok.headers.get('x-ratelimit-limit-requests'), 'rate-limit headers');
  });

  test('dimensions on a Matryoshka model: the first N values, renormalised', async () => {
    const r = await client.embeddings.create({ model: MODEL, input: G.texts.slice(0, 3), dimensions: 32, encoding_format: 'float' });
    r.data.forEach((d, i) => {
      assert.equal(d.embedding.length, 32);
      const want = unit(G.embeddings_mean[i].slice(0, 32));
      assert.ok(cos(d.embedding, want) >= 0.9999);
      assert.ok(Math.abs(norm(d.embedding) - 1) < 1e-4);
    });
    const m = await client.models.retrieve(MODEL);
    assert.equal(m.matryoshka, true);
  });
}

if (MODE === 'none') {
  test('--pooling none: one vector per token; their mean is the mean-pooled golden', async () => {
    const ids = await tokenCount(G.texts[1]);
    const r = await post('/v1/embeddings', { input: G.texts[1], encoding_format: 'float', normalize: false });
    assert.equal(r.status, 200);
    const rows = r.body.data[0].embedding;
    assert.equal(rows.length, ids.length);
    rows.forEach((v) => assert.equal(v.length, 128));
    const mean = rows[0].map((_, k) => rows.reduce((s, v) => s + v[k], 0) / rows.length);
    assert.ok(cos(mean, G.embeddings_mean[1]) >= 0.9999, `cosine ${cos(mean, G.embeddings_mean[1])}`);
    const b = await post('/v1/embeddings', { input: [G.texts[1]], encoding_format: 'base64' });
    assert.equal(b.body.data[0].embedding.length, ids.length);
    b.body.data[0].embedding.forEach((s) => assert.ok(Math.abs(norm(decode(s)) - 1) < 1e-4));
    assert.equal((await client.models.retrieve(MODEL)).pooling, 'none');
  });
}

if (MODE === 'qwen') {
  test('a chat model served with --pooling last reproduces the golden last-token embeddings and still generates', async () => {
    const f = await client.embeddings.create({ model: MODEL, input: G.texts, encoding_format: 'float' });
    checkGolden(f.data, G.embeddings_last, 'qwen2 float');
    const d = await client.embeddings.create({ model: MODEL, input: G.texts });
    checkGolden(d.data, G.embeddings_last, 'qwen2 base64 (sdk)');
    const m = await client.models.retrieve(MODEL);
    assert.deepEqual(m.capabilities, ['completion', 'chat', 'embedding']);
    assert.equal(m.pooling, 'last');
    const c = await client.completions.create({ model: MODEL, prompt: 'hello', max_tokens: 2, temperature: 0 });
    assert.equal(c.choices.length, 1);
    assert.equal(c.usage.completion_tokens, 2);
    await refused('/v1/rerank', { query: 'q', documents: ['d'] }, 400, /does not support reranking/);
  });

  test('embeddings and generation at once on one chat model: both answer, vectors unchanged', async () => {
    const alone = await client.embeddings.create({ model: MODEL, input: G.texts, encoding_format: 'base64' });
    const [e, c1, c2] = await Promise.all([
      client.embeddings.create({ model: MODEL, input: [...G.texts, ...G.texts, ...G.texts, ...G.texts], encoding_format: 'base64' }),
      client.completions.create({ model: MODEL, prompt: 'once upon a time', max_tokens: 8, temperature: 0 }),
      client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }),
    ]);
    assert.equal(e.data.length, 32);
    e.data.forEach((d, i) => assert.equal(d.embedding, alone.data[i % G.texts.length].embedding, `vector ${i}`));
    assert.ok(c1.usage.completion_tokens >= 1 && c1.choices.length === 1);
    assert.ok(c2.choices[0].message);
  });
}

if (MODE === 'chat') {
  test('a chat model without pooling refuses /v1/embeddings with the reason', async () => {
    await assert.rejects(client.embeddings.create({ model: MODEL, input: 'hello' }),
                         (err) => err.status === 400 && /model does not support embeddings.*--pooling/.test(err.message));
    await refused('/embeddings', { input: 'hello' }, 400, /does not support embeddings/);
    await refused('/v1/rerank', { query: 'q', documents: ['d'] }, 400, /does not support embeddings/);
    const m = await client.models.retrieve(MODEL);
    assert.deepEqual(m.capabilities, ['completion', 'chat']);
    assert.equal(m.pooling, undefined);
  });
}

if (MODE === 'rr') {
  test('rerank reproduces the golden scores, sorted, through /v1/rerank and /rerank', async () => {
    for (const [q, want] of G.rerank.map((c, i) => [c, G.rerank_scores[i]])) {
      for (const path of ['/v1/rerank', '/rerank']) {
        const r = await post(path, { model: MODEL, query: q.query, documents: q.documents });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        const res = r.body.results;
        assert.equal(res.length, want.length);
        assert.deepEqual(res.map((x) => x.index).sort(), want.map((_, i) => i));
        for (let k = 1; k < res.length; k++) assert.ok(res[k - 1].relevance_score >= res[k].relevance_score, 'sorted');
        for (const x of res) {
          assert.ok(Math.abs(x.relevance_score - want[x.index]) <= 1e-4, `${q.query} doc ${x.index}: ${x.relevance_score} vs ${want[x.index]}`);
          assert.equal(x.document.text, q.documents[x.index]);
        }
        assert.ok(r.body.usage.prompt_tokens > 0);
        assert.equal(r.body.model, MODEL);
      }
    }
  });

  test('top_n, return_documents, {text} documents', async () => {
    const q = G.rerank[1], want = G.rerank_scores[1];
    const best = want.indexOf(Math.max(...want));
    const r = await post('/v1/rerank', { query: q.query, documents: q.documents.map((t) => ({ text: t })), top_n: 2,
                                         return_documents: false });
    assert.equal(r.status, 200);
    assert.equal(r.body.results.length, 2);
    assert.equal(r.body.results[0].index, best);
    assert.equal(r.body.results[0].document, undefined);
    const all = await post('/v1/rerank', { query: q.query, documents: q.documents, top_n: 100 });
    assert.equal(all.body.results.length, q.documents.length);
  });

  test('rerank refusals; a reranker refuses embeddings and generation', async () => {
    await refused('/v1/rerank', { documents: ['a'] }, 400, /'query'/);
    await refused('/v1/rerank', { query: 'q', documents: [] }, 400, /must not be empty/);
    await refused('/v1/rerank', { query: 'q', documents: [1] }, 400, /document 0/);
    await refused('/v1/rerank', { query: 'q', documents: ['a'], top_n: 0 }, 400, /top_n/);
    await refused('/v1/rerank', { query: 'q', documents: ['a'], top_k: 1 }, 400, /unknown field 'top_k'/);
    await refused('/v1/rerank', { query: 'q', documents: ['a ' + 'word '.repeat(600)] }, 400, /document 0: .* tokens, more than the limit of 512/);
    const t = await post('/v1/rerank', { query: 'q', documents: ['word '.repeat(600)], truncate: true });
    assert.equal(t.status, 200);
    assert.equal(t.body.usage.prompt_tokens, 512);
    await assert.rejects(client.embeddings.create({ model: MODEL, input: 'hello' }),
                         (err) => err.status === 400 && /does not support embeddings: it is a reranker/.test(err.message));
    await assert.rejects(client.completions.create({ model: MODEL, prompt: 'hi' }),
                         (err) => err.status === 400 && /model does not support generation/.test(err.message));
    const m = await client.models.retrieve(MODEL);
    assert.deepEqual(m.capabilities, ['rerank']);
    const met = await (await fetch(`${URL_}/metrics`)).text();
    assert.match(met, new RegExp(`^pagoda:rerank_requests_success_total\\{model_name="${MODEL}"\\} [1-9]`, 'm'));
    assert.match(met, new RegExp(`^pagoda:rerank_request_latency_seconds_count\\{model_name="${MODEL}"\\} [1-9]`, 'm'));
  });
}
