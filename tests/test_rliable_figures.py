"""render.rliable_figures: what is drawn matches the estimates, layouts scale, files are byte-identical."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from matplotlib.patches import Rectangle

from openrlb_cli.analysis.bootstrap import Band, Interval
from openrlb_cli.analysis.improvement import ImprovementMatrix
from openrlb_cli.model import RunRecord, Series
from openrlb_cli.render import figures as fg
from openrlb_cli.render import rliable_figures as af
from openrlb_cli.store import Store

METRICS = ["iqm", "median", "mean", "optimality_gap"]
TITLES = {"iqm": "IQM", "median": "Median", "mean": "Mean", "optimality_gap": "Optimality gap"}


def _iv(point, lower, upper):
    return Interval(point, lower, upper, 100, 0.95, "percentile", 0)


def _intervals(labels):
    rng = np.random.default_rng(0)
    out = {}
    for k, label in enumerate(labels):
        out[label] = {}
        for m in METRICS:
            p = 0.1 * k + rng.uniform(0, 0.5)
            out[label][m] = _iv(p, p - 0.05, p + 0.08)
    return out


def _bars(ax):
    return [p for p in ax.patches if isinstance(p, Rectangle)]


def _draw(fn, *args, **kw):
    with matplotlib.rc_context(fg.RC):
        return fn(*args, **kw)


def test_interval_bars_span_the_intervals():
    labels = ["ppo", "sac", "td3"]
    ivs = _intervals(labels)
    ivs["td3"]["median"] = _iv(0.4, float("nan"), float("nan"))  # undefined bounds: tick only, no bar
    colors = fg.experiment_colors(labels)
    fig = _draw(af.interval_figure, ivs, METRICS, colors, xlabel="Normalized score", titles=TITLES)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["IQM", "Median", "Mean", "Optimality gap"]
    assert [t.get_text() for t in axes[0].get_yticklabels()] == labels
    assert all(t.get_text() == "" for t in axes[1].get_yticklabels())
    for ax, m in zip(axes, METRICS, strict=True):
        bars = _bars(ax)
        expected = [lbl for lbl in labels if np.isfinite(ivs[lbl][m].lower)]
        assert len(bars) == len(expected)
        for bar, lbl in zip(bars, expected, strict=True):
            assert bar.get_x() == pytest.approx(ivs[lbl][m].lower)
            assert bar.get_x() + bar.get_width() == pytest.approx(ivs[lbl][m].upper)
            assert bar.get_facecolor()[:3] == pytest.approx(colors[lbl][:3])
        ticks = ax.collections[0].get_segments()  # the point estimates
        assert [s[0, 0] for s in ticks] == pytest.approx([ivs[lbl][m].point for lbl in labels])
        lo, hi = ax.get_xlim()
        assert lo < min(ivs[lbl][m].point for lbl in labels) and hi > max(ivs[lbl][m].upper for lbl in expected)
    assert fig.texts[0].get_text() == "Normalized score"


def test_interval_layout_grows_with_experiments_metrics_and_labels():
    small = _draw(af.interval_figure, _intervals(["a", "b"]), METRICS, fg.experiment_colors(["a", "b"]),
                  xlabel="x", titles=TITLES)
    many = [f"algo{i}" for i in range(10)]
    tall = _draw(af.interval_figure, _intervals(many), METRICS, fg.experiment_colors(many), xlabel="x", titles=TITLES)
    assert tall.get_figheight() > small.get_figheight() + 2
    long = ["a-very-long-experiment-label", "b"]
    wide = _draw(af.interval_figure, _intervals(long), METRICS, fg.experiment_colors(long), xlabel="x", titles=TITLES)
    assert wide.get_figwidth() > small.get_figwidth() + 1
    eight = {lbl: {**m, **{f"auc_{k}": v for k, v in m.items()}} for lbl, m in _intervals(["a", "b"]).items()}
    two_rows = _draw(af.interval_figure, eight, METRICS + [f"auc_{m}" for m in METRICS],
                     fg.experiment_colors(["a", "b"]), xlabel="x", titles=TITLES)
    assert len([ax for ax in two_rows.axes if ax.get_visible()]) == 8
    assert two_rows.get_figheight() > small.get_figheight()


def _band(point, grid=None):
    point = np.asarray(point, float)
    return Band(point, point - 0.1, point + 0.1, 100, 0.95, "percentile", 0, grid)


def test_profiles_draw_each_band_and_line():
    taus = np.linspace(0, 1, 11)
    profiles = {lbl: {"run": _band(1 - taus * s), "average": _band(1 - taus * s * 0.9)}
                for lbl, s in (("ppo", 0.5), ("sac", 0.9))}
    fig = _draw(af.profile_figure, taus, profiles, fg.experiment_colors(["ppo", "sac"]), xlabel="Normalized score")
    assert [ax.get_title() for ax in fig.axes] == ["Run-score distribution", "Average-score distribution"]
    for ax, kind in zip(fig.axes, ("run", "average"), strict=True):
        lines = [ln for ln in ax.get_lines() if ln.get_linestyle() != "None"]  # (markers are lines of their own)
        assert len(lines) == 2 and len(ax.collections) == 2  # one band per experiment
        for line, lbl in zip(lines, ("ppo", "sac"), strict=True):
            np.testing.assert_allclose(line.get_xdata(), taus)
            np.testing.assert_allclose(line.get_ydata(), profiles[lbl][kind].point)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["ppo", "sac", "pointwise 95% bootstrap CI"]


def test_improvement_pairs_follow_the_order_and_intervals():
    names = ("a", "b", "c")
    point = np.array([[0.5, 0.7, 0.9], [0.3, 0.5, 0.6], [0.1, 0.4, 0.5]])
    lower, upper = point - 0.05, point + 0.05
    np.fill_diagonal(lower, np.nan)
    np.fill_diagonal(upper, np.nan)
    matrix = ImprovementMatrix(names, point, lower, upper, 100, 0.95, "percentile", 0)
    colors = fg.experiment_colors(list(names))
    fig = _draw(af.improvement_figure, matrix, colors, order=["c", "a", "b"])
    ax, twin = fig.axes
    pairs = [("c", "a"), ("c", "b"), ("a", "b")]
    assert [t.get_text() for t in ax.get_yticklabels()] == [x for x, _ in pairs]
    assert [t.get_text() for t in twin.get_yticklabels()] == [y for _, y in pairs]
    index = {n: i for i, n in enumerate(names)}
    for bar, (x, y) in zip(_bars(ax), pairs, strict=True):
        i, j = index[x], index[y]
        assert bar.get_x() == pytest.approx(lower[i, j]) and bar.get_width() == pytest.approx(0.1)
        assert bar.get_facecolor()[:3] == pytest.approx(colors[x][:3])
    assert ax.get_xlim() == (0.0, 1.0) and ax.get_xlabel() == "P(X > Y)"


def test_efficiency_curves_are_drawn_against_steps():
    grid = np.linspace(0, 1e6, 6)
    bands = {"ppo": _band(np.linspace(0, 1, 6), grid), "sac": _band(np.linspace(0, 0.5, 6), grid * 0.5)}
    fig = _draw(af.efficiency_figure, bands, fg.experiment_colors(["ppo", "sac"]), ylabel="IQM normalized score")
    ax = fig.axes[0]
    lines = [ln for ln in ax.get_lines() if ln.get_linestyle() != "None"]
    np.testing.assert_allclose(lines[1].get_xdata(), grid * 0.5)
    assert ax.get_xlabel() == "Steps" and ax.get_ylabel() == "IQM normalized score"  # the default without data
    assert [t.get_text() for t in ax.get_xticklabels() if t.get_text()][-1].endswith(("M", "k"))


def test_long_subtitle_is_wrapped_to_the_figure():
    text = "max-min normalized per task over the selection; run score: mean of the last 100 logged points; " * 2
    fig = _draw(af.improvement_figure, ImprovementMatrix(("a", "b"), np.array([[0.5, 0.6], [0.4, 0.5]]),
                                                         np.full((2, 2), 0.3), np.full((2, 2), 0.7), 10, 0.95,
                                                         "percentile", 0),
                fg.experiment_colors(["a", "b"]), subtitle=text)
    lines = fig._suptitle.get_text().splitlines()
    assert len(lines) > 2 and max(len(s) for s in lines) * af.SMALL_CHAR_WIDTH < fig.get_figwidth()


def test_cli_figures_are_byte_identical(db_path, cli, tmp_path):
    rng = np.random.default_rng(5)
    with Store(db_path) as s:
        for exp in ("ppo", "sac", "td3"):
            for env in ("A-v0", "B-v0", "C-v0"):
                for seed in range(4):
                    series = Series(np.arange(30) * 1000.0, rng.normal(size=30).cumsum())
                    s.write_run(RunRecord("t", f"{exp}/{env}/{seed}", project="p", experiment=exp, env=env, seed=seed,
                                          series={"charts/episodic_return": series}))
    args = ["aggregate", "ppo", "sac", "td3", "--reps", "500", "--profile-reps", "200", "--poi-reps", "200",
            "--curve-reps", "200", "--curve-points", "10", "--quiet"]
    for name in ("a", "b"):
        code, _, err = cli(*args, "-o", str(tmp_path / name))
        assert code == 0, err
    names = sorted(p.name[2:] for p in tmp_path.glob("a_*"))
    figures = [n for n in names if n.endswith((".png", ".pdf", ".svg"))]
    assert len(figures) == 12  # intervals, profiles, improvement, efficiency x png, pdf, svg
    for n in names:
        assert (tmp_path / f"a_{n}").read_bytes() == (tmp_path / f"b_{n}").read_bytes(), n
    assert b"CreationDate" not in (tmp_path / "a_intervals.pdf").read_bytes()


def test_interval_notes_follow_the_names():
    fig = _draw(af.interval_figure, _intervals(["a", "b"]), METRICS, fg.experiment_colors(["a", "b"]), xlabel="x",
                titles=TITLES, notes={"b": "(2/3 tasks)"})
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["a", "b (2/3 tasks)"]


@pytest.mark.parametrize("width", [3.25, 6.75, 10.0])
def test_width_sets_every_figure_width_and_panels_wrap_when_narrow(width):
    """`aggregate --width`: each figure is `width` inches wide (a paper's column), its panels sized to
    fit; panels that would be narrower than their ticks need wrap onto more rows instead."""
    labels = ["ppo", "sac", "td3"]
    colors = fg.experiment_colors(labels)
    taus = np.linspace(0, 1, 11)
    matrix = ImprovementMatrix(tuple(labels), np.full((3, 3), 0.5), np.full((3, 3), 0.4), np.full((3, 3), 0.6),
                               100, 0.95, "percentile", 0)
    grid = np.linspace(0, 1e6, 6)
    figs = {
        "intervals": _draw(af.interval_figure, _intervals(labels), METRICS, colors, xlabel="x", titles=TITLES,
                           width=width),
        "profiles": _draw(af.profile_figure, taus, {lbl: {"run": _band(1 - taus), "average": _band(1 - taus)}
                                                    for lbl in labels}, colors, xlabel="x", width=width),
        "improvement": _draw(af.improvement_figure, matrix, colors, width=width),
        "efficiency": _draw(af.efficiency_figure, {lbl: _band(np.linspace(0, 1, 6), grid) for lbl in labels},
                            colors, ylabel="IQM", width=width),
    }
    for name, fig in figs.items():
        assert fig.get_figwidth() == pytest.approx(width), name
        for ax in fig.axes:
            if ax.get_visible():
                assert ax.get_position().width * width >= 0.75, name  # inches: room for the ticks
    rows = {round(ax.get_position().y0, 3) for ax in figs["intervals"].axes if ax.get_visible()}
    assert (len(rows) > 1) == (width == 3.25)  # four metrics: wrapped onto more rows in one column, one row when wide
    rows = {round(ax.get_position().y0, 3) for ax in figs["profiles"].axes if ax.get_visible()}
    assert len(rows) == (2 if width == 3.25 else 1)


def test_cli_width_one_column_and_bad_widths(db_path, cli, tmp_path):
    from PIL import Image

    rng = np.random.default_rng(1)
    with Store(db_path) as s:
        for exp in ("ppo", "sac"):
            for env in ("A-v0", "B-v0"):
                for seed in range(3):
                    s.write_run(RunRecord("t", f"{exp}/{env}/{seed}", project="p", experiment=exp, env=env, seed=seed,
                                          series={"r": Series(np.arange(20) * 100.0, rng.normal(size=20))}))
    args = ["aggregate", "ppo", "sac", "-m", "r", "--reps", "200", "--profile-reps", "100", "--poi-reps", "100",
            "--curve-reps", "100", "--curve-points", "5", "--formats", "png", "-q"]
    code, _, err = cli(*args, "--width", "one", "--dpi", "100", "-o", str(tmp_path / "a"))
    assert code == 0, err
    for name in ("intervals", "profiles", "improvement", "efficiency"):
        assert Image.open(tmp_path / f"a_{name}.png").size[0] == 325, name
    for bad in ("0.5", "nan", "wide"):
        code, _, err = cli(*args, "--width", bad, "-o", str(tmp_path / "b"))
        assert code == 1 and "--width" in err and "Traceback" not in err, err
