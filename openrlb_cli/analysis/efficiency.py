"""Sample-efficiency curves: an aggregate at every point of training, with honest intervals.

Input is ``(runs, tasks, points)``: every run already evaluated on a common grid of steps (see
``curves.interpolate``; a run that did not reach a grid point is NaN there and simply does not
count at that point).

Two kinds of interval:

* ``aggregate_curve``: an aggregate (IQM by default) at each point with pointwise intervals.
  Each bootstrap replicate resamples runs within tasks once and uses that resample at every
  point, so the band is the band of a coherent curve. (rliable draws a separate resample per
  point; each point's marginal interval is the same in distribution either way.)
* ``curve_statistic_interval``: one number summarising whole curves (e.g. IQM of normalized
  area under the curve, see ``auc_statistic``), where resampling entire runs is what makes the
  interval honest — points of one run are correlated, so resampling points would understate it.

Memory: a replicate batch is processed in slices of at most ``bootstrap_resample.ELEMENT_BUDGET`` values,
so ``reps × runs × tasks × points`` is never materialised.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from . import bootstrap as _bs
from . import bootstrap_resample
from . import estimators as agg
from ._layout import ScoresLike
from .bootstrap import (
    Band,
    BatchStatistic,
    Interval,
    Resampler,
    SeedLike,
    _seed_record,
    bootstrap_interval,
    estimate,
)


def _pointwise_evaluator(rs: Resampler, fn: BatchStatistic) -> Callable[[np.ndarray], np.ndarray]:
    """Evaluate a ``(reps, runs, tasks) -> (reps,)`` statistic at every point of index batches.

    The data is kept point-major ``(points, cells)`` and gathered one point at a time into a
    ``(points, reps, runs·tasks)`` buffer, so the pooled axis is contiguous (the layout the IQM's
    sort wants; a single fancy-index gather would produce a strided array) and points × reps are
    handed to ``fn`` as one flat batch.
    """
    points = int(np.prod(rs.rest, dtype=np.int64))
    table = np.ascontiguousarray(rs.flat.T)  # (points, cells)
    cells = rs.runs * rs.tasks
    step = max(1, bootstrap_resample.ELEMENT_BUDGET // max(1, points * cells))

    def evaluate(idx: np.ndarray) -> np.ndarray:
        parts = []
        for a in range(0, len(idx), step):
            src = rs.source(idx[a : a + step]).reshape(-1, cells)
            vals = np.empty((points, src.shape[0], cells))
            for p in range(points):
                np.take(table[p], src, out=vals[p])
            out = np.asarray(fn(vals.reshape(-1, rs.runs, rs.tasks)))
            parts.append(out.reshape(points, -1).T)
        return np.concatenate(parts, axis=0)

    return evaluate


def _iqm_curve_evaluator(rs: Resampler) -> Callable[[np.ndarray], np.ndarray]:
    """Pointwise IQM from index batches via per-point ranks (see ``bootstrap._FastAggregates``).

    Valid when every present run has a value at every point, so each replicate pools the same
    number of scores at each point. Works one point at a time on ``(reps, runs·tasks)`` int32
    ranks, so memory is a few replicate-sized arrays whatever the number of points.
    """
    table = np.ascontiguousarray(rs.flat.T)  # (points, cells), NaN for missing and sentinel
    order = np.argsort(table, axis=1, kind="stable")  # NaN last
    sorted_values = np.take_along_axis(table, order, axis=1)
    ranks = np.empty(order.shape, dtype=np.int32)
    np.put_along_axis(ranks, order, np.arange(order.shape[1], dtype=np.int32)[None, :], axis=1)
    lo, hi = agg._trim_bounds(int(rs.counts.sum()))
    cells = rs.runs * rs.tasks

    step = _bs.cache_block(cells)

    def evaluate(idx: np.ndarray) -> np.ndarray:
        out = np.empty((idx.shape[0], table.shape[0]))
        for a in range(0, idx.shape[0], step):
            src = rs.source(idx[a : a + step]).reshape(-1, cells)
            buf = np.empty(src.shape, dtype=np.int32)
            for p in range(table.shape[0]):
                np.take(ranks[p], src, out=buf)
                buf.sort(axis=1)
                out[a : a + src.shape[0], p] = np.take(sorted_values[p], buf[:, lo:hi]).mean(axis=1)
        return out

    return evaluate


def _resolve(aggregate: str | BatchStatistic, gamma: float) -> BatchStatistic:
    return agg.batch_aggregate(aggregate, gamma) if isinstance(aggregate, str) else aggregate


def aggregate_curve(
    curves: ScoresLike,
    aggregate: str | BatchStatistic = "iqm",
    *,
    steps: ArrayLike | None = None,
    gamma: float = 1.0,
    reps: int = 2_000,
    ci: float = 0.95,
    method: str = "percentile",
    seed: SeedLike = None,
    workers: int | None = None,
    task_bootstrap: bool = False,
) -> Band:
    """An aggregate of ``(runs, tasks, points)`` curves at each point, with pointwise intervals.

    ``aggregate`` is a name from ``aggregates.AGGREGATE_NAMES`` or a batch function
    ``(reps, runs, tasks) -> (reps,)`` that treats NaN as missing. ``steps`` is only carried into
    the result as its ``grid``. ``task_bootstrap`` resamples tasks too (rliable's option).
    """
    rs = Resampler(curves, task_bootstrap)
    if len(rs.rest) != 1:
        raise ValueError(f"curves must have shape (runs, tasks, points); got {rs.data.shape}")
    fn = _resolve(aggregate, gamma)
    exact = _pointwise_evaluator(rs, fn)
    complete = not np.isnan(rs.data[rs.mask]).any()  # no present run lacks a point
    evaluate = _iqm_curve_evaluator(rs) if aggregate == "iqm" and complete else exact
    point = None
    if isinstance(aggregate, str) and rs.balanced and complete:
        # The reference definitions, so the curve matches rliable's point estimates exactly.
        point = np.array([agg.aggregate(aggregate, rs.data[..., p], gamma) for p in range(rs.rest[0])])
    point, lower, upper = estimate(
        rs, evaluate, reps=reps, ci=ci, method=method, seed=seed, workers=workers, exact=exact, point=point
    )
    grid = None if steps is None else np.asarray(steps, dtype=np.float64)
    if grid is not None and grid.shape != point.shape:
        raise ValueError(f"steps has shape {grid.shape} but the curves have {point.shape[0]} points")
    return Band(point, lower, upper, int(reps), ci, method, _seed_record(seed), grid)


def curve_statistic_interval(
    curves: ScoresLike,
    stat_fn: BatchStatistic,
    *,
    reps: int = 2_000,
    ci: float = 0.95,
    method: str = "percentile",
    seed: SeedLike = None,
    workers: int | None = None,
) -> Interval:
    """Interval for a whole-curve statistic ``(reps, runs, tasks, points) -> (reps,)``.

    Entire runs are resampled within tasks, so statistics combining several points of a run
    (area under the curve, steps to reach a threshold) get intervals that respect the
    correlation between a run's points.
    """
    return bootstrap_interval(curves, stat_fn, reps=reps, ci=ci, method=method, seed=seed, workers=workers)


def normalized_auc(curves: np.ndarray, steps: ArrayLike | None = None) -> np.ndarray:
    """Area under each curve (last axis) divided by the step span: the curve's average height.

    Trapezoid rule over ``steps`` (evenly spaced when None). Dividing by the span keeps the
    result on the score scale, so an AUC of normalized scores reads like a normalized score. A
    curve with any NaN point gets NaN (treated as a missing run by the aggregates): put curves on
    a grid every run covers first.
    """
    y = np.asarray(curves, dtype=np.float64)
    n = y.shape[-1]
    if n == 1:
        return y[..., 0].copy()
    if steps is None:
        x = np.arange(n, dtype=np.float64)
    else:
        x = np.asarray(steps, dtype=np.float64)
        if x.shape != (n,):
            raise ValueError(f"steps has shape {x.shape}; expected ({n},)")
    span = x[-1] - x[0]
    if span <= 0:
        raise ValueError("steps must increase")
    widths = np.diff(x)
    area = ((y[..., 1:] + y[..., :-1]) * widths).sum(axis=-1) / 2.0
    return area / span


def auc_statistic(
    steps: ArrayLike | None = None, aggregate: str | BatchStatistic = "iqm", gamma: float = 1.0
) -> BatchStatistic:
    """A whole-curve statistic for ``curve_statistic_interval``: aggregate of per-run normalized AUC."""
    fn = _resolve(aggregate, gamma)
    grid = None if steps is None else np.asarray(steps, dtype=np.float64)

    def stat(batch: np.ndarray) -> np.ndarray:
        return fn(normalized_auc(batch, grid))

    return stat
