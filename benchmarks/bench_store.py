"""Store speed: chunked-BLOB points vs the row-per-point `executemany` baseline, in one run.

    python benchmarks/bench_store.py [--points 10000000] [--runs 1000]

Prints load and read throughput for both layouts and their ratio. The baseline is what a naive
tracker does: one SQLite row per point, inserted with executemany and read back with a SELECT.
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np

from openrlb_cli.model import RunRecord, Series
from openrlb_cli.store import Store


def baseline(path: Path, steps: np.ndarray, values: np.ndarray, walls: np.ndarray, n_runs: int) -> tuple[float, float]:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE points (series_id INTEGER, step REAL, value REAL, wall REAL)")
    t0 = time.perf_counter()
    per_run = len(steps) // n_runs
    with conn:
        for r in range(n_runs):
            sl = slice(r * per_run, (r + 1) * per_run)
            rows = zip([r] * per_run, steps[sl].tolist(), values[sl].tolist(), walls[sl].tolist(), strict=True)
            conn.executemany("INSERT INTO points VALUES (?, ?, ?, ?)", rows)
        conn.execute("CREATE INDEX points_series ON points (series_id, step)")
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    total = 0
    for r in range(n_runs):
        rows = conn.execute("SELECT step, value, wall FROM points WHERE series_id = ? ORDER BY rowid", (r,)).fetchall()
        arr = np.array(rows, dtype=np.float64)
        total += len(arr)
    read = time.perf_counter() - t0
    assert total == n_runs * per_run
    conn.close()
    return load, read


def ours(
    path: Path, steps: np.ndarray, values: np.ndarray, walls: np.ndarray, n_runs: int
) -> tuple[float, float, float]:
    per_run = len(steps) // n_runs
    with Store(path) as store:
        # one big log: a single run with all points
        t0 = time.perf_counter()
        store.write_run(RunRecord("bench", "big", series={"m": Series(steps, values, walls)}))
        big = time.perf_counter() - t0
        t0 = time.perf_counter()
        with store.transaction():
            for r in range(n_runs):
                sl = slice(r * per_run, (r + 1) * per_run)
                rid = store.upsert_run(RunRecord("bench", f"r{r}", experiment="x", env="E", seed=r))
                store.append_points(rid, "charts/episodic_return", Series(steps[sl], values[sl], walls[sl]))
        many = time.perf_counter() - t0
        ids = [r.id for r in store.runs() if r.external_id != "big"]
        t0 = time.perf_counter()
        got = store.load_many(ids, "charts/episodic_return")
        read = time.perf_counter() - t0
        assert sum(len(s) for s in got.values()) == n_runs * per_run
    return big, many, read


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--points", type=int, default=10_000_000)
    ap.add_argument("--runs", type=int, default=1000)
    args = ap.parse_args()
    n = args.points
    rng = np.random.default_rng(0)
    steps = np.arange(n, dtype=np.float64)
    values = rng.normal(size=n).cumsum()
    walls = 1.7e9 + steps / 1000.0
    with tempfile.TemporaryDirectory() as tmp:
        b_load, b_read = baseline(Path(tmp) / "baseline.db", steps, values, walls, args.runs)
        big, many, read = ours(Path(tmp) / "ours.db", steps, values, walls, args.runs)
    m = n / 1e6
    print(f"points: {n:,} ({args.runs} runs x {n // args.runs:,} for the multi-run cases)")
    print(f"baseline row-per-point executemany: load {m / b_load:6.2f} M pts/s   read {m / b_read:6.2f} M pts/s")
    print(f"openrlb one {m:g}M-point log: load {m / big:6.2f} M pts/s ({b_load / big:.1f}x baseline)")
    print(f"openrlb {args.runs} runs: load {m / many:6.2f} M pts/s ({b_load / many:.1f}x baseline)")
    print(f"openrlb read 1 metric x {args.runs} runs: {m / read:6.2f} M pts/s ({b_read / read:.1f}x baseline)")


if __name__ == "__main__":
    main()
