"""`export --format jsonl`: every float64 back bit for bit, NaN / inf / -inf told apart, strict JSON."""

from __future__ import annotations

import json
import math

import numpy as np

from openrlb_cli.dataset import jsonl
from openrlb_cli.model import RunRecord, Series
from openrlb_cli.store import Store

VALUES = [0.1 + 0.2, 1 / 3, 5e-324, 1.7976931348623157e308, float(2**53 + 2), -0.0, 123456789.12345679,
          float("nan"), float("inf"), float("-inf")]


def test_jsonl_round_trips_float64_and_non_finite(db_path, cli, tmp_path):
    steps = np.arange(len(VALUES), dtype=float) * 0.1  # 0.30000000000000004 among them
    walls = np.array([np.nan] + [1.7e9 + k / 7 for k in range(1, len(VALUES))])
    with Store(db_path) as s:
        s.write_run(RunRecord("t", "x", project="p", experiment="e", env="E", seed=None,
                              series={"m": Series(steps, np.array(VALUES), walls)}))
    out = tmp_path / "points.jsonl"
    code, _, err = cli("export", "--metric", "m", "--format", "jsonl", "-o", str(out))
    assert code == 0, err
    rows = [json.loads(line, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))  # strict JSON
            for line in out.read_text().splitlines()]
    assert [r["value"] for r in rows[-3:]] == ["NaN", "Infinity", "-Infinity"]
    back = np.array([jsonl.decode(r["value"]) for r in rows])
    finite = np.isfinite(np.array(VALUES))
    assert back[finite].view(np.int64).tolist() == np.array(VALUES)[finite].view(np.int64).tolist()  # bit for bit
    assert math.isnan(back[-3]) and back[-2] == math.inf and back[-1] == -math.inf
    assert [jsonl.decode(r["step"]) for r in rows] == steps.tolist()
    assert rows[0]["wall_time"] is None and [r["wall_time"] for r in rows[1:]] == walls[1:].tolist()
    assert rows[0]["seed"] is None and rows[0]["env"] == "E" and list(rows[0]) == [
        "project", "experiment", "env", "seed", "run", "step", "value", "wall_time"]
    code, stdout, _ = cli("export", "--metric", "m", "--format", "jsonl")
    assert code == 0 and stdout == out.read_text()
    code, _, err = cli("export", "--metric", "nope", "--format", "jsonl", "-o", str(tmp_path / "none.jsonl"))
    assert code == 1 and "has metric 'nope'" in err and not (tmp_path / "none.jsonl").exists()
    assert not list(tmp_path.glob(".*.partial"))
