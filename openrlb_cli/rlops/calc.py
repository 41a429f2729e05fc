"""Open RL Benchmark 0.3.1's numbers, computed the way its `rlops.py` computes them (pure numpy).

`openrlb rlops` must print what `python -m openrlbenchmark.rlops` prints for the same runs, so
these functions follow rlops' conventions where they differ from openrlb's own (`plot`, `table`,
`aggregate` keep those):

* a run is its W&B rows holding the x axis, `_runtime` and the metric together (`dropna`), sorted
  by the x axis;
* score table: each run's mean of its last N metric values, then mean ± **population** std
  (`np.std`, ddof 0) over the runs, printed `f"{mean:.2f} ± {std:.2f}"`;
* runtimes (and the steps used for efficiency axes): expt's `summary()`, i.e. the runs' values
  averaged *row position by row position*, then the mean of the last 10% of those positions, in
  `--pc.time-unit` (minutes by default);
* curves: each experiment's runs interpolated onto 10,000 even points between the smallest and
  largest x of any of its runs (NaN outside a run's own range), mean and sample std over the runs
  covering a point, gaps filled linearly, then `--pc.rolling` as a centred rolling mean *over
  those grid points* (min 1 value), not over logged points;
* rliable: per experiment, seed i of every environment (runs in W&B's listing order, truncated to
  the experiment's smallest seed count), interpolated at `nsubsamples` even points of its own x
  range; `maxmin` normalizes per environment by the min and max over every experiment, seed and
  sampled point; aggregates and profiles use the last sampled point (the final interpolated value).

Verified against openrlbenchmark 0.3.1 itself by `benchmarks/orlb_reference/make_fixture.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

N_SAMPLES = 10_000  # expt's interpolation grid in rlops' plots
TIME_DIVISORS = {"m": 60.0, "h": 3600.0}  # rlops divides `_runtime` for these units, else seconds


@dataclass
class RunRows:
    """One run as rlops sees it: rows with x, `_runtime` (seconds) and the metric, sorted by x."""

    x: np.ndarray
    runtime: np.ndarray
    value: np.ndarray

    def __len__(self) -> int:
        return int(self.x.size)


def join_rows(x: np.ndarray, values: np.ndarray, walls: np.ndarray, rt_x: np.ndarray | None,
              rt_values: np.ndarray | None, rt_walls: np.ndarray | None) -> RunRows:
    """The metric's points joined with the `_runtime` logged in the same row.

    Both series are stored against the x axis with the row's `_timestamp` as wall time, so a row is
    identified by (x, wall time); points whose row has no `_runtime` (or whose value is NaN) are
    dropped, as rlops' `dropna()` drops them. Without a `_runtime` series, wall time since the
    first point stands in for it.
    """
    x, values, walls = (np.asarray(a, dtype=np.float64) for a in (x, values, walls))
    if rt_x is None or rt_values is None or len(rt_x) == 0:
        base = np.nanmin(walls) if np.isfinite(walls).any() else np.nan
        runtime = walls - base
    else:
        rt_x, rt_values = np.asarray(rt_x, dtype=np.float64), np.asarray(rt_values, dtype=np.float64)
        rt_walls = np.asarray(rt_walls, dtype=np.float64) if rt_walls is not None else np.full(rt_x.size, np.nan)
        runtime = _lookup(x + 1j * walls, rt_x + 1j * rt_walls, rt_values)
        missing = np.isnan(runtime)
        if missing.any():  # rows without a wall time: match on x alone
            runtime[missing] = _lookup(x[missing], rt_x, rt_values)
    keep = ~(np.isnan(x) | np.isnan(values) | np.isnan(runtime))
    order = np.argsort(x[keep], kind="stable")
    return RunRows(x[keep][order], runtime[keep][order], values[keep][order])


def _lookup(keys: np.ndarray, known: np.ndarray, vals: np.ndarray) -> np.ndarray:
    """vals at the position of each key in `known` (exact match), NaN where absent."""
    out = np.full(keys.shape, np.nan)
    if known.size == 0 or keys.size == 0:
        return out
    order = np.argsort(known, kind="stable")  # complex: by real part, then imaginary
    sorted_known = known[order]
    at = np.clip(np.searchsorted(sorted_known, keys), 0, known.size - 1)
    hit = sorted_known[at] == keys
    out[hit] = vals[order][at[hit]]
    return out


# ------------------------------------------------------------------------------ tables
def last_n_mean(run: RunRows, n: int) -> float:
    tail = run.value[-n:]
    return float(tail.mean()) if tail.size else float("nan")


def score_cell(runs: Sequence[RunRows], n: int) -> tuple[float, float]:
    """(mean, population std) over runs of each run's last-n mean."""
    scores = np.array([last_n_mean(r, n) for r in runs], dtype=np.float64)
    if not scores.size:
        return float("nan"), float("nan")
    return float(scores.mean()), float(scores.std())


def score_text(mean: float, std: float) -> str:
    return f"{mean:.2f} ± {std:.2f}"


def positional_summary(columns: Sequence[np.ndarray]) -> float:
    """expt's `Experiment.summary()` of one column: mean across runs at each row position, then
    the mean of the last 10% of positions (at least one)."""
    columns = [np.asarray(c, dtype=np.float64) for c in columns if len(c)]
    if not columns:
        return float("nan")
    length = max(c.size for c in columns)
    total = np.zeros(length)
    count = np.zeros(length)
    for c in columns:
        ok = ~np.isnan(c)
        total[: c.size] += np.where(ok, c, 0.0)
        count[: c.size] += ok
    with np.errstate(invalid="ignore", divide="ignore"):
        means = total / count
    means = means[count > 0]
    if not means.size:
        return float("nan")
    window = max(1, int(means.size * 0.1))
    return float(means[-window:].mean())


def runtime_summary(runs: Sequence[RunRows], unit: str = "m") -> float:
    return positional_summary([r.runtime / TIME_DIVISORS.get(unit, 1.0) for r in runs])


def step_summary(runs: Sequence[RunRows]) -> float:
    return positional_summary([r.x for r in runs])


# ------------------------------------------------------------------------------ curves
@dataclass
class RlopsCurve:
    grid: np.ndarray
    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    n_runs: int


def _fill_forward_linear(y: np.ndarray) -> np.ndarray:
    """pandas' default `Series.interpolate()`: linear over positions, NaN before the first value,
    the last value carried after the last one."""
    y = y.copy()
    ok = ~np.isnan(y)
    if ok.sum() == 0:
        return y
    idx = np.arange(y.size)
    first = int(np.argmax(ok))
    fill = idx >= first
    y[fill] = np.interp(idx[fill], idx[ok], y[ok])
    return y


def _rolling_centered(y: np.ndarray, window: int) -> np.ndarray:
    """pandas `rolling(window, min_periods=1, center=True).mean()` (NaN-skipping)."""
    if window is None or window <= 1:
        return y
    ok = ~np.isnan(y)
    vals = np.where(ok, y, 0.0)
    csum = np.concatenate([[0.0], np.cumsum(vals)])
    ccount = np.concatenate([[0], np.cumsum(ok)])
    n = y.size
    offset = window // 2  # pandas centres a window of w on i: positions i - w//2 .. i - w//2 + w - 1
    start = np.clip(np.arange(n) - offset, 0, n)
    end = np.clip(np.arange(n) - offset + window, 0, n)
    count = ccount[end] - ccount[start]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (csum[end] - csum[start]) / count
    out[count == 0] = np.nan
    return out


def rlops_curve(xs: Sequence[np.ndarray], ys: Sequence[np.ndarray], rolling: int,
                n_samples: int = N_SAMPLES) -> RlopsCurve:
    """One experiment's line and band as expt draws them in rlops (see the module docstring)."""
    pairs = [(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)) for x, y in zip(xs, ys, strict=True)]
    lo = min(float(x.min()) for x, _ in pairs if x.size)
    hi = max(float(x.max()) for x, _ in pairs if x.size)
    grid = np.linspace(lo, hi, n_samples)
    matrix = np.full((len(pairs), n_samples), np.nan)
    for i, (x, y) in enumerate(pairs):
        ok = ~np.isnan(y)
        x, y = x[ok], y[ok]
        if x.size < 2:  # expt leaves runs with fewer than two points out (all NaN)
            continue
        order = np.argsort(x, kind="stable")
        x, y = x[order], y[order]
        inside = (grid >= x[0]) & (grid <= x[-1])
        matrix[i, inside] = np.interp(grid[inside], x, y)
    count = (~np.isnan(matrix)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(matrix, axis=0) / count
        centred = np.where(np.isnan(matrix), 0.0, matrix - mean)
        std = np.sqrt((centred**2).sum(axis=0) / (count - 1))
    mean[count == 0] = np.nan
    std[count < 2] = np.nan
    lower, upper = mean - std, mean + std
    mean, lower, upper = (_rolling_centered(_fill_forward_linear(a), rolling) for a in (mean, lower, upper))
    return RlopsCurve(grid, mean, lower, upper, len(pairs))


# ------------------------------------------------------------------------------ rliable
def score_matrix(runs_by_env: Sequence[Sequence[RunRows]], n_seeds: int, nsub: int) -> np.ndarray:
    """(n_seeds, n_envs, nsub): seed i of each env interpolated at `nsub` even points of its x range."""
    out = np.zeros((n_seeds, len(runs_by_env), nsub))
    for e, runs in enumerate(runs_by_env):
        for s in range(n_seeds):
            run = runs[s]
            samples = np.linspace(run.x.min(), run.x.max(), nsub)
            out[s, e] = np.interp(samples, run.x, run.value)
    return out


def maxmin_normalize(scores: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per env: (score - min) / (max - min) over every experiment, seed and sampled point."""
    stacked = np.concatenate(list(scores.values()), axis=0)
    high = stacked.max(axis=0).max(axis=1)
    low = stacked.min(axis=0).min(axis=1)
    return {k: (v - low[None, :, None]) / (high - low)[None, :, None] for k, v in scores.items()}


def reference_normalize(scores: dict[str, np.ndarray], low: Sequence[float] | np.ndarray,
                        high: Sequence[float] | np.ndarray) -> dict[str, np.ndarray]:
    low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
    return {k: (v - low[None, :, None]) / (high - low)[None, :, None] for k, v in scores.items()}


def final_scores(normalized: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """(seeds, envs): the last sampled point, as rlops' aggregates and profiles use."""
    return {k: v[:, :, -1] for k, v in normalized.items()}
