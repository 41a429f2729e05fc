"""Parquet export and its ingest at paper scale, against the CSV export of the same points.

Builds a store like Open RL Benchmark's Atari corpus (default 25,000 runs = 57 envs x 15
algorithms x ~29 seeds, 200 evenly spaced points each, written through the store API), then times,
each as a fresh `openrlb` process (start-up included):

* `export --format parquet -o DIR` (every metric), against `export --format csv --metric value`
  of the same points measured in the same run (the baseline: pandas' to_csv);
* `ingest DIR` into a new store, and the round trip's run and point counts;
* DuckDB reading the whole dataset back (a count and an aggregate), if duckdb is installed.

    python benchmarks/bench_parquet.py [--runs 25000] [--points 200] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from openrlb_cli.model import RunRecord, Series  # noqa: E402
from openrlb_cli.store import Store  # noqa: E402

N_ENVS, N_ALGOS = 57, 15
CLI = [sys.executable, "-c", "import sys; from openrlb_cli.cli import main; sys.argv[0] = 'openrlb'; main()"]


def build(db: Path, n_runs: int, n_points: int) -> int:
    rng = np.random.default_rng(0)
    steps = np.arange(n_points) * 5000.0
    with Store(db) as store, store.transaction():
        for i in range(n_runs):
            env, algo, seed = i % N_ENVS, (i // N_ENVS) % N_ALGOS, i // (N_ENVS * N_ALGOS)
            rec = RunRecord("local", f"bench#{i}", project="atari", experiment=f"algo{algo:02d}",
                            env=f"Game{env:02d}NoFrameskip-v4", seed=seed, config={"lr": 2.5e-4, "algo": algo})
            values = np.round((algo + 1) * 50 * (1 - np.exp(-steps / 3e5)) + rng.normal(0, 10, n_points), 4)
            rec.add_points("value", Series(steps, values, 1.7e9 + steps / 1000))
            store.write_run(rec)
    return n_runs * n_points


def timed(*argv: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([*CLI, *argv], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=25_000)
    ap.add_argument("--points", type=int, default=200)
    ap.add_argument("--keep", type=Path, help="work in this directory and keep it")
    a = ap.parse_args()
    work = a.keep or Path(tempfile.mkdtemp(prefix="bench_parquet_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        db, ds, csv, copy = work / "src.db", work / "ds", work / "points.csv", work / "copy.db"
        for p in (db, copy, csv):
            p.unlink(missing_ok=True)
        shutil.rmtree(ds, ignore_errors=True)
        t0 = time.perf_counter()
        n = build(db, a.runs, a.points)
        print(f"store: {a.runs:,} runs x {a.points} points = {n:,} points, built in {time.perf_counter() - t0:.1f} s")
        t_pq = timed("--db", str(db), "-q", "export", "--format", "parquet", "-o", str(ds))
        t_csv = timed("--db", str(db), "-q", "export", "--format", "csv", "--metric", "value", "-o", str(csv))
        size = sum(f.stat().st_size for f in ds.rglob("*") if f.is_file())
        print(f"export --format parquet  {t_pq:6.2f} s  {n / t_pq / 1e6:5.2f} M points/s  {size / 2**20:6.1f} MiB")
        print(f"export --format csv      {t_csv:6.2f} s  {n / t_csv / 1e6:5.2f} M points/s  "
              f"{csv.stat().st_size / 2**20:6.1f} MiB   (baseline; parquet is {t_csv / t_pq:.1f}x faster)")
        t_in = timed("--db", str(copy), "-q", "ingest", str(ds))
        with Store(copy) as store:
            got = store.info()
        print(f"ingest DIR (parquet)     {t_in:6.2f} s  {n / t_in / 1e6:5.2f} M points/s  "
              f"round trip: {got['runs']:,} runs, {got['points']:,} points "
              f"({'same' if (got['runs'], got['points']) == (a.runs, n) else 'DIFFERENT'})")
        try:
            import duckdb
        except ImportError:
            return
        t0 = time.perf_counter()
        con = duckdb.connect()
        (count,) = con.execute(f"SELECT count(*) FROM read_parquet('{ds}/points/**/*.parquet')").fetchone()
        con.execute(f"SELECT env, experiment, avg(value) FROM read_parquet('{ds}/points/**/*.parquet', "
                    "hive_partitioning = true) WHERE step >= 900000 GROUP BY ALL").fetchall()
        print(f"duckdb count + aggregate {time.perf_counter() - t0:6.2f} s  ({count:,} rows)")
    finally:
        if a.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
