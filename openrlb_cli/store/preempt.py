"""Preemption: a resumed job's points replace the dead job's points from the step it resumed at.

Why: a job that reaches step 900, crashes and resumes from its step-500 checkpoint writes steps
500..900 again into the same run (a new event file in the same folder, an appended log). Kept side
by side, the dead job's points make the curve a sawtooth and its last point (step 900) the run's
"last value". TensorBoard's data server (`tensorboard/data/server/reservoir.rs`) treats this as the
normal mode of a log: per series, in the order it reads (event files by name, records in file
order), a record at step ``s`` preempts the records with step >= ``s`` seen before it. We do the
same, with one difference: points at a step *equal* to the last one are kept (several episodes end at
one global step in vectorised RL; TensorBoard keeps only the last of them). So a point preempts
exactly when its step is lower than the step of the point before it, and then it removes every
earlier point whose step is >= its own.

Points whose step is not finite (NaN) take no part: they are never preempted and preempt nothing.
"""

from __future__ import annotations

import numpy as np


def preemption(steps: np.ndarray, prior_last: float | None = None) -> tuple[np.ndarray | None, float | None]:
    """Which of ``steps`` (one series' new points, in the order they were written) survive, and from
    which step the points stored before them are preempted.

    Args:
        steps: the new points' steps, float64, in file order.
        prior_last: the step of the last point already stored for the series (its largest, since
            stored series are kept in step order by this rule), or None when nothing is stored.

    Returns:
        ``(keep, cut)``: ``keep`` is a boolean mask over ``steps`` (None: keep all, the usual case);
        ``cut`` is the step from which stored points are preempted (stored points with step >= cut
        go), or None when none are.
    """
    n = steps.shape[0]
    if n == 0:
        return None, None
    with np.errstate(invalid="ignore"):
        first_ok = prior_last is None or not steps[0] < prior_last
        if first_ok and (n == 1 or bool((steps[1:] >= steps[:-1]).all())):
            return None, None  # non-decreasing and not below what is stored: nothing to do
    finite = np.isfinite(steps)
    if not finite.all():  # work on the finite steps only; the others are kept
        idx = np.flatnonzero(finite)
        sub, cut = preemption(steps[idx], prior_last)
        if sub is None:
            return None, cut
        keep = np.ones(n, dtype=bool)
        keep[idx[~sub]] = False
        return keep, cut
    prev = np.empty(n)
    prev[0] = -np.inf if prior_last is None or not np.isfinite(prior_last) else prior_last
    prev[1:] = steps[:-1]
    # point j preempts when it is below the point written just before it (that one is always kept
    # until j arrives); point i survives unless a later preempting point has a step <= its own
    preempting = np.where(steps < prev, steps, np.inf)
    later = np.minimum.accumulate(preempting[::-1])[::-1]  # min over j >= i
    after = np.empty(n)
    after[:-1] = later[1:]
    after[-1] = np.inf
    keep = steps < after
    cut = float(later[0]) if np.isfinite(later[0]) else None
    return (None if keep.all() else keep), cut

