"""Average probability of improvement P(X > Y) (Agarwal et al. 2021, §4.3).

For each task, ``P(X_t > Y_t)`` is the Mann–Whitney U statistic of X's runs against Y's runs
divided by ``n·m`` — the fraction of run pairs where X scores higher, ties counted ½ (what
``scipy.stats.mannwhitneyu(x, y).statistic / (n*m)`` and rliable give). The reported value is the
mean over tasks.

Intervals: X and Y are resampled independently, each with the stratified bootstrap (runs within
tasks), as rliable's ``StratifiedIndependentBootstrap``. Why it is fast: a resample of a task only
changes how many times each original run is drawn, so with the fixed ``n×m`` comparison matrix
``C_t`` (1, ½ or 0 per run pair) the resampled statistic is ``a_t·C_t·b_t / (n·m)`` for count
vectors ``a_t``, ``b_t``. Thousands of replicates then cost one batched matrix product per task
instead of a Mann–Whitney test each.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ._layout import ScoresLike
from .bootstrap import (
    Interval,
    Resampler,
    SeedLike,
    _check,
    _children,
    _seed_record,
    acceleration,
    confidence_bounds,
    map_chunks,
)


class _Pair:
    """Comparison matrices and resampling for one (X, Y) pair of score matrices."""

    def __init__(self, x: ScoresLike, y: ScoresLike):
        self.rx, self.ry = Resampler(x), Resampler(y)
        if self.rx.rest or self.ry.rest:
            raise ValueError("probability of improvement takes final scores (runs, tasks)")
        if self.rx.tasks != self.ry.tasks:
            raise ValueError(f"X has {self.rx.tasks} tasks but Y has {self.ry.tasks}; they must match")
        self.tasks = self.rx.tasks
        # Rows/columns include the all-NaN sentinel run, whose comparisons are all 0.
        xs = self.rx.flat[:, 0].reshape(self.rx.runs + 1, self.tasks)
        ys = self.ry.flat[:, 0].reshape(self.ry.runs + 1, self.tasks)
        xt, yt = xs.T[:, :, None], ys.T[:, None, :]
        self.cmp = (xt > yt) + 0.5 * (xt == yt)  # (tasks, runs_x + 1, runs_y + 1)
        self.norm = 1.0 / (self.rx.counts * self.ry.counts).astype(np.float64)  # (tasks,)

    def per_task(self) -> np.ndarray:
        """Point estimate of P(X_t > Y_t) for every task."""
        return self.cmp.sum(axis=(1, 2)) * self.norm

    def _counts(self, rs: Resampler, idx: np.ndarray) -> np.ndarray:
        """How often each run (and the sentinel) is drawn: ``(tasks, c, runs + 1)`` floats."""
        c = idx.shape[0]
        width = rs.runs + 1
        cell = (np.arange(c)[:, None, None] * self.tasks + np.arange(self.tasks)) * width
        flat = np.bincount((cell + idx).ravel(), minlength=c * self.tasks * width)
        return flat.reshape(c, self.tasks, width).transpose(1, 0, 2).astype(np.float64)

    def replicate(self, gen: np.random.Generator, c: int) -> np.ndarray:
        """``c`` bootstrap replicates of the average probability of improvement."""
        a = self._counts(self.rx, self.rx.draw(gen, c))
        b = self._counts(self.ry, self.ry.draw(gen, c))
        per_task = (np.matmul(a, self.cmp) * b).sum(axis=-1)  # (tasks, c)
        return (per_task * self.norm[:, None]).mean(axis=0)

    def jackknife(self) -> tuple[np.ndarray, np.ndarray]:
        """Delete-one-run values of the average P for X's then Y's runs, with stratum labels.

        Deleting run i of X in task t only changes that task's term, so every value follows
        from the row/column sums of ``C_t`` without re-evaluating anything else.
        """
        p_task = self.per_task()
        total = p_task.mean()
        values, strata = [], []
        for axis, rs, label in ((2, self.rx, 0), (1, self.ry, self.tasks)):
            sums = self.cmp.sum(axis=axis)  # (tasks, runs + 1): per run of the deleted side
            other = self.ry.counts if rs is self.rx else self.rx.counts
            for t in range(self.tasks):
                n = int(rs.counts[t])
                if n < 2:
                    continue
                kept = (sums[t].sum() - sums[t, :n]) / ((n - 1) * other[t])
                values.append(total + (kept - p_task[t]) / self.tasks)
                strata.append(np.full(n, label + t))
        if not values:
            return np.zeros(0), np.zeros(0, dtype=np.int64)
        return np.concatenate(values), np.concatenate(strata)


def probability_of_improvement_per_task(x: ScoresLike, y: ScoresLike) -> np.ndarray:
    """P(X_t > Y_t) per task, shape ``(tasks,)``."""
    return _Pair(x, y).per_task()


def probability_of_improvement(x: ScoresLike, y: ScoresLike) -> float:
    """Average over tasks of P(X_t > Y_t); ``x`` is ``(runs_x, tasks)``, ``y`` ``(runs_y, tasks)``."""
    return float(_Pair(x, y).per_task().mean())


def _pair_estimate(
    pair: _Pair, reps: int, ci: float, method: str, seed: SeedLike, workers: int | None
) -> tuple[float, float, float]:
    _check(reps, ci, method)
    point = float(pair.per_task().mean())
    chunk = max(1, min(pair.rx.rng_chunk, pair.ry.rng_chunk))
    full, part = divmod(int(reps), chunk)
    sizes = [chunk] * full + ([part] if part else [])
    gens = _children(seed, len(sizes))
    replicates = np.concatenate(map_chunks(lambda k: pair.replicate(gens[k], sizes[k]), len(sizes), workers))
    accel = None
    if method == "bca":
        jack, strata = pair.jackknife()
        accel = acceleration(jack, strata) if jack.size else 0.0
    lower, upper = confidence_bounds(replicates, point, ci, method, accel)
    return point, float(lower), float(upper)


def probability_of_improvement_interval(
    x: ScoresLike,
    y: ScoresLike,
    *,
    reps: int = 2_000,
    ci: float = 0.95,
    method: str = "percentile",
    seed: SeedLike = None,
    workers: int | None = None,
) -> Interval:
    """P(X > Y) with an interval from independent stratified bootstraps of X and Y."""
    point, lower, upper = _pair_estimate(_Pair(x, y), reps, ci, method, seed, workers)
    return Interval(point, lower, upper, int(reps), ci, method, _seed_record(seed))


@dataclass(frozen=True)
class ImprovementMatrix:
    """``point[i, j]`` = P(names[i] > names[j]); the diagonal is 0.5 with NaN bounds."""

    names: tuple[str, ...]
    point: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    reps: int
    ci: float
    method: str
    seed: int | None


def improvement_matrix(
    scores_by_exp: Mapping[str, ScoresLike],
    *,
    reps: int = 2_000,
    ci: float = 0.95,
    method: str = "percentile",
    seed: SeedLike = None,
    workers: int | None = None,
) -> ImprovementMatrix:
    """P(X > Y) with intervals for every ordered pair of experiments.

    Only pairs ``i < j`` are bootstrapped (pair ``k`` in row-major order uses the ``k``-th child
    of ``seed``); ``(j, i)`` is their mirror, since P(Y > X) = 1 − P(X > Y) holds for the point
    and for every replicate, so its bounds are ``1 − upper`` and ``1 − lower``.
    """
    names = tuple(scores_by_exp)
    e = len(names)
    point = np.full((e, e), 0.5)
    lower = np.full((e, e), np.nan)
    upper = np.full((e, e), np.nan)
    pairs = [(i, j) for i in range(e) for j in range(i + 1, e)]
    seeds = _children(seed, len(pairs)) if pairs else []
    for (i, j), pair_seed in zip(pairs, seeds, strict=True):
        pair = _Pair(scores_by_exp[names[i]], scores_by_exp[names[j]])
        p, lo, hi = _pair_estimate(pair, reps, ci, method, pair_seed, workers)
        point[i, j], lower[i, j], upper[i, j] = p, lo, hi
        point[j, i], lower[j, i], upper[j, i] = 1.0 - p, 1.0 - hi, 1.0 - lo
    return ImprovementMatrix(names, point, lower, upper, int(reps), ci, method, _seed_record(seed))
