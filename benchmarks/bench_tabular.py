"""Throughput of the generic CSV reader on a big long-format file (run,step,metric...).

Writes a CSV of `--points` points (rows x metrics) into a temporary directory, reads it with
`tabular.CSV.read` (all points in one result) and with `tabular.CSV.iter_read` (pieces of about
64 MB, each dropped after counting, as the ingest pipeline writes them) and prints points/s and peak
memory. The reader streams the file in blocks, so one `read` holds the returned arrays (24 bytes per
point) plus one block's worth of pandas frames; `iter_read` holds one piece.

    python benchmarks/bench_tabular.py                 # 10 M points, 1 metric per row
    python benchmarks/bench_tabular.py --metrics 4     # 10 M points as 2.5 M rows x 4 metrics
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openrlb_cli.ingest.base import ReadOptions  # noqa: E402
from openrlb_cli.ingest.tabular import readers as tabular  # noqa: E402


def write_csv(path: Path, points: int, metrics: int, runs: int, seed: int = 0) -> int:
    """Long CSV: `runs` runs one after another, each with steps 0, 10, 20, ...; returns the row count."""
    rows = points // metrics
    per_run = rows // runs
    rng = np.random.default_rng(seed)
    names = [f"metric_{i}" for i in range(metrics)]
    with open(path, "w", newline="") as f:
        f.write(",".join(["run", "step", *names]) + "\n")
        for r in range(runs):
            df = pd.DataFrame({"run": f"run_{r}", "step": np.arange(per_run) * 10})
            for name in names:
                df[name] = rng.normal(size=per_run)
            df.to_csv(f, header=False, index=False)
    return per_run * runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=10_000_000)
    ap.add_argument("--metrics", type=int, default=1)
    ap.add_argument("--runs", type=int, default=100)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.csv"
        t0 = time.perf_counter()
        rows = write_csv(path, args.points, args.metrics, args.runs)
        size = path.stat().st_size
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"wrote {rows:,} rows x {args.metrics} metrics, {size / 1e6:.0f} MB in {time.perf_counter() - t0:.1f}s"
              f" (peak RSS so far {peak:.0f} MB)")
        t0 = time.perf_counter()
        n = sum(sum(r.n_points for r in piece.runs) for piece in tabular.CSV.iter_read(path, 0, {}, ReadOptions()))
        dt = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"iter_read {n:,} points in {dt:.2f}s: {n / dt / 1e6:.2f} M points/s, peak RSS {peak:.0f} MB")
        t0 = time.perf_counter()
        result = tabular.CSV.read(path, 0, {}, ReadOptions())
        dt = time.perf_counter() - t0
        n = sum(r.n_points for r in result.runs)
        assert n == rows * args.metrics and len(result.runs) == args.runs, (n, len(result.runs))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"read {n:,} points of {len(result.runs)} runs in {dt:.2f}s: {n / dt / 1e6:.2f} M points/s, "
              f"{size / dt / 1e6:.0f} MB/s, peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
