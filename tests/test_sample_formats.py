"""Every log format openrlb reads, on small samples written by the real tools (tests/data/formats/),
so a clone without ../shared still checks each reader end to end.

The samples come from tests/data/formats/make_samples.py (SB3's own Monitor and logger, torch's
SummaryWriter laid out as CleanRL does, MLflow's file store, a W&B offline run). Each test ingests
one sample through the CLI, exports it, and compares with an independent reading of the same
files: pandas for CSV and JSON lines, TensorBoard's EventAccumulator for event files, MLflow's
documented `timestamp value step` metric lines, wandb's own DataStore for the `.wandb` log.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SAMPLES = Path(__file__).resolve().parent / "data" / "formats"

try:  # imported at collection: importing wandb's SDK leaves temporary folders behind
    from wandb.proto import wandb_internal_pb2 as pb
    from wandb.sdk.internal import datastore
except ImportError:  # wandb >= 0.29 has no DataStore: that test skips
    datastore = pb = None


def _ingest(cli, *paths: Path) -> dict:
    code, out, err = cli("ingest", *map(str, paths), "--json")
    assert code == 0, err
    return json.loads(out)


def _export(cli, tmp_path: Path, metric: str) -> pd.DataFrame:
    out = tmp_path / f"{metric.replace('/', '_')}.csv"
    code, _, err = cli("export", "--metric", metric, "-o", str(out))
    assert code == 0, err
    return pd.read_csv(out)


def _runs(cli) -> list[dict]:
    code, out, err = cli("runs", "--json")
    assert code == 0, err
    return json.loads(out)


def test_sb3_monitor_progress_and_events_are_one_run(cli, tmp_path):
    run_dir = SAMPLES / "sb3" / "PPO_CartPole-v1_seed1"
    doc = _ingest(cli, run_dir)
    assert doc["runs"] == 1 and doc["skipped"] == []
    monitor = pd.read_csv(run_dir / "0.monitor.csv", comment="#")
    got = _export(cli, tmp_path, "r")
    assert got["value"].tolist() == monitor["r"].tolist()
    assert got["step"].tolist() == monitor["l"].cumsum().tolist()  # x = cumulative episode length
    progress = pd.read_csv(run_dir / "progress.csv")
    want = progress[["time/total_timesteps", "rollout/ep_rew_mean"]].dropna()
    got = _export(cli, tmp_path, "rollout/ep_rew_mean")
    np.testing.assert_allclose(got["value"], want["rollout/ep_rew_mean"], rtol=1e-6)
    assert got["step"].tolist() == want["time/total_timesteps"].tolist()
    json_rows = [json.loads(line) for line in (run_dir / "progress.json").read_text().splitlines()]
    assert len(got) == sum("rollout/ep_rew_mean" in r for r in json_rows)


def test_cleanrl_runs_match_tensorboard(cli, tmp_path):
    ea = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    runs_dir = SAMPLES / "cleanrl" / "runs"
    assert _ingest(cli, runs_dir)["runs"] == 2
    runs = sorted(_runs(cli), key=lambda r: r["seed"])
    assert [(r["experiment"], r["env"], r["seed"]) for r in runs] == [("ppo", "CartPole-v1", s) for s in (1, 2)]
    got = _export(cli, tmp_path, "charts/episodic_return")
    for seed, run_dir in enumerate(sorted(runs_dir.iterdir()), start=1):
        acc = ea.EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
        acc.Reload()
        want = acc.Scalars("charts/episodic_return")
        mine = got[got["seed"] == seed]
        assert mine["step"].tolist() == [e.step for e in want]
        np.testing.assert_array_equal(mine["value"].to_numpy(), np.array([e.value for e in want], dtype=np.float32))


def test_mlflow_file_store_matches_its_metric_files(cli, tmp_path):
    mlruns = SAMPLES / "mlflow" / "mlruns"
    assert _ingest(cli, mlruns)["runs"] == 2
    got = _export(cli, tmp_path, "episodic_return")
    for metric_file in sorted(mlruns.glob("*/*/metrics/episodic_return")):
        seed = int((metric_file.parents[1] / "params" / "seed").read_text())
        rows = [line.split() for line in metric_file.read_text().splitlines()]  # timestamp value step
        mine = got[got["seed"] == seed]
        assert mine["step"].tolist() == [int(r[2]) for r in rows]
        assert mine["value"].tolist() == [float(r[1]) for r in rows]
        assert mine["wall_time"].tolist() == pytest.approx([int(r[0]) / 1000 for r in rows])
    assert {r["experiment"] for r in _runs(cli)} == {"ppo"}


def test_wandb_offline_run_matches_wandbs_reader(cli, tmp_path):
    if datastore is None:
        pytest.skip("wandb (with its DataStore reader, wandb < 0.29) is not installed")
    (log,) = (SAMPLES / "wandb").glob("wandb/offline-run-*/run-*.wandb")
    assert _ingest(cli, SAMPLES / "wandb")["runs"] == 1
    ds = datastore.DataStore()
    ds.open_for_scan(str(log))
    rows = []
    try:
        while (data := ds.scan_data()) is not None:
            rec = pb.Record()
            rec.ParseFromString(data)
            if rec.WhichOneof("record_type") == "history":
                rows.append({".".join(item.nested_key) if item.nested_key else item.key: json.loads(item.value_json)
                             for item in rec.history.item})
    finally:
        ds._fp.close()
    rows = [r for r in rows if "global_step" in r]  # x = global_step, as a W&B fetch: rows without it give no point
    assert len(rows) == 30
    got = _export(cli, tmp_path, "charts/episodic_return")
    assert got["step"].tolist() == [r["global_step"] for r in rows]
    assert got["value"].tolist() == [r["charts/episodic_return"] for r in rows]
    (run,) = _runs(cli)
    assert run["env"] == "CartPole-v1" and run["seed"] == 1 and run["tags"] == ["sample"]
