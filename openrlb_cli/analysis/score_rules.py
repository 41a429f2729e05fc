"""Score rules: how the runs of one table cell (experiment × environment) become per-run scores.

Why a module of its own: papers report final performance in several incompatible ways, and a table
that does not say which one it used cannot be compared with anything. The rules here are the ones
RL benchmarks publish, each a pure function of the runs' ``(steps, values)`` arrays:

* ``last-n`` (N): a run's mean of its last N logged points (openrlb's default, N = 100).
* ``last-frac`` (F): a run's mean of the points in the last fraction F of its logged step range.
* ``final``: a run's last logged point (at or before the budget when there is one).
* ``max-mean``: the maximum over steps (up to the budget) of the across-seed mean curve; every run's
  score is its value at that step, so the cell is mean ± std over seeds *at that step* — the "max
  average return" of the TD3 paper's evaluation protocol, SpinningUp's and Tianshou's benchmark
  tables. The mean curve is taken on the runs' common steps (the steps every run logged) when they
  have at least half the points of the shortest run, else on an even grid over the step range every
  run covers (runs interpolated linearly, never extrapolated).
* ``auc``: a run's mean value over its step range (trapezoidal area under the curve divided by the
  range; a single point is its own value).
* ``at-step`` (S): a run's value linearly interpolated at step S (outside the run's range: error).

The budget (``--max-steps``) keeps only points at steps <= budget before any rule applies. The std
convention (``sample``: ddof = 1, ``population``: ddof = 0) is part of the rule so that every
output can state it; Tianshou's and the TD3 paper's tables use the population std (``np.std``).

Warnings (returned, never printed here): a rule that averages more than half of a run (``last-n``
with 2·N > the run's points, ``last-frac`` with F > 0.5) measures the learning curve rather than
the final performance; a run whose last logged step is before the budget is scored on less
training than the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from . import curves as cv

RULES = ("last-n", "last-frac", "final", "max-mean", "auc", "at-step")
RULES_WITH_PARAM = {"last-n": "N", "last-frac": "F", "at-step": "S"}
STD_CONVENTIONS = {"sample": 1, "population": 0}
DEFAULT_RULE = "last-n"
DEFAULT_LAST_N = 100

StepValues = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class ScoreRule:
    """A score rule with its parameter, the step budget it was applied under and the std convention."""

    rule: str = DEFAULT_RULE
    param: float | None = None  # N, F or S; last-n without one means N = 100
    budget: float | None = None
    std: str = "sample"

    def __post_init__(self) -> None:
        if self.rule == "last-n" and self.param is None:
            object.__setattr__(self, "param", float(DEFAULT_LAST_N))
        check_rule(self)

    @property
    def ddof(self) -> int:
        return STD_CONVENTIONS[self.std]

    def describe(self) -> str:
        """One phrase naming the rule, its parameter and the budget, for captions and footers."""
        p = self.param
        text = {
            "last-n": f"mean of the last {int(p or 0)} logged points of each run",
            "last-frac": f"mean over the last {(p or 0):.0%} of each run's steps",
            "final": "last logged point of each run",
            "max-mean": "maximum over steps of the mean over seeds (max average return), each seed at that step",
            "auc": "mean of each run's curve over its step range (area under the curve / range)",
            "at-step": f"value of each run interpolated at step {step_text(p or 0.0)}",
        }[self.rule]
        return text + (f", up to step {step_text(self.budget)}" if self.budget is not None else "")

    def std_text(self) -> str:
        return f"{self.std} std (ddof={self.ddof})"

    def record(self) -> dict[str, object]:
        """The fields every JSON output carries."""
        return {"rule": self.rule, "param": self.param, "max_steps": self.budget, "std": self.std,
                "ddof": self.ddof, "description": self.describe()}


def step_text(step: float) -> str:
    """1000000.0 -> '1,000,000' (whole steps in full, as papers write budgets); 2.5 -> '2.5'."""
    if float(step).is_integer() and abs(step) < 1e15:
        return f"{int(step):,}"
    return f"{step:g}"


def check_rule(rule: ScoreRule) -> None:
    """ValueError (in domain words) for an unknown rule or a parameter out of range."""
    if rule.rule not in RULES:
        raise ValueError(f"unknown score rule {rule.rule!r}; one of {', '.join(RULES)}")
    if rule.std not in STD_CONVENTIONS:
        raise ValueError(f"unknown std convention {rule.std!r}; one of {', '.join(STD_CONVENTIONS)}")
    p = rule.param
    if rule.rule in RULES_WITH_PARAM:
        if p is None or not np.isfinite(p):
            raise ValueError(f"score rule {rule.rule} needs a finite parameter {RULES_WITH_PARAM[rule.rule]}")
        if rule.rule == "last-n" and (p < 1 or p != int(p)):
            raise ValueError(f"last-n needs a whole number of points >= 1, got {p:g}")
        if rule.rule == "last-frac" and not 0 < p <= 1:
            raise ValueError(f"last-frac needs a fraction in (0, 1], got {p:g}")
    elif p is not None:
        raise ValueError(f"score rule {rule.rule} takes no parameter, got {p:g}")
    if rule.budget is not None and not rule.budget > 0:
        raise ValueError(f"the step budget must be > 0, got {rule.budget:g}")


def parse_rule(text: str) -> tuple[str, float | None]:
    """``'last-n:20'`` -> ``('last-n', 20.0)``, ``'max-mean'`` -> ``('max-mean', None)``."""
    name, sep, value = text.strip().partition(":")
    name = name.strip().lower().replace("_", "-")
    if name not in RULES:
        raise ValueError(f"unknown score rule {name!r}; one of {', '.join(RULES)}")
    if not sep:
        return name, None
    try:
        return name, float(value)
    except ValueError:
        raise ValueError(f"score rule {name}: parameter {value!r} is not a number") from None


@dataclass
class CellScores:
    """Per-run scores of one cell, in the order of the runs given, and what the rule noticed.

    ``step`` is the step a ``max-mean`` cell was taken at (None for the other rules);
    ``long_runs``/``short_runs`` name the runs the rule covers more than half of, and the runs whose
    last logged step is before the budget.
    """

    scores: np.ndarray
    step: float | None = None
    long_runs: list[str] = field(default_factory=list)
    short_runs: list[str] = field(default_factory=list)


def _budget(steps: np.ndarray, values: np.ndarray, budget: float | None) -> StepValues:
    steps, values, _ = cv.clean(steps, values)
    if budget is not None:
        end = int(np.searchsorted(steps, budget, side="right"))
        steps, values = steps[:end], values[:end]
    return steps, values


def run_score(rule: ScoreRule, steps: np.ndarray, values: np.ndarray) -> float:
    """One run's score under a per-run rule (every rule but ``max-mean``); NaN without points.

    Args:
        rule: the rule (its budget is applied here too).
        steps, values: the run's points (any order; NaN/inf points are left out).

    Returns:
        The score; ValueError for ``at-step`` outside the run's range and for ``max-mean``.
    """
    s, v = _budget(steps, values, rule.budget)
    if v.size == 0:
        return float("nan")
    if rule.rule == "last-n":
        return float(v[-int(rule.param or 1):].mean())
    if rule.rule == "last-frac":
        return cv.final_score(s, v, last_frac=rule.param)
    if rule.rule == "final":
        return float(v[-1])
    if rule.rule == "auc":
        if s[-1] == s[0]:
            return float(v.mean())
        return float(np.trapezoid(v, s) / (s[-1] - s[0]))
    if rule.rule == "at-step":
        step = float(rule.param or 0.0)
        if not s[0] <= step <= s[-1]:
            raise ValueError(f"step {step:g} is outside the run's logged range [{s[0]:g}, {s[-1]:g}]")
        return float(np.interp(step, s, v))
    raise ValueError(f"score rule {rule.rule} scores a cell, not a run (use cell_scores)")


def mean_curve_max(runs: Sequence[StepValues], grid_points: int = cv.DEFAULT_GRID_POINTS
                   ) -> tuple[int, np.ndarray, np.ndarray]:
    """Where the across-seed mean curve peaks.

    Args:
        runs: each run's cleaned, sorted ``(steps, values)`` (already cut at the budget).
        grid_points: points of the even grid used when the runs share too few steps.

    Returns:
        ``(k, steps, matrix)``: the common steps (or grid), the ``(runs, steps)`` values on them,
        and the index of the first maximum of the column means. ValueError when the runs' step
        ranges do not overlap.
    """
    arrays = [s for s, _ in runs]
    common = arrays[0]
    for s in arrays[1:]:
        common = np.intersect1d(common, s, assume_unique=False)
    shortest = min(s.size for s in arrays)
    if common.size == 0 or 2 * common.size < shortest:
        lo, hi = max(float(s[0]) for s in arrays), min(float(s[-1]) for s in arrays)
        if hi < lo:
            raise ValueError("the runs' step ranges do not overlap, so they have no common mean curve")
        common = np.array([lo]) if hi == lo else np.linspace(lo, hi, grid_points)
    matrix = cv.interpolate(arrays, [v for _, v in runs], common)
    means = matrix.mean(axis=0)
    finite = np.isfinite(means)
    if not finite.any():
        raise ValueError("the runs have no common finite mean")
    k = int(np.flatnonzero(finite)[np.argmax(means[finite])])
    return k, common, matrix


def cell_scores(rule: ScoreRule, runs: Sequence[StepValues], names: Sequence[str] | None = None,
                last_steps: Sequence[float] | None = None) -> CellScores:
    """Per-run scores of one cell under ``rule`` and the runs it warns about.

    Args:
        rule: the score rule.
        runs: each run's ``(steps, values)``.
        names: a name per run for the warnings (default: its index).
        last_steps: each run's last logged step before any budget cut (for "stops before the
            budget"; default: its last step in ``runs``).

    Returns:
        A `CellScores`; ValueError (naming the run) for ``at-step`` outside a run's range.
    """
    names = [str(i) for i in range(len(runs))] if names is None else list(names)
    cut = [_budget(s, v, rule.budget) for s, v in runs]
    out = CellScores(np.full(len(runs), np.nan))
    for i, (s, _) in enumerate(cut):
        if rule.rule == "last-n" and s.size and 2 * int(rule.param or 0) > s.size:
            out.long_runs.append(names[i])
        if rule.rule == "last-frac" and s.size > 1 and (rule.param or 0) > 0.5:
            out.long_runs.append(names[i])
        raw_steps = np.asarray(runs[i][0], dtype=np.float64)
        raw_last = float(np.nanmax(raw_steps)) if np.isfinite(raw_steps).any() else np.nan
        end = last_steps[i] if last_steps is not None else raw_last
        if rule.budget is not None and np.isfinite(end) and end < rule.budget:
            out.short_runs.append(names[i])
    if rule.rule == "max-mean":
        present = [i for i, (s, _) in enumerate(cut) if s.size]
        if present:
            k, grid, matrix = mean_curve_max([cut[i] for i in present])
            out.scores[present] = matrix[:, k]
            out.step = float(grid[k])
        return out
    for i, (s, v) in enumerate(cut):
        try:
            out.scores[i] = run_score(rule, s, v)
        except ValueError as exc:
            raise ValueError(f"run {names[i]}: {exc}") from exc
    return out


def stats(scores: np.ndarray, ddof: int = 1) -> tuple[float, float, int]:
    """(mean, std with ``ddof``, n) of the finite scores; std is NaN when n <= ddof."""
    arr = np.asarray(scores, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    n = int(arr.size)
    if n == 0:
        return float("nan"), float("nan"), 0
    std = float(arr.std(ddof=ddof)) if n > ddof else float("nan")
    return float(arr.mean()), std, n


def warning_lines(rule: ScoreRule, long_runs: Sequence[str], short_runs: Sequence[str], limit: int = 6) -> list[str]:
    """The user-facing warnings for the runs ``cell_scores`` flagged, one line per kind."""

    def listed(names: Sequence[str]) -> str:
        shown = ", ".join(names[:limit])
        return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")

    out = []
    if long_runs:
        what = (f"the last {int(rule.param or 0)} points" if rule.rule == "last-n"
                else f"the last {(rule.param or 0):.0%} of the steps")
        out.append(f"score rule {rule.rule}: {what} cover more than half of {len(long_runs)} run(s), so the "
                   f"score averages the learning curve, not the final performance: {listed(long_runs)}")
    if short_runs:
        out.append(f"{len(short_runs)} run(s) stop before the step budget {rule.budget:g} and are scored on "
                   f"less training: {listed(short_runs)}")
    return out


__all__ = [
    "DEFAULT_LAST_N", "DEFAULT_RULE", "RULES", "RULES_WITH_PARAM", "STD_CONVENTIONS", "CellScores", "ScoreRule",
    "cell_scores", "check_rule", "mean_curve_max", "parse_rule", "run_score", "stats", "warning_lines",
]
