"""Learning-curve arithmetic on plain numpy arrays: grids, interpolation, seed statistics, scores.

Why its own module: plots, tables, reports and aggregate metrics all need the same answers to
"what is the mean curve of these seeds" and "what is this run's final score", and those answers
must not depend on SQL or matplotlib. Everything here takes and returns numpy arrays.

Conventions (documented in the CLI help too):

* **Interpolation never extrapolates.** A run is linearly interpolated onto the common grid only
  inside its own logged step range `[first step, last step]`; outside it the value is NaN. Every
  statistic across seeds is NaN-aware and comes with `count`, the number of seeds covering each
  grid point, so callers can tell (and show) where fewer than all seeds contribute.
* **Smoothing** (`smooth(values, window)`) is a centred moving average over `window` *logged
  points* of one run, applied to the raw points before interpolation. Near the ends the window
  shrinks to the points that exist (no padding), so the first and last values stay unbiased by
  made-up data. `window <= 1` means no smoothing. `ema(values, weight)` is TensorBoard's (and
  W&B's) debiased exponential moving average instead: trailing, weight in [0, 1), 0 = none.
* **Std** is the sample standard deviation over seeds (ddof=1); NaN with a single seed.
* **Bootstrap CI** resamples seeds with replacement (percentile method, 95% by default, seeded).
* **Final score** of a run is the mean of its last N logged points, or of the points whose step
  lies in the last fraction of the run's own logged step range.
* **Wall-clock** x values are seconds since the run's first logged point of the series.
* **Another series as x** (`--x KEY`): each point takes the value KEY logged at the same step
  (`join_on_step`); points whose step KEY lacks are left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np

DEFAULT_GRID_POINTS = 500


@overload
def clean(steps: np.ndarray, values: np.ndarray, walls: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
@overload
def clean(steps: np.ndarray, values: np.ndarray, walls: None = None) -> tuple[np.ndarray, np.ndarray, None]: ...
def clean(steps: np.ndarray, values: np.ndarray, walls: np.ndarray | None = None
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Drop points whose step or value is NaN/inf and sort by step (stable, so resumed logs keep order).

    Called on every series by plots, tables and aggregates, mostly on series that are already clean,
    so the common case costs two sums and one comparison: a finite sum means every term is finite
    (a NaN or inf term makes it NaN or inf; an overflowing sum only sends it to the full check)."""
    steps = np.asarray(steps, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if not math.isfinite(steps.sum() + values.sum()):
        keep = np.isfinite(steps) & np.isfinite(values)
        if not keep.all():
            steps, values = steps[keep], values[keep]
            walls = None if walls is None else np.asarray(walls, dtype=np.float64)[keep]
    if steps.size > 1 and (steps[1:] < steps[:-1]).any():
        order = np.argsort(steps, kind="stable")
        steps, values = steps[order], values[order]
        walls = None if walls is None else walls[order]
    return steps, values, walls


def elapsed(walls: np.ndarray) -> np.ndarray:
    """Seconds since the first finite wall time (NaN stays NaN); all-NaN input gives all-NaN."""
    walls = np.asarray(walls, dtype=np.float64)
    finite = walls[np.isfinite(walls)]
    if finite.size == 0:
        return np.full(walls.shape, np.nan)
    return walls - finite[0]


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average over `window` logged points; the window shrinks at the ends."""
    values = np.asarray(values, dtype=np.float64)
    n = values.size
    if window <= 1 or n <= 1:
        return values.copy()
    half_lo = (window - 1) // 2
    half_hi = window - 1 - half_lo
    csum = np.concatenate([[0.0], np.cumsum(values)])
    idx = np.arange(n)
    lo = np.maximum(idx - half_lo, 0)
    hi = np.minimum(idx + half_hi + 1, n)
    return (csum[hi] - csum[lo]) / (hi - lo)


EMA_BLOCK = 128


def ema(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's debiased exponential moving average of one run's logged points.

    TensorBoard (and W&B, which copies it): ``last = last * w + (1 - w) * x_k`` from ``last = 0``,
    and the k-th smoothed value is ``last / (1 - w**k)``, so early points are not pulled towards 0;
    a constant series is returned as is. Computed in blocks of `EMA_BLOCK` points (one matrix
    product for every block, then the carry from block to block), the same numbers as the loop
    to rounding.
    """
    values = np.asarray(values, dtype=np.float64)
    n = values.size
    if not 0 <= weight < 1:
        raise ValueError(f"the EMA weight must be in [0, 1), got {weight:g}")
    if weight == 0 or n <= 1 or np.all(values == values[0]):
        return values.copy()
    b = EMA_BLOCK
    nblocks = -(-n // b)
    padded = np.zeros(nblocks * b)
    padded[:n] = values
    blocks = padded.reshape(nblocks, b)
    j = np.arange(b)
    lag = j[:, None] - j[None, :]
    kernel = np.where(lag >= 0, weight ** np.maximum(lag, 0).astype(np.float64), 0.0)  # w^(j-i), i <= j
    local = (1 - weight) * blocks @ kernel.T  # each block's EMA started from 0
    carry = np.empty(nblocks)
    state, decay = 0.0, weight**b
    for k in range(nblocks):  # the EMA entering each block
        carry[k] = state
        state = state * decay + local[k, -1]
    smoothed = (local + carry[:, None] * weight ** (j + 1.0)[None, :]).ravel()[:n]
    # debias 1 - w**k: exactly 1.0 in float64 once w**k < 2**-54, so only the first points need it
    m = n if weight == 0 else min(n, int(np.ceil(-54 * np.log(2) / np.log(weight))) + 1)
    smoothed[:m] /= 1.0 - weight ** np.arange(1.0, m + 1)
    return smoothed


def smooth_values(values: np.ndarray, amount: float, kind: str = "ma") -> np.ndarray:
    """``kind`` ma: centred moving average over ``amount`` points; ema: TensorBoard's EMA of weight ``amount``."""
    if kind == "ema":
        return ema(values, float(amount))
    return smooth(values, int(amount))


def common_grid(steps_list: Sequence[np.ndarray], max_points: int = DEFAULT_GRID_POINTS,
                lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """A grid covering every run: the union of their steps when it has at most `max_points`
    points (exact for runs logged at the same steps), else `max_points` evenly spaced points over
    `[min first step, max last step]`. `lo`/`hi` clip the grid (e.g. `--max-steps`)."""
    nonempty = [np.asarray(s, dtype=np.float64) for s in steps_list if len(s)]
    if not nonempty:
        return np.empty(0)
    start = min(float(s[0]) for s in nonempty)
    stop = max(float(s[-1]) for s in nonempty)
    if lo is not None:
        start = max(start, lo)
    if hi is not None:
        stop = min(stop, hi)
    if stop < start:
        return np.empty(0)
    total = sum(s.size for s in nonempty)
    first = nonempty[0]
    if first.size <= max_points and all(s.size == first.size and np.array_equal(s, first) for s in nonempty):
        union = np.unique(first)  # seeds logged at the same steps (the common case)
        return union[(union >= start) & (union <= stop)]
    if total <= 20 * max_points:  # cheap enough to take the union exactly
        union = np.unique(np.concatenate(nonempty))
        union = union[(union >= start) & (union <= stop)]
        if union.size <= max_points:
            return union
    if stop == start:
        return np.array([start])
    return np.linspace(start, stop, max_points)


def interpolate(steps_list: Sequence[np.ndarray], values_list: Sequence[np.ndarray],
                grid: np.ndarray) -> np.ndarray:
    """(n_runs, n_grid) matrix: each run linearly interpolated inside its own step range, NaN outside.

    Steps must be sorted (see `clean`). One `np.interp` call per run; no per-point Python.
    """
    grid = np.asarray(grid, dtype=np.float64)
    out = np.full((len(steps_list), grid.size), np.nan)
    for i, (s, v) in enumerate(zip(steps_list, values_list, strict=True)):
        if len(s) == 0:
            continue
        lo = int(np.searchsorted(grid, s[0], side="left"))
        hi = int(np.searchsorted(grid, s[-1], side="right"))
        if hi > lo:
            out[i, lo:hi] = np.interp(grid[lo:hi], s, v)
    return out


@dataclass
class CurveStats:
    """Statistics across seeds at each grid point. `count` = seeds covering the point."""

    grid: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    min: np.ndarray
    max: np.ndarray
    count: np.ndarray
    n_runs: int
    ci_low: np.ndarray | None = None
    ci_high: np.ndarray | None = None

    @property
    def full(self) -> np.ndarray:
        """Mask of grid points every seed covers."""
        return self.count == self.n_runs


def seed_stats(matrix: np.ndarray, grid: np.ndarray, *, ci: bool = False, n_boot: int = 1000,
               confidence: float = 0.95, seed: int = 0) -> CurveStats:
    """Mean/std/min/max/count over axis 0 of an (n_runs, n_grid) matrix with NaN gaps."""
    matrix = np.atleast_2d(np.asarray(matrix, dtype=np.float64))
    valid = np.isfinite(matrix)
    count = valid.sum(axis=0)
    filled = np.where(valid, matrix, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(axis=0) / count
        dev = np.where(valid, matrix - mean, 0.0)
        std = np.sqrt((dev**2).sum(axis=0) / (count - 1))
    std[count < 2] = np.nan
    mean[count == 0] = np.nan
    mn = np.where(valid, matrix, np.inf).min(axis=0, initial=np.inf)
    mx = np.where(valid, matrix, -np.inf).max(axis=0, initial=-np.inf)
    mn[count == 0] = np.nan
    mx[count == 0] = np.nan
    stats = CurveStats(np.asarray(grid, dtype=np.float64), mean, std, mn, mx, count, matrix.shape[0])
    if ci:
        stats.ci_low, stats.ci_high = bootstrap_ci(matrix, n_boot=n_boot, confidence=confidence, seed=seed)
    return stats


def bootstrap_ci(matrix: np.ndarray, *, n_boot: int = 1000, confidence: float = 0.95,
                 seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap CI of the mean over seeds (axis 0), per column, vectorised.

    Each resample draws n_runs seeds with replacement (as multinomial counts, so one matrix
    product computes all resample means). Where only some seeds cover a column, a resample's mean
    is over the covering seeds it drew; resamples that drew none are ignored. Columns with fewer
    than 2 covering seeds get NaN bounds.
    """
    matrix = np.atleast_2d(np.asarray(matrix, dtype=np.float64))
    n_runs, n_cols = matrix.shape
    low = np.full(n_cols, np.nan)
    high = np.full(n_cols, np.nan)
    if n_runs == 0 or n_cols == 0:
        return low, high
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n_runs, np.full(n_runs, 1.0 / n_runs), size=n_boot).astype(np.float64)
    valid = np.isfinite(matrix)
    # resample means laid out (n_cols, n_boot) so the per-column sort runs over contiguous memory
    if valid.all():  # every seed covers every column (the common case)
        means = np.einsum("rc,br->cb", matrix, counts) / n_runs
    else:
        sums = np.einsum("rc,br->cb", np.where(valid, matrix, 0.0), counts)
        denom = np.einsum("rc,br->cb", valid.astype(np.float64), counts)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(denom > 0, sums / denom, np.nan)
    alpha = (1.0 - confidence) / 2.0
    lo_q, hi_q = _nan_quantiles(means, [alpha, 1.0 - alpha])
    enough = valid.sum(axis=0) >= 2
    low[enough], high[enough] = lo_q[enough], hi_q[enough]
    return low, high


def _nan_quantiles(samples: np.ndarray, qs: Sequence[float]) -> list[np.ndarray]:
    """Per-row quantiles ignoring NaN (linear interpolation, numpy's default), vectorised."""
    ordered = np.sort(samples, axis=1)  # NaN sorts last
    n_valid = np.isfinite(ordered).sum(axis=1)
    rows = np.arange(ordered.shape[0])
    out = []
    for q in qs:
        pos = q * np.maximum(n_valid - 1, 0)
        below = np.floor(pos).astype(np.int64)
        above = np.minimum(below + 1, np.maximum(n_valid - 1, 0))
        frac = pos - below
        value = ordered[rows, below] * (1 - frac) + ordered[rows, above] * frac
        value[n_valid == 0] = np.nan
        out.append(value)
    return out


def final_score(steps: np.ndarray, values: np.ndarray, *, last_n: int | None = 100,
                last_frac: float | None = None) -> float:
    """Mean of the last `last_n` logged points, or (if `last_frac` is set) of the points with
    step >= last - last_frac * (last - first). NaN for a run without finite points."""
    steps, values, _ = clean(steps, values)
    if values.size == 0:
        return float("nan")
    if last_frac is not None:
        if not 0 < last_frac <= 1:
            raise ValueError(f"last_frac must be in (0, 1], got {last_frac}")
        cut = steps[-1] - last_frac * (steps[-1] - steps[0])
        return float(values[steps >= cut].mean())
    if last_n is None or last_n < 1:
        raise ValueError(f"last_n must be >= 1, got {last_n}")
    return float(values[-last_n:].mean())


def runtime(walls: np.ndarray) -> float:
    """Wall-clock seconds from the first to the last finite wall time (NaN if unknown)."""
    walls = np.asarray(walls, dtype=np.float64)
    finite = walls[np.isfinite(walls)]
    return float(finite[-1] - finite[0]) if finite.size else float("nan")


@dataclass
class ScoreStats:
    """Mean ± std over seeds of one score per run, with the seed count and an optional CI."""

    mean: float
    std: float
    n: int
    ci_low: float = float("nan")
    ci_high: float = float("nan")


def score_stats(scores: Sequence[float] | np.ndarray, *, ci: bool = False, n_boot: int = 10000,
                confidence: float = 0.95, seed: int = 0, ddof: int = 1) -> ScoreStats:
    """Statistics of per-run scores; NaN scores (runs without data) are left out. ``ddof`` 1 = sample
    std (NaN with one seed), 0 = population std."""
    arr = np.asarray(scores, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    n = int(arr.size)
    if n == 0:
        return ScoreStats(float("nan"), float("nan"), 0)
    std = float(arr.std(ddof=ddof)) if n > ddof else float("nan")
    out = ScoreStats(float(arr.mean()), std, n)
    if ci:
        lo, hi = bootstrap_ci(arr[:, None], n_boot=n_boot, confidence=confidence, seed=seed)
        out.ci_low, out.ci_high = float(lo[0]), float(hi[0])
    return out


def join_on_step(steps: np.ndarray, key_steps: np.ndarray, key_values: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Another series as the x axis: for each step, the value that series logged at the same step.

    Returns (x, hit): `hit` marks the points whose step the other series has with a finite value
    (the row-wise join of rlops; a step logged twice there takes its first value); `x` holds the
    values for those points only, in the order of `steps`.
    """
    steps = np.asarray(steps, dtype=np.float64)
    key_steps = np.asarray(key_steps, dtype=np.float64)
    key_values = np.asarray(key_values, dtype=np.float64)
    if key_steps.size == 0:
        return np.empty(0), np.zeros(steps.shape, dtype=bool)
    order = np.argsort(key_steps, kind="stable")
    known, vals = key_steps[order], key_values[order]
    at = np.clip(np.searchsorted(known, steps), 0, known.size - 1)
    hit = (known[at] == steps) & np.isfinite(vals[at])
    return vals[at][hit], hit


@overload
def truncate(steps: np.ndarray, values: np.ndarray, walls: np.ndarray, max_steps: float | None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
@overload
def truncate(steps: np.ndarray, values: np.ndarray, walls: None, max_steps: float | None
             ) -> tuple[np.ndarray, np.ndarray, None]: ...
def truncate(steps: np.ndarray, values: np.ndarray, walls: np.ndarray | None, max_steps: float | None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Keep points with step <= max_steps (all when None); steps must be sorted."""
    if max_steps is None:
        return steps, values, walls
    end = int(np.searchsorted(steps, max_steps, side="right"))
    return steps[:end], values[:end], None if walls is None else walls[:end]


__all__ = [
    "DEFAULT_GRID_POINTS", "CurveStats", "ScoreStats", "bootstrap_ci", "clean", "common_grid", "elapsed",
    "ema", "final_score", "interpolate", "join_on_step", "runtime", "score_stats", "seed_stats", "smooth",
    "smooth_values", "truncate",
]
