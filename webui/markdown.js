/* markdown.js - a small Markdown renderer for model output that never
 * parses HTML: every piece of text becomes a DOM text node (textContent),
 * elements are made with createElement, and link targets are kept only for
 * http:, https: and mailto: URLs. So model output such as "<script>" or
 * "<img onerror=...>" is shown as the characters it is.
 *
 * Supported: paragraphs (single newlines are line breaks), ATX headings,
 * fenced code blocks (``` or ~~~, with a language label and a copy button;
 * an unclosed fence runs to the end, which is what a half-streamed answer
 * looks like), indented-by-list-marker bullet and numbered lists (nested by
 * indentation), block quotes, horizontal rules, pipe tables, and inline
 * code, **bold**, *italic*, ~~strike~~, [links](url) and bare URLs. Images
 * are shown as links (loading them could reach another origin).
 *
 * API: PagodaMarkdown.render(text, element) replaces element's children;
 * copyText(text, button) copies to the clipboard and says so on the button. */
'use strict';
(function () {
  /* an opening fence: the fence and at most one word (the language); a line
   * with more after the fence is text, so nothing the model wrote is hidden */
  const FENCE = /^ {0,3}(`{3,}|~{3,})[ \t]*([^\s`]*)[ \t]*$/;
  const HEADING = /^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$/;
  const HR = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
  const QUOTE = /^ {0,3}> ?/;
  const ITEM = /^( *)([-*+]|\d{1,9}[.)])[ \t]+(.*)$/;
  const TABLE_SEP = /^ *\|? *:?-{1,}:? *(\| *:?-{1,}:? *)*\|? *$/;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function safeUrl(u) {
    try {
      const url = new URL(u, window.location.href);
      if (url.protocol === 'http:' || url.protocol === 'https:' || url.protocol === 'mailto:') return url.href;
    } catch (e) { /* not a URL */ }
    return null;
  }

  /* text with "\n" -> text nodes and <br> */
  function appendText(parent, s) {
    const parts = s.split('\n');
    parts.forEach((p, i) => {
      if (i) parent.appendChild(document.createElement('br'));
      if (p) parent.appendChild(document.createTextNode(p));
    });
  }

  const INLINE = new RegExp([
    '(`+)([^`]|[^`][\\s\\S]*?[^`])\\1(?!`)',          // 1,2 code span
    '\\*\\*(?=\\S)([\\s\\S]*?\\S)\\*\\*',              // 3 bold
    '__(?=\\S)([\\s\\S]*?\\S)__(?![A-Za-z0-9])',       // 4 bold
    '~~(?=\\S)([\\s\\S]*?\\S)~~',                      // 5 strike
    '\\*(?=[^\\s*])([^*\\n]*?[^\\s*])\\*',              // 6 italic
    '(?<![A-Za-z0-9_])_(?=[^\\s_])([^_\\n]*?[^\\s_])_(?![A-Za-z0-9_])', // 7 italic
    '!?\\[([^\\]\\n]*)\\]\\(<?([^()\\s<>]+(?:\\([^()\\s]*\\))?)>?(?:[ \\t]+"[^"\\n]*")?\\)', // 8,9 link / image
    '(https?://[^\\s<>()\\[\\]]*[^\\s<>()\\[\\].,;:!?\'"*_~])', // 10 bare URL
  ].join('|'), 'g');

  function inline(parent, s, depth) {
    if (depth > 8) { appendText(parent, s); return; }
    let last = 0;
    INLINE.lastIndex = 0;
    const matches = [];
    let m;
    while ((m = INLINE.exec(s)) !== null) {
      matches.push(m);
      if (m[0].length === 0) INLINE.lastIndex++;
    }
    for (const mm of matches) {
      if (mm.index < last) continue;
      if (mm.index > last) appendText(parent, s.slice(last, mm.index));
      last = mm.index + mm[0].length;
      if (mm[1] !== undefined) {
        let code = mm[2];
        if (/^ .* $/.test(code) && code.trim()) code = code.slice(1, -1);
        parent.appendChild(el('code', null, code));
      } else if (mm[3] !== undefined || mm[4] !== undefined) {
        const b = el('strong');
        inline(b, mm[3] !== undefined ? mm[3] : mm[4], depth + 1);
        parent.appendChild(b);
      } else if (mm[5] !== undefined) {
        const d = el('del');
        inline(d, mm[5], depth + 1);
        parent.appendChild(d);
      } else if (mm[6] !== undefined || mm[7] !== undefined) {
        const i = el('em');
        inline(i, mm[6] !== undefined ? mm[6] : mm[7], depth + 1);
        parent.appendChild(i);
      } else if (mm[9] !== undefined) {
        const href = safeUrl(mm[9]);
        const label = mm[8] || mm[9];
        if (!href) { appendText(parent, mm[0]); continue; }
        const a = el('a');
        a.href = href;
        a.rel = 'noopener noreferrer nofollow';
        a.target = '_blank';
        if (mm[0][0] === '!') a.textContent = '[image: ' + (label || href) + ']';
        else inline(a, label, depth + 1);
        parent.appendChild(a);
      } else if (mm[10] !== undefined) {
        const href = safeUrl(mm[10]);
        if (!href) { appendText(parent, mm[0]); continue; }
        const a = el('a', null, mm[10]);
        a.href = href;
        a.rel = 'noopener noreferrer nofollow';
        a.target = '_blank';
        parent.appendChild(a);
      }
    }
    if (last < s.length) appendText(parent, s.slice(last));
  }

  function copyText(text, btn) {
    const done = () => { btn.textContent = 'Copied'; setTimeout(() => { btn.textContent = 'Copy'; }, 1200); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, () => { btn.textContent = 'Copy failed'; });
      return;
    }
    const t = document.createElement('textarea');
    t.value = text;
    document.body.appendChild(t);
    t.select();
    try { document.execCommand('copy'); done(); } catch (e) { btn.textContent = 'Copy failed'; }
    t.remove();
  }

  function codeBlock(code, lang, open) {
    const box = el('div', 'codeblock');
    const head = el('div', 'head');
    head.appendChild(el('span', null, (lang || 'text') + (open ? ' …' : '')));
    const btn = el('button', 'link', 'Copy');
    btn.type = 'button';
    btn.addEventListener('click', () => copyText(code, btn));
    head.appendChild(btn);
    const pre = el('pre');
    const c = el('code', null, code);
    if (/^[\w+#.-]{1,32}$/.test(lang)) c.className = 'language-' + lang;
    pre.appendChild(c);
    box.appendChild(head);
    box.appendChild(pre);
    return box;
  }

  function splitRow(line) {
    let s = line.trim();
    if (s.startsWith('|')) s = s.slice(1);
    if (s.endsWith('|') && !s.endsWith('\\|')) s = s.slice(0, -1);
    const cells = [];
    let cur = '';
    for (let i = 0; i < s.length; i++) {
      if (s[i] === '\\' && s[i + 1] === '|') { cur += '|'; i++; } else if (s[i] === '|') { cells.push(cur.trim()); cur = ''; } else cur += s[i];
    }
    cells.push(cur.trim());
    return cells;
  }

  function isBlockStart(line, next) {
    return FENCE.test(line) || HEADING.test(line) || HR.test(line) || QUOTE.test(line) || ITEM.test(line) ||
      (line.includes('|') && next !== undefined && TABLE_SEP.test(next) && next.includes('-'));
  }

  function blocks(root, lines, depth) {
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      let m;
      if (/^\s*$/.test(line)) { i++; continue; }
      if ((m = FENCE.exec(line))) {
        const fence = m[1];
        const close = new RegExp('^ {0,3}' + (fence[0] === '`' ? '`' : '~') + '{' + fence.length + ',}[ \\t]*$');
        const code = [];
        i++;
        while (i < lines.length && !close.test(lines[i])) code.push(lines[i++]);
        const open = i >= lines.length;
        if (!open) i++;
        root.appendChild(codeBlock(code.join('\n'), m[2], open));
        continue;
      }
      if ((m = HEADING.exec(line))) {
        const h = el('h' + Math.min(6, m[1].length + 2));
        inline(h, m[2], 0);
        root.appendChild(h);
        i++;
        continue;
      }
      if (HR.test(line)) { root.appendChild(el('hr')); i++; continue; }
      if (QUOTE.test(line) && depth < 6) {
        const inner = [];
        while (i < lines.length && QUOTE.test(lines[i])) inner.push(lines[i++].replace(QUOTE, ''));
        const q = el('blockquote');
        blocks(q, inner, depth + 1);
        root.appendChild(q);
        continue;
      }
      if ((m = ITEM.exec(line)) && depth < 6) {
        const indent = m[1].length;
        const ordered = /\d/.test(m[2]);
        const list = el(ordered ? 'ol' : 'ul');
        if (ordered) {
          const start = parseInt(m[2], 10);
          if (start !== 1 && Number.isFinite(start)) list.start = start;
        }
        while (i < lines.length) {
          const im = ITEM.exec(lines[i]);
          if (!im || im[1].length !== indent || /\d/.test(im[2]) !== ordered) break;
          const body = [im[3]];
          i++;
          /* continuation: indented deeper than the marker, or a lazy line of the same paragraph */
          while (i < lines.length) {
            const l = lines[i];
            if (/^\s*$/.test(l)) {
              if (i + 1 < lines.length && /^\s+/.test(lines[i + 1]) && lines[i + 1].search(/\S/) > indent) { body.push(''); i++; continue; }
              break;
            }
            const lead = l.search(/\S/);
            if (lead > indent) { body.push(l.slice(Math.min(lead, indent + 2 + (ordered ? 1 : 0)))); i++; continue; }
            if (!isBlockStart(l, lines[i + 1]) && body[body.length - 1] !== '') { body.push(l); i++; continue; }
            break;
          }
          const li = el('li');
          if (body.length === 1) inline(li, body[0], 0);
          else blocks(li, body, depth + 1);
          list.appendChild(li);
          while (i < lines.length && /^\s*$/.test(lines[i]) && i + 1 < lines.length && ITEM.test(lines[i + 1]) &&
                 ITEM.exec(lines[i + 1])[1].length === indent) i++;
        }
        root.appendChild(list);
        continue;
      }
      if (line.includes('|') && i + 1 < lines.length && TABLE_SEP.test(lines[i + 1]) && lines[i + 1].includes('-')) {
        const head = splitRow(line);
        const table = el('table');
        const thead = el('thead');
        const tr = el('tr');
        head.forEach((c) => { const th = el('th'); inline(th, c, 0); tr.appendChild(th); });
        thead.appendChild(tr);
        table.appendChild(thead);
        const tbody = el('tbody');
        i += 2;
        while (i < lines.length && lines[i].includes('|') && !/^\s*$/.test(lines[i])) {
          const row = el('tr');
          const cells = splitRow(lines[i]);
          for (let k = 0; k < head.length; k++) { const td = el('td'); inline(td, cells[k] || '', 0); row.appendChild(td); }
          tbody.appendChild(row);
          i++;
        }
        table.appendChild(tbody);
        root.appendChild(table);
        continue;
      }
      /* paragraph: up to a blank line or the start of another block */
      const para = [line];
      i++;
      while (i < lines.length && !/^\s*$/.test(lines[i]) && !isBlockStart(lines[i], lines[i + 1])) para.push(lines[i++]);
      const p = el('p');
      inline(p, para.join('\n'), 0);
      root.appendChild(p);
    }
  }

  function render(text, root) {
    const frag = document.createDocumentFragment();
    blocks(frag, String(text).replace(/\r\n?/g, '\n').split('\n'), 0);
    root.replaceChildren(frag);
  }

  window.PagodaMarkdown = { render: render, safeUrl: safeUrl, copyText: copyText };
})();
