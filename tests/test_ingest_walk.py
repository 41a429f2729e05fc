"""Folders the user names are walked whole: only version control, dependency trees and tool caches are
skipped, plus the known non-log subtrees of MLflow's file store (deleted experiments, run artifacts)."""

from __future__ import annotations

import shutil
from pathlib import Path

from openrlb_cli.store import Store

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_runs"
RUN = SAMPLE / "cleanrl" / "runs" / "CartPole-v1__q_learning__1__1700000000"
MONITOR_RUN = SAMPLE / "sb3" / "reinforce" / "CartPole-v1_1"


def _points_of(cli, path: Path, db: Path, *options: str) -> int:
    code, _, err = cli("ingest", str(path), *options, db=db)
    assert code == 0, err
    with Store(db) as store:
        return int(store.info()["points"])


def test_tmp_artifacts_and_dot_folders_are_walked(cli, tmp_path):
    one = _points_of(cli, RUN, tmp_path / "one.db")
    tree = tmp_path / "tree"
    for where in ("tmp/gym", "artifacts/run", ".hidden/run", ".trash/run", "logs/tmp/run"):
        shutil.copytree(RUN, tree / where / RUN.name)
    # five copies of one run: stored once each only when asked (--as-copy), else recognised as one run
    assert _points_of(cli, tree, tmp_path / "tree.db", "--as-copy") == 5 * one
    with Store(tmp_path / "tree.db") as store:
        assert len(store.runs()) == 5
    assert _points_of(cli, tree, tmp_path / "once.db") == one


def test_a_monitor_log_under_tmp_gym(cli, tmp_path):
    """SB3's Monitor examples write to /tmp/gym: a folder named tmp holding the monitor files."""
    gym = tmp_path / "tmp" / "gym"
    shutil.copytree(MONITOR_RUN, gym)
    expected = _points_of(cli, MONITOR_RUN, tmp_path / "ref.db")
    assert _points_of(cli, tmp_path / "tmp", tmp_path / "s.db") == expected > 0


def test_version_control_dependency_and_cache_folders_are_skipped(cli, tmp_path):
    one = _points_of(cli, RUN, tmp_path / "one.db")
    tree = tmp_path / "tree"
    shutil.copytree(RUN, tree / "runs" / RUN.name)
    for skipped in (".git", "node_modules", "__pycache__", ".ipynb_checkpoints", "venv/lib/site-packages"):
        shutil.copytree(RUN, tree / skipped / RUN.name)
    assert _points_of(cli, tree, tmp_path / "tree.db") == one
    # named explicitly, such a folder is read
    assert _points_of(cli, tree / ".git", tmp_path / "git.db") == one


def _mlflow_run(folder: Path, exp_id: str, run_id: str, values: list[float]) -> None:
    run = folder / exp_id / run_id
    (run / "metrics").mkdir(parents=True)
    (run / "params").mkdir()
    (run / "tags").mkdir()
    (run / "meta.yaml").write_text(
        f"artifact_uri: file://{run}/artifacts\nend_time: 1700000100000\nentry_point_name: ''\n"
        f"experiment_id: '{exp_id}'\nlifecycle_stage: active\nrun_id: {run_id}\nrun_name: r{run_id}\n"
        f"run_uuid: {run_id}\nsource_name: ''\nsource_type: 4\nsource_version: ''\nstart_time: 1700000000000\n"
        "status: 3\ntags: []\nuser_id: me\n")
    (run / "metrics" / "loss").write_text("".join(f"{1700000000000 + i} {v} {i}\n" for i, v in enumerate(values)))
    (folder / exp_id / "meta.yaml").write_text(
        f"artifact_location: file://{folder / exp_id}\nexperiment_id: '{exp_id}'\nlifecycle_stage: active\n"
        f"name: e{exp_id}\n")


def test_mlflow_trash_and_run_artifacts_are_not_logs(cli, tmp_path):
    mlruns = tmp_path / "mlruns"
    _mlflow_run(mlruns, "1", "aaa", [1.0, 2.0, 3.0])
    _mlflow_run(mlruns / ".trash", "2", "bbb", [5.0, 6.0])  # a deleted experiment
    artifacts = mlruns / "1" / "aaa" / "artifacts"
    shutil.copytree(RUN, artifacts / RUN.name)  # an event file logged as an artifact
    assert _points_of(cli, mlruns, tmp_path / "s.db") == 3
    with Store(tmp_path / "s.db") as store:
        assert len(store.runs()) == 1
