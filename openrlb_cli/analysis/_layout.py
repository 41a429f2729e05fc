"""The one score layout every analysis function works on: a NaN-padded ``(runs, tasks, ...)`` array.

Why one layout: experiments rarely have the same number of seeds on every task (a crashed run, a
task added later). rliable assumes a full ``(runs, tasks)`` matrix; we keep that layout, so its
definitions carry over unchanged, and mark a missing run with NaN. A run counts as present when at
least one of its values is finite (for curves a run may be NaN at some points — steps it never
reached — and still be present).

Accepted inputs (``ScoresLike``):

* an array of shape ``(runs, tasks)`` or ``(runs, tasks, points)``; NaN rows mean missing runs;
* a list or tuple with one entry per task, each of shape ``(runs_t,)`` or ``(runs_t, points)``.

``as_padded`` converts either to a float64 array whose present runs come first in every task
("compacted"). Row order does not matter for anything computed here: the stratified bootstrap
resamples each task independently, so run ``i`` of task ``a`` and run ``i`` of task ``b`` are
never paired.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

ScoresLike = np.ndarray | Sequence[ArrayLike]


def as_padded(scores: ScoresLike) -> np.ndarray:
    """Return ``scores`` as a compacted NaN-padded float64 array ``(runs, tasks, ...)``.

    Raises ``ValueError`` for a shape that is not at least ``(runs, tasks)``, for tasks whose
    entries disagree on the number of points, and for a task with no run at all (every
    statistic here is undefined for it, so failing early names the problem).
    """
    if not isinstance(scores, (list, tuple)):  # ndarray, DataFrame, anything array-like
        data = np.asarray(scores, dtype=np.float64)
        if data.ndim < 2:
            raise ValueError(f"scores must have shape (runs, tasks[, points]); got shape {data.shape}")
    else:
        per_task = [np.atleast_1d(np.asarray(s, dtype=np.float64)) for s in scores]
        if not per_task:
            raise ValueError("scores has no tasks")
        rest = {t.shape[1:] for t in per_task}
        if len(rest) != 1:
            raise ValueError(f"per-task score arrays disagree on trailing shape: {sorted(rest)}")
        trailing = rest.pop()
        runs = max(t.shape[0] for t in per_task)
        data = np.full((runs, len(per_task), *trailing), np.nan)
        for j, t in enumerate(per_task):
            data[: t.shape[0], j] = t
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise ValueError(f"scores must have at least one run and one task; got shape {data.shape}")
    present = run_mask(data)
    empty = np.flatnonzero(~present.any(axis=0))
    if empty.size:
        raise ValueError(f"task(s) at index {empty.tolist()} have no runs (all values NaN)")
    if present.all():
        return np.ascontiguousarray(data)
    # Stable sort puts present runs first within each task, preserving their order.
    order = np.argsort(~present, axis=0, kind="stable")
    order = order.reshape(order.shape + (1,) * (data.ndim - 2))
    return np.ascontiguousarray(np.take_along_axis(data, order, axis=0))


def run_mask(data: np.ndarray) -> np.ndarray:
    """``(runs, tasks)`` boolean mask of present runs: any finite value along the trailing axes."""
    if data.ndim == 2:
        return ~np.isnan(data)
    return ~np.isnan(data).all(axis=tuple(range(2, data.ndim)))


def run_counts(data: np.ndarray) -> np.ndarray:
    """Number of present runs per task of a padded array, shape ``(tasks,)``."""
    return run_mask(data).sum(axis=0)
