"""`openrlb export --format parquet` and `openrlb ingest DIR`: checked point by point with DuckDB."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import duckdb
import numpy as np
import pytest

from openrlb_cli.model import RunRecord, Series
from openrlb_cli.store import Store

RUN_FIELDS = ("uid", "project", "name", "experiment", "env", "seed", "state", "user", "url", "source",
              "external_id", "created_at", "updated_at", "tags", "config", "summary")


def _records() -> list[RunRecord]:
    """Runs with what a real store holds, and the awkward cases: NaN values, unknown wall times,
    fractional and irregular steps, `/` and spaces in partition values, no env, no seed, a run
    without points, several chunks."""
    rng = np.random.default_rng(7)
    recs = []
    for i, (project, env) in enumerate([("cleanrl", "ALE/Pong-v5"), ("cleanrl", "Hopper-v4"),
                                        ("my project", "x=1%"), ("cleanrl", None)]):
        for seed in (1, 2, None):
            rec = RunRecord("wandb" if i % 2 else "local", f"run-{i}-{seed}", project=project, env=env,
                            experiment=f"ppo{i % 2}", seed=seed, name=f"n{i}{seed}", state="finished",
                            user="u", url=f"https://x/{i}", created_at=1.7e9 + i, updated_at=1.7e9 + 10 * i,
                            tags=["v1", f"t{i}"], config={"lr": 0.1 * (i + 1), "net": {"sizes": [64, 64]}},
                            summary={"best": float(i)})
            n = 50 + 10 * i
            steps = np.cumsum(rng.integers(1, 100, n)).astype(float) + 0.5 * (i == 2)
            vals = rng.normal(size=n)
            vals[3] = np.nan
            walls = 1.7e9 + np.arange(n, dtype=float)
            walls[:5] = np.nan
            rec.add_points("charts/episodic_return", Series(steps, vals, walls))
            rec.add_points("losses/value", Series(np.arange(7) * 10.0, np.linspace(1, 0, 7)))  # evenly spaced
            recs.append(rec)
    recs.append(RunRecord("local", "empty", project="cleanrl", env="Hopper-v4", experiment="ppo1", seed=9))
    return recs


@pytest.fixture
def store_path(tmp_path):
    path = tmp_path / "src.db"
    with Store(path) as store:
        for rec in _records():
            store.write_run(rec)
        big = RunRecord("local", "big", project="cleanrl", env="Hopper-v4", experiment="ppo1", seed=3)
        big.add_points("charts/episodic_return", Series(np.arange(300_000.0), np.sin(np.arange(300_000.0))))
        store.write_run(big)  # two chunks
    return path


def _store_points(path) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    with Store(path) as store:
        runs = store.runs()
        out = {}
        for s in store.series_info([r.id for r in runs]):
            uid = next(r.uid for r in runs if r.id == s.run_id)
            series = store.load_series(s.run_id, s.key)
            out[(uid, s.key)] = (series.steps, series.values, series.wall_times)
    return out


def _store_runs(path) -> dict[str, dict]:
    with Store(path) as store:
        return {r.uid: {f: getattr(r, f) for f in RUN_FIELDS} for r in store.runs()}


def _py(x):
    """DuckDB's fetchnumpy gives NULL as numpy's masked constant."""
    return None if x is np.ma.masked else x


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


def test_duckdb_reads_every_point_and_run(cli, store_path, tmp_path):
    out = tmp_path / "ds"
    code, _, err = cli("export", "--format", "parquet", "-o", str(out), db=store_path)
    assert code == 0, err
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT project, experiment, env, seed, run, metric, step, value, wall_time FROM read_parquet("
        f"'{out}/points/**/*.parquet', hive_partitioning = true, hive_types = {{'project': VARCHAR, 'env': VARCHAR}})"
    ).fetchnumpy()
    runs = _store_runs(store_path)
    expected = _store_points(store_path)
    assert len(rows["run"]) == sum(len(s) for s, _, _ in expected.values())
    # metadata columns of every point are its run's
    for project, experiment, env, seed, uid in zip(rows["project"], rows["experiment"], rows["env"], rows["seed"],
                                                   rows["run"], strict=True):
        r = runs[uid]
        assert (project, experiment, _py(env)) == (r["project"], r["experiment"], r["env"])
        assert (None if _py(seed) is None else int(seed)) == r["seed"]
    # every point, in order, with NaN values kept and unknown wall times as NULL
    wall = np.ma.filled(rows["wall_time"].astype(float), np.nan)
    got: dict[tuple[str, str], list[int]] = {}
    for i, key in enumerate(zip(rows["run"], rows["metric"], strict=True)):
        got.setdefault(key, []).append(i)
    assert set(got) == set(expected)
    for key, idx in got.items():
        steps, values, walls = expected[key]
        assert _same(rows["step"][idx], steps) and _same(rows["value"][idx], values) and _same(wall[idx], walls)
    # the runs table: one row per run (the one without points too), config as JSON text
    table = con.execute(f"SELECT run, project, env, seed, source, external_id, tags, config, summary, n_points "
                        f"FROM read_parquet('{out}/runs/*.parquet')").fetchall()
    assert {row[0] for row in table} == set(runs)
    for uid, project, env, seed, source, external_id, tags, config, summary, n_points in table:
        r = runs[uid]
        assert (project, env, seed, source, external_id, tags) == (
            r["project"], r["env"], r["seed"], r["source"], r["external_id"], r["tags"])
        assert json.loads(config) == r["config"] and json.loads(summary) == r["summary"]
        assert n_points == sum(len(v[0]) for k, v in expected.items() if k[0] == uid)
    # DuckDB can join the two on `run` and filter on config
    (n,) = con.execute(f"SELECT count(*) FROM read_parquet('{out}/points/**/*.parquet', hive_partitioning = true) p "
                       f"JOIN read_parquet('{out}/runs/*.parquet') r USING (run) "
                       f"WHERE json_extract(r.config, '$.lr')::DOUBLE > 0.25").fetchone()
    assert n == sum(len(v[0]) for k, v in expected.items() if runs[k[0]]["config"].get("lr", 0) > 0.25)
    manifest = json.loads((out / "openrlb_dataset.json").read_text())
    assert manifest["format"] == "openrlb-parquet" and manifest["runs"] == len(runs)
    assert sorted(p.name for p in (out / "points" / "project=cleanrl").iterdir()) == [
        "env=ALE%2FPong-v5", "env=Hopper-v4", "env=__HIVE_DEFAULT_PARTITION__"]


def test_round_trip_same_runs_and_points(cli, store_path, tmp_path):
    out = tmp_path / "ds"
    assert cli("export", "--format", "parquet", "-o", str(out), db=store_path)[0] == 0
    copy = tmp_path / "copy.db"
    code, _, err = cli("ingest", str(tmp_path / "ds"), db=copy)
    assert code == 0, err
    assert _store_runs(copy) == _store_runs(store_path)  # same uids, identity, metadata, tags, config
    a, b = _store_points(store_path), _store_points(copy)
    assert set(a) == set(b)
    for key in a:
        assert all(_same(x, y) for x, y in zip(a[key], b[key], strict=True)), key
    # ingesting it again changes nothing; a changed dataset replaces (never doubles) series
    assert cli("ingest", str(out), db=copy)[0] == 0
    (out / "openrlb_dataset.json").write_text((out / "openrlb_dataset.json").read_text() + " ")
    assert cli("ingest", str(out), db=copy)[0] == 0
    assert _store_points(copy).keys() == a.keys()
    with Store(copy) as s1, Store(store_path) as s2:
        assert s1.info()["points"] == s2.info()["points"]


def test_export_a_selection_and_one_metric(cli, store_path, tmp_path):
    out = tmp_path / "ds"
    code, _, err = cli("export", "env=Hopper-v4", "--format", "parquet", "--metric", "losses/value", "-o", str(out),
                       db=store_path)
    assert code == 0, err
    rows = duckdb.sql(f"SELECT DISTINCT env, metric FROM read_parquet('{out}/points/**/*.parquet', "
                      "hive_partitioning = true)").fetchall()
    assert rows == [("Hopper-v4", "losses/value")]
    code, _, err = cli("export", "--format", "parquet", "--metric", "nope", "-o", str(tmp_path / "x"), db=store_path)
    assert code == 1 and "has metric 'nope'" in err and not (tmp_path / "x").exists()


def test_export_never_overwrites_and_leaves_nothing_half_written(cli, store_path, tmp_path, monkeypatch):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    code, _, err = cli("export", "--format", "parquet", "-o", str(busy), db=store_path)
    assert code == 1 and "not an empty directory" in err and [p.name for p in busy.iterdir()] == ["keep.txt"]
    code, _, err = cli("export", "--format", "parquet", db=store_path)
    assert code == 1 and "-o DIR" in err

    from openrlb_cli.dataset import export

    calls = []

    def failing(*args, **kwargs):
        if calls:
            raise OSError(28, "No space left on device")
        calls.append(1)
        return real(*args, **kwargs)

    stale = tmp_path / ".ds.partial-999999999"  # a killed export's leftovers (no such process)
    (stale / "runs").mkdir(parents=True)
    live = tmp_path / f".ds.partial-{os.getpid()}-x"  # not a pid: not ours to delete
    live.mkdir()
    real = export._write_partition
    monkeypatch.setattr(export, "_write_partition", failing)
    code, _, err = cli("export", "--format", "parquet", "-o", str(tmp_path / "ds"), db=store_path)
    assert code == 1 and err.startswith("error: cannot write the Parquet dataset") and "No space left" in err
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("src.db")) == sorted(["busy", live.name])


def test_a_corrupt_dataset_is_skipped_with_one_line_and_stores_nothing(cli, store_path, tmp_path):
    out = tmp_path / "ds"
    assert cli("export", "--format", "parquet", "-o", str(out), db=store_path)[0] == 0
    victim = next((out / "points").rglob("*.parquet"))
    victim.write_bytes(victim.read_bytes()[:100])
    copy = tmp_path / "copy.db"
    code, _, err = cli("ingest", str(out), db=copy)
    assert code == 2
    assert [ln for ln in err.splitlines() if ln.startswith("warning: skipped")] == [
        ln for ln in err.splitlines() if "cannot read as Parquet" in ln]
    with Store(copy) as store:
        assert store.info()["runs"] == 0 and store.info()["points"] == 0


def test_without_pyarrow_one_clear_error(store_path, tmp_path):
    """pyarrow hidden (as when the `parquet` extra is not installed): export and ingest say what to install."""
    probe = ("import sys; sys.modules['pyarrow'] = None; from openrlb_cli.cli import run; "
             "sys.exit(run(sys.argv[1:]))")

    def run(*argv):
        return subprocess.run([sys.executable, "-c", probe, "--db", str(store_path), *argv], capture_output=True,
                              text=True, timeout=60)

    proc = run("export", "--format", "parquet", "-o", str(tmp_path / "ds"))
    assert proc.returncode == 1 and proc.stdout == "" and not (tmp_path / "ds").exists()
    assert proc.stderr.startswith("error: Parquet needs pyarrow") and "pip install 'openrlb[parquet]'" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    # a dataset (written with pyarrow) that an install without it is asked to ingest
    from openrlb_cli.cli import run as run_inprocess

    assert run_inprocess(["--db", str(store_path), "-q", "export", "--format", "parquet", "-o",
                          str(tmp_path / "ds")]) == 0
    proc = run("ingest", str(tmp_path / "ds"))
    assert proc.returncode == 2 and "openrlb[parquet]" in proc.stderr and "Traceback" not in proc.stderr


def test_a_dataset_reshaped_by_duckdb_ingests(cli, store_path, tmp_path):
    """DuckDB filters the exported points and writes its own Hive-partitioned copy: it ingests, each run
    keeping its identity, with exactly the points DuckDB kept; a run missing from the runs table
    becomes a run of its own."""
    out, copy_dir = tmp_path / "ds", tmp_path / "reshaped"
    assert cli("export", "--format", "parquet", "-o", str(out), db=store_path)[0] == 0
    (copy_dir / "runs").mkdir(parents=True)
    con = duckdb.connect()
    con.execute(f"COPY (SELECT * FROM read_parquet('{out}/points/**/*.parquet', hive_partitioning = true) "
                f"WHERE step <= 500) TO '{copy_dir}/points' (FORMAT parquet, PARTITION_BY (project, env))")
    dropped = con.execute(f"SELECT run FROM read_parquet('{out}/runs/*.parquet') WHERE external_id = 'run-0-1'"
                          ).fetchone()[0]
    con.execute(f"COPY (SELECT * FROM read_parquet('{out}/runs/*.parquet') WHERE run <> '{dropped}') "
                f"TO '{copy_dir}/runs/runs.parquet' (FORMAT parquet)")
    db = tmp_path / "reshaped.db"
    code, _, err = cli("ingest", str(copy_dir), db=db)
    assert code == 0, err
    original, runs = _store_points(store_path), _store_runs(store_path)
    got, got_runs = _store_points(db), _store_runs(db)
    kept = {k: tuple(a[v[0] <= 500] for a in v) for k, v in original.items() if (v[0] <= 500).any()}
    (stray,) = [uid for uid in got_runs if uid not in runs]
    assert got_runs[stray]["source"] == "parquet" and got_runs[stray]["name"] == dropped
    assert got_runs[stray]["env"] == runs[dropped]["env"] and got_runs[stray]["seed"] == runs[dropped]["seed"]
    renamed = {(dropped if uid == stray else uid, key): v for (uid, key), v in got.items()}
    assert set(renamed) == set(kept)
    for key, v in kept.items():
        assert all(_same(x, y) for x, y in zip(v, renamed[key], strict=True)), key
    for uid in got_runs:
        if uid != stray:
            assert got_runs[uid] == runs[uid]


def test_a_run_split_across_partitions_is_an_error(cli, store_path, tmp_path):
    out = tmp_path / "ds"
    assert cli("export", "--format", "parquet", "-o", str(out), db=store_path)[0] == 0
    a, b = sorted(p for p in (out / "points" / "project=cleanrl").iterdir())[:2]
    duckdb.execute(f"COPY (SELECT * FROM read_parquet('{a}/part-0.parquet', hive_partitioning = false) LIMIT 3) "
                   f"TO '{b}/extra.parquet' (FORMAT parquet)")
    code, _, err = cli("ingest", str(out), db=tmp_path / "copy.db")
    assert code == 2 and "has points in two partitions" in err
    with Store(tmp_path / "copy.db") as store:
        assert store.info()["runs"] == 0  # the dataset is one unit: nothing of it is kept


def test_format_flags(cli, store_path, tmp_path):
    """--format parquet on ingest finds the dataset; csv/jsonl export still need one --metric."""
    out = tmp_path / "ds"
    assert cli("export", "--format", "parquet", "-o", str(out), db=store_path)[0] == 0
    code, _, err = cli("ingest", "--format", "parquet", str(tmp_path), db=tmp_path / "copy.db")
    assert code == 0, err
    assert _store_runs(tmp_path / "copy.db") == _store_runs(store_path)
    code, _, err = cli("export", "--format", "csv", db=store_path)
    assert code == 1 and "give --metric KEY" in err
    code, _, err = cli("export", "--format", "xlsx", db=store_path)
    assert code == 1 and "csv, jsonl or parquet" in err
