"""The interactive report: the numbers it embeds are `plot`'s, it is safe with hostile names, and it
works in a real browser from file:// (hover, zoom, legend toggles, band and smoothing switches)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from browser_helper import browser, page  # noqa: F401

from openrlb_cli.model import RunRecord, Series
from openrlb_cli.render import chart_payload as pl
from openrlb_cli.render import figures as fg
from openrlb_cli.render import report as rp
from openrlb_cli.selection import load_curves, resolve
from openrlb_cli.store import Store

EVIL = "</script><script>alert('x')</script>&<b>"


@pytest.fixture
def store_path(db_path):
    rng = np.random.default_rng(0)
    with Store(db_path) as s:
        for exp, scale in (("ppo", 1.0), (EVIL, 0.6)):
            for env in ("CartPole-v1", "Acrobot-v1", EVIL):
                for seed in (1, 2, 3):
                    n = 60 if seed < 3 else 45  # one seed stops early: a dashed stretch
                    steps = np.arange(n) * 1000.0
                    vals = scale * np.log1p(steps) + rng.normal(0, 0.5, n)
                    s.write_run(RunRecord("t", f"{exp}/{env}/{seed}", project="ci", experiment=exp, env=env,
                                          seed=seed, series={"r": Series(steps, vals)}))
    return db_path


def _curves(db_path):
    with Store(db_path) as s:
        return load_curves(s, resolve(s, ["ppo", f"{EVIL}?cl=evil"], metric="r"))


def _embedded(html: str) -> dict:
    m = re.search(r"<script type='application/json' id='openrlb-curves-data'>(.*?)</script>", html, re.S)
    assert m, "no embedded data"
    return json.loads(m.group(1))


@pytest.fixture
def report_html(store_path, tmp_path, monkeypatch):
    monkeypatch.setattr(rp, "_PROVIDERS", {})
    curves = _curves(store_path)
    result = rp.write_report(curves, tmp_path / "r", rp.ReportOptions(plot=fg.PlotOptions(smooth=5)))
    assert result.ok, result.errors
    return tmp_path / "r" / "index.html", curves


def test_embedded_numbers_are_plots_numbers(report_html):
    path, curves = report_html
    data = _embedded(path.read_text())
    assert list(data["levels"]) == ["0", "5", "20", "50"] and data["smooth"] == "5"
    for level in (0, 5):
        ref = fg.compute_panels(curves, fg.PlotOptions(smooth=level, band="ci"))
        for p_ref, p in zip(ref.panels, data["levels"][str(level)]["panels"], strict=True):
            assert p["env"] == p_ref.env
            for ln_ref, ln in zip(p_ref.lines, p["lines"], strict=True):
                st = ln_ref.stats
                assert ln["label"] == ln_ref.label
                np.testing.assert_allclose(ln["x"], st.grid, rtol=1e-9)
                mean = [np.nan if v is None else v for v in ln["solid"]]
                np.testing.assert_allclose(mean, np.where(st.full, st.mean, np.nan), rtol=1e-6)
                lo, hi = (np.array([np.nan if v is None else v for v in a]) for a in ln["bands"]["std"])
                np.testing.assert_allclose(lo[st.count > 1], (st.mean - st.std)[st.count > 1], rtol=1e-6)
                np.testing.assert_allclose(hi[st.count > 1], (st.mean + st.std)[st.count > 1], rtol=1e-6)
                ci_lo = np.array([np.nan if v is None else v for v in ln["bands"]["ci"][0]])
                np.testing.assert_allclose(ci_lo, st.ci_low, rtol=1e-6)
                assert ln["count"] == st.count.tolist()


def test_hostile_names_are_escaped(report_html):
    html = report_html[0].read_text()
    assert "<script>alert" not in html and "</script><script>alert" not in html
    data = _embedded(html)  # still valid JSON holding the exact names
    assert EVIL in [p["env"] for p in data["levels"]["0"]["panels"]]


def test_extreme_indices_keep_every_bucket_extreme():
    rng = np.random.default_rng(1)
    x = np.sort(rng.uniform(0, 1000, 20000))
    y = np.cumsum(rng.normal(size=x.size))
    y[5000:5100] = np.nan
    lo, hi = y - rng.uniform(0, 2, x.size), y + rng.uniform(0, 2, x.size)
    idx = pl.extreme_indices(x, [y, lo], [y, hi], 300)
    assert idx.size < 6 * 300 + 10 and idx[0] == 0 and idx[-1] == x.size - 1
    bucket = np.minimum(((x - x[0]) / (x[-1] - x[0]) * 300).astype(int), 299)
    for b in range(300):  # brute force: each bucket's min/max survive
        sel = np.flatnonzero(bucket == b)
        kept = np.intersect1d(sel, idx)
        for arr, fn in ((y, np.nanmin), (y, np.nanmax), (lo, np.nanmin), (hi, np.nanmax)):
            if np.isfinite(arr[sel]).any():
                assert fn(arr[kept]) == fn(arr[sel])
    assert {4999, 5000, 5099, 5100} <= set(idx.tolist())  # both sides of the gap


def test_dumps_and_script_tag_escape():
    text = pl.dumps({"x": np.array([1.0, 123456789.0]), "y": np.array([1 / 3, np.nan, np.inf]), "s": EVIL})
    assert json.loads(text) == {"x": [1.0, 123456789.0], "y": [0.3333333, None, None], "s": EVIL}
    safe = pl.for_script_tag(text)
    assert "<" not in safe and json.loads(safe)["s"] == EVIL


# ---------------------------------------------------------------------------- in a real browser
@pytest.mark.slow
def test_report_in_chromium_from_file_url(report_html, page):  # noqa: F811
    path, curves = report_html
    page.page.goto(path.as_uri())
    page.page.wait_for_selector(".or-panel canvas")
    assert page.errors == [] and page.dialogs == []
    assert all(u.startswith(("file://", "data:")) for u in page.requests), page.requests
    n_panels = len(curves.selection.env_ids)
    assert page.page.locator("#openrlb-curves .or-panel").count() == n_panels
    assert page.page.locator("#openrlb-curves .or-panel canvas").count() == n_panels
    assert page.page.locator("#openrlb-curves .or-panel-title").all_text_contents() == curves.selection.env_ids

    # hover: the tooltip names both lines with their seed counts
    page.page.locator(".or-panel .u-over").first.hover(position={"x": 150, "y": 60})
    tip = page.page.locator(".or-tip").first.text_content()
    assert "ppo: " in tip and "evil: " in tip and "/3 seeds)" in tip

    # legend toggle hides the line in every panel, and changes the pixels
    before = page.canvas_pixels(0)
    page.page.get_by_role("button", name="evil").click()
    assert page.canvas_pixels(0) != before
    shown = page.page.evaluate("document.getElementById('openrlb-curves').openrlb.charts.map("
                               "u => u.series.filter((s, i) => i && u.openrlbSeries[i - 1].label === 'evil')"
                               ".every(s => !s.show))")
    assert shown == [True] * n_panels
    page.page.get_by_role("button", name="evil").click()
    assert page.canvas_pixels(0) == before

    # drag zooms the x axis; double-click resets it
    x_range = "(() => { const u = document.getElementById('openrlb-curves').openrlb.charts[0]; " \
              "return [u.scales.x.min, u.scales.x.max]; })()"
    full = page.page.evaluate(x_range)
    page.drag(".or-panel .u-over", 100, 250, 80)
    zoomed = page.page.evaluate(x_range)
    assert full[0] < zoomed[0] < zoomed[1] < full[1]
    assert page.canvas_pixels(0) != before
    page.page.locator(".or-panel .u-over").first.dblclick(position={"x": 100, "y": 80})
    assert page.page.evaluate(x_range) == full

    # band kind and smoothing switch what is drawn
    page.page.select_option("#openrlb-curves-band", "minmax")
    minmax = page.canvas_pixels(0)
    assert minmax != before
    page.page.select_option("#openrlb-curves-smooth", "0")
    assert page.canvas_pixels(0) != minmax
    page.page.screenshot(path=str(path.parent / "screenshot.png"), full_page=True)
    assert page.errors == [] and page.dialogs == []


@pytest.mark.slow
def test_lines_on_different_grids_keep_their_gaps(db_path, tmp_path, page, monkeypatch):  # noqa: F811
    """Two experiments on different step grids, one with seeds that start late and end early (a dashed
    stretch at both ends and none between). Joined for uPlot, a line has no value at the other line's
    x values; if those stayed `undefined` next to its nulls, uPlot drew a straight dashed line from the
    first dashed stretch to the last (clipped only around each null). Every null must be part of one
    unbroken run of nulls."""
    with Store(db_path) as s:
        for seed in (1, 2, 3):
            a = np.arange(0, 50_000, 1000.0)
            s.write_run(RunRecord("t", f"a/{seed}", project="g", experiment="a", env="E", seed=seed,
                                  series={"r": Series(a, np.log1p(a) + seed)}))
            b = np.arange(10 + 500 * (seed == 3), 100_000 - 5000 * (seed == 2), 777.0)
            s.write_run(RunRecord("t", f"b/{seed}", project="g", experiment="b", env="E", seed=seed,
                                  series={"r": Series(b, np.sqrt(b) + seed)}))
    monkeypatch.setattr(rp, "_PROVIDERS", {})
    with Store(db_path) as s:
        curves = load_curves(s, resolve(s, ["a", "b"], metric="r"))
    result = rp.write_report(curves, tmp_path / "r", rp.ReportOptions(plot=fg.PlotOptions()))
    assert result.ok, result.errors
    page.page.goto((tmp_path / "r" / "index.html").as_uri())
    page.page.wait_for_selector(".or-panel canvas")
    report = page.page.evaluate("""() => {
      const u = document.getElementById('openrlb-curves').openrlb.charts[0];
      return u.openrlbSeries.map((m, k) => {
        const ys = u.data[k + 1];
        let broken = 0, nulls = 0, defined = 0;
        for (let i = 0; i < ys.length; i++) {
          if (ys[i] === null) {
            nulls++;
            if ((i > 0 && ys[i - 1] === undefined) || (i + 1 < ys.length && ys[i + 1] === undefined)) broken++;
          } else if (ys[i] !== undefined) defined++;
        }
        return {label: m.label, role: m.role, nulls: nulls, broken: broken, defined: defined};
      });
    }""")
    partial_b = next(r for r in report if r["label"] == "b" and r["role"] == "partial")
    assert partial_b["defined"] >= 2 and partial_b["nulls"] > 0  # dashed at both ends, a gap between
    assert [r for r in report if r["broken"]] == []
    assert page.errors == []


@pytest.mark.slow
def test_lines_sharing_a_colour_are_told_apart_by_markers(db_path, tmp_path, page, monkeypatch):  # noqa: F811
    """Ten experiments: the palette has eight colours, so the 9th and 10th share the 1st and 2nd's
    colours. As in `plot`'s figure, each line carries its marker (hollow and another shape for slots
    8-15), drawn on the line and shown in the legend; hiding a line hides its markers."""
    names = [f"exp{k}" for k in range(10)]
    with Store(db_path) as s:
        for k, exp in enumerate(names):
            for seed in (1, 2):
                steps = np.arange(40) * 100.0
                s.write_run(RunRecord("t", f"{exp}/{seed}", project="m", experiment=exp, env="E", seed=seed,
                                      series={"r": Series(steps, np.log1p(steps) * (k + 1) + seed)}))
    monkeypatch.setattr(rp, "_PROVIDERS", {})
    with Store(db_path) as s:
        curves = load_curves(s, resolve(s, names, metric="r"))
    result = rp.write_report(curves, tmp_path / "r", rp.ReportOptions(plot=fg.PlotOptions()))
    assert result.ok, result.errors
    static = fg.experiment_styles(names)
    page.page.goto((tmp_path / "r" / "index.html").as_uri())
    page.page.wait_for_selector(".or-panel canvas")
    drawn = page.page.evaluate("document.getElementById('openrlb-curves').openrlb.charts[0].openrlbMarkers")
    seen = {}
    for m in drawn:
        seen.setdefault(m["label"], set()).add((m["marker"], m["filled"]))
    assert set(seen) == set(names)
    for label in names:  # the PNG's markers, one style per line
        assert seen[label] == {(static[label].marker, static[label].filled)}
    assert static["exp8"].color == static["exp0"].color and seen["exp8"] != seen["exp0"]
    legend = page.page.locator("#openrlb-curves .or-legend-item .or-marker").all_text_contents()
    assert len(legend) == 10 and len(set(legend)) == 10
    page.page.get_by_role("button", name="exp8").click()
    drawn = page.page.evaluate("document.getElementById('openrlb-curves').openrlb.charts[0].openrlbMarkers")
    assert "exp8" not in {m["label"] for m in drawn} and "exp0" in {m["label"] for m in drawn}
    assert page.errors == []
