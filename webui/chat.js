/* chat.js - the chat page of pagoda's built-in web UI.
 *
 * Talks to the same origin only: GET /v1/models for the model picker and
 * POST /v1/chat/completions with stream: true and
 * stream_options.include_usage (read with fetch + a ReadableStream, parsed
 * as server-sent events), so the token counts and tokens/s under each
 * answer are the server's own usage figures. Model output is untrusted: it
 * is rendered by markdown.js, which builds DOM nodes and text nodes only.
 *
 * State: conversations live in localStorage ("pagoda.chat.conversations":
 * [{id, title, created, updated, messages: [{role, content, stats?,
 * error?, stopped?}]}], the open one in "pagoda.chat.current"), settings in
 * "pagoda.chat.settings". One generation at a time: `busy` holds its
 * AbortController; Stop (or Escape) aborts the fetch, the server sees the
 * connection close and cancels the request.
 *
 * Keyboard: Enter sends, Shift+Enter adds a line, Escape stops; every
 * control is a native button/input, so Tab reaches everything. */
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const LS_CONVS = 'pagoda.chat.conversations';
  const LS_CUR = 'pagoda.chat.current';
  const LS_SET = 'pagoda.chat.settings';
  const MAX_CONVS = 100;
  const FIELDS = { system: 'system', temperature: 'temperature', top_p: 'top-p', max_tokens: 'max-tokens',
                   seed: 'seed', api_key: 'api-key', extra: 'extra' };

  let convs = load(LS_CONVS, []);
  if (!Array.isArray(convs)) convs = [];
  let cur = null;          /* the open conversation (null: a new, unsaved one) */
  let busy = null;         /* {ctrl, msg} while a request runs */
  let renderQueued = null; /* the message whose element needs a repaint */

  function load(key, dflt) {
    try {
      const v = JSON.parse(localStorage.getItem(key));
      return v === null || v === undefined ? dflt : v;
    } catch (e) { return dflt; }
  }

  function save() {
    try {
      convs.sort((a, b) => b.updated - a.updated);
      if (convs.length > MAX_CONVS) convs.length = MAX_CONVS;
      localStorage.setItem(LS_CONVS, JSON.stringify(convs, (k, v) => (k[0] === '_' ? undefined : v)));
      localStorage.setItem(LS_CUR, cur ? cur.id : '');
    } catch (e) {
      banner('This browser did not keep the conversation (storage full or disabled): ' + e.message);
    }
  }

  function banner(text) {
    const b = $('banner');
    b.textContent = text || '';
    b.hidden = !text;
  }

  /* ---------- settings ---------- */

  function settings() {
    const s = {};
    for (const k in FIELDS) s[k] = $(FIELDS[k]).value;
    s.model = $('model').value;
    return s;
  }

  function saveSettings() {
    try { localStorage.setItem(LS_SET, JSON.stringify(settings())); } catch (e) { /* ignore */ }
  }

  function restoreSettings() {
    const s = load(LS_SET, {});
    for (const k in FIELDS) if (typeof s[k] === 'string') $(FIELDS[k]).value = s[k];
    return s;
  }

  function authHeaders() {
    const k = $('api-key').value.trim();
    return k ? { Authorization: 'Bearer ' + k } : {};
  }

  /* ---------- models ---------- */

  async function loadModels(wanted) {
    const sel = $('model');
    try {
      const r = await fetch('/v1/models', { headers: authHeaders(), cache: 'no-store' });
      if (!r.ok) {
        banner('Could not list the models: ' + await describeError(r));
        return;
      }
      const j = await r.json();
      const ids = (j.data || []).map((m) => String(m.id));
      sel.replaceChildren();
      for (const id of ids) {
        const o = document.createElement('option');
        o.value = id;
        o.textContent = id;
        sel.appendChild(o);
      }
      if (wanted && ids.includes(wanted)) sel.value = wanted;
      if (!ids.length) banner('The server lists no model.');
      else if ($('banner').textContent.startsWith('Could not list')) banner('');
    } catch (e) {
      banner('Cannot reach the server to list the models (' + e.message + ').');
    }
  }

  /* ---------- errors in plain words ---------- */

  function retryText(h) {
    if (!h) return 'a moment';
    if (/^\d+$/.test(h.trim())) {
      const s = parseInt(h, 10);
      return s === 1 ? '1 second' : s + ' seconds';
    }
    const t = Date.parse(h);
    if (!Number.isNaN(t)) return Math.max(1, Math.round((t - Date.now()) / 1000)) + ' seconds';
    return 'a moment';
  }

  async function describeError(r) {
    let msg = '';
    try {
      const j = await r.json();
      msg = j && j.error && j.error.message ? String(j.error.message) : '';
    } catch (e) { /* not JSON */ }
    const tail = msg ? ' The server said: "' + msg + '"' : '';
    const retry = r.headers.get('Retry-After');
    switch (r.status) {
    case 400: return 'The server rejected the request as invalid (400).' + tail;
    case 401: return 'The server needs a valid API key (401): enter it under Settings → API key.' + tail;
    case 403: return 'This API key may not do that (403).' + tail;
    case 404: return 'Not found (404): is the model name right?' + tail;
    case 413: return 'The conversation is too large for the server (413): start a new chat or shorten it.' + tail;
    case 429: return 'Too many requests (429): the server is busy or this key reached its rate limit. Retry in ' +
                     retryText(retry) + '.' + tail;
    case 503: return 'The server is unavailable (503): it is loading or shutting down. Retry in ' + retryText(retry) + '.' + tail;
    case 504: return 'The request timed out on the server (504).' + tail;
    default: return 'The server answered with an error (' + r.status + ').' + tail;
    }
  }

  /* ---------- conversations ---------- */

  function newId() {
    const a = new Uint32Array(2);
    crypto.getRandomValues(a);
    return Date.now().toString(36) + a[0].toString(36) + a[1].toString(36);
  }

  function openConversation(id) {
    if (busy) stop();
    cur = convs.find((c) => c.id === id) || null;
    save();
    renderList();
    renderMessages();
    closeDrawers();
    $('input').focus();
  }

  function deleteConversation(id) {
    if (busy && cur && cur.id === id) stop();
    convs = convs.filter((c) => c.id !== id);
    if (cur && cur.id === id) cur = null;
    save();
    renderList();
    renderMessages();
  }

  function renderList() {
    const ul = $('conv-list');
    ul.replaceChildren();
    for (const c of convs) {
      const li = document.createElement('li');
      if (cur && c.id === cur.id) li.setAttribute('aria-current', 'true');
      li.dataset.testid = 'conversation';
      const open = document.createElement('button');
      open.type = 'button';
      open.className = 'open';
      open.textContent = c.title || 'Untitled';
      open.title = c.title || '';
      open.addEventListener('click', () => openConversation(c.id));
      const del = document.createElement('button');
      del.type = 'button';
      del.className = 'link';
      del.textContent = '✕';
      del.setAttribute('aria-label', 'Delete conversation "' + (c.title || 'Untitled') + '"');
      del.addEventListener('click', () => deleteConversation(c.id));
      li.append(open, del);
      ul.appendChild(li);
    }
  }

  /* ---------- messages ---------- */

  function fmtStats(st) {
    const parts = [];
    if (st.completion_tokens !== undefined) parts.push((st.exact ? '' : '≈') + st.completion_tokens + ' tokens');
    if (st.prompt_tokens !== undefined) parts.push(st.prompt_tokens + ' prompt');
    if (st.tps !== undefined && Number.isFinite(st.tps)) parts.push(st.tps.toFixed(1) + ' tok/s');
    if (st.ttft_ms !== undefined) parts.push('first token ' + Math.round(st.ttft_ms) + ' ms');
    if (st.finish) parts.push(st.finish === 'length' ? 'stopped at max tokens' : 'finish: ' + st.finish);
    return parts.join(' · ');
  }

  function lastIndex(role) {
    if (!cur) return -1;
    for (let i = cur.messages.length - 1; i >= 0; i--) if (cur.messages[i].role === role) return i;
    return -1;
  }

  function messageElement(m, idx) {
    const box = document.createElement('div');
    box.className = 'msg ' + m.role;
    box.dataset.testid = m.role === 'assistant' ? 'assistant-message' : 'user-message';
    const role = document.createElement('div');
    role.className = 'role';
    role.textContent = m.role === 'assistant' ? 'Assistant' : 'You';
    const bubble = document.createElement('div');
    bubble.className = 'bubble';
    const content = document.createElement('div');
    content.className = 'content' + (m.role === 'assistant' ? ' md' : '');
    content.dataset.testid = 'message-content';
    bubble.appendChild(content);
    const meta = document.createElement('div');
    meta.className = 'meta';
    const stats = document.createElement('span');
    stats.dataset.testid = 'message-stats';
    const tools = document.createElement('span');
    tools.className = 'tools';
    meta.append(stats, tools);
    box.append(role, bubble, meta);
    m._el = { box, content, stats, tools, bubble };
    fillMessage(m, idx);
    return box;
  }

  function toolButton(label, testid, fn) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'link';
    b.textContent = label;
    b.dataset.testid = testid;
    b.disabled = !!busy;
    b.addEventListener('click', fn);
    return b;
  }

  /* (re)draws one message's content, stats line, error and tools */
  function fillMessage(m, idx) {
    const e = m._el;
    if (!e) return;
    if (m.role === 'assistant') {
      if (m.content) window.PagodaMarkdown.render(m.content, e.content);
      else e.content.replaceChildren();
      if (m.pending) { /* a blinking cursor at the end of the last paragraph */
        const last = e.content.lastElementChild;
        const host = last && /^(P|LI|H[3-6])$/.test(last.tagName) ? last : e.content;
        const c = document.createElement('span');
        c.className = 'cursor';
        c.setAttribute('aria-hidden', 'true');
        host.appendChild(c);
      }
      if (!m.content && !m.pending && !m.error) {
        const n = document.createElement('span');
        n.className = 'note';
        n.textContent = m.stopped ? '(stopped before the first token)' : '(empty answer)';
        e.content.appendChild(n);
      }
    } else {
      e.content.textContent = m.content;
    }
    let err = e.bubble.querySelector('.error');
    if (m.error) {
      if (!err) {
        err = document.createElement('div');
        err.className = 'error';
        err.setAttribute('role', 'alert');
        err.dataset.testid = 'message-error';
        e.bubble.appendChild(err);
      }
      err.textContent = m.error;
    } else if (err) err.remove();
    let st = m.stats ? fmtStats(m.stats) : '';
    if (m.stopped) st = (st ? st + ' · ' : '') + 'stopped';
    if (m.pending) st = (st ? st + ' · ' : '') + 'generating…';
    e.stats.textContent = st;
    e.tools.replaceChildren();
    if (m.pending) return;
    if (m.role === 'user') {
      e.tools.appendChild(toolButton('Edit', 'edit', () => startEdit(m, idx)));
      if (idx === cur.messages.length - 1) e.tools.appendChild(toolButton('Answer', 'regenerate', regenerate));
    } else {
      if (m.content) {
        const b = toolButton('Copy', 'copy', () => window.PagodaMarkdown.copyText(m.content, b));
        e.tools.appendChild(b);
      }
      if (idx === lastIndex('assistant') && idx === cur.messages.length - 1)
        e.tools.appendChild(toolButton('Regenerate', 'regenerate', regenerate));
    }
  }

  function renderMessages() {
    const box = $('messages');
    box.replaceChildren();
    if (!cur || !cur.messages.length) {
      const p = document.createElement('p');
      p.className = 'empty';
      p.textContent = 'Ask something. Answers stream from the model chosen above; conversations stay in this browser.';
      box.appendChild(p);
      return;
    }
    cur.messages.forEach((m, i) => box.appendChild(messageElement(m, i)));
    box.scrollTop = box.scrollHeight;
  }

  function scheduleRender(m) {
    if (renderQueued) return;
    renderQueued = m;
    requestAnimationFrame(() => {
      const mm = renderQueued;
      renderQueued = null;
      if (!mm || !mm._el) return;
      const box = $('messages');
      const atEnd = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
      fillMessage(mm, cur ? cur.messages.indexOf(mm) : -1);
      if (atEnd) box.scrollTop = box.scrollHeight;
    });
  }

  function startEdit(m, idx) {
    if (busy) return;
    const e = m._el;
    const wrap = document.createElement('div');
    wrap.className = 'edit';
    const ta = document.createElement('textarea');
    ta.value = m.content;
    ta.dataset.testid = 'edit-input';
    ta.setAttribute('aria-label', 'Edit message');
    const row = document.createElement('div');
    row.className = 'row';
    const cancel = document.createElement('button');
    cancel.type = 'button';
    cancel.textContent = 'Cancel';
    const ok = document.createElement('button');
    ok.type = 'button';
    ok.className = 'primary';
    ok.textContent = 'Send';
    ok.dataset.testid = 'edit-send';
    row.append(cancel, ok);
    wrap.append(ta, row);
    e.bubble.replaceChildren(wrap);
    ta.focus();
    const finish = () => {
      const text = ta.value;
      if (!text.trim()) return;
      m.content = text;
      cur.messages = cur.messages.slice(0, idx + 1);
      if (idx === 0) cur.title = titleOf(text);
      cur.updated = Date.now();
      save();
      renderList();
      generate();
    };
    cancel.addEventListener('click', renderMessages);
    ok.addEventListener('click', finish);
    ta.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); finish(); }
      if (ev.key === 'Escape') renderMessages();
    });
  }

  function titleOf(text) {
    const t = text.replace(/\s+/g, ' ').trim();
    return t.length > 60 ? t.slice(0, 57) + '…' : t;
  }

  /* ---------- sending and streaming ---------- */

  function send() {
    const input = $('input');
    const text = input.value;
    if (busy || !text.trim()) return;
    if (!cur) {
      cur = { id: newId(), title: titleOf(text), created: Date.now(), updated: Date.now(), messages: [] };
      convs.unshift(cur);
    }
    cur.messages.push({ role: 'user', content: text });
    cur.updated = Date.now();
    input.value = '';
    save();
    renderList();
    generate(true);
  }

  function regenerate() {
    if (busy || !cur) return;
    while (cur.messages.length && cur.messages[cur.messages.length - 1].role === 'assistant') cur.messages.pop();
    if (!cur.messages.length) return;
    generate();
  }

  function stop() {
    if (busy) busy.ctrl.abort();
  }

  function setBusy(on) {
    $('send').disabled = on;
    $('stop').disabled = !on;
    for (const b of document.querySelectorAll('#messages .tools button')) b.disabled = on;
  }

  function requestBody() {
    const s = settings();
    const body = { model: s.model || undefined, messages: [], stream: true, stream_options: { include_usage: true } };
    if (s.system.trim()) body.messages.push({ role: 'system', content: s.system });
    for (const m of cur.messages) {
      if (m.role === 'assistant' && !m.content) continue; /* failed or empty attempts */
      body.messages.push({ role: m.role, content: m.content });
    }
    const num = (v, name, int) => {
      if (v.trim() === '') return;
      const x = Number(v);
      if (!Number.isFinite(x) || (int && !Number.isInteger(x))) throw new Error(name + ' must be ' + (int ? 'a whole number' : 'a number'));
      body[name] = x;
    };
    num(s.temperature, 'temperature', false);
    num(s.top_p, 'top_p', false);
    num(s.max_tokens, 'max_tokens', true);
    num(s.seed, 'seed', true);
    if (s.extra.trim()) {
      let x;
      try { x = JSON.parse(s.extra); } catch (e) { throw new Error('Extra request fields are not valid JSON: ' + e.message); }
      if (!x || typeof x !== 'object' || Array.isArray(x)) throw new Error('Extra request fields must be a JSON object');
      Object.assign(body, x);
    }
    return body;
  }

  /* Reads an SSE body: calls onEvent(parsed JSON) per "data:" event until
   * "[DONE]" or the end of the stream. */
  async function readSSE(resp, onEvent) {
    const reader = resp.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
      let cut;
      while ((cut = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const data = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('data:')) data.push(line.slice(line[5] === ' ' ? 6 : 5));
        }
        if (!data.length) continue; /* comments, event names, keep-alives */
        const payload = data.join('\n');
        if (payload === '[DONE]') return;
        let obj;
        try { obj = JSON.parse(payload); } catch (e) { throw new Error('the server sent an unreadable event'); }
        onEvent(obj);
      }
    }
  }

  /* fromSend: the last message was just typed; when the settings are
   * unusable it goes back into the input box */
  async function generate(fromSend) {
    banner('');
    let body;
    try {
      body = requestBody();
    } catch (e) {
      banner(e.message);
      if (fromSend) {
        const m = cur.messages.pop();
        $('input').value = m.content;
        if (!cur.messages.length) {
          convs = convs.filter((c) => c !== cur);
          cur = null;
        }
        save();
        renderList();
      }
      renderMessages();
      return;
    }
    const msg = { role: 'assistant', content: '', pending: true };
    cur.messages.push(msg);
    renderMessages();
    const ctrl = new AbortController();
    busy = { ctrl, msg };
    setBusy(true);
    const t0 = performance.now();
    let tFirst = 0, tLast = 0, chunks = 0, usage = null, finish = null;
    const live = () => {
      const n = usage ? usage.completion_tokens : chunks;
      const st = { completion_tokens: n, exact: !!usage };
      if (usage) st.prompt_tokens = usage.prompt_tokens;
      if (tFirst) st.ttft_ms = tFirst - t0;
      if (n > 1 && tLast > tFirst) st.tps = (n - 1) / ((tLast - tFirst) / 1000);
      if (finish) st.finish = finish;
      msg.stats = st;
    };
    try {
      const resp = await fetch('/v1/chat/completions', {
        method: 'POST',
        headers: Object.assign({ 'Content-Type': 'application/json' }, authHeaders()),
        body: JSON.stringify(body),
        signal: ctrl.signal,
      });
      if (!resp.ok) {
        msg.error = await describeError(resp);
      } else {
        await readSSE(resp, (ev) => {
          if (ev.error) {
            msg.error = 'The server stopped with an error: ' + (ev.error.message || 'unknown error');
            return;
          }
          const ch = ev.choices && ev.choices[0];
          if (ch) {
            const d = ch.delta && ch.delta.content;
            if (d) {
              const now = performance.now();
              if (!tFirst) tFirst = now;
              tLast = now;
              chunks++;
              msg.content += d;
            }
            if (ch.finish_reason) finish = ch.finish_reason;
          }
          if (ev.usage) usage = ev.usage;
          live();
          scheduleRender(msg);
        });
      }
    } catch (e) {
      if (e.name === 'AbortError') msg.stopped = true;
      else msg.error = 'The connection to the server failed: ' + e.message;
    }
    if (tLast || usage) live();
    msg.pending = false;
    busy = null;
    cur.updated = Date.now();
    save();
    renderMessages();
    setBusy(false);
  }

  /* ---------- drawers (narrow layout) ---------- */

  function toggleDrawer(id, btn) {
    const d = $(id);
    const open = !d.classList.contains('open');
    closeDrawers();
    d.classList.toggle('open', open);
    $(btn).setAttribute('aria-expanded', String(open));
  }

  function closeDrawers() {
    for (const [d, b] of [['convs', 'toggle-convs'], ['settings', 'toggle-settings']]) {
      $(d).classList.remove('open');
      $(b).setAttribute('aria-expanded', 'false');
    }
  }

  /* ---------- wiring ---------- */

  function init() {
    const saved = restoreSettings();
    let curId = '';
    try { curId = localStorage.getItem(LS_CUR) || ''; } catch (e) { /* storage disabled */ }
    cur = convs.find((c) => c.id === curId) || null;
    for (const c of convs) for (const m of c.messages || []) if (m.pending) { m.pending = false; m.stopped = true; }
    renderList();
    renderMessages();
    loadModels(saved.model);

    $('composer').addEventListener('submit', (ev) => { ev.preventDefault(); send(); });
    $('input').addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        send();
      }
    });
    document.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') {
        if (busy) stop();
        else closeDrawers();
      }
    });
    $('stop').addEventListener('click', stop);
    $('new-chat').addEventListener('click', () => {
      if (busy) stop();
      cur = null;
      save();
      renderList();
      renderMessages();
      closeDrawers();
      $('input').focus();
    });
    for (const k in FIELDS) $(FIELDS[k]).addEventListener('change', saveSettings);
    $('model').addEventListener('change', saveSettings);
    $('api-key').addEventListener('change', () => loadModels($('model').value));
    $('reset-settings').addEventListener('click', () => {
      const key = $('api-key').value;
      for (const k in FIELDS) $(FIELDS[k]).value = '';
      $('api-key').value = key;
      saveSettings();
    });
    $('toggle-convs').addEventListener('click', () => toggleDrawer('convs', 'toggle-convs'));
    $('toggle-settings').addEventListener('click', () => toggleDrawer('settings', 'toggle-settings'));
    window.addEventListener('storage', (ev) => {
      if (ev.key !== LS_CONVS || busy) return;
      convs = load(LS_CONVS, []);
      cur = cur ? convs.find((c) => c.id === cur.id) || null : null;
      renderList();
      renderMessages();
    });
    $('input').focus();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
