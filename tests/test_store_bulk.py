"""Bulk writes (store.bulk) store exactly what one-at-a-time writes store: the same rows, the same
chunk bytes, for every encoding case (spaced or not, float32 or not, NaN/inf, no wall times)."""

from __future__ import annotations

import numpy as np

from openrlb_cli.model import RunRecord, Series
from openrlb_cli.store import Store, bulk


def _cases() -> list[Series]:
    rng = np.random.default_rng(3)
    out = []
    for n in (1, 2, 3, 200, 200, 200):
        for variant in range(10):
            steps = np.arange(n, dtype=float) * 5000 + 7
            vals = np.round(rng.normal(size=n), 4)
            walls = 1.7e9 + steps / 100
            if variant == 1:
                steps = np.cumsum(rng.integers(1, 9, size=n)).astype(float)
            if variant == 2:
                vals = vals.astype(np.float32).astype(float)
            if variant == 3:
                walls = np.full(n, np.nan)
            if variant == 4 and n > 1:
                steps[-1] = np.nan
            if variant == 5:
                steps[:] = np.inf
            if variant == 6:
                vals[0] = -0.0
                vals[-1] = np.nan
            if variant == 7 and n > 2:
                steps = np.arange(n) * 0.1  # spaced in decimal but not bit for bit
            if variant == 8:
                walls[-1] = np.nan
            out.append(Series(steps, vals, walls))
    return out


def _dump(db) -> tuple[list, list, list]:
    with Store(db) as s:
        runs = s.conn.execute("SELECT id, uid, project, name, experiment, env, seed, source, external_id, config, "
                              "summary FROM runs ORDER BY id").fetchall()
        series = s.conn.execute("SELECT id, run_id, key, n_points, n_chunks, step_min, step_max, last_value, "
                                "last_wall_time FROM series ORDER BY id").fetchall()
        chunks = s.conn.execute("SELECT series_id, seq, n, step_min, step_max, steps, vals, walls FROM chunks "
                                "ORDER BY series_id, seq").fetchall()
    return runs, series, chunks


def test_bulk_writes_equal_one_at_a_time(tmp_path):
    cases = _cases()
    recs = [RunRecord("local", f"r{i}", experiment="a", env="E-v0", seed=i, tags=["t"], config={"lr": i},
                      series={"m": s, "empty": Series.empty()}) for i, s in enumerate(cases)]
    with Store(tmp_path / "one.db") as s, s.transaction():
        s.write_run(RunRecord("local", "before", series={"m": cases[0]}))
        for rec in recs:
            run_id = s.upsert_run(rec)
            for key, series in rec.series.items():
                s.append_points(run_id, key, series)
    with Store(tmp_path / "bulk.db") as s, s.transaction():
        s.write_run(RunRecord("local", "before", series={"m": cases[0]}))
        ids = bulk.upsert_runs(s, recs)
        assert all(created for _, created in ids)
        bulk.add_new_series(s, [(run_id, k, ser) for (run_id, _), rec in zip(ids, recs, strict=True)
                                for k, ser in rec.series.items()])
        again = bulk.upsert_runs(s, recs[:3])  # existing runs: found, not created
        assert again == [(run_id, False) for run_id, _ in ids[:3]]
    one, many = _dump(tmp_path / "one.db"), _dump(tmp_path / "bulk.db")
    assert one[1] == many[1] and one[2] == many[2]
    strip = lambda rows: [r[:1] + r[2:] for r in rows]  # noqa: E731 - uid is a hash of the same key
    assert strip(one[0]) == strip(many[0]) and [r[1] for r in one[0]] == [r[1] for r in many[0]]
    with Store(tmp_path / "bulk.db") as s:
        for (run_id, _), ser in zip(ids, cases, strict=True):
            got = s.load_series(run_id, "m")
            assert got.steps.tobytes() == ser.steps.tobytes() and got.values.tobytes() == ser.values.tobytes()
