"""`openrlb plot` and render.figures: numbers, determinism, colours, coverage, errors, real data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import tianshou_helper as th
from shared_data import need_shared

from openrlb_cli.model import RunRecord, Series
from openrlb_cli.render import figures as fg
from openrlb_cli.selection import load_curves, resolve
from openrlb_cli.store import Store

ROOT = Path(__file__).resolve().parents[1]


def _write(store: Store, exp: str, env: str, seed: int, steps, values, walls=None, key="charts/episodic_return"):
    store.write_run(RunRecord("t", f"{exp}/{env}/{seed}", project="p", experiment=exp, env=env, seed=seed,
                              series={key: Series(steps, values, walls)}))


@pytest.fixture
def small(db_path):
    """Two experiments on two envs; td3 seed 2 stops early (ragged), walls over 3 hours."""
    with Store(db_path) as s:
        for exp, scale in (("sac", 1.0), ("td3", 0.5)):
            for env in ("Hopper-v3", "Ant-v3"):
                for seed in (1, 2, 3):
                    n = 60 if (exp == "td3" and seed == 2) else 101
                    steps = np.arange(n) * 10_000.0
                    vals = scale * np.sqrt(steps) + seed * 10
                    walls = 1.7e9 + steps * 0.12  # 1M steps -> 1.2e5 s = 33 h
                    _write(s, exp, env, seed, steps, vals, walls)
    return db_path


def _curves(db_path, specs=("sac", "td3"), envs=None, **kw):
    with Store(db_path) as s:
        sel = resolve(s, list(specs), envs, kw.pop("metric", None))
        return load_curves(s, sel, **kw)


def test_panel_means_match_pandas(small):
    data = fg.compute_panels(_curves(small), fg.PlotOptions(band="minmax"))
    assert [p.env for p in data.panels] == ["Ant-v3", "Hopper-v3"]
    line = data.panels[1].lines[1]  # Hopper, td3
    assert line.label == "td3"
    frames = [pd.Series(0.5 * np.sqrt(np.arange(n) * 1e4) + seed * 10, index=np.arange(n) * 1e4)
              for seed, n in ((1, 101), (2, 60), (3, 101))]
    ref = pd.concat(frames, axis=1)  # aligned steps: NaN where seed 2 has stopped
    np.testing.assert_allclose(line.stats.grid, ref.index.to_numpy())
    np.testing.assert_allclose(line.stats.mean, ref.mean(axis=1).to_numpy())
    np.testing.assert_allclose(line.stats.max, ref.max(axis=1).to_numpy())
    assert line.stats.count.tolist() == ref.count(axis=1).tolist()
    assert not line.stats.full[60:].any() and line.stats.full[:60].all()


def _line_styles(fig):
    return [(ln.get_color(), ln.get_linestyle()) for ax in fig.axes for ln in ax.lines]


def test_partial_coverage_is_dashed_or_hidden(small):
    curves = _curves(small)
    with plt.rc_context(fg.RC):
        data = fg.compute_panels(curves, fg.PlotOptions())
        colors = fg.experiment_colors(curves.selection.labels)
        fig = fg.draw_figure(data, fg.PlotOptions(), colors)
        dashed = [c for c, ls in _line_styles(fig) if ls == "--" or ls == "dashed" or ls not in ("-", "None")]
        assert dashed and all(np.allclose(plt.matplotlib.colors.to_rgba(c), colors["td3"]) for c in dashed)
        legend = [t.get_text() for t in fig.legends[0].get_texts()]
        assert legend == ["sac", "td3", "± 1 std over seeds", "not all seeds"]
        fig = fg.draw_figure(data, fg.PlotOptions(partial="hide"), colors)
        assert all(ls in ("-", "None") for _, ls in _line_styles(fig))  # "None": the marker-only lines
        td3 = [ln for ln in fig.axes[0].lines if np.allclose(plt.matplotlib.colors.to_rgba(ln.get_color()),
                                                              colors["td3"])][0]
        y = td3.get_ydata()
        assert np.isfinite(y[:60]).all() and np.isnan(y[60:]).all()


def test_colour_follows_label_not_position(db_path):
    with Store(db_path) as s:
        for env in ("A", "B"):
            for exp in ("x", "y", "z"):
                if env == "A" and exp == "x":
                    continue
                _write(s, exp, env, 1, [0, 1, 2], [0, 1, 2])
        sel = resolve(s, ["x", "y", "z"], ["A", "B"], allow_missing=True)
        curves = load_curves(s, sel)
    colors = fg.experiment_colors(curves.selection.labels)
    assert len(set(colors.values())) == 3
    with plt.rc_context(fg.RC):
        fig = fg.draw_figure(fg.compute_panels(curves, fg.PlotOptions(band="none")), fg.PlotOptions(), colors)
    panel_a = {tuple(plt.matplotlib.colors.to_rgba(ln.get_color())) for ln in fig.axes[0].lines}
    panel_b = {tuple(plt.matplotlib.colors.to_rgba(ln.get_color())) for ln in fig.axes[1].lines}
    assert panel_a == {colors["y"], colors["z"]} and panel_b == set(colors.values())


def test_files_are_byte_identical_and_dateless(small, tmp_path):
    curves = _curves(small)
    a = fg.plot_curves(curves, tmp_path / "a" / "fig", fg.PlotOptions(band="ci"))
    b = fg.plot_curves(curves, tmp_path / "b" / "fig", fg.PlotOptions(band="ci"))
    assert [p.suffix for p in a] == [".png", ".pdf", ".svg"]
    for pa, pb in zip(a, b, strict=True):
        assert pa.read_bytes() == pb.read_bytes(), pa.name
    png, pdf, svg = (p.read_bytes() for p in a)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and b"tIME" not in png
    assert b"CreationDate" not in pdf and b"ModDate" not in pdf
    assert b"<dc:date>" not in svg and b"Matplotlib v" not in svg


def test_cli_output_is_identical_across_processes(small, tmp_path):
    outs = []
    for i in range(2):
        base = tmp_path / f"run{i}" / "fig"
        env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONHASHSEED": str(i)}
        proc = subprocess.run([sys.executable, "-m", "openrlb_cli", "--db", str(small), "plot", "sac", "td3",
                               "--env-ids", "Hopper-v3", "--formats", "png", "svg", "pdf", "-o", str(base)],
                              capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr
        outs.append([Path(f"{base}.{f}").read_bytes() for f in ("png", "svg", "pdf")])
    assert outs[0] == outs[1]


def test_time_axis_uses_hours_and_keeps_colours(small, cli, tmp_path):
    curves = _curves(small)
    data = fg.compute_panels(curves, fg.PlotOptions(x="time"))
    assert data.time_unit == ("h", 3600.0)
    assert data.panels[0].lines[0].stats.grid[-1] == pytest.approx(1e6 * 0.12)
    code, out, err = cli("plot", "sac", "td3", "--x", "time", "-o", str(tmp_path / "t.png"))
    assert code == 0, err
    assert out.split() == [str(tmp_path / "t.png")]


def test_time_axis_without_walls_is_an_error(cli, db_path, tmp_path):
    with Store(db_path) as s:
        _write(s, "x", "E", 1, [0, 1], [0, 1])
    code, _, err = cli("plot", "x", "--x", "time", "-o", str(tmp_path / "f"))
    assert code == 1 and "no wall-clock times" in err and "use steps as the x axis (--x)" in err


def test_list_options_take_several_words():
    from openrlb_cli.cli.analysis_cmd import expand_list_options

    assert expand_list_options(["a", "--env-ids", "X", "Y", "--x", "step", "-e", "Z"]) == [
        "a", "--env-ids", "X", "--env-ids", "Y", "--x", "step", "-e", "Z"]
    assert expand_list_options(["--formats", "png", "svg"]) == ["--formats", "png", "--formats", "svg"]
    assert expand_list_options(["--", "--env-ids", "X", "Y"]) == ["--", "--env-ids", "X", "Y"]


def test_output_into_existing_directory(small, cli, tmp_path):
    code, out, err = cli("plot", "sac", "--formats", "svg", "-o", str(tmp_path))
    assert code == 0, err
    assert out.split() == [str(tmp_path / "curves.svg")]


def test_si_format():
    assert [fg.si_format(v) for v in (0, 500, 2500, 500_000, 1_000_000, 1_250_000, 3e9)] == [
        "0", "500", "2.5k", "500k", "1M", "1.25M", "3B"]


def test_cli_plot_options_and_multiword_env_ids(small, cli, tmp_path):
    code, out, err = cli("plot", "sac?project=p&cl=SAC", "td3", "--env-ids", "Hopper-v3", "Ant-v3",
                         "--band", "ci", "--smooth", "5", "--max-steps", "500000", "--ncols", "1",
                         "--individual", "--formats", "png", "-o", str(tmp_path / "out" / "fig"))
    assert code == 0, err
    assert out.split() == [str(tmp_path / "out" / "fig.png")]


@pytest.mark.parametrize("args, message", [
    (["sacc"], "spec 'sacc' matches no run"),
    (["sac", "--env-ids", "Hoper-v3"], "did you mean 'Hopper-v3'"),
    (["sac", "--metric", "nope"], "metric 'nope' not found"),
    ([], "no experiment specs"),
    (["sac", "--band", "iqr"], "band must be one of"),
    (["sac", "--formats", "jpg"], "figure formats must be among"),
    (["sac", "--x", "episodes"], "no finite points with a 'episodes' value"),
])
def test_cli_bad_input_is_one_line(small, cli, tmp_path, args, message):
    code, out, err = cli("plot", *args, "-o", str(tmp_path / "f"))
    assert code == 1 and out == ""
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1


def test_cli_unwritable_output(small, cli, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = cli("plot", "sac", "-o", str(blocker / "sub" / "fig"))
    assert code == 1 and err.startswith("error: cannot write") and len(err.strip().splitlines()) == 1


def test_one_point_and_nan_runs_plot(db_path, cli, tmp_path):
    with Store(db_path) as s:
        _write(s, "one", "E", 1, [100], [5.0])
        _write(s, "nan", "E", 1, [0, 1, 2, 3], [1.0, np.nan, np.nan, 4.0])
        _write(s, "nan", "E", 2, [0, 1], [np.nan, np.nan])
    code, out, err = cli("plot", "one", "nan", "--formats", "png", "-o", str(tmp_path / "f"))
    assert code == 0, err
    assert "NaN/inf point(s) left out" in err and "no finite points" in err
    curves = _curves(db_path, specs=("one", "nan"))
    with plt.rc_context(fg.RC):
        fig = fg.draw_figure(fg.compute_panels(curves, fg.PlotOptions()), fg.PlotOptions(),
                             fg.experiment_colors(curves.selection.labels))
    isolated = [ln for ln in fig.axes[0].lines if ln.get_marker() == "o" and ln.get_markersize() == 3.5]
    assert len(isolated) == 1 and isolated[0].get_xdata().tolist() == [100]


@pytest.fixture(scope="module")
def tianshou_db(tmp_path_factory):
    need_shared("tianshou-mujoco")
    path = tmp_path_factory.mktemp("ts") / "ts.db"
    with Store(path) as s:
        assert th.load_into(s) == 9 * 8 * 10
    return path


def test_tianshou_nine_panel_comparison(tianshou_db, cli, tmp_path):
    out = tmp_path / "mujoco"
    code, stdout, err = cli("plot", "?project=tianshou", "--metric", "test/reward", "--band", "ci",
                            "-o", str(out) + ".png", db=tianshou_db)
    assert code == 0, err
    assert stdout.split() == [str(out) + ".png"]
    with Store(tianshou_db) as s:
        curves = load_curves(s, resolve(s, ["?project=tianshou"], None, "test/reward"))
    data = fg.compute_panels(curves, fg.PlotOptions())
    assert [p.env for p in data.panels] == th.envs() and all(len(p.lines) == 8 for p in data.panels)
    # the plotted mean is the CSV's own across-seed mean column `rew`
    sac = next(ln for ln in data.panels[th.envs().index("Hopper-v3")].lines if ln.label == "sac")
    df = pd.read_csv(th.csv_path("Hopper-v3", "sac"))
    np.testing.assert_allclose(sac.stats.grid, df["env_step"])
    np.testing.assert_allclose(sac.stats.mean, df[list(th.seed_columns(df).values())].mean(axis=1))
    np.testing.assert_allclose(sac.stats.mean, df["rew"], atol=1e-3)
    assert sac.stats.full.all()


def test_long_y_labels_are_wrapped_not_cut():
    from openrlb_cli.render.figures import _y_label_lines

    assert _y_label_lines("rew", 1, 1.8) == "rew"
    wrapped = _y_label_lines("charts/episodic_return", 5, 1.8)
    lines = wrapped.split("\n")
    assert len(lines) > 1 and all(len(line) <= 23 for line in lines)
    assert "".join(lines).replace(" ", "") == "charts/episodic_return(smoothedover5points)"


def test_axis_label_time_unit_and_legend_options_are_applied():
    import numpy as np

    from openrlb_cli.analysis import curves as cv
    from openrlb_cli.errors import InputError
    from openrlb_cli.render import figures as fg

    grid = np.array([0.0, 3600.0, 7200.0])
    stats = cv.seed_stats(np.array([[1.0, 2.0, 3.0], [2.0, 3.0, 4.0]]), grid)
    lines = [fg.Line(label, stats) for label in ("a", "b", "c")]
    data = fg.FigureData([fg.Panel("E", lines)], x="step", y_label="charts/episodic_return")
    colors = fg.experiment_colors(["a", "b", "c"])
    opts = fg.PlotOptions(xlabel="Frames", ylabel="Return", legend_cols=1)
    fig = fg.draw_figure(data, opts, colors)
    assert fig._supxlabel.get_text() == "Frames" and fig._supylabel.get_text() == "Return"
    assert fig.legends[0]._ncols == 1
    default = fg.draw_figure(data, fg.PlotOptions(), colors)
    # no record of what the steps count: plain "Steps"; the legend: 3 lines and the band, in 3 columns
    assert default._supxlabel.get_text() == "Steps" and default.legends[0]._ncols == 3
    assert default._supylabel.get_text() == "Episodic return"
    with pytest.raises(InputError, match="time_unit must be one of"):
        fg.check_options(fg.PlotOptions(time_unit="days"))
    assert fg.TIME_UNITS["m"] == ("min", 60.0)
