"""Time rliable 1.2.0 on the benchmark workloads (baseline for benchmarks/bench_aggregate.py).

Runs ONLY in a separate virtualenv with rliable installed (see make_fixture.py); the benchmark
calls it as ``<venv python> time_rliable.py DATA.npz FRACTION`` and reads one JSON object from
stdout: seconds per workload, scaled up by 1/FRACTION when run with a fraction of the
replicates (rliable's cost is linear in replicates). The calls are those of rliable's own
Atari 100k colab.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
from rliable import library as rly
from rliable import metrics


def main(path: str, fraction: float) -> None:
    data = np.load(path)
    names = [str(n) for n in data["names"]]
    finals = {n: data[f"final_{n}"] for n in names}
    curves = {n: data[f"curve_{n}"] for n in names}
    out = {}

    def timed(key, fn, reps):
        r = max(1, int(round(reps * fraction)))
        np.random.seed(0)
        start = time.perf_counter()
        fn(r)
        out[key] = (time.perf_counter() - start) * reps / r

    timed("iqm", lambda r: rly.get_interval_estimates(
        finals, lambda x: np.array([metrics.aggregate_iqm(x)]), reps=r), 50_000)

    def four(x):
        return np.array([
            metrics.aggregate_median(x), metrics.aggregate_iqm(x),
            metrics.aggregate_mean(x), metrics.aggregate_optimality_gap(x),
        ])

    timed("all_four", lambda r: rly.get_interval_estimates(finals, four, reps=r), 50_000)

    def iqm_curve(x):
        return np.array([metrics.aggregate_iqm(x[..., p]) for p in range(x.shape[-1])])

    timed("curve", lambda r: rly.get_interval_estimates(curves, iqm_curve, reps=r), 2_000)
    pairs = {f"{names[0]},{names[1]}": [finals[names[0]], finals[names[1]]],
             f"{names[0]},{names[2]}": [finals[names[0]], finals[names[2]]]}
    timed("poi", lambda r: rly.get_interval_estimates(pairs, metrics.probability_of_improvement, reps=r), 2_000)
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 1.0)
