"""MLflow SQLite stores written by MLflow's own client, read by openrlb and compared with MlflowClient.

MLflow is a test dependency: each store is created here with `MlflowClient("sqlite:///…")` (MLflow's
own schema migrations), and what openrlb ingests is compared run by run, metric by metric, with what
`MlflowClient.get_metric_history` / `get_run` return from the same file.
"""

from __future__ import annotations

import math
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from openrlb_cli.errors import InputError
from openrlb_cli.ingest.base import ReadOptions
from openrlb_cli.ingest.mlflow.sqlite_store import MLFLOW_SQLITE
from openrlb_cli.ingest.pipeline import discover, ingest
from openrlb_cli.ingest.registry import detect
from openrlb_cli.store import Store

mlflow = pytest.importorskip("mlflow")


def _client(db: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{db}")


def _log_curve(client, run_id: str, key: str, steps, values, t0: int = 1_700_000_000_000) -> None:
    from mlflow.entities import Metric

    metrics = [Metric(key, float(v), t0 + 10 * int(s), int(s)) for s, v in zip(steps, values, strict=True)]
    for i in range(0, len(metrics), 500):
        client.log_batch(run_id, metrics=metrics[i:i + 500])


@pytest.fixture(scope="module")
def made_store(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A store with two experiments, three live runs (one failed) and one deleted run."""
    db = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    client = _client(db)
    ppo = client.create_experiment("CartPole-v1-ppo")
    dqn = client.create_experiment("dqn")
    ids: dict[str, str] = {}
    for seed in (1, 2):
        run = client.create_run(ppo, run_name=f"ppo-seed{seed}", tags={"algo": "ppo"})
        rid = ids[f"ppo{seed}"] = run.info.run_id
        client.log_param(rid, "env_id", "CartPole-v1")
        client.log_param(rid, "seed", str(seed))
        client.log_param(rid, "lr", "0.00025")
        steps = np.arange(300)
        _log_curve(client, rid, "episodic_return", steps, 500 * (1 - np.exp(-steps / (40 + 10 * seed))))
        _log_curve(client, rid, "charts/sps", steps[::10], 1000 + steps[::10] + seed)
        client.set_terminated(rid, "FINISHED")
    run = client.create_run(dqn, run_name="dqn-bad")
    rid = ids["dqn"] = run.info.run_id
    client.log_param(rid, "env", "Pong")
    for step, v in enumerate([1.0, math.nan, math.inf, -math.inf, 2.5]):
        client.log_metric(rid, "loss", v, timestamp=1_700_000_000_000 + step, step=step)
    client.set_terminated(rid, "FAILED")
    gone = client.create_run(dqn, run_name="deleted")
    client.log_metric(gone.info.run_id, "loss", 3.0, step=0)
    client.delete_run(gone.info.run_id)
    ids["deleted"] = gone.info.run_id
    return db, ids


def _copy(made_store, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    db, ids = made_store
    (tmp_path / "srv").mkdir()
    dst = tmp_path / "srv" / "mlflow.db"
    shutil.copyfile(db, dst)
    return dst, ids


def _assert_matches_mlflow(store: Store, db: Path) -> int:
    """Every live run, param, tag and metric point in `store` equals what MlflowClient reads from `db`."""
    client = _client(db)
    exps = {e.experiment_id: e.name for e in client.search_experiments()}
    expected_runs = client.search_runs(list(exps))
    runs = {r.config["mlflow_run_id"]: r for r in store.runs()}
    assert set(runs) == {r.info.run_id for r in expected_runs}
    points = 0
    for ref in expected_runs:
        got = runs[ref.info.run_id]
        assert got.project == exps[ref.info.experiment_id] and got.name == ref.info.run_name
        assert got.state == {"FINISHED": "finished", "FAILED": "crashed"}[ref.info.status]
        assert got.created_at == ref.info.start_time / 1000 and got.updated_at == ref.info.end_time / 1000
        assert {k: str(got.config[k]) for k in ref.data.params} == ref.data.params
        assert got.config["mlflow_tags"] == ref.data.tags
        for key in ref.data.metrics:
            hist = sorted(client.get_metric_history(ref.info.run_id, key), key=lambda m: (m.step, m.timestamp))
            s = store.load_series(got.id, key)
            order = np.lexsort((s.wall_times, s.steps))
            assert s.steps[order].tolist() == [m.step for m in hist]
            assert s.wall_times[order].tolist() == [m.timestamp / 1000 for m in hist]
            np.testing.assert_array_equal(s.values[order], [m.value for m in hist])
            points += len(hist)
    return points


def test_detect_and_discover(made_store, tmp_path):
    db, _ = _copy(made_store, tmp_path)
    assert detect(db) == "mlflow-sqlite"
    units, skipped = discover([tmp_path])
    assert [(u.fmt, u.paths) for u in units] == [("mlflow-sqlite", [db])] and not skipped
    with Store(tmp_path / "ours.db") as store:  # openrlb's own store is SQLite too, but not MLflow
        store.runs()
    assert detect(tmp_path / "ours.db") is None


def test_ingest_equals_mlflow_client_and_is_idempotent(made_store, tmp_path):
    db, ids = _copy(made_store, tmp_path)
    before = db.read_bytes()
    with Store(tmp_path / "s.db") as store:
        summary = ingest(store, [tmp_path / "srv"])
        assert not summary.skipped and summary.new_runs == 3
        n = _assert_matches_mlflow(store, db)
        assert summary.points == n == 2 * (300 + 30) + 5
        (bad,) = [r for r in store.runs() if r.name == "dqn-bad"]
        loss = store.load_series(bad.id, "loss").values
        assert loss[0] == 1.0 and math.isnan(loss[1]) and loss[2] == 1.7976931348623157e308 and loss[4] == 2.5
        assert bad.env == "Pong" and bad.state == "crashed"
        (ppo1,) = [r for r in store.runs() if r.name == "ppo-seed1"]
        assert (ppo1.env, ppo1.seed, ppo1.config["lr"], ppo1.project) == ("CartPole-v1", 1, 0.00025, "CartPole-v1-ppo")
        assert "algo=ppo" in ppo1.tags and ppo1.summary["charts/sps"] == 1000 + 290 + 1
        again = ingest(store, [tmp_path / "srv"])
        assert again.points == 0 and again.unchanged == 1
    assert db.read_bytes() == before  # read-only: the MLflow store is untouched


def test_incremental_while_mlflow_writes_in_wal_mode(made_store, tmp_path):
    db, ids = _copy(made_store, tmp_path)
    with sqlite3.connect(db) as con:  # like a busy server's store: new rows land in mlflow.db-wal first
        assert con.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    client = _client(db)
    with Store(tmp_path / "s.db") as store:
        first = ingest(store, [db])
        _log_curve(client, ids["ppo1"], "episodic_return", range(300, 350), [490.0] * 50)
        _log_curve(client, ids["ppo2"], "new/metric", range(5), range(5))
        assert Path(str(db) + "-wal").is_file()
        second = ingest(store, [db])
        assert second.points == 55 and not second.skipped
        assert first.points + second.points == _assert_matches_mlflow(store, db)
        assert ingest(store, [db]).points == 0


def test_deleted_rows_or_replaced_store_re_read_everything(made_store, tmp_path):
    db, ids = _copy(made_store, tmp_path)
    res = MLFLOW_SQLITE.read(db, 0, {}, ReadOptions())
    with sqlite3.connect(db) as con:
        con.execute("DELETE FROM metrics WHERE run_uuid = ? AND step < 100", (ids["ppo1"],))
    again = MLFLOW_SQLITE.read(db, 0, res.state, ReadOptions())
    assert again.replace and any("re-reading" in w for w in again.warnings)
    with Store(tmp_path / "s.db") as store:
        ingest(store, [db])
        with sqlite3.connect(db) as con:
            con.execute("DELETE FROM metrics WHERE run_uuid = ? AND key = 'charts/sps'", (ids["ppo2"],))
        ingest(store, [db])
        (ppo2,) = [r for r in store.runs() if r.name == "ppo-seed2"]
        assert len(store.load_series(ppo2.id, "episodic_return")) == 300
        _assert_matches_mlflow(store, db)


def test_not_an_mlflow_store(tmp_path):
    p = tmp_path / "other.db"
    with sqlite3.connect(p) as con:
        con.execute("CREATE TABLE runs (x)")
    assert not MLFLOW_SQLITE.detect(p)
    with pytest.raises(InputError, match="not an MLflow store"):
        MLFLOW_SQLITE.read(p, 0, {}, ReadOptions())
    garbage = tmp_path / "g.db"
    garbage.write_bytes(b"SQLite format 3\x00" + b"\x07" * 5000)
    assert not MLFLOW_SQLITE.detect(garbage)
    with pytest.raises(InputError, match="g.db"):
        MLFLOW_SQLITE.read(garbage, 0, {}, ReadOptions())
