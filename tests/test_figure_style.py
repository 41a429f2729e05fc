"""Figures reviewers accept: tick formats, stable styles (the style book), the x label from the data's
axis, --x-scale, --width, the EMA against TensorBoard's formula, τ ranges from the normalization."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from openrlb_cli.analysis import curves as cv
from openrlb_cli.model import RunRecord, Series
from openrlb_cli.render import figures as fg
from openrlb_cli.render import styles as st
from openrlb_cli.selection import load_curves, resolve
from openrlb_cli.store import Store

KEY = "charts/episodic_return"


def tensorboard_ema(values, weight):
    """TensorBoard's smoothing (vz_line_chart2 / W&B's docs), written out as a plain loop."""
    last, num_accum, out = 0.0, 0, []
    is_constant = all(v == values[0] for v in values)
    for v in values:
        if is_constant or not np.isfinite(v):
            out.append(v)
            continue
        last = last * weight + (1 - weight) * v
        num_accum += 1
        debias = 1.0 - weight**num_accum if weight != 1 else 1.0
        out.append(last / debias)
    return np.array(out)


@pytest.mark.parametrize("n", [1, 2, 7, 127, 128, 129, 1000, 3001])
@pytest.mark.parametrize("weight", [0.0, 0.3, 0.6, 0.9, 0.99, 0.999])
def test_ema_is_tensorboards(n, weight):
    x = np.random.default_rng(n).normal(100, 30, n)
    np.testing.assert_allclose(cv.ema(x, weight), tensorboard_ema(list(x), weight), rtol=1e-11, atol=1e-9)
    assert cv.ema(np.full(5, 3.0), 0.9).tolist() == [3.0] * 5
    with pytest.raises(ValueError):
        cv.ema(x, 1.0)


@pytest.mark.parametrize("ticks, labels", [
    ([0, 5000, 10000, 15000], ["0", "5k", "10k", "15k"]),
    ([6000, 8000, 10000, 12000, 14000], ["6k", "8k", "10k", "12k", "14k"]),  # never "14k" beside "8000"
    ([0, 2000, 4000, 6000, 8000], ["0", "2000", "4000", "6000", "8000"]),
    ([0, 2.5e6, 5e6, 7.5e6, 1e7], ["0", "2.5M", "5.0M", "7.5M", "10.0M"]),
    ([-20, -10, 0, 10, 20], ["-20", "-10", "0", "10", "20"]),
    ([0.0, 0.25, 0.5, 0.75, 1.0], ["0", "0.25", "0.50", "0.75", "1.00"]),
    ([1.5e9, 3e9], ["1.5B", "3.0B"]),
])
def test_one_tick_format_per_axis(ticks, labels):
    assert fg.TickFormat().format_ticks(ticks) == labels


def test_drawn_axis_has_one_format():
    grid = np.linspace(0, 1e6, 50)
    stats = cv.seed_stats(np.vstack([np.linspace(6000, 14500, 50)] * 2), grid)
    data = fg.FigureData([fg.Panel("E", [fg.Line("a", stats)])], x="step", y_label=KEY)
    with plt.rc_context(fg.RC):
        fig = fg.draw_figure(data, fg.PlotOptions(), fg.experiment_colors(["a"]))
        fig.canvas.draw()
    texts = [t.get_text() for t in fig.axes[0].get_yticklabels() if t.get_text()]
    assert texts and all(t.endswith("k") for t in texts), texts


def test_slots_book_and_palette(tmp_path):
    assert st.assign_slots(["b", "a", "c"]) == {"b": 0, "a": 1, "c": 2}  # no book: in order
    book = tmp_path / "x.styles.json"
    first = st.update_style_book(book, ["sac", "td3", "ppo"])
    assert first == {"sac": 0, "td3": 1, "ppo": 2}
    # a later figure with other lines: the booked labels keep their slots, new ones take unused slots
    st.update_style_book(book, ["ppo", "dqn"])
    slots = st.load_style_book(book)
    assert st.assign_slots(["ppo", "dqn"], slots) == {"ppo": 2, "dqn": 3}
    assert fg.experiment_colors(["ppo"], slots=slots)["ppo"] == fg.experiment_colors(
        ["sac", "td3", "ppo"], slots=slots)["ppo"]
    styles = fg.experiment_styles([f"e{i}" for i in range(16)])
    assert len({(s.color, s.marker, s.filled) for s in styles.values()}) == 16
    assert len({s.marker for s in list(styles.values())[:8]}) == 8  # 8 lines: 8 markers (greyscale)
    (tmp_path / "bad.json").write_text("{not json")
    assert st.load_style_book(tmp_path / "bad.json") == {}


def _write(store, exp, env, seed, steps, values):
    store.write_run(RunRecord("t", f"{exp}/{env}/{seed}", project="p", experiment=exp, env=env, seed=seed,
                              series={KEY: Series(np.asarray(steps, float), np.asarray(values, float))}))


@pytest.fixture
def three(db_path):
    with Store(db_path) as s:
        for k, exp in enumerate(("sac", "td3", "ppo")):
            for seed in range(3):
                _write(s, exp, "Hopper", seed, np.arange(50) * 1000.0, np.linspace(0, 3000 + 500 * k, 50) + seed)
    return db_path


def test_cli_colour_stays_with_the_label(three, cli, tmp_path, db_path):
    code, _, err = cli("plot", "sac", "td3", "ppo", "--formats", "png", "-o", str(tmp_path / "all"))
    assert code == 0, err
    book = json.loads((db_path.parent / "store.styles.json").read_text())["slots"]
    assert book == {"ppo": 2, "sac": 0, "td3": 1}
    code, _, err = cli("plot", "ppo", "--formats", "png", "-o", str(tmp_path / "one"))
    assert code == 0, err
    px = np.asarray(Image.open(tmp_path / "one.png").convert("RGB")).reshape(-1, 3)
    ppo = tuple(int(round(255 * c)) for c in fg.experiment_colors(["ppo"], slots=book)["ppo"][:3])
    assert ppo == (0x00, 0x9E, 0x73) and (px == ppo).all(axis=1).sum() > 50  # slot 2 of the palette, alone too
    code, _, err = cli("plot", "sac", "td3", "--color", "sac=#FF00FF", "--label", "td3=TD3", "--formats", "png",
                       "-o", str(tmp_path / "pinned"))
    assert code == 0, err
    px = np.asarray(Image.open(tmp_path / "pinned.png").convert("RGB")).reshape(-1, 3)
    assert (px == (255, 0, 255)).all(axis=1).sum() > 50
    code, _, err = cli("plot", "sac", "--color", "ddpg=red", "-o", str(tmp_path / "x"))
    assert code == 1 and "pinned colours: no line labelled 'ddpg'" in err and err.rstrip().endswith("(--color)")
    code, _, err = cli("plot", "sac", "--color", "sac=notacolour", "-o", str(tmp_path / "x"))
    assert code == 1 and "is not a colour" in err
    code, _, err = cli("plot", "sac", "--label", "x=y", "-o", str(tmp_path / "x"))
    assert code == 1 and "--label: no line labelled 'x'" in err


def test_cli_width_xscale_ylabel_and_smoothing(three, cli, tmp_path):
    code, _, err = cli("plot", "sac", "--formats", "png", "--width", "one", "--dpi", "100", "--smooth", "0.6",
                       "--smooth-kind", "ema", "--x-scale", "4", "--xlabel", "Frames", "-o", str(tmp_path / "one"))
    assert code == 0, err
    assert Image.open(tmp_path / "one.png").size[0] == 325  # 3.25 in at 100 dpi: one column of a paper
    code, _, err = cli("plot", "sac", "--formats", "png", "--width", "5.5", "--dpi", "100", "-o", str(tmp_path / "w"))
    assert code == 0 and Image.open(tmp_path / "w.png").size[0] == 550
    for args, needle in ((["--smooth", "0.5"], "whole number"), (["--smooth-kind", "ema", "--smooth", "2"], "[0, 1)"),
                         (["--width", "wide"], "--width must be"),
                         (["--x-scale", "0"], "x_scale must be > 0, got 0 (--x-scale)")):
        code, _, err = cli("plot", "sac", *args, "-o", str(tmp_path / "bad"))
        assert code == 1 and needle in err and len(err.splitlines()) == 1, (args, err)
    with Store(three) as s:
        curves = load_curves(s, resolve(s, ["sac"], None))
    opts = fg.PlotOptions(x_scale=4, smooth=0.6, smooth_kind="ema")
    data = fg.compute_panels(curves, opts)
    assert data.panels[0].lines[0].stats.grid[-1] == 49 * 1000 * 4
    assert "EMA of each run, weight 0.6" in fg.caption_text(data, opts) and "steps × 4" in fg.caption_text(data, opts)
    with plt.rc_context(fg.RC):
        fig = fg.draw_figure(data, opts, fg.experiment_colors(["sac"]))
    assert fig._supylabel.get_text() == "Episodic return"  # short, on one line; the key is in the caption
    assert "± 1 std over seeds" in [t.get_text() for t in fig.legends[0].get_texts()]


def test_x_label_from_the_step_column(db_path, cli, tmp_path):
    # Dopamine's layout: JSON records of Iteration/Value/Agent, one seed after another
    rows = [{"Iteration": i, "Value": float(i * (seed + 1)), "Agent": agent}
            for agent in ("DQN", "C51") for seed in range(2) for i in range(10)]
    (tmp_path / "pong.json").write_text(json.dumps(rows))
    code, _, err = cli("ingest", str(tmp_path / "pong.json"), "--env", "{stem}")
    assert code == 0, err
    with Store(db_path) as s:
        curves = load_curves(s, resolve(s, ["DQN", "C51"], None, "Value"))
    data = fg.compute_panels(curves, fg.PlotOptions())
    assert set(curves.step_axes.values()) == {"Iteration"} and data.x_label == "Iterations"
    assert fg.step_axis_label(["global_step", "env_steps"]) == "Environment steps"
    assert fg.step_axis_label(["Iteration", "global_step"]) == "Steps"  # disagreeing runs: neutral
    code, out, err = cli("aggregate", "DQN", "C51", "--metric", "Value", "--normalize", "none", "--reps", "100",
                         "--formats", "png", "--json", "-o", str(tmp_path / "agg"))
    assert code == 0, err


@pytest.mark.parametrize("normalize, lo, hi", [("maxmin", 0.0, 1.0), ("none", None, None)])
def test_profile_tau_range_from_the_normalization(three, cli, tmp_path, normalize, lo, hi):
    code, _, err = cli("aggregate", "sac", "td3", "ppo", "--normalize", normalize, "--reps", "100", "--formats", "png",
                       "-o", str(tmp_path / "a"))
    assert code == 0, err
    taus = json.loads((tmp_path / "a_profiles.json").read_text())["taus"]
    if lo is None:  # no normalization: the scores' own range
        assert taus[0] < taus[-1] and taus[-1] > 1
    else:
        assert (taus[0], taus[-1]) == (lo, hi)


def test_atari_profiles_span_zero_to_eight():
    import importlib

    cp = importlib.import_module("openrlb_cli.aggregate.compute")  # (the package exports a function `compute`)

    taus = cp.taus_for("atari", cp.AggregateOptions(normalize="atari"), [np.array([[0.1, 340.0]])])
    assert (taus[0], taus[-1]) == (0.0, 8.0)
    assert cp.taus_for("atari", cp.AggregateOptions(tau_max=3.0), [])[-1] == 3.0
