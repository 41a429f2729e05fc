/* openrlb view: the page. Asks the read-only JSON API (openrlb_cli/view/server.py) and draws with
 * charts.js. Every name from the store is set as text (textContent), never as HTML. The state lives
 * in the URL's hash, so a reload or a shared link shows the same view. */
(function () {
  "use strict";

  const $ = function (id) { return document.getElementById(id); };
  const state = {specs: [], envs: [], metric: "", group_by: "", band: "std", smooth: "0", x: "step", grid: "500",
                 lastn: "100", hidden: new Set()};
  let selection = null, version = null, chartsCtl = null;
  const seq = {};

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function params(extra) {
    const p = new URLSearchParams();
    state.specs.forEach(function (s) { p.append("spec", s); });
    if (state.metric) p.set("metric", state.metric);
    if (state.group_by) p.set("group_by", state.group_by);
    Object.keys(extra || {}).forEach(function (k) {
      const v = extra[k];
      if (Array.isArray(v)) v.forEach(function (x) { p.append(k, x); }); else if (v !== "" && v != null) p.set(k, v);
    });
    return p;
  }

  /* GET a JSON endpoint; stale answers (a newer request of the same kind was sent) resolve to null. */
  async function api(kind, path, p) {
    const n = (seq[kind] = (seq[kind] || 0) + 1);
    const res = await fetch(path + (p ? "?" + p.toString() : ""));
    const body = await res.json();
    if (n !== seq[kind]) return null;
    if (!res.ok) throw new Error(body.error || res.statusText);
    return body;
  }

  function message(text, info) {
    $("message").textContent = text || "";
    $("message").className = info ? "info" : "";
  }

  function saveHash() {
    const p = params({env: state.envs, band: state.band, smooth: state.smooth, x: state.x, grid: state.grid,
                      lastn: state.lastn});
    history.replaceState(null, "", "#" + p.toString());
  }

  function loadHash() {
    const p = new URLSearchParams(location.hash.slice(1));
    if (!p.getAll("spec").length) return false;
    state.specs = p.getAll("spec");
    state.envs = p.getAll("env");
    ["metric", "group_by", "band", "smooth", "x", "grid", "lastn"].forEach(function (k) {
      if (p.get(k) !== null) state[k] = p.get(k);
    });
    return true;
  }

  function syncForm() {
    $("specs").value = state.specs.join("\n");
    $("band").value = state.band; $("smooth").value = state.smooth; $("xaxis").value = state.x;
    $("grid").value = state.grid; $("lastn").value = state.lastn;
  }

  function readForm() {
    state.specs = $("specs").value.split("\n").map(function (s) { return s.trim(); }).filter(Boolean);
    state.metric = $("metric").value; state.group_by = $("groupby").value; state.band = $("band").value;
    state.smooth = $("smooth").value || "0"; state.x = $("xaxis").value; state.grid = $("grid").value;
    state.lastn = $("lastn").value || "100";
  }

  function pickList(ul, items, label, count, isOn, onClick, withBox) {
    ul.textContent = "";
    items.forEach(function (it) {
      const li = el("li", null, isOn(it) ? "on" : "");
      if (withBox) {
        const box = el("input");
        box.type = "checkbox"; box.checked = isOn(it);
        box.addEventListener("click", function (ev) { ev.stopPropagation(); onClick(it, true); });
        li.appendChild(box);
      }
      li.appendChild(document.createTextNode(label(it)));
      li.appendChild(el("span", count(it), "n"));
      li.title = label(it);
      li.addEventListener("click", function () { onClick(it, false); });
      ul.appendChild(li);
    });
  }

  async function loadOverview() {
    const ov = await api("overview", "/api/overview");
    if (!ov) return;
    const project = (state.specs[0] || "").match(/[?&]project=([^&]*)/);
    const current = project ? decodeURIComponent(project[1]) : null;
    pickList($("projects"), ov.projects, function (p) { return p.project; }, function (p) { return p.runs; },
      function (p) { return p.project === current; },
      function (p) { state.specs = ["?project=" + encodeURIComponent(p.project)]; state.envs = []; refresh(true); });
    pickList($("experiments"), ov.experiments.filter(function (e) { return !current || e.project === current; }),
      function (e) { return e.experiment || "(no experiment)"; }, function (e) { return e.runs; },
      function (e) { return state.specs.indexOf(e.experiment + "?project=" + encodeURIComponent(e.project)) >= 0; },
      function (e, add) {
        const spec = e.experiment + "?project=" + encodeURIComponent(e.project);
        if (add || false) state.specs.push(spec); else state.specs = [spec];
        refresh(true);
      });
    if (!state.specs.length && ov.projects.length) {
      state.specs = ["?project=" + encodeURIComponent(ov.projects[0].project)];
      return true;
    }
    return false;
  }

  async function loadSelection() {
    const p = params({});
    p.delete("group_by");
    const sel = await api("selection", "/api/selection", p);
    if (!sel) return false;
    selection = sel;
    const envNames = sel.envs.map(function (e) { return e.env; });
    state.envs = state.envs.filter(function (e) { return envNames.indexOf(e) >= 0; });
    if (!state.envs.length) state.envs = envNames.length <= 4 ? envNames.slice() : envNames.slice(0, 1);
    pickList($("envs"), sel.envs, function (e) { return e.env; }, function (e) { return e.runs; },
      function (e) { return state.envs.indexOf(e.env) >= 0; },
      function (e, add) {
        if (add) {
          const i = state.envs.indexOf(e.env);
          if (i >= 0 && state.envs.length > 1) state.envs.splice(i, 1); else if (i < 0) state.envs.push(e.env);
        } else state.envs = [e.env];
        renderEnvMarks(); loadData();
      }, true);
    const metric = $("metric");
    metric.textContent = "";
    metric.appendChild(el("option", "automatic (" + sel.metric + ")")).value = "";
    sel.metrics.forEach(function (m) { metric.appendChild(el("option", m.key + " (" + m.runs + ")")).value = m.key; });
    metric.value = state.metric;
    const gb = $("groupby");
    gb.textContent = "";
    gb.appendChild(el("option", "experiment")).value = "";
    sel.config_keys.forEach(function (k) { gb.appendChild(el("option", k)).value = k; });
    if (sel.config_keys.indexOf(state.group_by) < 0) state.group_by = "";
    gb.value = state.group_by;
    return true;
  }

  function renderEnvMarks() {
    Array.prototype.forEach.call($("envs").children, function (li) {
      const on = state.envs.indexOf(li.title) >= 0;
      li.classList.toggle("on", on);
      li.firstChild.checked = on;
    });
  }

  function panelWidth() {
    const total = $("charts").clientWidth || 900;
    const cols = Math.max(1, Math.min(state.envs.length, Math.floor(total / 380)));
    return {cols: cols, width: Math.floor(total / cols) - 16};
  }

  async function loadCurves() {
    const t0 = performance.now();
    const size = panelWidth();
    const fig = await api("curves", "/api/curves", params({env: state.envs, band: state.band, smooth: state.smooth,
      x: state.x, grid: state.grid, width: Math.round(size.width * (window.devicePixelRatio || 1))}));
    if (!fig) return;
    if (chartsCtl) chartsCtl.destroy();
    chartsCtl = OpenrlbCharts.render($("charts"), fig, {band: state.band, colors: fig.colors, markers: fig.markers,
      labels: fig.labels.slice(),
      hidden: state.hidden, cols: size.cols, width: size.width, height: 260});
    message((fig.warnings || []).join("\n"), true);
    $("timing").textContent = "curves: server " + (fig.seconds * 1000).toFixed(0) + " ms, page " +
      (performance.now() - t0).toFixed(0) + " ms";
    document.body.dataset.drawn = String((+document.body.dataset.drawn || 0) + 1);
  }

  async function loadTable() {
    const doc = await api("table", "/api/table", params({env: state.envs, last_n: state.lastn}));
    if (!doc) return;
    const t = el("table"), head = el("tr");
    head.appendChild(el("th", "environment"));
    doc.experiments.forEach(function (e) { head.appendChild(el("th", e)); });
    t.appendChild(head);
    doc.envs.forEach(function (env) {
      const tr = el("tr");
      tr.appendChild(el("td", env));
      doc.experiments.forEach(function (exp) {
        const r = doc.rows.find(function (x) { return x.env === env && x.experiment === exp; });
        const text = !r || r.mean === null ? "—" : OpenrlbCharts.num(r.mean) +
          (r.std !== null ? " ± " + OpenrlbCharts.num(r.std) : "") + " (" + r.n_seeds + ")";
        tr.appendChild(el("td", text, r && r.best ? "best" : ""));
      });
      t.appendChild(tr);
    });
    $("table").textContent = "";
    $("table").appendChild(el("div", doc.metric + ": " + doc.score + "; mean ± std over seeds (seeds)", "caption"));
    $("table").appendChild(t);
  }

  async function loadAggregates() {
    $("aggregates").textContent = "computing…";
    try {
      const doc = await api("aggregate", "/api/aggregate", params({env: state.envs}));
      if (!doc) return;
      const t = el("table"), head = el("tr");
      ["experiment", "metric", "point", "95% CI", "runs", "tasks"].forEach(function (h) { head.appendChild(el("th", h)); });
      t.appendChild(head);
      doc.records.forEach(function (r) {
        const tr = el("tr");
        [r.experiment, r.metric, OpenrlbCharts.num(r.point),
         "[" + OpenrlbCharts.num(r.lower) + ", " + OpenrlbCharts.num(r.upper) + "]", r.n_runs, r.n_tasks]
          .forEach(function (v) { tr.appendChild(el("td", v)); });
        t.appendChild(tr);
      });
      $("aggregates").textContent = "";
      $("aggregates").appendChild(el("div", doc.normalization + "; " + doc.records.length + " rows", "caption"));
      $("aggregates").appendChild(t);
    } catch (err) {
      $("aggregates").textContent = String(err.message);
    }
  }

  async function loadRuns() {
    const doc = await api("runs", "/api/runs", params({env: state.envs, limit: 200}));
    if (!doc) return;
    $("runcount").textContent = doc.total + " runs" + (doc.total > doc.runs.length ? ", first " + doc.runs.length : "");
    const t = el("table"), head = el("tr");
    ["uid", "line", "env", "seed", "name", "state", "source"].forEach(function (h) { head.appendChild(el("th", h)); });
    t.appendChild(head);
    doc.runs.forEach(function (r) {
      const tr = el("tr"), td = el("td"), b = el("button", r.uid, "link");
      b.type = "button";
      b.addEventListener("click", function () { openRun(r.uid); });
      td.appendChild(b); tr.appendChild(td);
      [r.line, r.env, r.seed, r.name, r.state, r.source].forEach(function (v) { tr.appendChild(el("td", v)); });
      t.appendChild(tr);
    });
    $("runs").textContent = "";
    $("runs").appendChild(t);
  }

  async function openRun(uid) {
    const r = await api("run", "/api/run", new URLSearchParams({uid: uid}));
    if (!r) return;
    $("detail").hidden = false;
    $("detailtitle").textContent = (r.name || r.uid) + " (" + r.uid + ")";
    const shown = {experiment: r.experiment, env: r.env, seed: r.seed, project: r.project, state: r.state,
                   source: r.source, url: r.url, tags: r.tags, config: r.config, summary: r.summary,
                   series: r.series.map(function (s) { return s.key + ": " + s.n_points + " points"; }),
                   provenance: r.provenance};
    $("detailbody").textContent = JSON.stringify(shown, null, 2);
  }

  async function loadData() {
    saveHash();
    if (!state.specs.length) { message("give a spec, or pick a project"); return; }
    try {
      await loadCurves();
      message($("message").textContent, true);
      loadTable().catch(function (err) { $("table").textContent = err.message; });
      loadRuns().catch(function (err) { $("runs").textContent = err.message; });
      $("aggregates").textContent = "";
    } catch (err) {
      message(err.message);
    }
  }

  async function refresh(newSpecs) {
    try {
      if (newSpecs) { state.metric = ""; state.group_by = ""; }
      syncForm();
      await loadOverview();
      syncForm();
      if (!state.specs.length) { message("the store has no runs yet: `openrlb ingest PATH`", true); return; }
      await loadSelection();
      await loadData();
    } catch (err) {
      message(err.message);
    }
  }

  async function poll() {
    try {
      const v = await api("version", "/api/version");
      if (v && version !== null && v.version !== version) {
        $("live").textContent = "store changed " + new Date().toLocaleTimeString() + ", reloaded";
        version = v.version;
        const st = await api("state", "/api/state");
        if (st) $("store").textContent = st.store + " · " + st.runs + " runs";
        await refresh(false);
      } else if (v) version = v.version;
    } catch (err) { $("live").textContent = "server not answering"; }
    setTimeout(poll, 2000);
  }

  $("query").addEventListener("submit", function (ev) {
    ev.preventDefault();
    const before = state.specs.join("\n");
    readForm();
    if (state.specs.join("\n") !== before) { state.envs = []; refresh(false); } else { saveHash(); loadData(); }
  });
  ["metric", "groupby", "band", "xaxis", "grid"].forEach(function (id) {
    $(id).addEventListener("change", function () { readForm(); loadData(); });
  });
  $("smooth").addEventListener("change", function () { readForm(); loadData(); });
  $("lastn").addEventListener("change", function () { readForm(); saveHash(); loadTable(); });
  $("reset").addEventListener("click", function () { if (chartsCtl) chartsCtl.resetZoom(); });
  $("aggbtn").addEventListener("click", loadAggregates);
  $("closedetail").addEventListener("click", function () { $("detail").hidden = true; });

  (async function start() {
    const st = await api("state", "/api/state");
    $("store").textContent = st.store + " · " + st.runs + " runs";
    version = st.version;
    if (!loadHash()) state.specs = st.specs.slice();
    await refresh(false);
    poll();
  })();
})();
