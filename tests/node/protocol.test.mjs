// protocol.test.mjs - HTTP edge cases over raw sockets (node:net): malformed
// JSON, wrong types, invalid UTF-8, a truncated body, a huge header, slow
// clients, keep-alive. After each, the server must still serve others.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';

const u = new URL(process.env.PAGODA_URL);
const MODEL = process.env.PAGODA_MODEL;

// Sends raw bytes (array of Buffers, with optional delay between them) and
// resolves with everything received until the server closes or `until`
// says the response is complete.
function raw(parts, { delay = 0, until = null, timeout = 20000, end = false } = {}) {
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(u.port), u.hostname);
    let buf = Buffer.alloc(0);
    const t = setTimeout(() => { s.destroy(); resolve({ data: buf.toString('latin1'), timedOut: true }); }, timeout);
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (until && until(buf.toString('latin1'))) { clearTimeout(t); s.destroy(); resolve({ data: buf.toString('latin1') }); }
    });
    s.on('close', () => { clearTimeout(t); resolve({ data: buf.toString('latin1') }); });
    s.on('error', () => {});
    s.on('connect', async () => {
      for (const p of parts) {
        if (s.destroyed) return;
        s.write(p);
        if (delay) await new Promise((r) => setTimeout(r, delay));
      }
      if (end) s.end();
    });
  });
}

function post(path, body, extra = '') {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body);
  return Buffer.concat([Buffer.from(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${b.length}\r\n${extra}\r\n`), b]);
}
const complete = (d) => { const i = d.indexOf('\r\n\r\n'); if (i < 0) return false; const m = /content-length: *(\d+)/i.exec(d.slice(0, i)); return m ? d.length >= i + 4 + Number(m[1]) : /\r\n0\r\n\r\n$/.test(d); };
const status = (d) => Number(/^HTTP\/1\.1 (\d{3})/.exec(d)?.[1] ?? 0);
const body = (d) => JSON.parse(d.slice(d.indexOf('\r\n\r\n') + 4));

async function healthy() {
  const r = await fetch(`${u.origin}/v1/completions`, { method: 'POST', body: JSON.stringify({ model: MODEL, prompt: 'Hi', max_tokens: 2 }) });
  assert.equal(r.status, 200);
  assert.equal((await r.json()).choices.length, 1);
}

test('malformed JSON -> 400 invalid_json', async () => {
  for (const b of ['{"prompt": "x",', 'not json', '', '[1,2', '{"a":1}{"b":2}']) {
    const r = await raw([post('/v1/completions', b)], { until: complete });
    assert.equal(status(r.data), 400, b);
    assert.ok(body(r.data).error.message.length > 0);
  }
  await healthy();
});

test('wrong types and out-of-range values -> 400 naming the field', async () => {
  const cases = [
    [{ prompt: 'x', max_tokens: '5' }, 'max_tokens'], [{ prompt: 'x', temperature: 'hot' }, 'temperature'],
    [{ prompt: 'x', top_p: 0 }, 'top_p'], [{ prompt: 'x', stream: 'yes' }, 'stream'], [{ prompt: 'x', logprobs: 50 }, 'logprobs'],
    [{ prompt: 'x', stop: 5 }, 'stop'], [{ prompt: 'x', n: 1000 }, 'n'], [{ prompt: 'x', seed: 1.5 }, 'seed'],
    [{ prompt: 'x', stream_options: { include_usage: true } }, 'stream_options'], [{ prompt: {} }, 'prompt'], [{}, 'prompt'],
    [{ prompt: 'x', model: 7 }, 'model'], [{ prompt: 'x', presence_penalty: 3 }, 'presence_penalty'],
  ];
  for (const [b, param] of cases) {
    const r = await raw([post('/v1/completions', JSON.stringify(b))], { until: complete });
    assert.equal(status(r.data), 400, JSON.stringify(b));
    assert.equal(body(r.data).error.param, param, JSON.stringify(b));
    assert.equal(body(r.data).error.type, 'invalid_request_error');
  }
  const r = await raw([post('/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 5 }] }))], { until: complete });
  assert.equal(status(r.data), 400);
  await healthy();
});

test('invalid UTF-8 in the body -> 400', async () => {
  const b = Buffer.concat([Buffer.from('{"prompt": "ab'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('", "max_tokens": 2}')]);
  const r = await raw([post('/v1/completions', b)], { until: complete });
  assert.equal(status(r.data), 400);
  await healthy();
});

test('truncated body (Content-Length larger than sent, then close) is dropped; server keeps serving', async () => {
  const head = 'POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"prompt": "Once';
  for (let i = 0; i < 4; i++) {
    const s = net.connect(Number(u.port), u.hostname);
    s.on('error', () => {});
    await new Promise((r) => s.on('connect', r));
    s.write(head);
    await new Promise((r) => setTimeout(r, 50));
    s.destroy();
  }
  await healthy();
  // nothing of it reached the engine
  const m = await (await fetch(`${u.origin}/metrics`)).text();
  assert.match(m, /^pagoda:num_requests_running\{[^}]*\} 0$/m);
});

test('huge header -> 431 (or closed), server keeps serving', async () => {
  const h = `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(200000)}\r\n\r\n`;
  const r = await raw([h], { timeout: 5000 });
  assert.ok(!r.timedOut);
  const st = status(r.data);
  assert.ok(st === 431 || st === 413 || st === 400 || r.data === '', `status ${st}`);
  await healthy();
});

test('slow clients are answered and do not block others', async () => {
  const req = post('/v1/completions', JSON.stringify({ model: MODEL, prompt: 'Tom', max_tokens: 3 }));
  const pieces = [];
  for (let i = 0; i < req.length; i += 7) pieces.push(req.subarray(i, i + 7));
  const slow = [raw(pieces, { delay: 15, until: complete }), raw(pieces, { delay: 20, until: complete })];
  const t0 = Date.now();
  await healthy(); // served while the slow ones are still sending
  assert.ok(Date.now() - t0 < 1500, 'fast request was not blocked');
  for (const p of await Promise.all(slow)) {
    assert.equal(status(p.data), 200);
    assert.equal(body(p.data).choices.length, 1);
  }
  // a slow malformed body also gets its 400
  const bad = post('/v1/completions', '{"prompt": ');
  const parts = [];
  for (let i = 0; i < bad.length; i += 5) parts.push(bad.subarray(i, i + 5));
  const rb = await raw(parts, { delay: 10, until: complete });
  assert.equal(status(rb.data), 400);
});

test('keep-alive: several requests on one connection; x-request-id echoed', async () => {
  const one = post('/tokenize', JSON.stringify({ prompt: 'hello' }), 'x-request-id: abc-123\r\n');
  const r = await raw([one, one, Buffer.from('GET /health HTTP/1.1\r\nHost: x\r\n\r\n')], {
    until: (d) => (d.match(/HTTP\/1\.1 200/g) || []).length === 3 && d.endsWith('}'),
  });
  assert.equal((r.data.match(/HTTP\/1\.1 200/g) || []).length, 3);
  assert.equal((r.data.match(/x-request-id: abc-123/gi) || []).length, 2);
});

test('streaming is chunked SSE ending with [DONE]', async () => {
  const r = await raw([post('/v1/chat/completions', JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4, stream: true }))], {
    until: (d) => d.includes('data: [DONE]') && /\r\n0\r\n\r\n$/.test(d),
  });
  assert.match(r.data, /transfer-encoding: chunked/i);
  assert.match(r.data, /content-type: text\/event-stream/i);
  assert.match(r.data, /x-request-id: \S+/i);
  const events = [...r.data.matchAll(/data: (.*)\n\n/g)].map((m) => m[1]);
  assert.equal(events.at(-1), '[DONE]');
  const first = JSON.parse(events[0]);
  assert.deepEqual(first.choices[0].delta, { role: 'assistant', content: '' });
  const last = JSON.parse(events.at(-2));
  assert.ok(['stop', 'length'].includes(last.choices[0].finish_reason));
  assert.deepEqual(last.choices[0].delta, {});
});
