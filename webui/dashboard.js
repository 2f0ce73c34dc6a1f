/* dashboard.js - the live metrics dashboard of pagoda's web UI.
 *
 * Polls GET /v1/stats (same origin; "Authorization: Bearer <metrics key>"
 * when one is entered) every 1/2/5 s and keeps the recent snapshots. Rates
 * and windowed figures come from differences between snapshots:
 *   output tokens/s     d(generated_tokens) / dt over the last 5 s
 *   TTFT / ITL p50-p99  quantiles of the histogram bucket counts that were
 *                       added in the last 10 s (linear inside a bucket, the
 *                       same estimate as stats.c for the whole uptime); no
 *                       new observation -> a gap
 *   prefix hit rate     d(hits) / d(queries) over the last 10 s
 * Counters and the running-requests table show the latest snapshot. Text
 * goes into the page through textContent only. */
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const q = (tid) => document.querySelector('[data-testid="' + tid + '"]');
  const LS_KEY = 'pagoda.dash.key';
  const LS_INT = 'pagoda.dash.interval';
  const HIST_WINDOW = 10, RATE_WINDOW = 5;

  let snaps = []; /* {t (s, monotonic from performance.now), s (the JSON)} */
  let timer = null, paused = false, charts = null;

  const ms = (v) => (v >= 1 ? v.toFixed(2) + ' s' : (v * 1000).toFixed(v < 0.01 ? 1 : 0) + ' ms');
  const pct = (v) => Math.round(v * 100) + '%';
  const num = (v) => (v >= 1e6 ? (v / 1e6).toFixed(2) + 'M' : v >= 1e4 ? (v / 1e3).toFixed(1) + 'k' : String(Math.round(v * 10) / 10));

  function makeCharts() {
    const C = window.PagodaChart;
    charts = {
      tps: new C(q('chart-throughput'), { series: [{ name: 'output tok/s', color: '#2f7ed8' }, { name: 'prompt tok/s', color: '#9b6bd1' }], fmt: num }),
      ttft: new C(q('chart-ttft'), { series: [{ name: 'p50', color: '#2e9d5b' }, { name: 'p90', color: '#e0a020' }, { name: 'p99', color: '#d9534f' }], fmt: ms }),
      itl: new C(q('chart-itl'), { series: [{ name: 'p50', color: '#2e9d5b' }, { name: 'p90', color: '#e0a020' }, { name: 'p99', color: '#d9534f' }], fmt: ms }),
      req: new C(q('chart-requests'), { series: [{ name: 'running', color: '#2f7ed8' }, { name: 'waiting', color: '#e0a020' }], fmt: num }),
      kv: new C(q('chart-kv'), { series: [{ name: 'KV used', color: '#2f7ed8' }, { name: 'prefix hits', color: '#2e9d5b' }], max: 1, fmt: pct }),
    };
  }

  function quantile(counts, bounds, p) {
    let total = 0;
    for (const c of counts) total += c;
    if (total <= 0) return null;
    const rank = p * total;
    let cum = 0;
    for (let i = 0; i < bounds.length; i++) {
      if (counts[i] > 0 && cum + counts[i] >= rank) {
        const lo = i ? bounds[i - 1] : 0;
        return lo + (bounds[i] - lo) * Math.max(0, (rank - cum) / counts[i]);
      }
      cum += counts[i];
    }
    return bounds[bounds.length - 1];
  }

  /* the newest snapshot at least `age` seconds older than the last one (or the oldest) */
  function back(age) {
    const last = snaps[snaps.length - 1];
    for (let i = snaps.length - 2; i >= 0; i--) if (last.t - snaps[i].t >= age) return snaps[i];
    return snaps.length > 1 ? snaps[0] : null;
  }

  function windowQuantiles(name, age) {
    const a = back(age), b = snaps[snaps.length - 1];
    if (!a) return [null, null, null];
    const hb = b.s.histograms[name], ha = a.s.histograms[name];
    const d = hb.counts.map((c, i) => c - (ha.counts[i] || 0));
    return [0.5, 0.9, 0.99].map((p) => quantile(d, hb.bounds, p));
  }

  function rate(get, age) {
    const a = back(age), b = snaps[snaps.length - 1];
    if (!a || b.t <= a.t) return null;
    return (get(b.s) - get(a.s)) / (b.t - a.t);
  }

  function setText(tid, text) {
    const e = q(tid);
    if (e) e.textContent = text;
  }

  function dur(s) {
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d) return d + 'd ' + h + 'h';
    if (h) return h + 'h ' + m + 'm';
    return m + 'm ' + Math.floor(s % 60) + 's';
  }

  function update(s, t) {
    snaps.push({ t, s });
    while (snaps.length > 2 && t - snaps[0].t > 60) snaps.shift();
    const e = s.engine, c = s.counters;
    $('model-name').textContent = s.model;
    const st = $('status');
    st.textContent = s.status;
    st.className = 'pill ' + (s.status === 'ready' ? 'ok' : 'bad');
    setText('stat-requests', String(c.requests));
    setText('stat-running', String(e.running));
    setText('stat-waiting', String(e.waiting));
    const tps = rate((x) => x.engine.generated_tokens, RATE_WINDOW);
    const pps = rate((x) => x.engine.prompt_tokens, RATE_WINDOW);
    setText('stat-tps', tps === null ? '—' : num(tps));
    setText('stat-kv', pct(e.kv_usage));
    $('kv-sub').textContent = e.kv_blocks_used + ' of ' + e.kv_blocks_total + ' blocks, ' + e.kv_blocks_cached + ' cached';
    setText('stat-prefix', e.prefix_cache_hit_rate === null ? '—' : pct(e.prefix_cache_hit_rate));
    setText('stat-rejected-429', String(c.rejected_429));
    setText('stat-rejected-503', String(c.rejected_503));
    setText('stat-errors', String(c.errors_4xx + c.errors_5xx + c.generation_errors));
    $('err-sub').textContent = c.errors_4xx + ' 4xx · ' + c.errors_5xx + ' 5xx · ' + c.generation_errors + ' generation';
    setText('stat-cancelled', String(c.cancelled));
    $('cancel-sub').textContent = c.disconnects + ' client disconnects, ' + c.timeouts + ' timeouts';
    setText('stat-generated', num(e.generated_tokens));
    $('prompt-sub').textContent = num(e.prompt_tokens) + ' prompt tokens';
    setText('stat-uptime', dur(s.uptime_s));
    $('steps-sub').textContent = num(e.steps) + ' engine steps, ' + e.preemptions + ' preemptions';

    const pq = rate((x) => x.engine.prefix_cache_queries, HIST_WINDOW);
    const ph = rate((x) => x.engine.prefix_cache_hits, HIST_WINDOW);
    charts.tps.push(t, [tps, pps]);
    charts.ttft.push(t, windowQuantiles('ttft', HIST_WINDOW));
    charts.itl.push(t, windowQuantiles('itl', HIST_WINDOW));
    charts.req.push(t, [e.running, e.waiting]);
    charts.kv.push(t, [e.kv_usage, pq > 0 ? ph / pq : null]);

    const tb = $('runs');
    tb.replaceChildren();
    if (!s.running.length) {
      const tr = document.createElement('tr');
      const td = document.createElement('td');
      td.colSpan = 6;
      td.className = 'empty-row';
      td.textContent = 'No request is running.';
      tr.appendChild(td);
      tb.appendChild(tr);
    }
    for (const r of s.running) {
      const tr = document.createElement('tr');
      tr.dataset.testid = 'running-row';
      const cells = [r.id, r.model, r.age_s.toFixed(1) + ' s', String(r.prompt_tokens), String(r.generated_tokens), r.state];
      cells.forEach((v, i) => {
        const td = document.createElement('td');
        td.textContent = v;
        if (i >= 2 && i <= 4) td.className = 'num';
        tr.appendChild(td);
      });
      tb.appendChild(tr);
    }
  }

  function showError(text) {
    const b = $('dash-error');
    b.textContent = text || '';
    b.hidden = !text;
  }

  async function poll() {
    timer = null;
    if (paused) return;
    const key = $('metrics-key').value.trim();
    try {
      const r = await fetch('/v1/stats', { headers: key ? { Authorization: 'Bearer ' + key } : {}, cache: 'no-store' });
      if (r.status === 401) {
        showError('This server protects its metrics: enter the metrics key above (it is sent as "Authorization: Bearer").');
        $('status').textContent = 'locked';
      } else if (!r.ok) {
        showError('The server answered ' + r.status + ' to /v1/stats.');
      } else {
        const s = await r.json();
        showError('');
        update(s, performance.now() / 1000);
      }
    } catch (e) {
      showError('Cannot reach the server (' + e.message + '); retrying.');
      $('status').textContent = 'offline';
      $('status').className = 'pill bad';
    }
    schedule();
  }

  function schedule() {
    if (timer || paused) return;
    timer = setTimeout(poll, parseInt($('interval').value, 10) || 1000);
  }

  function init() {
    try {
      $('metrics-key').value = localStorage.getItem(LS_KEY) || '';
      const iv = localStorage.getItem(LS_INT);
      if (iv) $('interval').value = iv;
    } catch (e) { /* storage disabled */ }
    makeCharts();
    $('metrics-key').addEventListener('change', () => {
      try { localStorage.setItem(LS_KEY, $('metrics-key').value); } catch (e) { /* ignore */ }
      if (timer) clearTimeout(timer);
      timer = null;
      poll();
    });
    $('interval').addEventListener('change', () => {
      try { localStorage.setItem(LS_INT, $('interval').value); } catch (e) { /* ignore */ }
      if (timer) clearTimeout(timer);
      timer = null;
      schedule();
    });
    $('pause').addEventListener('click', () => {
      paused = !paused;
      $('pause').textContent = paused ? 'Resume' : 'Pause';
      if (!paused) poll();
      else if (timer) { clearTimeout(timer); timer = null; }
    });
    poll();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
