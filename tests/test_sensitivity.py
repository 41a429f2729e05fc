"""`openrlb sensitivity KEY SPECS`: final score against a config key, numbers checked by hand."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from openrlb_cli.model import RunRecord, Series
from openrlb_cli.render import sensitivity as sv
from openrlb_cli.selection import load_curves, resolve
from openrlb_cli.store import Store


@pytest.fixture
def sweep(db_path):
    with Store(db_path) as s:
        for lr in (0.1, 0.001, 0.01):
            for seed in (0, 1, 2):
                vals = np.full(10, 100 * lr + seed)
                s.write_run(RunRecord("t", f"{lr}/{seed}", experiment="ppo", env="E", seed=seed,
                                      config={"lr": lr, "opt": "adam" if seed else "sgd"},
                                      series={"r": Series(np.arange(10.0), vals)}))
        s.write_run(RunRecord("t", "nolr", experiment="ppo", env="E", seed=9, series={"r": Series([0.0], [1.0])}))
    return db_path


def test_means_and_spread_by_hand(sweep):
    with Store(sweep) as s:
        data = sv.compute(load_curves(s, resolve(s, ["ppo"], metric="r")), "lr", last_n=5)
    pts = data.lines[("E", "ppo")]
    assert data.numeric and data.log_x and [p.value for p in pts] == [0.001, 0.01, 0.1]
    for p in pts:  # seeds score 100 lr + 0, 1, 2: mean 100 lr + 1, std 1
        assert p.stats.mean == pytest.approx(100 * p.value + 1) and p.stats.std == pytest.approx(1.0)
        assert sorted(p.scores) == pytest.approx([100 * p.value + k for k in range(3)])
    assert any("1 run(s) without config key 'lr'" in w for w in data.warnings)
    rows = list(csv.DictReader(io.StringIO(sv.to_csv(data))))
    assert [r["lr"] for r in rows] == ["0.001", "0.01", "0.1"] and rows[0]["n_seeds"] == "3"


def test_categorical_values(sweep):
    with Store(sweep) as s:
        data = sv.compute(load_curves(s, resolve(s, ["ppo"], metric="r")), "opt", last_n=5)
    assert not data.numeric and [p.value for p in data.lines[("E", "ppo")]] == ["adam", "sgd"]


def test_cli(sweep, cli, tmp_path):
    code, out, err = cli("sensitivity", "lr", "ppo", "--metric", "r", "--formats", "png", "-o", str(tmp_path / "s"))
    assert code == 0, err
    assert out.split() == [str(tmp_path / "s.png"), str(tmp_path / "s.csv")]
    assert "without config key 'lr'" in err
    code, _, err = cli("sensitivity", "nope", "ppo", "--metric", "r", "-o", str(tmp_path / "t"))
    assert code == 1 and "config key 'nope'" in err
