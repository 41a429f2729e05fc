"""Sacred FileStorageObserver runs written by Sacred itself (a test dependency), read by openrlb.

Sacred has no reader for its file storage, so the reference is Sacred's own in-process `Run` object
(id, config, status, start/stop time, result) and the exact values passed to `_run.log_scalar`,
with the timestamps Sacred wrote into metrics.json.
"""

from __future__ import annotations

import json
import math
from datetime import timezone
from pathlib import Path

import numpy as np
import pytest

from openrlb_cli.ingest.base import ReadOptions
from openrlb_cli.ingest.pipeline import discover, ingest
from openrlb_cli.ingest.sacred.reader import SACRED_RUN
from openrlb_cli.store import Store

sacred = pytest.importorskip("sacred")


def _experiment(base: Path, fail: bool = False):
    from sacred import Experiment
    from sacred.observers import FileStorageObserver

    ex = Experiment("cartpole_ppo", save_git_info=False)
    ex.observers.append(FileStorageObserver(str(base)))

    @ex.config
    def cfg():  # noqa: F841 - Sacred reads the local names
        env_id = "CartPole-v1"  # noqa: F841
        lr = 0.001  # noqa: F841
        net = {"hidden": [64, 64]}  # noqa: F841

    @ex.main
    def main(_run, lr, seed):
        for i in range(50):
            _run.log_scalar("charts/episodic_return", 10.0 * i * lr * 1000, i * 128)
            _run.log_scalar("loss", math.nan if i == 3 else 1.0 / (i + 1))  # Sacred counts the steps
        if fail:
            raise RuntimeError("diverged")
        return 123.5

    return ex


def _run(base: Path, seed: int, fail: bool = False, **updates):
    ex = _experiment(base, fail)
    try:
        return ex.run(config_updates={"seed": seed, **updates}, options={"--capture": "no", "--loglevel": "ERROR"})
    except RuntimeError:
        return None


def test_sacred_runs_match_what_sacred_recorded(tmp_path):
    base = tmp_path / "runs"
    done = [_run(base, seed, lr=0.001 * seed) for seed in (1, 2)]
    assert None not in done
    _run(base, 3, fail=True)
    units, skipped = discover([tmp_path])
    assert sorted(Path(u.key).name for u in units) == ["1", "2", "3"] and {u.fmt for u in units} == {"sacred"}
    with Store(tmp_path / "s.db") as store:
        summary = ingest(store, [tmp_path])
        assert not summary.skipped and summary.new_runs == 3 and summary.points == 3 * 100
        runs = {r.name: r for r in store.runs()}
        for ref in done:
            got = runs[str(ref._id)]
            assert got.experiment == "cartpole_ppo" and got.state == "finished" and got.env == "CartPole-v1"
            assert got.seed == ref.config["seed"] and got.summary["result"] == ref.result == 123.5
            assert {k: got.config[k] for k in ref.config} == json.loads(json.dumps(ref.config))
            assert got.created_at == ref.start_time.replace(tzinfo=timezone.utc).timestamp()
            assert got.updated_at == ref.stop_time.replace(tzinfo=timezone.utc).timestamp()
            ret = store.load_series(got.id, "charts/episodic_return")
            assert ret.steps.tolist() == [i * 128 for i in range(50)]
            assert ret.values.tolist() == [10.0 * i * ref.config["lr"] * 1000 for i in range(50)]
            written = json.loads((base / str(ref._id) / "metrics.json").read_text())["loss"]
            loss = store.load_series(got.id, "loss")
            assert loss.steps.tolist() == written["steps"] == list(range(50)) and math.isnan(loss.values[3])
            np.testing.assert_array_equal(loss.values, np.array(written["values"], dtype=float))
            assert np.all(np.diff(loss.wall_times) >= 0) and abs(loss.wall_times[0] - got.created_at) < 60
        assert runs["3"].state == "crashed" and "result" not in runs["3"].summary
        again = ingest(store, [tmp_path])
        assert again.points == 0 and again.unchanged == 3
        _run(base, 4)  # a new run appears: only it is read
        third = ingest(store, [tmp_path])
        assert third.units == 1 and third.new_runs == 1 and third.points == 100


def test_metrics_json_caught_mid_rewrite_keeps_points(tmp_path):
    base = tmp_path / "runs"
    _run(base, 1)
    run_dir = base / "1"
    with Store(tmp_path / "s.db") as store:
        ingest(store, [base])
        whole = (run_dir / "metrics.json").read_bytes()
        (run_dir / "metrics.json").write_bytes(whole[: len(whole) // 2])
        res = SACRED_RUN.read(run_dir, 0, {}, ReadOptions())
        assert not res.complete and "metrics.json" in res.warnings[0] and res.runs[0].series == {}
        ingest(store, [base])
        (run,) = store.runs()
        assert len(store.load_series(run.id, "loss")) == 50
        (run_dir / "metrics.json").write_bytes(whole)
        ingest(store, [base])
        assert len(store.load_series(run.id, "loss")) == 50
