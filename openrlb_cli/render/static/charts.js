/* openrlb charts: draws `openrlb plot`'s panels with uPlot from the JSON of openrlb_cli/render/chart_payload.py.
 *
 * Shared by the interactive report (inlined into index.html) and `openrlb view` (served as a file).
 * Every number comes from the payload; this file only draws: one uPlot chart per environment, a
 * line per experiment (solid where every seed reaches, dashed where only some), its band (std, ci or
 * min-max, chosen by the caller), a tooltip with mean, band and seed count on hover, drag to zoom
 * (double-click resets), and a shared legend whose entries hide or show an experiment everywhere.
 * Names are only ever set as text (textContent), never parsed as HTML.
 */
(function () {
  "use strict";

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function si(v) {
    const a = Math.abs(v);
    if (a >= 1e9) return +(v / 1e9).toPrecision(3) + "B";
    if (a >= 1e6) return +(v / 1e6).toPrecision(3) + "M";
    if (a >= 1e3) return +(v / 1e3).toPrecision(3) + "k";
    return String(+v.toPrecision(3));
  }

  function num(v) {
    if (v === null || v === undefined || !isFinite(v)) return "—";
    return Math.abs(v) >= 1e4 ? si(v) : String(+v.toPrecision(4));
  }

  function rgba(hex, alpha) {
    const n = parseInt(hex.slice(1), 16);
    return "rgba(" + ((n >> 16) & 255) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
  }

  function nearest(xs, v) {
    let lo = 0, hi = xs.length - 1;
    if (hi < 0) return -1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (xs[mid] < v) lo = mid; else hi = mid;
    }
    return Math.abs(xs[lo] - v) <= Math.abs(xs[hi] - v) ? lo : hi;
  }

  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                   "#bcbd22", "#17becf"];

  function colorOf(colors, label, i) {
    return (colors && colors[label]) || PALETTE[i % PALETTE.length];
  }

  /* One panel: returns the uPlot instance (or null for a panel without data). */
  function panel(box, p, fig, opts, labels) {
    const div = fig.x_div || 1;
    const tables = [], meta = [], bands = [];
    let col = 1;
    p.lines.forEach(function (line) {
      const xs = line.x.map(function (v) { return v / div; });
      const t = [xs, line.solid];
      const color = colorOf(opts.colors, line.label, labels.indexOf(line.label));
      const hidden = opts.hidden.has(line.label);
      meta.push({label: line.label, stroke: color, width: 1.6, show: !hidden, role: "mean"});
      if (line.dashed) {
        t.push(line.dashed);
        meta.push({label: line.label, stroke: color, width: 1.2, dash: [5, 4], show: !hidden, role: "partial"});
      }
      const band = opts.band !== "none" ? line.bands[opts.band] : null;
      if (band) {
        t.push(band[0], band[1]);
        const loIdx = col + t.length - 3, hiIdx = loIdx + 1;
        meta.push({label: line.label, role: "lo", show: !hidden}, {label: line.label, role: "hi", show: !hidden});
        bands.push({series: [hiIdx, loIdx], fill: rgba(color, 0.18)});
      }
      col += t.length - 1;
      tables.push(t);
    });
    const head = el("div", "or-panel-title", p.env);
    box.appendChild(head);
    if (!tables.length) {
      box.appendChild(el("div", "or-empty", "no data"));
      return null;
    }
    // Lines on different grids are joined on the union of their x values; a line has no value at another
    // line's x (uPlot marks those `undefined` and draws straight across them). NULL_EXPAND (2) turns the
    // ones beside a null into null too, so a gap (a dashed part's absence, a band's end) stays one gap
    // instead of a straight line drawn across it and clipped only around each null point.
    const data = tables.length === 1 ? tables[0]
      : uPlot.join(tables, tables.map(function (t) { return t.map(function () { return 2; }); }));
    const series = [{}].concat(meta.map(function (m) {
      const band = m.role === "lo" || m.role === "hi";
      return {
        label: m.label + (band ? " " + m.role : ""), show: m.show, stroke: band ? "transparent" : m.stroke,
        width: band ? 0 : m.width, dash: m.dash, points: {show: band ? false : undefined},
      };
    }));
    const tip = el("div", "or-tip");
    const chart = el("div", "or-chart");
    box.appendChild(chart);
    box.appendChild(tip);
    const u = new uPlot({
      width: opts.width, height: opts.height, series: series, bands: bands,
      legend: {show: false},
      cursor: {drag: {x: true, y: false}, points: {show: false}},
      scales: {x: {time: false}},
      axes: [
        {values: function (u, splits) { return splits.map(fig.x === "time" ? num : si); }, size: 34},
        {values: function (u, splits) { return splits.map(num); }, size: 52},
      ],
      hooks: {setCursor: [function (u) { tooltip(u, tip, p, fig, opts, labels); }]},
    }, data, chart);
    u.openrlbSeries = meta;
    return u;
  }

  function tooltip(u, tip, p, fig, opts, labels) {
    const left = u.cursor.left;
    if (left === undefined || left < 0) { tip.style.display = "none"; return; }
    const xv = u.posToVal(left, "x") * (fig.x_div || 1);
    tip.textContent = "";
    let any = false;
    p.lines.forEach(function (line) {
      if (opts.hidden.has(line.label)) return;
      const i = nearest(line.x, xv);
      if (i < 0) return;
      if (!any) tip.appendChild(el("div", "or-tip-x", (fig.x === "time" ? num : si)(line.x[i] / (fig.x_div || 1))));
      any = true;
      const mean = line.solid[i] !== null ? line.solid[i] : (line.dashed ? line.dashed[i] : null);
      const row = el("div", "or-tip-row");
      const sw = el("span", "or-swatch");
      sw.style.background = colorOf(opts.colors, line.label, labels.indexOf(line.label));
      row.appendChild(sw);
      const band = opts.band !== "none" ? line.bands[opts.band] : null;
      let text = line.label + ": " + num(mean);
      if (band) text += " [" + num(band[0][i]) + ", " + num(band[1][i]) + "]";
      text += " (" + line.count[i] + "/" + line.n_runs + " seeds)";
      row.appendChild(document.createTextNode(text));
      tip.appendChild(row);
    });
    tip.style.display = any ? "block" : "none";
    const w = u.over.clientWidth;
    tip.style.left = (left < w / 2 ? left + 60 : Math.max(0, left - tip.offsetWidth + 40)) + "px";
    tip.style.top = "28px";
  }

  /* Draw every panel of `fig` into `root`. opts: {band, colors, hidden: Set, width, height, cols}. */
  function render(root, fig, opts) {
    opts = Object.assign({band: "std", hidden: new Set(), height: 240}, opts || {});
    root.textContent = "";
    const labels = opts.labels || [];
    fig.panels.forEach(function (p) {
      p.lines.forEach(function (l) { if (labels.indexOf(l.label) < 0) labels.push(l.label); });
    });
    opts.labels = labels;
    const total = root.clientWidth || 900;
    const cols = opts.cols || Math.max(1, Math.min(fig.panels.length, Math.floor(total / 380)));
    opts.width = opts.width || Math.floor(total / cols) - 16;
    const grid = el("div", "or-grid");
    grid.style.gridTemplateColumns = "repeat(" + cols + ", " + (opts.width + 8) + "px)";
    const legend = el("div", "or-legend");
    root.appendChild(el("div", "or-ylabel", fig.y_label));
    root.appendChild(legend);
    root.appendChild(grid);
    root.appendChild(el("div", "or-xlabel", fig.x_label));
    const charts = [];
    fig.panels.forEach(function (p) {
      const box = el("div", "or-panel");
      grid.appendChild(box);
      const u = panel(box, p, fig, opts, labels);
      if (u) charts.push(u);
    });
    labels.forEach(function (label, i) {
      const item = el("button", "or-legend-item" + (opts.hidden.has(label) ? " or-off" : ""));
      item.type = "button";
      const sw = el("span", "or-swatch");
      sw.style.background = colorOf(opts.colors, label, i);
      item.appendChild(sw);
      item.appendChild(document.createTextNode(label));
      item.title = "show or hide " + label;
      item.addEventListener("click", function () {
        const hide = !opts.hidden.has(label);
        if (hide) opts.hidden.add(label); else opts.hidden.delete(label);
        item.classList.toggle("or-off", hide);
        charts.forEach(function (u) {
          u.openrlbSeries.forEach(function (m, k) {
            if (m.label === label) u.setSeries(k + 1, {show: !hide});
          });
        });
        if (opts.onToggle) opts.onToggle(label, hide);
      });
      legend.appendChild(item);
    });
    const controller = {
      charts: charts, opts: opts,
      resetZoom: function () {
        charts.forEach(function (u) { u.setScale("x", {min: u.data[0][0], max: u.data[0][u.data[0].length - 1]}); });
      },
      destroy: function () { charts.forEach(function (u) { u.destroy(); }); root.textContent = ""; },
    };
    root.openrlb = controller;
    return controller;
  }

  window.OpenrlbCharts = {render: render, si: si, num: num};
})();
