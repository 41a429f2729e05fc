"""The store: migrations, idempotent upserts, chunked points, transactions, concurrency."""

from __future__ import annotations

import sqlite3
import threading

import numpy as np
import pytest

from openrlb_cli.errors import StoreError
from openrlb_cli.model import RunRecord, Series
from openrlb_cli.store import Store, codec, database, parse_filters


def _rec(ext: str = "a", n: int = 10, **kw) -> RunRecord:
    rec = RunRecord("test", ext, **kw)
    rec.add_points("m", Series(np.arange(n), np.arange(n) * 0.5, 1000.0 + np.arange(n)))
    return rec


def test_migrations_applied_and_recorded(db_path):
    with Store(db_path) as store:
        assert store.info()["schema_version"] == len(database.migration_files())
        names = [r[0] for r in store.conn.execute(
            "SELECT name FROM _sqlite_migrations WHERE migration_set = 'openrlb' ORDER BY id")]
    assert names == [p.stem for p in database.migration_files()]
    assert names[0] == "0001_initial"
    # reopening applies nothing new and keeps data
    with Store(db_path) as store:
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_newer_store_is_refused(db_path):
    Store(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
                 "VALUES ('openrlb', '9999_from_the_future', 'x')")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer openrlb"):
        Store(db_path)


def test_not_a_database_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open the store"):
        Store(bad)


def test_upsert_is_idempotent_and_merges(db_path):
    with Store(db_path) as store:
        rid = store.write_run(_rec(project="p", tags=["a"], config={"lr": 1}))
        rid2 = store.write_run(RunRecord("test", "a", seed=3, tags=["b"], config={"gamma": 0.9}))
        assert rid == rid2
        (run,) = store.runs()
        assert run.project == "p" and run.seed == 3
        assert run.tags == ["a", "b"]
        assert run.config == {"lr": 1, "gamma": 0.9}


def test_append_and_read_points_roundtrip(db_path):
    with Store(db_path) as store:
        rid = store.write_run(_rec(n=5))
        more = RunRecord("test", "a")
        more.add_points("m", Series([5, 6], [np.nan, np.inf]))
        store.write_run(more)
        s = store.load_series(rid, "m")
        np.testing.assert_array_equal(s.steps, np.arange(7))
        np.testing.assert_array_equal(s.values[:5], np.arange(5) * 0.5)
        assert np.isnan(s.values[5]) and np.isinf(s.values[6])
        assert np.isnan(s.wall_times[5]) and s.wall_times[4] == 1004.0
        (info,) = store.series_info([rid])
        assert (info.n_points, info.step_min, info.step_max) == (7, 0.0, 6.0)


def test_large_series_is_split_into_chunks(db_path, monkeypatch):
    monkeypatch.setattr(codec, "CHUNK_POINTS", 1000)
    with Store(db_path) as store:
        rid = store.write_run(_rec(n=4500))
        assert store.conn.execute("SELECT count(*) FROM chunks").fetchone()[0] == 5
        s = store.load_series(rid, "m")
        np.testing.assert_array_equal(s.steps, np.arange(4500))


def test_failed_transaction_leaves_nothing(db_path):
    with Store(db_path) as store:
        with pytest.raises(RuntimeError), store.transaction():
            store.upsert_run(_rec())
            store.append_points(1, "m", Series([1], [2]))
            raise RuntimeError("boom")
        assert store.info()["runs"] == 0 and store.info()["points"] == 0


def test_filters(db_path):
    with Store(db_path) as store:
        store.write_run(_rec("a", experiment="ppo", env="E1", seed=1, tags=["x", "y"], config={"lr": 0.1}))
        store.write_run(_rec("b", experiment="sac", env="E1", seed=2, tags=["x"], config={"lr": 0.2}))
        store.write_run(_rec("c", experiment="ppo", env="E2", seed=1, config={"lr": 0.1}))
        sel = lambda *w: sorted(r.external_id for r in store.runs(parse_filters(list(w))))  # noqa: E731
        assert sel("experiment=ppo") == ["a", "c"]
        assert sel("experiment=ppo", "experiment=sac", "env=E1") == ["a", "b"]
        assert sel("tag=x", "tag=y") == ["a"]
        assert sel("lr=0.1") == ["a", "c"]
        assert sel("seed=2") == ["b"]
        assert sel("nokey=1") == []


def test_reader_sees_committed_data_while_writer_writes(db_path):
    """WAL: a reader is never blocked by a writer holding an open transaction."""
    writer = Store(db_path)
    writer.write_run(_rec("a"))
    reader = Store(db_path)
    started, release = threading.Event(), threading.Event()

    def write() -> None:
        with writer.transaction():
            writer.upsert_run(_rec("b"))
            started.set()
            release.wait(5)

    t = threading.Thread(target=write)
    t.start()
    started.wait(5)
    assert len(reader.runs()) == 1  # does not block, sees only committed data
    release.set()
    t.join()
    assert len(reader.runs()) == 2
    writer.close()
    reader.close()


def test_delete_cascades(db_path):
    with Store(db_path) as store:
        rid = store.write_run(_rec("a", tags=["t"]))
        store.delete_runs([rid])
        for table in ("runs", "series", "chunks", "run_tags"):
            assert store.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0


def test_split_sql_handles_comments_and_semicolons():
    stmts = database.split_sql("-- a; comment\nCREATE TABLE t (x TEXT DEFAULT ';');\n\nSELECT 1;\n")
    assert len(stmts) == 2 and stmts[0].endswith("DEFAULT ';');")


def test_planner_statistics_follow_the_runs_table(db_path):
    """A store that wrote many runs gets `ANALYZE runs` on close, so "project P and env E" searches
    the env index instead of walking the whole project; read-only use and small stores write nothing."""
    plan_sql = ("EXPLAIN QUERY PLAN SELECT id FROM runs WHERE project IN (?) AND env IN (?) "
                "ORDER BY project, experiment, env")
    s = Store(db_path)
    with s.transaction():
        for i in range(1200):
            s.upsert_run(RunRecord(source="csv", external_id=f"r{i}", project="p", experiment=f"e{i % 3}",
                                   env=f"Env{i % 40}", seed=i))
    plan = " ".join(str(r) for r in s.conn.execute(plan_sql, ("p", "Env1")).fetchall())
    assert "runs_selection" in plan  # what SQLite picks without statistics
    s.close()
    s = Store(db_path)
    stat = s.conn.execute("SELECT stat FROM sqlite_stat1 WHERE tbl = 'runs' AND idx = 'runs_env'").fetchone()[0]
    assert stat.split() == ["1200", "30"]  # 1,200 runs, 30 per env
    assert "runs_env" in " ".join(str(r) for r in s.conn.execute(plan_sql, ("p", "Env1")).fetchall())
    assert not s.refresh_statistics()  # counts current: nothing to do
    with s.transaction():
        for i in range(1200, 1250):  # +4 %: still current
            s.upsert_run(RunRecord(source="csv", external_id=f"r{i}", project="p", env="Env0"))
    assert not s.refresh_statistics()
    s.close()


def test_small_or_read_only_stores_get_no_statistics(db_path):
    s = Store(db_path)
    s.write_run(_rec("a"))
    s.close()
    s = Store(db_path)
    s.runs()
    s.close()
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone() is None
    conn.close()


def test_closing_twice_is_allowed(db_path):
    s = Store(db_path)
    s.write_run(_rec("a"))
    s.close()
    s.close()
