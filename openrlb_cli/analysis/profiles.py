"""Performance profiles: the fraction of scores above each threshold τ (Agarwal et al. 2021, §4).

Two profiles, as in ``rliable.library``:

* run-score distribution: for each τ, the fraction of run×task scores ``> τ``. rliable computes
  ``np.mean(scores > τ)`` over the full ``(runs, tasks)`` matrix; we compute the fraction within
  each task and average over tasks. The two are identical when every task has the same number of
  runs; with missing runs ours keeps every task's weight equal (a task with fewer seeds does not
  count less), which is what stratification intends.
* average-score distribution: for each τ, the fraction of tasks whose mean over runs is ``> τ``.

Bands are pointwise stratified-bootstrap intervals (default 2,000 replicates, as rliable).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from . import estimators as agg
from ._layout import ScoresLike, as_padded
from .bootstrap import Band, Resampler, SeedLike, _seed_record, estimate

#: Thresholds compared at once; bounds the ``(reps, runs, tasks, τ)`` boolean temporary.
_TAU_BLOCK = 16
PROFILE_KINDS = ("run", "average")


def _taus(taus: ArrayLike) -> np.ndarray:
    out = np.asarray(taus, dtype=np.float64).ravel()
    if out.size == 0:
        raise ValueError("the τ grid is empty")
    return out


def counts_above(x: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """``(x[r] > τ).sum()`` for every row r and every τ: ``(reps, n)`` -> ``(reps, len(taus))`` counts.

    Instead of comparing every score with every τ (reps·n·τ comparisons), each score is placed
    among the sorted thresholds once (`searchsorted`: the number of τ strictly below it), the
    placements are histogrammed per row and summed from the top: reps·n + reps·τ work, the same
    integer counts. NaN is above no threshold, as a NaN comparison is False.
    """
    reps, n = x.shape
    order = np.argsort(taus, kind="stable")
    below = np.searchsorted(taus[order], x, side="left")  # (reps, n): how many τ lie strictly below
    below[np.isnan(x)] = 0
    k = taus.size + 1
    flat = (np.arange(reps, dtype=np.int64)[:, None] * k + below).ravel()
    hist = np.bincount(flat, minlength=reps * k).reshape(reps, k)
    above_sorted = np.cumsum(hist[:, ::-1], axis=1)[:, ::-1][:, 1:]  # scores with more than j τ below
    out = np.empty((reps, taus.size), dtype=np.int64)
    out[:, order] = above_sorted
    return out


def run_score_profile_batch(x: np.ndarray, taus: ArrayLike) -> np.ndarray:
    """Run-score distribution per replicate: ``(reps, runs, tasks)`` -> ``(reps, len(taus))``."""
    x = np.asarray(x, dtype=np.float64)
    taus = _taus(taus)
    missing = np.isnan(x)
    if not missing.any():  # count/N: bit-identical to rliable's np.mean(scores > tau)
        return counts_above(x.reshape(x.shape[0], -1), taus) / (x.shape[1] * x.shape[2])
    present = (~missing).sum(axis=1)  # (reps, tasks)
    out = np.empty((x.shape[0], taus.size))
    for a in range(0, taus.size, _TAU_BLOCK):
        block = taus[a : a + _TAU_BLOCK]
        above = (x[..., None] > block).sum(axis=1)  # (reps, tasks, k); NaN compares False
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, a : a + block.size] = (above / present[..., None]).mean(axis=1)
    return out


def average_score_profile_batch(x: np.ndarray, taus: ArrayLike) -> np.ndarray:
    """Average-score distribution per replicate: ``(reps, runs, tasks)`` -> ``(reps, len(taus))``."""
    taus = _taus(taus)
    means = agg.task_means_batch(x)  # (reps, tasks)
    out = np.empty((means.shape[0], taus.size))
    undefined = np.isnan(means).any(axis=1)
    for a in range(0, taus.size, _TAU_BLOCK):
        block = taus[a : a + _TAU_BLOCK]
        out[:, a : a + block.size] = (means[..., None] > block).mean(axis=1)
    out[undefined] = np.nan
    return out


def _batch_fn(kind: str):
    if kind == "run":
        return run_score_profile_batch
    if kind == "average":
        return average_score_profile_batch
    raise ValueError(f"unknown profile kind {kind!r}; expected one of {', '.join(PROFILE_KINDS)}")


def run_score_distribution(scores: ScoresLike, taus: ArrayLike) -> np.ndarray:
    """Fraction of run scores above each τ, averaged over tasks (see module docstring)."""
    return run_score_profile_batch(as_padded(scores)[None], taus)[0]


def average_score_distribution(scores: ScoresLike, taus: ArrayLike) -> np.ndarray:
    """Fraction of tasks whose mean score is above each τ."""
    return average_score_profile_batch(as_padded(scores)[None], taus)[0]


def performance_profile(
    scores: ScoresLike,
    taus: ArrayLike,
    *,
    kind: str = "run",
    reps: int = 2_000,
    ci: float = 0.95,
    method: str = "percentile",
    seed: SeedLike = None,
    workers: int | None = None,
    task_bootstrap: bool = False,
) -> Band:
    """Profile over ``taus`` with pointwise stratified-bootstrap bands; ``kind`` is run|average.

    ``task_bootstrap`` resamples tasks too (rliable's option; see ``bootstrap_resample``).
    """
    grid = _taus(taus)
    fn = _batch_fn(kind)
    rs = Resampler(scores, task_bootstrap)
    if rs.rest:
        raise ValueError("performance profiles take final scores (runs, tasks)")
    point, lower, upper = estimate(
        rs,
        rs.evaluator(lambda x: fn(x, grid)),
        reps=reps,
        ci=ci,
        method=method,
        seed=seed,
        workers=workers,
    )
    return Band(point, lower, upper, int(reps), ci, method, _seed_record(seed), grid)


def tau_grid(experiments: Sequence[ScoresLike], points: int = 101) -> np.ndarray:
    """An even τ grid from ``min(0, lowest score)`` to the highest score over all experiments.

    ``experiments`` is a sequence of score arrays, one per experiment. Starting at or below 0
    makes a normalized profile start at 1 (every run beats random).
    """
    lows, highs = [], []
    for s in experiments:
        data = as_padded(s)
        lows.append(np.nanmin(data))
        highs.append(np.nanmax(data))
    if not lows:
        raise ValueError("tau_grid needs at least one experiment")
    low, high = min(0.0, float(min(lows))), float(max(highs))
    if high <= low:
        high = low + 1.0
    return np.linspace(low, high, int(points))
