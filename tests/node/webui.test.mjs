// webui.test.mjs - drives pagoda's built-in web UI in headless Chromium
// (puppeteer-core) against a real `pagoda serve -m stories260K.gguf`.
// Run by tests/webui.test.sh: node webui.test.mjs URL CHROMIUM OUTDIR
//
// Checks: the HTTP side of the UI (CSP, ETag/304, content types); the chat
// page loads with no console error and lists the model; a message streams
// into the page (its text grows while the request runs); Stop cancels it
// (the server's running count, read from /v1/stats, drops to 0 and the
// request counts as cancelled); Shift+Enter adds a line without sending;
// token counts and tokens/s under an answer equal the server's usage;
// regenerate, edit-and-resend, conversations kept across a reload; a real
// 400 and a 429 (crafted by interception, with Retry-After) shown in plain
// words; model output with HTML is shown as text: (a) the real model,
// steered by logit_bias, writes "<s>" tags, (b) a crafted stream of the
// chat endpoint carries <script>, <img onerror> and a javascript: link; the
// dashboard's request count rises after requests are sent and its charts
// and running-requests table fill; a phone-sized window has no horizontal
// overflow; nothing is fetched from another origin. Screenshots go to
// OUTDIR/webui-chat.png (mid-stream), webui-dashboard.png (under load) and
// webui-chat-phone.png.
import puppeteer from 'puppeteer-core';
import assert from 'node:assert/strict';
import path from 'node:path';

const [URL_BASE, CHROME, OUTDIR, MODE = 'main', API_KEY = '', METRICS_KEY = ''] = process.argv.slice(2);
const ORIGIN = new URL(URL_BASE).origin;
const T0 = Date.now();
const log = (...a) => console.log(`[${((Date.now() - T0) / 1000).toFixed(1)}s]`, ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, fn, timeoutMs = 20000, stepMs = 50) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await sleep(stepMs);
  }
}

const stats = async () => (await fetch(ORIGIN + '/v1/stats')).json();

// ---------- 1. the HTTP side ----------
if (MODE === 'main') {
  const r = await fetch(ORIGIN + '/');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/html/);
  const csp = r.headers.get('content-security-policy') || '';
  assert.match(csp, /default-src 'self'/, 'CSP forbids other origins');
  assert.match(csp, /connect-src 'self'/);
  assert.ok(!/unsafe-inline|unsafe-eval|\*/.test(csp), 'no inline script/style, no wildcard: ' + csp);
  const etag = r.headers.get('etag');
  assert.ok(etag && /^"[0-9a-f]+-[0-9a-f]+"$/.test(etag), 'strong ETag: ' + etag);
  assert.equal(r.headers.get('cache-control'), 'no-cache');
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  const body = await r.text();
  assert.ok(!/<script>|\son[a-z]+\s*=|\sstyle\s*=/.test(body), 'no inline script, handler or style attribute in chat.html');
  const r304 = await fetch(ORIGIN + '/', { headers: { 'If-None-Match': etag } });
  assert.equal(r304.status, 304, 'If-None-Match revalidates');
  const d = await fetch(ORIGIN + '/dashboard');
  assert.equal(d.status, 200);
  const js = await fetch(ORIGIN + '/webui/chat.js');
  assert.match(js.headers.get('content-type'), /^text\/javascript/);
  assert.equal((await fetch(ORIGIN + '/webui/nope.js')).status, 404);
  assert.equal((await fetch(ORIGIN + '/', { method: 'POST' })).status, 405);
  const head = await fetch(ORIGIN + '/dashboard', { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal((await head.text()).length, 0, 'HEAD has no body');
  const s = await stats();
  assert.equal(s.object, 'pagoda.stats');
  assert.equal(typeof s.counters.requests, 'number');
  log('HTTP checks passed (CSP, ETag/304, types, /v1/stats)');
}

// ---------- browser ----------
const browser = await puppeteer.launch({
  executablePath: CHROME,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check',
         '--disable-extensions', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const consoleErrors = [];
const requests = [];
let expectHttpErrors = 0; // console "Failed to load resource" lines that a check provokes on purpose

async function newPage(w = 1280, h = 820) {
  const page = await browser.newPage();
  await page.setViewport({ width: w, height: h });
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push('uncaught: ' + e.message));
  page.on('request', (r) => requests.push(r.url()));
  return page;
}

const tid = (t) => `[data-testid="${t}"]`;
async function setField(page, testid, value) {
  await page.$eval(tid(testid), (e, v) => {
    e.value = v;
    e.dispatchEvent(new Event('input', { bubbles: true }));
    e.dispatchEvent(new Event('change', { bubbles: true }));
  }, value);
}
const answers = (page) => page.$$eval(tid('assistant-message') + ' ' + tid('message-content'), (els) => els.map((e) => e.textContent));
// fn applied to the last element matching sel (null when none)
async function lastOf(page, sel, fn) {
  const all = await page.$$(sel);
  return all.length ? all[all.length - 1].evaluate(fn) : null;
}
const statsLines = (page) => page.$$eval(tid('assistant-message') + ' ' + tid('message-stats'), (els) => els.map((e) => e.textContent));


// ---------- auth mode: a server started with --api-key and --metrics-key ----------
async function authFlow() {
  const page = await newPage();
  await page.goto(ORIGIN + '/', { waitUntil: 'networkidle0', timeout: 30000 });
  expectHttpErrors++; // /v1/models without a key: 401
  const msg = await waitFor('the missing-key message', () => page.$eval(tid('banner'), (e) => (e.hidden ? null : e.textContent)), 15000);
  assert.match(msg, /API key \(401\)/, msg);
  assert.equal(await page.$eval(tid('model-select'), (s) => s.options.length), 0);
  await setField(page, 'api-key', API_KEY);
  await waitFor('the model list with the key', () => page.$eval(tid('model-select'), (s) => s.options.length), 15000);
  assert.equal(await page.$eval(tid('banner'), (e) => e.hidden), true, 'the message goes once the key works');
  let auths = [];
  page.on('request', (r) => { if (r.url().endsWith('/v1/chat/completions')) auths.push(r.headers().authorization); });
  await setField(page, 'max-tokens', '5');
  await page.click(tid('chat-input'));
  await page.keyboard.type('Hello');
  await page.keyboard.press('Enter');
  await waitFor('the answer with the key', async () => /5 tokens/.test((await statsLines(page))[0] || ''), 30000);
  assert.deepEqual(auths, ['Bearer ' + API_KEY], 'the key goes out as the Bearer token');
  log('chat with --api-key: 401 explained, key entered, answer received');
  await page.close();

  const dash = await newPage();
  await dash.goto(ORIGIN + '/dashboard', { waitUntil: 'domcontentloaded' });
  expectHttpErrors++; // /v1/stats without the metrics key: 401
  const locked = await waitFor('the metrics-key message', () => dash.$eval(tid('error'), (e) => (e.hidden ? null : e.textContent)), 15000);
  assert.match(locked, /metrics key/);
  assert.equal(await dash.$eval(tid('stat-requests'), (e) => e.textContent), '—', 'no figures without the key');
  await setField(dash, 'metrics-key', METRICS_KEY);
  await waitFor('figures with the metrics key', async () => (await dash.$eval(tid('stat-requests'), (e) => e.textContent)) === '1', 15000);
  assert.equal(await dash.$eval(tid('error'), (e) => e.hidden), true);
  log('dashboard with --metrics-key: locked, then the request count (1) once the key is entered');
  await dash.close();
  const unexpected = consoleErrors.filter((e) => !/Failed to load resource: the server responded with a status of 401/.test(e));
  assert.deepEqual(unexpected, [], 'console errors');
  assert.ok(consoleErrors.length >= 1 && consoleErrors.length <= 8, 'the provoked 401s: ' + consoleErrors.join(' | '));
  assert.deepEqual(requests.filter((u) => !u.startsWith(ORIGIN + '/')), [], 'requests to other origins');
}

let failed = false;
try {
  if (MODE === 'auth') await authFlow();
  else {
    // ---------- 2. the chat page loads ----------
    const page = await newPage();
    await page.goto(ORIGIN + '/', { waitUntil: 'networkidle0', timeout: 30000 });
    const models = (await (await fetch(ORIGIN + '/v1/models')).json()).data.map((m) => m.id);
    await waitFor('the model picker', () => page.$eval(tid('model-select'), (s) => s.options.length));
    const opts = await page.$eval(tid('model-select'), (s) => [...s.options].map((o) => o.value));
    assert.deepEqual(opts, models);
    for (const t of ['chat-input', 'send', 'stop', 'model-select', 'system-prompt', 'temperature', 'max-tokens'])
      assert.ok(await page.$(tid(t)), 'data-testid ' + t);
    assert.deepEqual(consoleErrors, [], 'no console error while loading');
    log('chat page loaded; models:', opts.join(','));

    // ---------- 3. a message streams in; stop cancels it ----------
    await setField(page, 'temperature', '0');
    await setField(page, 'max-tokens', '1500');
    await setField(page, 'system-prompt', 'You tell short stories.');
    await page.click(tid('chat-input'));
    await page.keyboard.type('Once upon a time');
    await page.keyboard.down('Shift');
    await page.keyboard.press('Enter');
    await page.keyboard.up('Shift');
    await page.keyboard.type('there was a cat.');
    assert.equal(await page.$eval(tid('chat-input'), (e) => e.value), 'Once upon a time\nthere was a cat.', 'Shift+Enter adds a line');
    assert.equal((await answers(page)).length, 0, 'Shift+Enter does not send');
    const before = await stats();
    await page.keyboard.press('Enter');
    const lens = [];
    await waitFor('the answer to grow three times', async () => {
      const a = await answers(page);
      const n = a.length ? a[0].length : 0;
      if (n > 0 && (!lens.length || n > lens[lens.length - 1])) lens.push(n);
      return lens.length >= 4 && n >= 60;
    }, 40000, 40);
    log(`streaming: the answer grew ${lens.length} times, ${lens[0]} -> ${lens[lens.length - 1]} characters`);
    await page.screenshot({ path: path.join(OUTDIR, 'webui-chat.png') });
    const mid = await stats();
    assert.ok(mid.engine.running >= 1, 'the server runs the request while it streams');
    assert.ok(mid.running.some((r) => r.state === 'generating' && r.generated_tokens > 0), 'the running table shows it');
    assert.equal(await page.$eval(tid('stop'), (b) => b.disabled), false, 'Stop is enabled while streaming');
    assert.equal(await page.$eval(tid('send'), (b) => b.disabled), true, 'Send is disabled while streaming');
    const tStop = Date.now();
    await page.click(tid('stop'));
    const after = await waitFor('the server to cancel the request', async () => {
      const s = await stats();
      return s.engine.running === 0 && s.running.length === 0 && s.counters.cancelled > before.counters.cancelled ? s : null;
    }, 10000, 50);
    log(`stop: running ${mid.engine.running} -> ${after.engine.running} in ${Date.now() - tStop} ms; cancelled ${before.counters.cancelled} -> ${after.counters.cancelled}`);
    const stopped = await statsLines(page);
    assert.match(stopped[0], /stopped/);
    const len1 = (await answers(page))[0].length;
    await sleep(400);
    assert.equal((await answers(page))[0].length, len1, 'no text arrives after Stop');
    assert.equal(await page.$eval(tid('stop'), (b) => b.disabled), true);

    // ---------- 4. usage figures; regenerate; edit and resend ----------
    await setField(page, 'max-tokens', '12');
    await page.click(tid('regenerate'));
    await waitFor('the regenerated answer', async () => (await statsLines(page))[0]?.includes('tok/s') && !(await statsLines(page))[0].includes('generating'), 30000);
    let st = (await statsLines(page))[0];
    assert.match(st, /^12 tokens · \d+ prompt · [\d.]+ tok\/s · first token \d+ ms/, 'exact usage under the answer: ' + st);
    assert.equal((await answers(page)).length, 1, 'regenerate replaces the answer');
    log('regenerated:', st);
    await page.click(tid('edit'));
    await page.$eval(tid('edit-input'), (e) => { e.value = 'Tom had a red ball.'; });
    await page.click(tid('edit-send'));
    await waitFor('the answer to the edited message', async () => { const l = await statsLines(page); return l.length === 1 && /tok\/s/.test(l[0]) && !/generating/.test(l[0]); }, 30000);
    const users = await page.$$eval(tid('user-message') + ' ' + tid('message-content'), (e) => e.map((x) => x.textContent));
    assert.deepEqual(users, ['Tom had a red ball.'], 'edit-and-resend replaces the message and drops what followed');
    log('edit-and-resend ok');

    // ---------- 5. errors in plain words ----------
    // settings the page cannot send: said at once, the message stays in the box
    await setField(page, 'extra-json', '{nope');
    await page.click(tid('chat-input'));
    await page.keyboard.type('kept');
    await page.keyboard.press('Enter');
    const bad = await waitFor('the settings message', () => page.$eval(tid('banner'), (e) => (e.hidden ? null : e.textContent)), 5000);
    assert.match(bad, /not valid JSON/);
    assert.equal(await page.$eval(tid('chat-input'), (e) => e.value), 'kept');
    assert.equal((await page.$$(tid('user-message'))).length, 1);
    await page.$eval(tid('chat-input'), (e) => { e.value = ''; });
    await setField(page, 'extra-json', '{"top_p": 7}');
    expectHttpErrors++;
    await page.click(tid('chat-input'));
    await page.keyboard.type('bad request');
    await page.keyboard.press('Enter');
    const e400 = await waitFor('the 400 message', () => lastOf(page, tid('message-error'), (e) => e.textContent), 20000);
    assert.match(e400, /rejected the request as invalid \(400\)\. The server said: ".*top_p/);
    log('400 shown as:', e400);
    await setField(page, 'extra-json', '');
    await page.setRequestInterception(true);
    const on429 = (req) => {
      if (req.url().endsWith('/v1/chat/completions')) {
        req.respond({ status: 429, headers: { 'Retry-After': '7', 'Content-Type': 'application/json' },
                      body: JSON.stringify({ error: { message: 'the queue is full', type: 'server_busy' } }) });
      } else req.continue();
    };
    page.on('request', on429);
    expectHttpErrors++;
    await page.click(tid('regenerate'));
    const e429 = await waitFor('the 429 message', () => lastOf(page, tid('message-error'), (e) => e.textContent).then((t) => t && t.includes('429') ? t : null), 20000);
    assert.match(e429, /Retry in 7 seconds/);
    log('429 shown as:', e429);
    page.off('request', on429);

    // ---------- 6. model output is text, never HTML ----------
    // (a) crafted stream of the chat endpoint
    const evil = ['Look: <script>window.__pwned = 1<\/script> and <img src="/x.png" onerror="window.__pwned = 2">',
                  '\n\n[click](javascript:window.__pwned=3) **bold <b>x</b>**\n\n```html\n<script>alert(1)<\/script>\n```\n'];
    const sse = evil.map((t) => 'data: ' + JSON.stringify({ choices: [{ index: 0, delta: { content: t }, finish_reason: null }] }) + '\n\n').join('') +
      'data: ' + JSON.stringify({ choices: [], usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } }) + '\n\ndata: [DONE]\n\n';
    const onEvil = (req) => {
      if (req.url().endsWith('/v1/chat/completions')) req.respond({ status: 200, headers: { 'Content-Type': 'text/event-stream' }, body: sse });
      else req.continue();
    };
    page.on('request', onEvil);
    await page.click(tid('regenerate'));
    await waitFor('the crafted answer', async () => (await answers(page)).pop()?.includes('alert(1)'), 20000);
    page.off('request', onEvil);
    await page.setRequestInterception(false);
    const probe = await lastOf(page, tid('assistant-message'), (m) => ({
      text: m.querySelector('[data-testid="message-content"]').textContent,
      scripts: m.querySelectorAll('script').length, imgs: m.querySelectorAll('img').length, bs: m.querySelectorAll('b').length,
      links: [...m.querySelectorAll('a')].map((a) => a.getAttribute('href')), strong: m.querySelectorAll('strong').length,
      code: m.querySelector('pre code') ? m.querySelector('pre code').textContent : null, pwned: window.__pwned,
    }));
    assert.ok(probe.text.includes('<script>window.__pwned = 1</script>'), 'the <script> tag is shown as text: ' + JSON.stringify(probe));
    assert.ok(probe.text.includes('<img src="/x.png" onerror="window.__pwned = 2">'));
    assert.ok(probe.text.includes('<b>x</b>'));
    assert.equal(probe.scripts + probe.imgs + probe.bs, 0, 'no element made from model output');
    assert.deepEqual(probe.links, [], 'no javascript: link');
    assert.equal(probe.strong, 1, 'markdown bold still renders');
    assert.equal(probe.code, '<script>alert(1)</script>', 'code block kept verbatim');
    assert.equal(probe.pwned, undefined, 'no script ran');
    assert.ok(!requests.some((u) => u.endsWith('/x.png')), 'the <img> was never loaded');
    log('crafted <script>/<img onerror>/javascript: output shown as text');
    // the renderer on 400 random mixes of HTML and Markdown fragments: only its own
    // element types and attributes, links only to http(s)/mailto, no "<" lost
    const fuzz = await page.evaluate(() => {
      const parts = ['<script>', '</script>', '<img src=x onerror=alert(1)>', '<b>', '**', '*', '_', '__', '`', '```', '~~~', '\n',
                     '\n\n', '# ', '> ', '- ', '1. ', '  ', '|', '---', '[a](', 'javascript:alert(1)', ')', 'https://example.com/x',
                     '](', '~~', ' ', 'text', '<a href="http://evil">', '&lt;', '"', "'", '\\', '![i](http://e/i.png)',
                     '<style>', '<iframe src=//x>', '    code', 'data:text/html,<script>', '<svg onload=alert(1)>'];
      let seed = 12345;
      const rnd = (n) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
      const tags = new Set(['P', 'BR', 'CODE', 'PRE', 'STRONG', 'EM', 'DEL', 'A', 'H3', 'H4', 'H5', 'H6', 'HR', 'BLOCKQUOTE',
                            'UL', 'OL', 'LI', 'TABLE', 'THEAD', 'TBODY', 'TR', 'TH', 'TD', 'DIV', 'SPAN', 'BUTTON']);
      const attrs = new Set(['class', 'href', 'rel', 'target', 'start', 'type']);
      const lt = (x) => (x.match(/</g) || []).length;
      const bad = [];
      for (let k = 0; k < 400; k++) {
        let s = '';
        for (let i = 1 + rnd(30); i > 0; i--) s += parts[rnd(parts.length)];
        const box = document.createElement('div');
        window.PagodaMarkdown.render(s, box);
        for (const el of box.querySelectorAll('*')) {
          if (!tags.has(el.tagName)) bad.push(el.tagName + ' from ' + JSON.stringify(s));
          for (const at of el.attributes) if (!attrs.has(at.name)) bad.push('attribute ' + at.name + ' from ' + JSON.stringify(s));
          if (el.tagName === 'A' && !/^(https?:|mailto:)/.test(el.href)) bad.push('href ' + el.href);
        }
        if (!s.includes('](') && lt(box.textContent) !== lt(s)) bad.push('lost "<" in ' + JSON.stringify(s));
      }
      return { bad: bad.slice(0, 5), pwned: window.__pwned };
    });
    assert.deepEqual(fuzz.bad, [], 'renderer output on random fragments');
    assert.equal(fuzz.pwned, undefined);
    log('renderer: 400 random HTML/Markdown mixes gave only text and its own elements');
    // (b) the real model, steered by logit_bias onto the "<", "s" and ">" tokens of
    // stories260K's vocabulary (seeded sampling: the same text every run), in a new chat
    // the first of a few seeds whose output holds a "<s>" tag (the same on every run
    // of one build; the search keeps the check independent of the CPU's rounding)
    let steer = null, want = '';
    for (let seed = 5; seed < 25 && !steer; seed++) {
      const st = { logit_bias: { 504: 99, 419: 81, 505: 99 }, temperature: 1, seed };
      const direct = await (await fetch(ORIGIN + '/v1/chat/completions', { method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ messages: [{ role: 'system', content: 'You tell short stories.' }, { role: 'user', content: 'Write tags.' }], max_tokens: 40, ...st }) })).json();
      want = direct.choices[0].message.content;
      if (/^[^>]/.test(want) && want.includes('<s>')) steer = st; /* a leading ">" would be a markdown quote */
    }
    assert.ok(steer, 'the steered model writes a <s> tag: ' + want);
    await setField(page, 'max-tokens', '40');
    await setField(page, 'temperature', '');
    await setField(page, 'extra-json', JSON.stringify(steer));
    await page.click(tid('new-chat'));
    await page.click(tid('chat-input'));
    await page.keyboard.type('Write tags.');
    await page.keyboard.press('Enter');
    await waitFor('the steered answer', async () => { const l = await statsLines(page); return /tok\/s/.test(l[0] || '') && !/generating/.test(l[0]); }, 30000);
    const real = await page.$eval(tid('assistant-message'), (m) => ({ text: m.querySelector('[data-testid="message-content"]').textContent,
                                                                      s: m.querySelectorAll('s').length }));
    assert.equal(real.text, want, 'the page shows exactly the model output');
    assert.equal(real.s, 0, 'no <s> element from model output');
    log('real model output shown as text:', JSON.stringify(want.slice(0, 40)));
    await setField(page, 'extra-json', '');

    // ---------- 7. conversations in localStorage ----------
    await page.click(tid('new-chat'));
    await setField(page, 'max-tokens', '6');
    await page.click(tid('chat-input'));
    await page.keyboard.type('Second chat');
    await page.keyboard.press('Enter');
    await waitFor('the second chat answer', async () => { const l = await statsLines(page); return l.length === 1 && /tok\/s|tokens/.test(l[0]) && !/generating/.test(l[0]); }, 30000);
    await page.reload({ waitUntil: 'networkidle0' });
    const titles = await page.$$eval(tid('conversation') + ' .open', (e) => e.map((x) => x.textContent));
    assert.deepEqual(titles, ['Second chat', 'Write tags.', 'Tom had a red ball.'], 'the conversations survive a reload');
    assert.deepEqual(await page.$$eval(tid('user-message'), (e) => e.length), 1);
    await page.click(tid('conversation') + ':nth-child(3) .open');
    const u2 = await page.$$eval(tid('user-message') + ' ' + tid('message-content'), (e) => e.map((x) => x.textContent));
    assert.deepEqual(u2, ['Tom had a red ball.', 'bad request'], 'switching conversations');
    log('conversations kept across a reload:', titles.join(' | '));

    // ---------- 8. narrow (phone) window ----------
    await page.setViewport({ width: 375, height: 720, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    await sleep(200);
    const narrow = await page.evaluate(() => {
      const vis = (e) => { const r = e.getBoundingClientRect(); return r.width > 0 && r.left >= 0 && r.right <= window.innerWidth + 1; };
      return { overflow: document.documentElement.scrollWidth - window.innerWidth,
               input: vis(document.querySelector('[data-testid="chat-input"]')), send: vis(document.querySelector('[data-testid="send"]')),
               settingsHidden: getComputedStyle(document.getElementById('settings')).display === 'none' };
    });
    assert.ok(narrow.overflow <= 0, 'no horizontal scrolling at 375 px: ' + narrow.overflow);
    assert.ok(narrow.input && narrow.send && narrow.settingsHidden, JSON.stringify(narrow));
    await page.screenshot({ path: path.join(OUTDIR, 'webui-chat-phone.png') });
    await page.click('#toggle-settings');
    assert.ok(await page.$eval(tid('temperature'), (e) => e.getBoundingClientRect().width > 0), 'settings open as a drawer');
    log('phone layout ok');
    await page.close();

    // ---------- 9. the dashboard under load ----------
    const dash = await newPage(1280, 1000);
    await dash.goto(ORIGIN + '/dashboard', { waitUntil: 'domcontentloaded' });
    const count = () => dash.$eval(tid('stat-requests'), (e) => parseInt(e.textContent, 10));
    const n0 = await waitFor('the first poll', async () => { const n = await count(); return Number.isFinite(n) ? n + 1 : 0; }) - 1;
    assert.ok(await dash.$(tid('metrics-dashboard')));
    const charts = await dash.$$eval('[data-testid^="chart-"]', (e) => e.map((f) => f.dataset.testid));
    assert.ok(charts.length >= 4, 'at least four charts: ' + charts);
    // load: three long requests (cut off below, so a fast machine cannot finish them
    // before the checks) and five short ones. The long ones stream: an aborted
    // fetch only closes its socket (a FIN), which for a non-streaming request
    // is a half-close that still gets its whole answer (issue 29); a stream
    // notices at its next write.
    const cut = new AbortController();
    const chat = (max, stream, signal) => fetch(ORIGIN + '/v1/chat/completions', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'Tell me a story about a dog.' }], max_tokens: max, temperature: 0.7, stream }), signal })
      .then((r) => r.text()).catch((e) => (e.name === 'AbortError' ? 'aborted' : Promise.reject(e)));
    const load = [chat(1500, true, cut.signal), chat(1500, true, cut.signal), chat(1500, true, cut.signal)];
    for (let i = 0; i < 5; i++) load.push(chat(16, false));
    await waitFor('the dashboard count to rise by 8', async () => (await count()) >= n0 + 8, 20000, 100);
    await waitFor('running rows in the table', () => dash.$$eval(tid('running-row'), (r) => r.length >= 1), 20000, 100);
    // a few more polls (the charts draw lines); on a fast idle machine the
    // load can end within them, so keep the busiest moment the page showed
    let peak = { running: 0, rows: [] };
    for (let i = 0; i < 35; i++) {
      const snap = await dash.evaluate(() => ({
        running: parseInt(document.querySelector('[data-testid="stat-running"]').textContent, 10) || 0,
        rows: [...document.querySelectorAll('[data-testid="running-row"]')].map((r) => [...r.cells].map((c) => c.textContent)),
      }));
      if (snap.running >= peak.running) peak = snap;
      await sleep(100);
    }
    const dv = await dash.evaluate(() => ({
      running: document.querySelector('[data-testid="stat-running"]').textContent,
      tps: document.querySelector('[data-testid="stat-tps"]').textContent,
      rows: [...document.querySelectorAll('[data-testid="running-row"]')].map((r) => [...r.cells].map((c) => c.textContent)),
      inked: [...document.querySelectorAll('[data-testid^="chart-"] canvas')].map((c) => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 3; i < d.length; i += 4) n += d[i] > 0;
        return n;
      }),
    }));
    await dash.screenshot({ path: path.join(OUTDIR, 'webui-dashboard.png'), fullPage: true });
    assert.ok(peak.running >= 1, 'running shown: ' + peak.running);
    dv.rows = dv.rows.length ? dv.rows : peak.rows;
    assert.ok(parseFloat(dv.tps) > 0, 'output tokens/s shown: ' + dv.tps);
    assert.ok(dv.rows.length >= 1 && /^chatcmpl-/.test(dv.rows[0][0]) && dv.rows[0][5], 'running table: ' + JSON.stringify(dv.rows));
    assert.ok(dv.inked.every((n) => n > 0), 'every chart drew: ' + dv.inked);
    const n1 = await count();
    log(`dashboard: requests ${n0} -> ${n1}; running ${dv.running}; output tok/s ${dv.tps}; rows ${dv.rows.length}`);
    cut.abort();
    await Promise.all(load);
    await waitFor('the table to empty', () => dash.$$eval(tid('running-row'), (r) => r.length === 0), 30000, 100);
    assert.equal(await count(), (await stats()).counters.requests, 'the dashboard shows the server count');
    await dash.close();

    // ---------- 10. same origin only; no unexpected console error ----------
    const foreign = requests.filter((u) => !u.startsWith(ORIGIN + '/'));
    assert.deepEqual(foreign, [], 'requests to other origins');
    const unexpected = consoleErrors.filter((e) => !/Failed to load resource: the server responded with a status of (400|429)/.test(e));
    assert.deepEqual(unexpected, [], 'console errors');
    assert.ok(consoleErrors.length <= expectHttpErrors, 'only the provoked 400/429: ' + consoleErrors.join(' | '));
    log(`${requests.length} requests, all to ${ORIGIN}; console errors: ${consoleErrors.length} (the provoked 400 and 429)`);
  }
} catch (e) {
  failed = true;
  console.error('FAIL:', e && e.stack ? e.stack : e);
  console.error('console errors:', consoleErrors);
} finally {
  await browser.close();
}
log(failed ? 'webui test FAILED' : 'webui test passed');
process.exit(failed ? 1 : 0);
