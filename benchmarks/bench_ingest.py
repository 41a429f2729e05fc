"""End-to-end ingest of one large log, against the row-per-point baseline measured in the same run.

    python benchmarks/bench_ingest.py [--points 10000000] [--format tensorboard|cleanrl|csv]

Generates a log with `--points` scalars (20 tags), ingests it with the real pipeline into a fresh
store (reading, CRC checks, decoding, chunk encoding, one transaction) and reports points/s and peak
RSS. The baseline inserts the same points one row each with `executemany`.
"""

from __future__ import annotations

import argparse
import resource
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np

from openrlb_cli.ingest.pipeline import ingest
from openrlb_cli.ingest.tensorboard import events as tfevents
from openrlb_cli.store import Store

TAGS = 20


def make_tensorboard(path: Path, n_points: int) -> None:
    steps = n_points // TAGS
    batch = 50_000
    for start in range(0, steps, batch):
        rows = [(f"tag/{k}", s, float(np.sin(s / 1000) + k), 1.7e9 + s / 100)
                for s in range(start, min(steps, start + batch)) for k in range(TAGS)]
        tfevents.write_scalars(path, rows, append=start > 0)


CLEANRL_TAGS = ("charts/learning_rate", "losses/value_loss", "losses/policy_loss", "losses/entropy",
                "losses/old_approx_kl", "losses/approx_kl", "losses/clipfrac", "losses/explained_variance",
                "charts/SPS")


def make_cleanrl(path: Path, n_points: int) -> None:
    """CleanRL-PPO-shaped: 9 tags per update, and between updates a random number of finished
    episodes (return and length at irregular steps), so record sizes follow no fixed cycle."""
    rng = np.random.default_rng(0)
    rows: list[tuple[str, int, float, float]] = []
    written, update, first = 0, 0, True
    while written < n_points:
        # episodes end at the global step of their env step: never going back (TensorBoard, and
        # openrlb, would preempt points logged at a lower step than the one before)
        for step in sorted(update * 512 + int(x) for x in rng.integers(0, 512, rng.poisson(3))):
            rows += [("charts/episodic_return", step, float(rng.normal(100, 30)), 1.7e9 + step / 1e3),
                     ("charts/episodic_length", step, float(rng.integers(10, 500)), 1.7e9 + step / 1e3)]
        update += 1
        rows += [(tag, update * 512, float(rng.normal()), 1.7e9 + update * 0.512) for tag in CLEANRL_TAGS]
        if len(rows) >= 200_000 or written + len(rows) >= n_points:
            rows = rows[: n_points - written]
            tfevents.write_scalars(path, rows, append=not first)
            written, first, rows = written + len(rows), False, []


def make_csv(path: Path, n_points: int) -> None:
    steps = n_points // TAGS
    rng = np.random.default_rng(0)
    with path.open("w") as fh:
        fh.write("step," + ",".join(f"tag{k}" for k in range(TAGS)) + "\n")
        for start in range(0, steps, 200_000):
            idx = np.arange(start, min(steps, start + 200_000))
            block = np.column_stack([idx, rng.normal(size=(len(idx), TAGS))])
            np.savetxt(fh, block, delimiter=",", fmt=["%d"] + ["%.6g"] * TAGS)


def baseline(path: Path, n_points: int) -> float:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("CREATE TABLE points (series_id INTEGER, step REAL, value REAL, wall REAL)")
    steps = n_points // TAGS
    t0 = time.perf_counter()
    with conn:
        for k in range(TAGS):
            s = np.arange(steps, dtype=float)
            conn.executemany("INSERT INTO points VALUES (?, ?, ?, ?)",
                             zip([k] * steps, s.tolist(), np.sin(s).tolist(), (s + 1.7e9).tolist(), strict=True))
    conn.close()  # includes the final checkpoint, as ours does
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--points", type=int, default=10_000_000)
    ap.add_argument("--format", choices=("tensorboard", "cleanrl", "csv"), default="tensorboard",
                    help="tensorboard: 20 tags every step; cleanrl: irregular CleanRL-PPO shape; csv: wide table")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        run_dir.mkdir()
        t0 = time.perf_counter()
        if args.format in ("tensorboard", "cleanrl"):
            log = run_dir / "events.out.tfevents.1700000000.bench.1.0"
            (make_tensorboard if args.format == "tensorboard" else make_cleanrl)(log, args.points)
        else:
            log = run_dir / "big.csv"
            make_csv(log, args.points)
        print(f"generated {log.stat().st_size / 2**20:.0f} MiB {args.format} log in {time.perf_counter() - t0:.1f}s")
        base = baseline(Path(tmp) / "baseline.db", args.points)
        t0 = time.perf_counter()  # open to close: the final WAL checkpoint (with fsync) is part of the job
        with Store(Path(tmp) / "s.db") as store:
            summary = ingest(store, [run_dir])
        ours = time.perf_counter() - t0
        assert not summary.skipped, summary.skipped
        n = summary.points
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"points ingested: {n:,}")
    print(f"baseline row-per-point executemany: {n / base / 1e6:5.2f} M pts/s")
    print(f"openrlb ingest ({args.format}):       {n / ours / 1e6:5.2f} M pts/s  ({base / ours:.1f}x baseline)")
    print(f"peak RSS of this process: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
