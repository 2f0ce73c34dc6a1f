/* chart.js - a small time-series line chart on a <canvas>, for the
 * dashboard. No library: points are kept in arrays (a rolling window of
 * `span` seconds), redrawn on every push and on resize, at the device's
 * pixel ratio. A null value leaves a gap. The y axis starts at 0 and ends
 * at a "nice" round number above the largest visible value (or at a fixed
 * max for percentages).
 *
 * new PagodaChart(figure, {series: [{name, color}], unit, fmt, max, span})
 * chart.push(t_seconds, [v0, v1, ...]) */
'use strict';
(function () {
  /* 4 grid steps of a round size (1, 2, 2.5 or 5 x 10^k) covering v */
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const step = v / 4;
    const p = Math.pow(10, Math.floor(Math.log10(step)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= step) return 4 * m * p;
    return 40 * p;
  }
  /* the visible time window: grows with the data, 30 s to `span` */
  function windowFor(elapsed, span) {
    for (const w of [30, 60, 120, 300, 600, 1800]) if (w >= elapsed && w <= span) return w;
    return span;
  }

  class PagodaChart {
    constructor(figure, opts) {
      this.fig = figure;
      this.opts = opts;
      this.span = opts.span || 300;
      this.t = [];
      this.v = opts.series.map(() => []);
      this.canvas = figure.querySelector('canvas');
      const cap = figure.querySelector('figcaption');
      this.legend = opts.series.map((s) => {
        const l = document.createElement('span');
        l.className = 'legend';
        const sw = document.createElement('span');
        sw.className = 'swatch';
        sw.style.background = s.color;
        const txt = document.createElement('span');
        txt.textContent = s.name + ': —';
        l.append(sw, txt);
        cap.appendChild(l);
        return txt;
      });
      if (window.ResizeObserver) new ResizeObserver(() => this.draw()).observe(this.canvas);
    }

    fmt(v) {
      if (v === null || v === undefined || !Number.isFinite(v)) return '—';
      if (v === 0) return '0';
      return this.opts.fmt ? this.opts.fmt(v) : String(Math.round(v * 100) / 100);
    }

    push(t, values) {
      this.t.push(t);
      values.forEach((x, i) => this.v[i].push(x === undefined ? null : x));
      while (this.t.length && this.t[0] < t - this.span) {
        this.t.shift();
        for (const a of this.v) a.shift();
      }
      this.opts.series.forEach((s, i) => { this.legend[i].textContent = s.name + ': ' + this.fmt(values[i]); });
      this.draw();
    }

    draw() {
      const c = this.canvas;
      const dpr = window.devicePixelRatio || 1;
      const w = c.clientWidth, h = c.clientHeight;
      if (!w || !h) return;
      if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
        c.width = Math.round(w * dpr);
        c.height = Math.round(h * dpr);
      }
      const g = c.getContext('2d');
      g.setTransform(dpr, 0, 0, dpr, 0, 0);
      g.clearRect(0, 0, w, h);
      const css = getComputedStyle(document.documentElement);
      const line = css.getPropertyValue('--line').trim() || '#ccc';
      const muted = css.getPropertyValue('--muted').trim() || '#666';
      const left = 46, right = 8, top = 6, bottom = 18;
      const pw = w - left - right, ph = h - top - bottom;
      let max = this.opts.max;
      if (!max) {
        let m = 0;
        for (const a of this.v) for (const x of a) if (x !== null && x > m) m = x;
        max = niceMax(m);
      }
      const now = this.t.length ? this.t[this.t.length - 1] : 0;
      const win = windowFor(this.t.length ? now - this.t[0] : 0, this.span);
      const x0 = now - win;
      const X = (t) => left + ((t - x0) / win) * pw;
      const Y = (v) => top + ph - (Math.min(v, max) / max) * ph;
      g.font = '11px system-ui, sans-serif';
      g.lineWidth = 1;
      g.strokeStyle = line;
      g.fillStyle = muted;
      g.textAlign = 'right';
      g.textBaseline = 'middle';
      for (let k = 0; k <= 4; k++) {
        const v = (max * k) / 4;
        const y = Math.round(Y(v)) + 0.5;
        g.beginPath();
        g.moveTo(left, y);
        g.lineTo(w - right, y);
        g.stroke();
        g.fillText(this.fmt(v), left - 4, y);
      }
      g.textAlign = 'center';
      g.textBaseline = 'top';
      g.textAlign = 'right';
      g.fillText('now', w - right, h - bottom + 4);
      g.textAlign = 'center';
      for (let k = 1; k < 5; k++) g.fillText('-' + Math.round(win - (win * k) / 5) + 's', X(x0 + (win * k) / 5), h - bottom + 4);
      g.lineWidth = 1.8;
      g.lineJoin = 'round';
      this.opts.series.forEach((s, i) => {
        g.strokeStyle = s.color;
        g.fillStyle = s.color;
        g.beginPath();
        let pen = false;
        const a = this.v[i];
        for (let k = 0; k < a.length; k++) {
          if (a[k] === null) { pen = false; continue; }
          const x = X(this.t[k]), y = Y(a[k]);
          if (pen) g.lineTo(x, y);
          else { g.moveTo(x, y); pen = true; }
          /* a lone point (gaps on both sides) gets a dot */
          if ((k === 0 || a[k - 1] === null) && (k === a.length - 1 || a[k + 1] === null)) g.fillRect(x - 1.5, y - 1.5, 3, 3);
        }
        g.stroke();
      });
    }
  }

  window.PagodaChart = PagodaChart;
})();
