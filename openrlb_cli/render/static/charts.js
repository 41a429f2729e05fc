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

  /* Markers as `openrlb plot` draws them: the palette has 8 colours, so lines 9-16 share a colour with
     lines 1-8 and are told apart by their marker (another shape, hollow). About six per line, at indices
     offset by the line's style slot so markers of different lines do not sit on top of each other
     (render/figures.py `_marker_positions`). */
  const GLYPHS = {o: "\u25CF\u25CB", s: "\u25A0\u25A1", "^": "\u25B2\u25B3", D: "\u25C6\u25C7",
                  v: "\u25BC\u25BD", P: "\u271A\u271B", X: "\u2716\u2715", "*": "\u2605\u2606"};

  function markerPositions(n, slot, count) {
    count = count || 6;
    const out = [];
    if (n <= count) { for (let i = 0; i < n; i++) out.push(i); return out; }
    const spacing = n / count, offset = ((slot % 8) + 0.5) / 8 * spacing;
    for (let k = 0; k < count; k++) {
      const i = Math.min(n - 1, Math.max(0, Math.floor(offset + spacing * k)));
      if (out.indexOf(i) < 0) out.push(i);
    }
    return out;
  }

  function shape(ctx, kind, x, y, r) {
    ctx.beginPath();
    if (kind === "s") ctx.rect(x - r * 0.85, y - r * 0.85, r * 1.7, r * 1.7);
    else if (kind === "^" || kind === "v") {
      const d = kind === "^" ? 1 : -1;
      ctx.moveTo(x, y - d * r * 1.1); ctx.lineTo(x + r, y + d * r * 0.8); ctx.lineTo(x - r, y + d * r * 0.8);
      ctx.closePath();
    } else if (kind === "D") {
      ctx.moveTo(x, y - r * 1.15); ctx.lineTo(x + r * 0.8, y); ctx.lineTo(x, y + r * 1.15); ctx.lineTo(x - r * 0.8, y);
      ctx.closePath();
    } else if (kind === "P" || kind === "X") {
      const w = r * 0.38, a = kind === "X" ? Math.PI / 4 : 0;
      for (let q = 0; q < 4; q++) {
        const t = a + q * Math.PI / 2, c = Math.cos(t), sn = Math.sin(t);
        const pts = [[-w, w], [-w, r * 1.05], [w, r * 1.05], [w, w]];
        pts.forEach(function (pt, j) {
          const px = x + pt[0] * c - pt[1] * sn, py = y + pt[0] * sn + pt[1] * c;
          if (q === 0 && j === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
        });
      }
      ctx.closePath();
    } else if (kind === "*") {
      for (let k = 0; k < 10; k++) {
        const rad = k % 2 ? r * 0.5 : r * 1.2, t = -Math.PI / 2 + k * Math.PI / 5;
        if (k === 0) ctx.moveTo(x + rad * Math.cos(t), y + rad * Math.sin(t));
        else ctx.lineTo(x + rad * Math.cos(t), y + rad * Math.sin(t));
      }
      ctx.closePath();
    } else ctx.arc(x, y, r, 0, 2 * Math.PI);
  }

  function drawMarkers(u, p, fig, opts, labels) {
    const drawn = [];
    if (!opts.markers) { u.openrlbMarkers = drawn; return; }
    const ctx = u.ctx, ratio = uPlot.pxRatio || 1, div = fig.x_div || 1;
    const xmin = u.scales.x.min, xmax = u.scales.x.max, b = u.bbox;
    ctx.save();
    ctx.beginPath();
    ctx.rect(b.left, b.top, b.width, b.height);
    ctx.clip();
    p.lines.forEach(function (line) {
      const style = opts.markers[line.label];
      if (!style || opts.hidden.has(line.label)) return;
      const color = colorOf(opts.colors, line.label, labels.indexOf(line.label));
      markerPositions(line.x.length, style.slot).forEach(function (i) {
        const y = line.solid[i] !== null ? line.solid[i] : (line.dashed ? line.dashed[i] : null);
        const x = line.x[i] / div;
        if (y === null || y === undefined || x < xmin || x > xmax) return;
        shape(ctx, style.marker, u.valToPos(x, "x", true), u.valToPos(y, "y", true), 3.2 * ratio);
        ctx.fillStyle = style.filled ? color : "#ffffff";
        ctx.fill();
        ctx.lineWidth = 1.1 * ratio;
        ctx.strokeStyle = color;
        ctx.stroke();
        drawn.push({label: line.label, marker: style.marker, filled: style.filled, x: x, y: y});
      });
    });
    ctx.restore();
    u.openrlbMarkers = drawn;
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
      hooks: {setCursor: [function (u) { tooltip(u, tip, p, fig, opts, labels); }],
              draw: [function (u) { drawMarkers(u, p, fig, opts, labels); }]},
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
      const style = opts.markers && opts.markers[label];
      if (style && GLYPHS[style.marker]) {
        const glyph = el("span", "or-marker", GLYPHS[style.marker][style.filled ? 0 : 1]);
        glyph.setAttribute("aria-hidden", "true");  // the button is named by its label alone
        glyph.style.color = colorOf(opts.colors, label, i);
        item.appendChild(glyph);
      }
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
