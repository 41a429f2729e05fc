"""`--group-by CONFIG_KEY`: one line (table column) per config value, numbers checked by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from openrlb_cli.errors import SelectionError
from openrlb_cli.model import RunRecord, Series
from openrlb_cli.render import figures as fg
from openrlb_cli.selection import UNSET, group_by_config, load_curves, resolve
from openrlb_cli.store import Store

LRS = (0.01, 0.001, 0.0003)  # stored out of order: lines come out numerically sorted


def _values(lr: float | None, seed: int) -> np.ndarray:
    base = 0.0 if lr is None else 100 * lr
    return base + seed + np.arange(10.0)


@pytest.fixture
def sweep(db_path):
    with Store(db_path) as s:
        for lr in (*LRS, None):
            for seed in (0, 1, 2):
                config = {"gamma": 0.99} | ({} if lr is None else {"learning_rate": lr})
                s.write_run(RunRecord("t", f"{lr}/{seed}", experiment="ppo", env="CartPole-v1", seed=seed,
                                      config=config, series={"r": Series(np.arange(10.0), _values(lr, seed))}))
    return db_path


def test_one_line_per_value_with_hand_computed_means(sweep):
    with Store(sweep) as s:
        sel = group_by_config(resolve(s, ["ppo"], metric="r"), "learning_rate")
        curves = load_curves(s, sel)
    assert sel.labels == ["ppo learning_rate=0.0003", "ppo learning_rate=0.001", "ppo learning_rate=0.01",
                          f"ppo learning_rate={UNSET}"]
    assert any("3 run(s) without config key 'learning_rate'" in w for w in sel.warnings)
    data = fg.compute_panels(curves, fg.PlotOptions())
    means = {ln.label: ln.stats.mean for ln in data.panels[0].lines}
    for lr in LRS:
        expected = np.mean([_values(lr, seed) for seed in (0, 1, 2)], axis=0)
        np.testing.assert_allclose(means[f"ppo learning_rate={lr}"], expected)


def test_label_value_selects_the_same_runs(sweep):
    """The text after `=` is what the selection language compares: `learning_rate=0.001` picks the line."""
    with Store(sweep) as s:
        grouped = group_by_config(resolve(s, ["ppo"], metric="r"), "learning_rate")
        line = next(e for e in grouped.experiments if e.label.endswith("=0.001"))
        direct = resolve(s, ["ppo?learning_rate=0.001"], metric="r")
    assert sorted(r.uid for r in line.runs) == sorted(r.uid for r in direct.experiments[0].runs)


def test_unknown_key_is_one_error_with_a_suggestion(sweep):
    with Store(sweep) as s, pytest.raises(SelectionError, match="learning_rat.*did you mean 'learning_rate'"):
        group_by_config(resolve(s, ["ppo"], metric="r"), "learning_rat")


def test_cli_table_and_plot_group_by(sweep, cli, tmp_path):
    code, out, err = cli("table", "ppo", "--metric", "r", "--group-by", "learning_rate", "--last-n", "1",
                         "--format", "json")
    assert code == 0, err
    rows = {r["experiment"]: r for r in json.loads(out)["rows"]}
    # last point of each seed: base + seed + 9; mean over seeds 0..2 = base + 10
    assert rows["ppo learning_rate=0.01"]["mean"] == pytest.approx(1.0 + 10)
    assert rows["ppo learning_rate=0.0003"]["mean"] == pytest.approx(0.03 + 10)
    code, out, err = cli("plot", "ppo", "--metric", "r", "--group-by", "learning_rate", "--formats", "png",
                         "-o", str(tmp_path / "p"))
    assert code == 0, err
    assert (tmp_path / "p.png").exists()
    code, _, err = cli("plot", "ppo", "--metric", "r", "--group-by", "nope", "-o", str(tmp_path / "q"))
    assert code == 1 and "config key 'nope'" in err
