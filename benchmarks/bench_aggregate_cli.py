"""End-to-end timing of `openrlb aggregate` on the real Tianshou MuJoCo data (9 tasks × 8 algorithms × 10 seeds).

What is timed:

1. the CLI as a user runs it (a fresh ``python -m openrlb_cli`` process: imports, store query,
   statistics, 4 figures in every requested format, data files), at the default 50,000
   replicates for the aggregate intervals and 2,000 for profiles, P(X > Y) and curves;
2. the same work in-process, split into load (store -> curves), compute (every estimate) and
   write (data files and figures), to show where the time goes.

The store is built in a temporary directory from ``../shared/data/tianshou-mujoco`` with the
tests' pandas loader (skipped when ``../shared`` is absent).

Usage::

    /work/venv/bin/python benchmarks/bench_aggregate_cli.py [--reps 50000] [--repeat 3]
        [--formats png,pdf,svg] [--extra "--whole-curve-auc"] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import tianshou_helper as th  # noqa: E402

from openrlb_cli.store import Store  # noqa: E402


def cli_command(db: Path, prefix: Path, reps: int, formats: str, extra: str) -> list[str]:
    return [sys.executable, "-m", "openrlb_cli", "--db", str(db), "aggregate", "?project=tianshou",
            "--normalize", "maxmin", "--reps", str(reps), "--formats", formats, "-o", str(prefix), "--quiet",
            *shlex.split(extra)]


def in_process(db: Path, prefix: Path, reps: int, formats: str) -> dict[str, float]:
    from openrlb_cli import aggregate as ag

    t0 = time.perf_counter()
    with Store(db, create=False) as store:
        curves = ag.load(store, ["?project=tianshou"], None, None)
    t1 = time.perf_counter()
    result = ag.compute(curves, ag.AggregateOptions(reps=reps))
    t2 = time.perf_counter()
    ag.write_outputs(result, prefix, formats.split(","))
    t3 = time.perf_counter()
    return {"load": t1 - t0, "compute": t2 - t1, "write": t3 - t2}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--formats", default="png,pdf,svg")
    parser.add_argument("--extra", default="", help="more aggregate options, e.g. '--whole-curve-auc'")
    parser.add_argument("--keep", type=Path, help="write the outputs here instead of a temporary directory")
    args = parser.parse_args()
    if not th.TIANSHOU.is_dir():
        print(f"skipped: {th.TIANSHOU} is absent")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        db = Path(tmp) / "tianshou.db"
        with Store(db) as store:
            n_runs = th.load_into(store)
        print(f"Tianshou MuJoCo: {n_runs} runs (9 tasks x 8 algorithms x 10 seeds); reps={args.reps:,}, "
              f"formats={args.formats}")
        walls = []
        for k in range(args.repeat):
            cmd = cli_command(db, work / "tianshou", args.reps, args.formats, args.extra)
            t0 = time.perf_counter()
            done = subprocess.run(cmd, capture_output=True, text=True)
            walls.append(time.perf_counter() - t0)
            if done.returncode != 0:
                print(done.stderr)
                return 1
            print(f"  CLI run {k + 1}: {walls[-1]:.2f} s")
        print(f"end-to-end CLI: median {statistics.median(walls):.2f} s, best {min(walls):.2f} s")
        parts = in_process(db, work / "inproc", args.reps, args.formats)
        print("in-process: " + ", ".join(f"{k} {v:.2f} s" for k, v in parts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
