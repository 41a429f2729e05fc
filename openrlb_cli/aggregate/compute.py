"""Selection -> per-run scores -> normalization -> interval estimates, as one `AggregateResult`.

Why here and not in `analysis`: this is where the store-backed selection (`selection`) meets the
pure statistics (`analysis.*`), and where user-facing errors are raised (one line naming the
experiment, task, env or option).

Seeding: each estimate draws from its own stream, ``SeedSequence([seed, crc32(part), ...])`` with
the parts naming what is estimated (``stream(seed, "aggregates", label)``). An experiment's
intervals therefore depend on ``--seed`` and its own data only — adding or reordering other
experiments leaves them bit-for-bit unchanged — and the same command gives identical bytes.

Interval methods: ``--method`` (percentile, basic, bc or bca, as rliable) applies to the aggregate
intervals and to the probability of improvement. Profile and sample-efficiency bands are always
percentile: pointwise BC/BCa is undefined where every replicate equals the estimate (a profile at 0 or 1).
``task_bootstrap`` (rliable's option) resamples tasks as well as runs for the aggregate intervals,
profiles and curves; as in rliable, not for P(X > Y), and it needs equal run counts in every task.

Sample-efficiency curves: per experiment, ``curve_points`` even steps where each of its tasks has
a run (``scores.efficiency_grid``), every run interpolated inside its own range only, normalized
with the same per-task references as the final scores. ``whole_curve_auc`` adds the aggregates of
each run's normalized area under the curve over the steps every selected run covers.

Missing tasks (``allow_missing_tasks``): an experiment's aggregates, profiles and curves use the
tasks it has; a probability of improvement uses the tasks both experiments have; ``n_tasks`` in
every record says how many. A warning names what was left out.
"""

from __future__ import annotations

import dataclasses
import warnings
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from openrlb_cli.analysis import bootstrap as bs
from openrlb_cli.analysis import efficiency as eff
from openrlb_cli.analysis import estimators as agg
from openrlb_cli.analysis import improvement as imp
from openrlb_cli.analysis import normalize as nz
from openrlb_cli.analysis import profiles as pf
from openrlb_cli.analysis import score_rules as sr
from openrlb_cli.analysis import scores as sc
from openrlb_cli.errors import InputError, SelectionError
from openrlb_cli.selection import ALLOW_MISSING_HINT, Curves, load_curves, relabel, resolve
from openrlb_cli.store import Store

METRIC_TITLES = {"iqm": "IQM", "median": "Median", "mean": "Mean", "optimality_gap": "Optimality gap"}
NORMALIZATIONS = ("atari", "maxmin", "none")
ALLOW_HINT = "with missing tasks allowed, each experiment is aggregated over the tasks it has"


@dataclass
class AggregateOptions:
    """Every choice that changes the numbers (all recorded in the JSON output)."""

    normalize: str = "maxmin"  # atari | maxmin | none | path of a reference CSV
    last_n: int | None = 100
    last_frac: float | None = None
    at_step: float | None = None
    score: sr.ScoreRule | None = None  # the score rule; None = from last_n / last_frac / at_step
    reps: int = 50_000
    profile_reps: int = 2_000
    poi_reps: int = 2_000
    curve_reps: int = 2_000
    ci: float = 0.95
    method: str = "percentile"
    seed: int = 0
    gamma: float = 1.0
    tau_points: int = 101
    tau_max: float | None = None  # profiles over τ in [0, tau_max]; None: from the normalization (see taus_for)
    curve_points: int = 50  # 0 = no sample-efficiency curves
    curve_aggregate: str = "iqm"
    whole_curve_auc: bool = False
    allow_missing_tasks: bool = False
    task_bootstrap: bool = False  # resample tasks too (rliable's task_bootstrap=True)
    workers: int | None = None  # threads; never changes the numbers

    def rule(self) -> sr.ScoreRule:
        """The score rule these options mean (``score`` wins over the older fields)."""
        if self.score is not None:
            return self.score
        if self.at_step is not None:
            return sr.ScoreRule("at-step", self.at_step)
        if self.last_frac is not None:
            return sr.ScoreRule("last-frac", self.last_frac)
        return sr.ScoreRule("last-n", self.last_n)

    def recorded(self) -> dict[str, object]:
        out = dataclasses.asdict(self)
        out.pop("workers")
        out["score"] = self.rule().record()
        return out


@dataclass
class AggregateResult:
    options: AggregateOptions
    labels: list[str]
    env_ids: list[str]
    metric: str  # the store key(s) the scores come from
    score_how: str  # how one run becomes one score
    normalization: str  # 'maxmin', 'atari', 'none' or the CSV path
    references: dict[str, tuple[float, float]]
    raw: dict[str, sc.ScoreMatrix]
    normalized: dict[str, sc.ScoreMatrix]
    run_uids: dict[tuple[str, str], list[str]]  # (label, env) -> run uids in matrix row order
    intervals: dict[str, dict[str, bs.Interval]]  # label -> metric -> interval
    taus: np.ndarray
    profiles: dict[str, dict[str, bs.Band]]  # label -> 'run' | 'average' -> band over taus
    improvement: imp.ImprovementMatrix
    pair_tasks: np.ndarray  # (e, e) number of tasks each comparison used
    efficiency: dict[str, bs.Band] = field(default_factory=dict)  # label -> curve (grid = steps)
    auc_grid: np.ndarray | None = None  # steps the AUC metrics integrate over
    warnings: list[str] = field(default_factory=list)
    step_axis: str = "Steps"  # what the steps count (render.styles.step_axis_label), for the efficiency figure

    @property
    def metrics(self) -> list[str]:
        return list(next(iter(self.intervals.values())))


def stream(seed: int, *parts: str) -> np.random.SeedSequence:
    """The random stream of one estimate (see module docstring)."""
    return np.random.SeedSequence([int(seed), *(zlib.crc32(p.encode("utf-8")) for p in parts)])


def check_options(o: AggregateOptions) -> None:
    """Bad option values -> one InputError line (before any data is read)."""
    checks = [
        (o.last_frac is None or 0 < o.last_frac <= 1, f"last_frac must be in (0, 1], got {o.last_frac}", "last_frac"),
        (o.last_n is None or o.last_n >= 1, f"last_n must be >= 1, got {o.last_n}", "last_n"),
        (min(o.reps, o.profile_reps, o.poi_reps, o.curve_reps) >= 1, "reps and the other *_reps must be >= 1",
         ("reps", "profile_reps", "poi_reps", "curve_reps")),
        (0 < o.ci < 1, f"ci must be strictly between 0 and 1, got {o.ci:g}", "ci"),
        (o.method in bs.METHODS, f"method must be one of {', '.join(bs.METHODS)}, got {o.method!r}", "method"),
        (o.seed >= 0, f"bootstrap seed must be >= 0, got {o.seed}", "bootstrap_seed"),
        (o.tau_points >= 2, f"tau_points must be >= 2, got {o.tau_points}", "tau_points"),
        (o.tau_max is None or o.tau_max > 0, f"tau_max must be > 0, got {o.tau_max}", "tau_max"),
        (o.curve_points == 0 or o.curve_points >= 2, f"curve_points must be 0 (off) or >= 2, got {o.curve_points}",
         "curve_points"),
        (o.curve_aggregate in agg.AGGREGATE_NAMES,
         f"curve_aggregate must be one of {', '.join(agg.AGGREGATE_NAMES)}, got {o.curve_aggregate!r}",
         "curve_aggregate"),
        (np.isfinite(o.gamma), "gamma must be finite", "gamma"),
        (o.at_step is None or np.isfinite(o.at_step), "at_step must be finite", "at_step"),
    ]
    for ok, message, option in checks:
        if not ok:
            raise InputError(message, option=tuple(option) if not isinstance(option, str) else option)
    method, path = sc.resolve_normalization(o.normalize)
    if method == "csv" and not path.is_file():  # type: ignore[union-attr]
        raise InputError(f"normalization {o.normalize!r}: not atari, maxmin or none, and no such reference CSV file",
                         option="normalize")


def load(store: Store, specs: Sequence[str], env_ids: Sequence[str] | None, metric: str | None,
         allow_missing_tasks: bool = False, x: str = "step", max_steps: float | None = None,
         labels: dict[str, str] | None = None) -> Curves:
    """Resolve the selection and load its curves (`x`: step or a series key, see `load_curves`);
    a missing spec × env names both."""
    try:
        selection = resolve(store, list(specs), env_ids, metric, allow_missing=allow_missing_tasks)
    except SelectionError as exc:
        if "allow_missing" not in exc.options:
            raise
        text = str(exc).replace(ALLOW_MISSING_HINT, ALLOW_HINT)
        raise SelectionError(text, option="allow_missing_tasks") from exc
    relabel(selection, labels or {})
    return load_curves(store, selection, x=x, max_steps=max_steps)


def score_description(o: AggregateOptions) -> str:
    return o.rule().describe()


def _run_scores(curves: Curves, o: AggregateOptions, sink: list[str] | None = None) -> tuple[dict, dict]:
    """Per-run scores under the options' rule (``max-mean``: each run at its cell's best mean step)."""
    sel = curves.selection
    rule = o.rule()
    cells: dict[tuple[str, str], list[float]] = {}
    uids: dict[tuple[str, str], list[str]] = {}
    long_runs: list[str] = []
    short_runs: list[str] = []
    for label in sel.labels:
        for env in sel.env_ids:
            runs = curves.get(label, env)
            names = [rc.run.uid for rc in runs]
            for rc in runs:
                if rule.rule == "at-step":
                    try:
                        sr.run_score(rule, rc.steps, rc.values)
                    except ValueError as exc:
                        who = f"{label} / {env}" + (f", seed {rc.run.seed}" if rc.run.seed is not None else "")
                        raise InputError(f"at_step: run {rc.run.uid} ({who}): {exc}", option="at_step") from exc
            try:
                cell = sr.cell_scores(rule, [(rc.steps, rc.values) for rc in runs], names,
                                      [rc.last_step for rc in runs])
            except ValueError as exc:
                raise InputError(f"score rule {rule.rule}: {label} / {env}: {exc}", option="score_rule") from exc
            long_runs += cell.long_runs
            short_runs += cell.short_runs
            cells[(label, env)], uids[(label, env)] = [float(v) for v in cell.scores], names
    if sink is not None:
        sink += sr.warning_lines(rule, long_runs, short_runs)
    return cells, uids


@contextmanager
def _collect_warnings(sink: list[str], where: str) -> Iterator[None]:
    """Keep BCa's 'undefined' warnings as user warnings; numpy's all-NaN notices show as null bounds."""
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
        warnings.simplefilter("always")
        yield
    for w in caught:
        text = str(w.message)
        if text.startswith("BCa"):
            message = f"{where}: {text.split(';')[0]}; its bounds are null"
            if message not in sink:
                sink.append(message)


def _references(raw: dict[str, sc.ScoreMatrix], o: AggregateOptions) -> dict[str, tuple[float, float]]:
    method, path = sc.resolve_normalization(o.normalize)
    try:
        refs = sc.reference_ranges(raw, method, path)
    except nz.UnknownEnvError as exc:
        missing, total = exc.missing, len(next(iter(raw.values())).env_ids)
        listed = ", ".join(missing[:8]) + (", ..." if len(missing) > 8 else "")
        raise SelectionError(
            f"normalization {o.normalize}: no reference scores for {len(missing)} of the {total} envs "
            f"({listed}) in {exc.source}; choose the tasks (env ids) that have them", option=("normalize", "env_ids")
        ) from exc
    except ValueError as exc:
        raise InputError(f"normalization {o.normalize}: {exc}", option="normalize") from exc
    flat = [env for env, (lo, hi) in refs.items() if not (np.isfinite(lo) and np.isfinite(hi) and hi != lo)]
    if flat:
        raise InputError(f"normalization {o.normalize}: reference range of env {flat[0]!r} is empty or not finite "
                         f"({refs[flat[0]][0]:g}, {refs[flat[0]][1]:g})", option="normalize")
    return refs


def compute(curves: Curves, opts: AggregateOptions | None = None) -> AggregateResult:
    """Every aggregate estimate for the loaded selection (see module docstring for the policies)."""
    o = opts or AggregateOptions()
    check_options(o)
    sel = curves.selection
    labels, env_ids = sel.labels, list(sel.env_ids)
    rule_warnings: list[str] = []
    cells, uids = _run_scores(curves, o, rule_warnings)
    try:
        raw = sc.build_matrices(cells, labels, env_ids, allow_missing_tasks=o.allow_missing_tasks)
    except sc.MissingTaskError as exc:
        raise SelectionError(f"{exc}; {ALLOW_HINT}", option="allow_missing_tasks") from exc
    except ValueError as exc:
        raise SelectionError(str(exc)) from exc
    refs = _references(raw, o)
    normed = sc.normalize_matrices(raw, refs)
    notes = [f"{m.label} has no run in {', '.join(repr(e) for e in m.missing)}: its aggregates, profiles and curve "
             f"use its other {m.n_tasks} task(s); P(X > Y) uses the tasks both experiments have"
             for m in normed.values() if m.missing]
    result_warnings = list(curves.warnings) + rule_warnings + notes
    method = sc.resolve_normalization(o.normalize)[0]
    if o.task_bootstrap:
        _check_equal_runs(normed)
    common: dict[str, Any] = dict(ci=o.ci, workers=o.workers, task_bootstrap=o.task_bootstrap)
    intervals: dict[str, dict[str, bs.Interval]] = {}
    for label, m in normed.items():
        with _collect_warnings(result_warnings, f"{label} aggregates"):
            intervals[label] = bs.aggregate_intervals(m.compact(), agg.AGGREGATE_NAMES, gamma=o.gamma, reps=o.reps,
                                                      method=o.method, seed=stream(o.seed, "aggregates", label),
                                                      **common)
    taus = taus_for(method, o, [m.compact() for m in normed.values()])
    profiles = {}
    for label, m in normed.items():
        with _collect_warnings(result_warnings, f"{label} profiles"):
            profiles[label] = {kind: pf.performance_profile(m.compact(), taus, kind=kind, reps=o.profile_reps,
                                                            seed=stream(o.seed, "profile", kind, label), **common)
                               for kind in pf.PROFILE_KINDS}
    improvement, pair_tasks = _improvement(normed, o, result_warnings)
    result = AggregateResult(o, labels, env_ids, sel.metric_label, score_description(o),
                             method if method != "csv" else o.normalize, refs, raw, normed, uids,
                             intervals, taus, profiles, improvement, pair_tasks, warnings=result_warnings)
    if curves.step_axes:
        from openrlb_cli.render.styles import step_axis_label

        result.step_axis = step_axis_label(list(curves.step_axes.values()))
    if o.curve_points:
        _efficiency(curves, result)
    if o.whole_curve_auc:
        _auc(curves, result)
    return result


#: τ ranges of performance profiles by normalization: rliable's Atari figures span human-normalized
#: scores 0-8; max-min normalized scores lie in [0, 1] by construction.
TAU_RANGES = {"atari": (0.0, 8.0), "maxmin": (0.0, 1.0)}


def taus_for(method: str, o: AggregateOptions, scores: Sequence[np.ndarray]) -> np.ndarray:
    """The τ grid: ``[0, tau_max]`` when given, else the normalization's range (`TAU_RANGES`), else
    the range of the scores (no normalization, reference CSVs)."""
    if o.tau_max is not None:
        return np.linspace(0.0, o.tau_max, o.tau_points)
    if method in TAU_RANGES:
        return np.linspace(*TAU_RANGES[method], o.tau_points)
    return pf.tau_grid(scores, o.tau_points)


def _check_equal_runs(normed: dict[str, sc.ScoreMatrix]) -> None:
    for label, m in normed.items():
        counts = sorted({int(c) for c, p in zip(m.counts, m.present, strict=True) if p})
        if len(counts) > 1:
            raise InputError(f"the task bootstrap needs the same number of runs in every task; {label} has "
                             f"{counts[0]} to {counts[-1]} runs per task", option="task_bootstrap")


def _improvement(normed: dict[str, sc.ScoreMatrix], o: AggregateOptions,
                 sink: list[str]) -> tuple[imp.ImprovementMatrix, np.ndarray]:
    """P(X > Y) for every pair over the tasks both have; (j, i) mirrors (i, j) as in ``improvement_matrix``."""
    names = list(normed)
    e = len(names)
    point, lower, upper = np.full((e, e), 0.5), np.full((e, e), np.nan), np.full((e, e), np.nan)
    used = np.zeros((e, e), dtype=np.int64)
    for i in range(e):
        used[i, i] = normed[names[i]].n_tasks
        for j in range(i + 1, e):
            x, y = normed[names[i]], normed[names[j]]
            shared = sc.shared_tasks(x, y)
            used[i, j] = used[j, i] = int(shared.sum())
            if not shared.any():
                point[i, j] = point[j, i] = np.nan
                sink.append(f"{names[i]} and {names[j]} share no task; no probability of improvement")
                continue
            with _collect_warnings(sink, f"P({names[i]} > {names[j]})"):
                iv = imp.probability_of_improvement_interval(
                    x.compact(shared), y.compact(shared), reps=o.poi_reps, ci=o.ci, method=o.method,
                    seed=stream(o.seed, "improvement", names[i], names[j]), workers=o.workers)
            point[i, j], lower[i, j], upper[i, j] = iv.point, iv.lower, iv.upper
            point[j, i], lower[j, i], upper[j, i] = 1 - iv.point, 1 - iv.upper, 1 - iv.lower
    matrix = imp.ImprovementMatrix(tuple(names), point, lower, upper, o.poi_reps, o.ci, o.method, o.seed)
    return matrix, used


def _task_runs(curves: Curves, label: str, envs: Sequence[str]) -> list[list[sc.StepValues]]:
    return [[(rc.steps, rc.values) for rc in curves.get(label, env)] for env in envs]


def _present_envs(m: sc.ScoreMatrix) -> list[str]:
    return [e for e, p in zip(m.env_ids, m.present, strict=True) if p]


def _efficiency(curves: Curves, result: AggregateResult) -> None:
    o = result.options
    for label, m in result.normalized.items():
        envs = _present_envs(m)
        runs = _task_runs(curves, label, envs)
        try:
            grid = sc.efficiency_grid(runs, o.curve_points)
            data = sc.normalize_curves(sc.curve_array(runs, grid), envs, result.references)
            with _collect_warnings(result.warnings, f"{label} sample-efficiency curve"):
                result.efficiency[label] = eff.aggregate_curve(
                    data, o.curve_aggregate, steps=grid, gamma=o.gamma, reps=o.curve_reps, ci=o.ci,
                    seed=stream(o.seed, "efficiency", o.curve_aggregate, label), workers=o.workers,
                    task_bootstrap=o.task_bootstrap)
        except ValueError as exc:
            result.warnings.append(f"{label}: no sample-efficiency curve: {exc}")


def _auc(curves: Curves, result: AggregateResult) -> None:
    """Aggregates of each run's normalized area under the curve over the step range every run covers.

    The AUC is a per-run number, so the stratified bootstrap of the ``(runs, tasks)`` AUC matrix
    resamples entire runs — the same replicates as ``efficiency.curve_statistic_interval`` with
    ``auc_statistic`` on the curves (tested), at the cost of a final-score bootstrap.
    """
    o = result.options
    every = [sv for label in result.labels for runs in _task_runs(curves, label, result.env_ids) for sv in runs]
    try:
        lo, hi = sc.shared_range(every)
    except ValueError as exc:
        raise InputError(f"whole-curve AUC: {exc}", option="whole_curve_auc") from exc
    grid = np.linspace(lo, hi, o.curve_points or 50)
    result.auc_grid = grid
    for label, m in result.normalized.items():
        envs = _present_envs(m)
        data = sc.normalize_curves(sc.curve_array(_task_runs(curves, label, envs), grid), envs, result.references)
        with _collect_warnings(result.warnings, f"{label} AUC"):
            ivs = bs.aggregate_intervals(eff.normalized_auc(data, grid), agg.AGGREGATE_NAMES, gamma=o.gamma,
                                         reps=o.reps, ci=o.ci, method=o.method, task_bootstrap=o.task_bootstrap,
                                         seed=stream(o.seed, "auc", label), workers=o.workers)
        result.intervals[label].update({f"auc_{k}": v for k, v in ivs.items()})


def metric_title(metric: str) -> str:
    if metric.startswith("auc_"):
        return f"AUC {METRIC_TITLES[metric[4:]]}"
    return METRIC_TITLES.get(metric, metric)


def lower_is_better(metric: str) -> bool:
    return metric.endswith("optimality_gap")


__all__ = [
    "ALLOW_HINT", "AggregateOptions", "AggregateResult", "METRIC_TITLES", "check_options", "compute", "load",
    "lower_is_better", "metric_title", "score_description", "stream",
]
