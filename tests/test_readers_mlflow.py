"""MLflow file-store reader: the real mlruns/ in shared/data (facts from formats/README.md) and generated runs."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from shared_data import SHARED_DATA, need_shared

from openrlb_cli.errors import InputError
from openrlb_cli.ingest.base import ReadOptions
from openrlb_cli.ingest.mlflow import file_store as mlflow_files

MLRUNS = SHARED_DATA / "formats" / "mlflow-files" / "mlruns"
EXP = "430617627772943387"
RUNS = {1: "5867d383992a49bba1b32c209d26a3db", 2: "65869a5481c5461d80441a985543d5df"}
OPTS = ReadOptions()


def need() -> None:
    need_shared(MLRUNS)


@pytest.mark.parametrize("seed", [1, 2])
def test_real_runs(seed: int) -> None:
    need()
    run_dir = MLRUNS / EXP / RUNS[seed]
    assert mlflow_files.MLFLOW_RUN.detect(run_dir)
    res = mlflow_files.MLFLOW_RUN.read(run_dir, 0, {}, OPTS)
    assert len(res.runs) == 1 and res.complete and not res.replace
    rec = res.runs[0]
    assert (rec.source, rec.external_id) == ("local", "")
    assert rec.project == "CartPole-v1-ppo" and rec.name == f"ppo-seed{seed}"
    assert (rec.state, rec.env, rec.seed, rec.user) == ("finished", "CartPole-v1", seed, "root")
    assert rec.config["env_id"] == "CartPole-v1" and rec.config["seed"] == seed
    assert rec.config["mlflow_run_id"] == RUNS[seed] and rec.config["mlflow_experiment_id"] == EXP
    assert set(rec.config["mlflow_tags"]) == {"algo", "curve", "mlflow.runName", "mlflow.source.name",
                                              "mlflow.source.type", "mlflow.user"}
    assert sorted(rec.tags) == ["algo=ppo", "curve=deterministic"]
    assert set(rec.series) == {"episodic_return", "charts/sps"}
    ret = rec.series["episodic_return"]
    assert len(ret) == 200 and ret.steps.tolist() == list(range(200))
    expected = np.round(500 * (1 - np.exp(-ret.steps / (40 + 10 * seed))), 3)
    assert np.allclose(ret.values, expected, rtol=0, atol=1e-9)
    assert (ret.values[0], ret.values[-1]) == (0.0, {1: 490.657, 2: 481.863}[seed])
    sps = rec.series["charts/sps"]
    assert sps.steps.tolist() == list(range(0, 200, 10))
    assert sps.values.tolist() == [1000 + 10 * seed + s for s in range(0, 200, 10)]
    assert rec.created_at is not None and rec.updated_at is not None and rec.created_at < rec.updated_at
    assert np.all(ret.wall_times >= rec.created_at - 1) and np.all(ret.wall_times <= rec.updated_at + 1)
    assert rec.summary == {"episodic_return": ret.values[-1], "charts/sps": sps.values[-1]}
    again = mlflow_files.MLFLOW_RUN.read(run_dir, res.offset, res.state, OPTS)
    assert again.runs[0].n_points == 0 and again.offset == res.offset


def test_detect() -> None:
    need()
    assert not mlflow_files.MLFLOW_RUN.detect(MLRUNS / EXP)  # the experiment directory
    assert not mlflow_files.MLFLOW_RUN.detect(MLRUNS / "0")
    assert not mlflow_files.MLFLOW_RUN.detect(MLRUNS / EXP / "meta.yaml")


def make_run(root: Path, status: str = "3", end_time: str = "1700000009000") -> Path:
    exp = root / "mlruns" / "7"
    run = exp / "abc"
    for d in ("metrics/charts", "params", "tags"):
        (run / d).mkdir(parents=True, exist_ok=True)
    (exp / "meta.yaml").write_text("artifact_location: file:///nowhere/mlruns/7\nexperiment_id: '7'\nname: exp\n")
    (run / "meta.yaml").write_text(
        "artifact_uri: file:///nowhere/artifacts\nend_time: " + end_time + "\nexperiment_id: '7'\n"
        "lifecycle_stage: active\nrun_id: abc\nrun_name: fallback-name\nstart_time: 1700000000000\n"
        f"status: {status}\ntags: []\nuser_id: me\n")
    (run / "params" / "lr").write_text("0.0003")
    (run / "params" / "env").write_text("Hopper-v4")
    (run / "params" / "seed").write_text("07")
    (run / "params" / "arch").write_text("[64, 64]")
    (run / "tags" / "team").write_text("rl")
    (run / "metrics" / "loss").write_text("1700000001000 0.5 0\n1700000002000 nan 1\n")
    (run / "metrics" / "charts" / "sps").write_text("1700000001000 100 0\n")
    return run


@pytest.mark.parametrize("status,state", [("1", "running"), ("3", "finished"), ("4", "crashed"), ("5", "killed"),
                                          ("FAILED", "crashed"), ("KILLED", "killed")])
def test_generated_run_mapping(tmp_path: Path, status: str, state: str) -> None:
    run = make_run(tmp_path, status=status, end_time="null" if status == "1" else "1700000009000")
    rec = mlflow_files.MLFLOW_RUN.read(run, 0, {}, OPTS).runs[0]
    assert rec.state == state and rec.name == "fallback-name" and rec.project == "exp"
    assert rec.config["lr"] == 0.0003 and rec.config["seed"] == "07" and rec.seed is None  # "07" is not exact
    assert rec.config["arch"] == "[64, 64]" and rec.env == "Hopper-v4" and rec.tags == ["team=rl"]
    assert rec.created_at == 1700000000.0
    assert rec.updated_at == (None if status == "1" else 1700000009.0)
    loss = rec.series["loss"]
    assert loss.steps.tolist() == [0, 1] and loss.values[0] == 0.5 and math.isnan(loss.values[1])
    assert loss.wall_times.tolist() == [1700000001.0, 1700000002.0]
    assert rec.series["charts/sps"].values.tolist() == [100]


def test_incremental_metric_reads(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    first = mlflow_files.MLFLOW_RUN.read(run, 0, {}, OPTS)
    with open(run / "metrics" / "loss", "a") as f:
        f.write("1700000003000 0.25 2\n1700000004000 0.1")  # the last line is still being written
    (run / "metrics" / "new_key").write_text("1700000003000 7 2\n")
    second = mlflow_files.MLFLOW_RUN.read(run, first.offset, first.state, OPTS)
    s = second.runs[0].series
    assert not second.complete and s["loss"].values.tolist() == [0.25] and s["new_key"].values.tolist() == [7]
    assert "charts/sps" not in s
    with open(run / "metrics" / "loss", "a") as f:
        f.write("2 3\n")  # the torn line was "0.12 3"
    third = mlflow_files.MLFLOW_RUN.read(run, second.offset, second.state, OPTS)
    assert third.complete and third.runs[0].series["loss"].values.tolist() == [0.12]
    assert third.runs[0].series["loss"].steps.tolist() == [3]


def test_consumed_tail_then_torn_rereads_everything(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    (run / "metrics" / "loss").write_text("1700000001000 0.5 0\n1700000002000 0.7 1")  # parses completely
    first = mlflow_files.MLFLOW_RUN.read(run, 0, {}, OPTS)
    assert first.runs[0].series["loss"].steps.tolist() == [0, 1]
    first = mlflow_files.MLFLOW_RUN.read(run, first.offset, first.state, OPTS)  # nothing new: still owed
    assert first.runs[0].n_points == 0
    with open(run / "metrics" / "loss", "a") as f:
        f.write("1\n")  # the step really was 11
    second = mlflow_files.MLFLOW_RUN.read(run, first.offset, first.state, OPTS)
    assert second.replace and second.runs[0].series["loss"].steps.tolist() == [0, 11]
    assert second.runs[0].series["charts/sps"].values.tolist() == [100]


def test_bad_metric_file(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    (run / "metrics" / "loss").write_text("1700000001000 abc 0\n")
    with pytest.raises(InputError, match="malformed metric file"):
        mlflow_files.MLFLOW_RUN.read(run, 0, {}, OPTS)
    (run / "metrics" / "loss").write_bytes(b"\x00\x01")
    with pytest.raises(InputError, match="NUL"):
        mlflow_files.MLFLOW_RUN.read(run, 0, {}, OPTS)


def test_copy_of_real_run_grows(tmp_path: Path) -> None:
    need()
    dst = tmp_path / "mlruns"
    shutil.copytree(MLRUNS, dst)
    run = dst / EXP / RUNS[1]
    first = mlflow_files.MLFLOW_RUN.read(run, 0, {}, OPTS)
    with open(run / "metrics" / "episodic_return", "a") as f:
        f.write("1795425807999 491.0 200\n")
    second = mlflow_files.MLFLOW_RUN.read(run, first.offset, first.state, OPTS)
    ret = second.runs[0].series["episodic_return"]
    assert ret.steps.tolist() == [200] and ret.values.tolist() == [491.0]
    full = mlflow_files.MLFLOW_RUN.read(run, 0, {}, OPTS).runs[0].series["episodic_return"]
    assert np.array_equal(np.concatenate([first.runs[0].series["episodic_return"].values, ret.values]),
                          full.values)


def test_param_value() -> None:
    assert mlflow_files.param_value("3") == 3 and mlflow_files.param_value("-2.5e-3") == -0.0025
    assert mlflow_files.param_value("1e5") == 1e5 and mlflow_files.param_value("True") == "True"
    assert mlflow_files.param_value("nan") == "nan" and mlflow_files.param_value("1.0.0") == "1.0.0"
