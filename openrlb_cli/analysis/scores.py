"""Score matrices for aggregate metrics: per-run scores arranged as one ``(runs, tasks)`` array per experiment.

Why a module of its own: the aggregates, profiles and probability of improvement all take the
NaN-padded layout of ``_layout``, and building it is where the policy decisions live — how a run
gets one score, what happens when an experiment lacks a task, which step range a curve covers.
Keeping them here (pure numpy, no store, no CLI) makes them testable by hand and shared by
`openrlb aggregate` and the report.

Policies:

* **A run's score** is its final score (``curves.final_score``: mean of the last N logged points,
  or of the last fraction of its step range) or, with ``score_at_step``, its value linearly
  interpolated at one step; a step outside the run's logged range is an error, never an
  extrapolation.
* **Unequal run counts** are fine: a task with fewer runs is NaN-padded (stratified resampling
  draws each task's runs among its own).
* **A missing task** (an experiment with no run at all in a task) is an error naming the
  experiment and the task(s) — unless ``allow_missing_tasks``. Then the task's column is all NaN
  in that experiment's matrix, ``ScoreMatrix.present`` marks it, and callers aggregate each
  experiment over the tasks it has (``ScoreMatrix.compact``) and compare two experiments over the
  tasks both have (``shared_tasks``). A task no experiment has is always an error.
* **Curve grids** (sample efficiency): ``efficiency_grid`` spans the steps at which every task of
  an experiment has at least one run (from the latest first step of any task to the earliest
  last step of any task); ``shared_range`` is the range that every run covers, for whole-curve
  statistics such as the area under the curve. Runs are interpolated only inside their own range.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import curves as cv
from . import normalize as nz

StepValues = tuple[np.ndarray, np.ndarray]


class MissingTaskError(ValueError):
    """An experiment without any run in some task(s); ``label`` and ``env_ids`` name them."""

    def __init__(self, label: str, env_ids: Sequence[str]):
        self.label = label
        self.env_ids = list(env_ids)
        tasks = ", ".join(repr(e) for e in self.env_ids)
        super().__init__(f"experiment {label!r} has no run in task{'s' if len(self.env_ids) > 1 else ''} {tasks}")


@dataclass(frozen=True)
class ScoreMatrix:
    """One experiment's scores: ``values`` is ``(runs, tasks)``, NaN-padded, columns = ``env_ids``."""

    label: str
    env_ids: tuple[str, ...]
    values: np.ndarray

    @property
    def counts(self) -> np.ndarray:
        """Runs per task, shape ``(tasks,)``."""
        return (~np.isnan(self.values)).sum(axis=0)

    @property
    def present(self) -> np.ndarray:
        """Boolean mask of the tasks that have at least one run."""
        return self.counts > 0

    @property
    def n_runs(self) -> int:
        return int(self.counts.sum())

    @property
    def n_tasks(self) -> int:
        return int(self.present.sum())

    @property
    def missing(self) -> list[str]:
        return [e for e, p in zip(self.env_ids, self.present, strict=True) if not p]

    def compact(self, tasks: np.ndarray | None = None) -> np.ndarray:
        """The columns of ``tasks`` (a boolean mask; default: the present tasks) as a ``(runs, k)`` array."""
        mask = self.present if tasks is None else np.asarray(tasks, dtype=bool)
        cols = self.values[:, mask]
        keep = ~np.isnan(cols).all(axis=1)  # drop rows that only padded the other tasks
        return cols[keep] if keep.any() else cols[:1]


def score_at_step(steps: np.ndarray, values: np.ndarray, step: float) -> float:
    """A run's value linearly interpolated at ``step``; ValueError when outside its logged range."""
    steps, values, _ = cv.clean(steps, values)
    if steps.size == 0:
        raise ValueError("the run has no finite points")
    if not steps[0] <= step <= steps[-1]:
        raise ValueError(f"step {step:g} is outside the run's logged range [{steps[0]:g}, {steps[-1]:g}]")
    return float(np.interp(step, steps, values))


def build_matrices(
    cells: Mapping[tuple[str, str], Sequence[float]],
    labels: Sequence[str],
    env_ids: Sequence[str],
    *,
    allow_missing_tasks: bool = False,
) -> dict[str, ScoreMatrix]:
    """``{(label, env): run scores}`` -> ``{label: ScoreMatrix}`` with every matrix over all ``env_ids``.

    Non-finite scores are left out (a run without a score is not a run). Raises
    ``MissingTaskError`` for the first experiment lacking a task (unless ``allow_missing_tasks``),
    and ValueError for a task no experiment has or an experiment with no task at all.
    """
    env_ids = list(env_ids)
    if not env_ids:
        raise ValueError("no tasks selected")
    columns: dict[str, list[np.ndarray]] = {}
    for label in labels:
        cols = []
        for env in env_ids:
            arr = np.asarray(cells.get((label, env), ()), dtype=np.float64).ravel()
            cols.append(arr[np.isfinite(arr)])
        columns[label] = cols
    nobody = [e for t, e in enumerate(env_ids) if all(columns[lbl][t].size == 0 for lbl in labels)]
    if nobody:
        raise ValueError(f"no experiment has a run in task{'s' if len(nobody) > 1 else ''} "
                         + ", ".join(repr(e) for e in nobody))
    out = {}
    for label in labels:
        cols = columns[label]
        missing = [e for e, c in zip(env_ids, cols, strict=True) if c.size == 0]
        if missing and (not allow_missing_tasks or len(missing) == len(env_ids)):
            if len(missing) == len(env_ids):
                raise ValueError(f"experiment {label!r} has no run in any selected task")
            raise MissingTaskError(label, missing)
        runs = max(c.size for c in cols)
        values = np.full((runs, len(env_ids)), np.nan)
        for t, c in enumerate(cols):
            values[: c.size, t] = c
        out[label] = ScoreMatrix(label, tuple(env_ids), values)
    return out


def shared_tasks(a: ScoreMatrix, b: ScoreMatrix) -> np.ndarray:
    """Mask of the tasks both experiments have (what a pairwise comparison may use)."""
    return a.present & b.present


def resolve_normalization(spec: str) -> tuple[str, Path | None]:
    """``'atari'|'maxmin'|'none'`` or a CSV path -> ``(method, path)`` for ``normalize.reference_scores``."""
    name = spec.strip()
    if name.lower() in ("atari", "maxmin", "none"):
        return name.lower(), None
    return "csv", Path(name)


def reference_ranges(
    matrices: Mapping[str, ScoreMatrix], method: str, csv_path: str | Path | None = None
) -> dict[str, tuple[float, float]]:
    """``(low, high)`` per task; for ``maxmin`` over every score of every experiment pooled.

    Raises ``normalize.UnknownEnvError`` for a task the reference table lacks, ValueError otherwise.
    """
    env_ids = list(next(iter(matrices.values())).env_ids)
    pooled = None
    if method == "maxmin":
        pooled = {"selection": {e: np.concatenate([m.values[:, t] for m in matrices.values()])
                                for t, e in enumerate(env_ids)}}
    return nz.reference_scores(method, env_ids, pooled, csv_path)


def normalize_matrices(
    matrices: Mapping[str, ScoreMatrix], references: Mapping[str, tuple[float, float]]
) -> dict[str, ScoreMatrix]:
    """Every matrix mapped to ``(score − low)/(high − low)`` per task (NaN padding stays NaN)."""
    out = {}
    for label, m in matrices.items():
        values = nz.normalize_by_env(m.values, m.env_ids, references)
        out[label] = ScoreMatrix(label, m.env_ids, np.asarray(values))
    return out


def efficiency_grid(runs_by_task: Sequence[Sequence[StepValues]], points: int) -> np.ndarray:
    """``points`` even steps where every task has at least one run (see module docstring).

    ``runs_by_task`` holds, per task, each run's sorted ``(steps, values)``. ValueError when the
    tasks' step ranges do not overlap.
    """
    firsts = [min(float(s[0]) for s, _ in runs) for runs in runs_by_task if runs]
    lasts = [max(float(s[-1]) for s, _ in runs) for runs in runs_by_task if runs]
    if not firsts:
        raise ValueError("no runs with points")
    lo, hi = max(firsts), min(lasts)
    if hi < lo:
        raise ValueError(f"the tasks' step ranges do not overlap (latest start {lo:g} > earliest end {hi:g})")
    return np.array([lo]) if hi == lo else np.linspace(lo, hi, int(points))


def shared_range(runs: Sequence[StepValues]) -> tuple[float, float]:
    """The step range every run covers: ``(latest first step, earliest last step)``; ValueError if empty."""
    if not runs:
        raise ValueError("no runs with points")
    lo = max(float(s[0]) for s, _ in runs)
    hi = min(float(s[-1]) for s, _ in runs)
    if hi <= lo:
        raise ValueError(f"the runs share no step range (latest start {lo:g}, earliest end {hi:g})")
    return lo, hi


def curve_array(runs_by_task: Sequence[Sequence[StepValues]], grid: np.ndarray) -> np.ndarray:
    """``(runs, tasks, len(grid))`` NaN-padded: each run interpolated inside its own range only."""
    grid = np.asarray(grid, dtype=np.float64)
    runs = max((len(r) for r in runs_by_task), default=0)
    out = np.full((max(runs, 1), len(runs_by_task), grid.size), np.nan)
    for t, task_runs in enumerate(runs_by_task):
        if task_runs:
            steps, values = zip(*task_runs, strict=True)
            out[: len(task_runs), t] = cv.interpolate(list(steps), list(values), grid)
    return out


def normalize_curves(curves: np.ndarray, env_ids: Sequence[str],
                     references: Mapping[str, tuple[float, float]]) -> np.ndarray:
    """``(runs, tasks, points)`` curves on the same per-task scale as the final scores."""
    return np.asarray(nz.normalize_by_env(curves, env_ids, references))


__all__ = [
    "MissingTaskError", "ScoreMatrix", "build_matrices", "curve_array", "efficiency_grid", "normalize_curves",
    "normalize_matrices", "reference_ranges", "resolve_normalization", "score_at_step", "shared_range",
    "shared_tasks",
]
