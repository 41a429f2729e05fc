"""Time rliable 1.2.0's four aggregate intervals on the normalized scores an `openrlb aggregate` wrote.

Runs ONLY in the separate rliable virtualenv (see make_fixture.py). Reads ``PREFIX_scores.csv``
(experiment, env, run, score, normalized), builds one ``(runs, tasks)`` matrix per experiment (tasks in
the file's order; every task must have the same run count, as rliable requires) and times
``rly.get_interval_estimates`` with IQM, median, mean and optimality gap at ``REPS`` replicates, as
rliable's Atari colab does. Prints one JSON object: seconds, and rliable's point estimates and
intervals per experiment so the caller can compare them with openrlb's.

    ../venv-rliable/bin/python time_rliable_scores.py PREFIX_scores.csv [REPS]
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import pandas as pd
from rliable import library as rly
from rliable import metrics


def matrices(path: str) -> dict[str, np.ndarray]:
    df = pd.read_csv(path)
    envs = list(dict.fromkeys(df["env"]))
    out = {}
    for label, g in df.groupby("experiment", sort=False):
        cols = [g.loc[g["env"] == env, "normalized"].to_numpy(dtype=np.float64) for env in envs]
        out[str(label)] = np.stack(cols, axis=1)
    return out


def four(x: np.ndarray) -> np.ndarray:
    return np.array([metrics.aggregate_iqm(x), metrics.aggregate_median(x), metrics.aggregate_mean(x),
                     metrics.aggregate_optimality_gap(x)])


def main(path: str, reps: int) -> None:
    scores = matrices(path)
    np.random.seed(0)
    start = time.perf_counter()
    points, intervals = rly.get_interval_estimates(scores, four, reps=reps)
    seconds = time.perf_counter() - start
    names = ["iqm", "median", "mean", "optimality_gap"]
    print(json.dumps({"seconds": seconds, "reps": reps,
                      "shapes": {k: list(v.shape) for k, v in scores.items()},
                      "points": {k: dict(zip(names, map(float, v), strict=True)) for k, v in points.items()},
                      "intervals": {k: {n: [float(v[0, j]), float(v[1, j])] for j, n in enumerate(names)}
                                    for k, v in intervals.items()}}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 50_000)
