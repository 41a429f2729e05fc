"""Benchmark openrlb's interval estimates against rliable 1.2.0 on the spec's workloads.

Workloads (3 algorithms × 10 runs × 57 tasks, as the Atari-57 setting):

1. IQM with a stratified-bootstrap CI, 50,000 replicates, for each algorithm;
2. IQM, median, mean and optimality gap with CIs, 50,000 replicates, for each algorithm;
3. IQM sample-efficiency curve over 100 points with pointwise CIs, 2,000 replicates, each algorithm;
4. probability of improvement with CIs for 2 pairs, 2,000 replicates.

Baseline: rliable 1.2.0 measured on this machine (41 s, 63 s, 128 s, 204 s). With
``--rliable PYTHON`` (a separate virtualenv that has rliable; never a dependency of openrlb) the
baseline is re-measured in the same run on the same data; ``--rliable-fraction 0.1`` runs it with
10% of the replicates and scales up. Floors: 30× for 1–3, 100× for 4; ``--check`` exits 1 when
one is missed.

Usage::

    python benchmarks/bench_aggregate.py [--repeat 3] [--workers N]
        [--rliable ../venv-rliable/bin/python [--rliable-fraction 0.1]] [--check]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from openrlb_cli.analysis import bootstrap as bs  # noqa: E402
from openrlb_cli.analysis import efficiency as eff  # noqa: E402
from openrlb_cli.analysis import improvement as imp  # noqa: E402

RECORDED = {"iqm": 41.0, "all_four": 63.0, "curve": 128.0, "poi": 204.0}
FLOORS = {"iqm": 30.0, "all_four": 30.0, "curve": 30.0, "poi": 100.0}
LABELS = {
    "iqm": "IQM CI, 50k reps, 3 algos",
    "all_four": "4 aggregates CI, 50k reps, 3 algos",
    "curve": "IQM curve 100 pts, 2k reps, 3 algos",
    "poi": "P(X>Y) CI, 2 pairs, 2k reps",
}


def make_data(seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Human-normalized-looking scores: per-task difficulty × algorithm skill × run noise."""
    rng = np.random.default_rng(seed)
    runs, tasks, points = 10, 57, 100
    difficulty = rng.lognormal(0.0, 1.0, size=tasks)
    finals, curves = {}, {}
    for name, skill in (("A", 1.0), ("B", 1.2), ("C", 0.8)):
        final = skill * difficulty * rng.lognormal(0.0, 0.4, size=(runs, tasks))
        progress = 1.0 - np.exp(-np.linspace(0.0, 4.0, points))
        noise = rng.normal(1.0, 0.05, size=(runs, tasks, points))
        finals[name] = final
        curves[name] = final[..., None] * progress * noise
    return finals, curves


def workloads(finals, curves, workers: int | None) -> dict[str, Callable[[], object]]:
    names = list(finals)
    return {
        "iqm": lambda: [bs.aggregate_intervals(finals[n], ["iqm"], reps=50_000, seed=0, workers=workers)
                        for n in names],
        "all_four": lambda: [bs.aggregate_intervals(finals[n], reps=50_000, seed=0, workers=workers)
                             for n in names],
        "curve": lambda: [eff.aggregate_curve(curves[n], "iqm", reps=2_000, seed=0, workers=workers)
                          for n in names],
        "poi": lambda: [imp.probability_of_improvement_interval(finals["A"], finals[o], reps=2_000, seed=0,
                                                                workers=workers) for o in ("B", "C")],
    }


def measure_rliable(python: str, finals, curves, fraction: float) -> dict[str, float]:
    script = Path(__file__).resolve().parent / "rliable_reference" / "time_rliable.py"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.npz"
        arrays = {f"final_{k}": v for k, v in finals.items()} | {f"curve_{k}": v for k, v in curves.items()}
        np.savez(path, names=np.array(list(finals)), **arrays)
        done = subprocess.run([python, str(script), str(path), str(fraction)], capture_output=True,
                              text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="timed repetitions; the best is reported")
    parser.add_argument("--workers", type=int, default=None, help="threads (default: all cores, max 8)")
    parser.add_argument("--rliable", metavar="PYTHON", help="python of a venv with rliable 1.2.0")
    parser.add_argument("--rliable-fraction", type=float, default=1.0)
    parser.add_argument("--check", action="store_true", help="exit 1 if a speed floor is missed")
    args = parser.parse_args()

    finals, curves = make_data()
    jobs = workloads(finals, curves, args.workers)
    baseline, source = dict(RECORDED), "recorded rliable 1.2.0 timings"
    if args.rliable:
        print(f"measuring rliable with {args.rliable} (fraction {args.rliable_fraction}) ...", flush=True)
        baseline = measure_rliable(args.rliable, finals, curves, args.rliable_fraction)
        source = f"rliable measured now (fraction {args.rliable_fraction}, scaled)"

    print(f"workers={args.workers or bs.default_workers()}  repeat={args.repeat}  baseline: {source}")
    header = f"{'workload':38s} {'ours best':>10s} {'median':>8s} {'cpu':>7s} {'rliable':>9s} {'ratio':>8s}"
    print(header + f" {'floor':>6s} {'peak MiB':>9s}")
    failed = False
    for key, job in jobs.items():
        job()  # warm-up (imports, allocator)
        times, cpu = [], []
        for _ in range(args.repeat):
            start, start_cpu = time.perf_counter(), time.process_time()
            job()
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        tracemalloc.start()
        job()
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        best, med = min(times), float(np.median(times))
        ratio = baseline[key] / best
        ok = ratio >= FLOORS[key]
        failed |= not ok
        print(f"{LABELS[key]:38s} {best:9.3f}s {med:7.3f}s {min(cpu):6.2f}s {baseline[key]:8.1f}s {ratio:7.0f}x "
              f"{FLOORS[key]:5.0f}x {peak:9.1f} {'ok' if ok else 'BELOW FLOOR'}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process max RSS: {rss:.0f} MiB (peak MiB: tracemalloc, numpy allocations of one run)")
    print("cpu: process CPU seconds of the fastest-CPU run, summed over threads; wall times suffer when")
    print("other processes share the cores, CPU time much less so.")
    return 1 if (failed and args.check) else 0


if __name__ == "__main__":
    sys.exit(main())
