"""The selection language every analysis command shares: which runs, which panels, which metric.

Why one module: `plot`, `table`, `report` and `aggregate` must agree exactly on what
`'sac?project=tianshou&cl=SAC' --env-ids Hopper-v3` means, and fail the same way when it means
nothing. The grammar follows Open RL Benchmark's filters:

    EXPERIMENT?key=value&key=value

* `EXPERIMENT` matches the run's experiment (algorithm / exp_name) exactly. Left empty
  (`'?project=tianshou'`) it selects every experiment that the filters match, one line each.
* `project`, `seed`, `user` (and the other run fields `state`, `source`, `name`, `env`) filter on
  run fields; `tag` filters on tags, and repeated tags are all required; any other key filters on
  a config key, and repeated values of one key mean any of them. Values may be %-escaped.
* Besides `=`, a condition may be `!=`, `<`, `<=`, `>`, `>=` (`seed>=3`, `lr<1e-3`, `state!=crashed`);
  numbers compare as numbers. The grammar is `store/filters.py`'s, shared with `openrlb runs`.
* `cl=LABEL` sets the legend label (default: the experiment name, or the whole spec when two
  specs would otherwise share a label).

Metric rule: with `--metric KEY` every selected run must have KEY (runs without it are left out
with a warning; an experiment × env with none is an error). Without `--metric`, each run uses the
first key of `METRIC_FALLBACKS` it has: CleanRL's `charts/episodic_return`, then SB3's
`rollout/ep_rew_mean`, SB3 monitor `r`, plain `episodic_return`, Tianshou's `test/reward`, `rew`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import unquote

from openrlb_cli.errors import OpenrlbError, SelectionError
from openrlb_cli.metric_keys import DEFAULT_METRIC, METRIC_FALLBACKS
from openrlb_cli.model import RunInfo
from openrlb_cli.store import RunFilter
from openrlb_cli.store.filters import split_word

if TYPE_CHECKING:  # numpy and the curve helpers are imported by load_curves (CLI start-up stays light)
    import numpy as np

    from openrlb_cli.store import Store

NO_ENV = "(no env)"
NO_EXPERIMENT = "(no experiment)"
# Said when a spec × env has no runs; the option that plots what exists instead is `allow_missing`.
ALLOW_MISSING_HINT = "with missing ones allowed, what exists is plotted"


@dataclass
class Spec:
    """One parsed positional spec."""

    text: str
    experiment: str  # "" = every experiment the filters match
    filter: RunFilter
    label: str | None = None


@dataclass
class ExperimentSel:
    """One line of the comparison: a label and its runs per environment (panel)."""

    label: str
    spec: str
    runs_by_env: dict[str, list[RunInfo]]

    @property
    def runs(self) -> list[RunInfo]:
        return [r for runs in self.runs_by_env.values() for r in runs]


@dataclass
class Selection:
    experiments: list[ExperimentSel]
    env_ids: list[str]
    metric: str | None  # as requested; None = automatic (METRIC_FALLBACKS)
    keys: dict[int, str] = field(default_factory=dict)  # run id -> metric key used
    warnings: list[str] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        return [e.label for e in self.experiments]

    @property
    def metric_label(self) -> str:
        """The metric key(s) actually used, for axis labels."""
        used = list(dict.fromkeys(self.keys.values()))
        if not used:
            return self.metric or DEFAULT_METRIC
        return " | ".join(used)


def _close(word: str, vocab: Iterable[str | None], n: int = 3) -> str:
    options = sorted({v for v in vocab if v})
    matches = difflib.get_close_matches(word, options, n=n, cutoff=0.5)
    return f" (did you mean {', '.join(repr(m) for m in matches)}?)" if matches else ""


def parse_spec(text: str) -> Spec:
    """`'sac?project=tianshou&tag=v1&cl=SAC'` -> Spec; malformed parts are a SelectionError."""
    experiment, _, query = text.partition("?")
    flt = RunFilter()
    label = None
    for part in query.split("&") if query else []:
        if not part:
            continue
        try:
            key, op, value = split_word(part)
        except OpenrlbError:
            key, op, value = "", "=", ""
        key, value = unquote(key).strip(), unquote(value)
        if not key or value == "":
            raise SelectionError(f"spec {text!r}: {part!r} is not key=value (e.g. project=tianshou, cl=SAC, "
                                 "seed>=3)")
        if key == "cl" and op in ("=", "=="):
            label = value
            continue
        if key in ("experiment", "exp", "exp_name", "algo"):
            raise SelectionError(f"spec {text!r}: put the experiment before '?' instead of {key}=")
        try:
            flt.add(key, value, op)
        except OpenrlbError as exc:  # RunFilter raises InputError for empty keys
            raise SelectionError(f"spec {text!r}: {exc}") from exc
    experiment = unquote(experiment).strip()
    if not experiment and flt.is_empty():
        raise SelectionError(f"spec {text!r} selects nothing: give an experiment name or filters")
    return Spec(text, experiment, flt, label)


def _spec_filter(spec: Spec, envs: Sequence[str] | None) -> RunFilter:
    flt = spec.filter.copy()
    if spec.experiment:
        flt.columns["experiment"] = [spec.experiment]
    if envs:
        flt.columns["env"] = list(envs)
    return flt


class _Vocab:
    """What the store holds, read once and only when an error message needs suggestions."""

    def __init__(self, store: Store):
        self.store = store
        self._runs: list[RunInfo] | None = None

    @property
    def runs(self) -> list[RunInfo]:
        if self._runs is None:
            self._runs = self.store.runs()
        return self._runs

    def values(self, attr: str) -> set[str]:
        return {str(getattr(r, attr)) for r in self.runs if getattr(r, attr) is not None}


def _explain_no_match(vocab: _Vocab, spec: Spec) -> str:
    if not vocab.runs:
        return f"spec {spec.text!r} matches no run: the store {str(vocab.store.path)!r} is empty"
    hints = []
    if spec.experiment and spec.experiment not in vocab.values("experiment"):
        hints.append(f"no experiment {spec.experiment!r}{_close(spec.experiment, vocab.values('experiment'))}")
    from openrlb_cli.store import suggest

    hints += [m.text for m in suggest.misses(vocab.store, spec.filter)]
    reason = "; ".join(hints) if hints else "no run has all of these fields"
    return f"spec {spec.text!r} matches no run: {reason}"


def resolve(store: Store, specs: Sequence[str], env_ids: Sequence[str] | None = None,
            metric: str | None = None, *, allow_missing: bool = False) -> Selection:
    """Resolve specs × env ids × metric into runs. Raises SelectionError naming spec and env."""
    if not specs:
        raise SelectionError("no experiment specs given (e.g. 'sac?project=tianshou&cl=SAC' or '?project=tianshou')")
    env_ids = list(dict.fromkeys(e for e in (env_ids or []) if e))
    parsed = [parse_spec(s) for s in specs]
    experiments: list[ExperimentSel] = []
    warnings: list[str] = []
    missing: list[tuple[Spec, str | None, list[str]]] = []  # (spec, expanded experiment, envs)
    vocab = _Vocab(store)
    for spec in parsed:
        runs = _query(store, spec, env_ids)
        if not runs:
            if env_ids and _query(store, spec, None):
                missing.append((spec, None, list(env_ids)))
                if allow_missing:
                    experiments.append(ExperimentSel(spec.label or spec.experiment or spec.text, spec.text, {}))
                continue
            raise SelectionError(_explain_no_match(vocab, spec))
        groups: dict[str, list[RunInfo]] = {}
        for r in runs:
            name = spec.experiment or r.experiment or NO_EXPERIMENT
            groups.setdefault(name, []).append(r)
        if not spec.experiment and spec.label and len(groups) > 1:
            raise SelectionError(f"spec {spec.text!r}: cl= needs one experiment, but it matches {len(groups)}")
        for exp_name, exp_runs in groups.items():
            by_env: dict[str, list[RunInfo]] = {}
            for r in exp_runs:
                by_env.setdefault(r.env or NO_ENV, []).append(r)
            absent = [e for e in env_ids if e not in by_env]
            if absent:
                missing.append((spec, None if spec.experiment else exp_name, absent))
            experiments.append(ExperimentSel(spec.label or exp_name, spec.text, by_env))
    if missing:
        messages = _missing_messages(vocab, missing)
        if not allow_missing:
            raise SelectionError("; ".join(messages) + f"; {ALLOW_MISSING_HINT}", option="allow_missing")
        warnings += messages
    _dedupe_labels(experiments, parsed)
    if not env_ids:
        env_ids = sorted({env for e in experiments for env in e.runs_by_env})
    selection = Selection(experiments, env_ids, metric, warnings=warnings)
    _resolve_metric(store, selection)
    selection.warnings += repeated_seeds(selection)
    return selection


def repeated_seeds(selection: Selection) -> list[str]:
    """A warning for each cell (experiment x env) whose runs repeat a seed. Why: a cell should hold
    one run per seed; repeats usually mean runs of several environments or experiments pooled into
    one cell (a tree ingested without its env or experiment), which a mean over "seeds" hides."""
    out = []
    for exp in selection.experiments:
        for env, runs in exp.runs_by_env.items():
            seeds = [r.seed for r in runs if r.seed is not None]
            distinct = len(set(seeds))
            if distinct < len(seeds):
                out.append(f"{exp.label} / {env}: {len(runs)} runs but {distinct} distinct seeds: runs of several "
                           "environments or experiments pooled in one cell? (fix their metadata with `openrlb set`)")
    return out


def _query(store: Store, spec: Spec, envs: Sequence[str] | None) -> list[RunInfo]:
    try:
        return store.runs(_spec_filter(spec, envs))
    except OpenrlbError as exc:  # e.g. seed=abc
        raise SelectionError(f"spec {spec.text!r}: {exc}") from exc


def _missing_messages(vocab: _Vocab, missing: list[tuple[Spec, str | None, list[str]]]) -> list[str]:
    """Envs the store has never seen get one message each (with suggestions); others name the spec."""
    known = vocab.values("env")
    unknown = list(dict.fromkeys(e for _, _, envs in missing for e in envs if e not in known))
    texts = list(dict.fromkeys(sp.text for sp, _, _ in missing))
    specs = ("specs " if len(texts) > 1 else "spec ") + ", ".join(repr(t) for t in texts)
    out = [f"env {e!r} (for {specs}) has no run in the store{_close(e, known) or ' (see `openrlb runs`)'}"
           for e in unknown]
    for spec, experiment, envs in missing:
        envs = [e for e in envs if e in known]
        if envs:
            who = f"spec {spec.text!r}" + (f" (experiment {experiment!r})" if experiment else "")
            out.append(f"{who} has no run in env {', '.join(repr(e) for e in envs)}")
    return out


def _dedupe_labels(experiments: list[ExperimentSel], parsed: list[Spec]) -> None:
    explicit = {p.text for p in parsed if p.label}
    seen: dict[str, int] = {}
    for e in experiments:
        seen[e.label] = seen.get(e.label, 0) + 1
    for e in experiments:
        if seen[e.label] > 1:
            if e.spec in explicit:
                raise SelectionError(f"two lines are labelled {e.label!r}; give each spec its own cl=")
            e.label = e.spec if not e.spec.startswith("?") else f"{e.label} ({e.spec})"
    labels = [e.label for e in experiments]
    if len(set(labels)) != len(labels):
        dup = next(lbl for lbl in labels if labels.count(lbl) > 1)
        raise SelectionError(f"two lines are labelled {dup!r}; give each spec its own cl=")


def _resolve_metric(store: Store, selection: Selection) -> None:
    run_ids = [r.id for e in selection.experiments for r in e.runs]
    keys_of: dict[int, set[str]] = {}
    for info in store.series_info(run_ids):
        if info.n_points > 0:
            keys_of.setdefault(info.run_id, set()).add(info.key)
    wanted = [selection.metric] if selection.metric else list(METRIC_FALLBACKS)
    for exp in selection.experiments:
        for env in list(exp.runs_by_env):
            kept = []
            for r in exp.runs_by_env[env]:
                key = next((k for k in wanted if k in keys_of.get(r.id, ())), None)
                if key is None:
                    continue
                selection.keys[r.id] = key
                kept.append(r)
            if not kept:
                present = sorted({k for r in exp.runs_by_env[env] for k in keys_of.get(r.id, ())})
                raise SelectionError(_metric_msg(selection.metric, exp, env, present), option="metric")
            if len(kept) < len(exp.runs_by_env[env]):
                selection.warnings.append(
                    f"{exp.label} / {env}: {len(exp.runs_by_env[env]) - len(kept)} run(s) without "
                    f"{selection.metric or 'an episodic-return key'} left out"
                )
            exp.runs_by_env[env] = kept


def _metric_msg(metric: str | None, exp: ExperimentSel, env: str, present: list[str]) -> str:
    where = f"spec {exp.spec!r} ({exp.label}) in env {env!r}"
    shown = ", ".join(present[:8]) + (", ..." if len(present) > 8 else "") if present else "none"
    if metric:
        return f"metric {metric!r} not found for {where}{_close(metric, present)}; keys there: {shown}"
    return (f"no episodic-return key ({', '.join(METRIC_FALLBACKS)}) for {where}; "
            f"name the metric key (keys there: {shown})")


# ---------------------------------------------------------------------------- grouping by a config key
UNSET = "(unset)"


def group_by_config(selection: Selection, key: str) -> Selection:
    """One line per value of config `key` within each experiment (e.g. one per learning rate).

    Why: hyperparameter sweeps are stored as runs of one experiment that differ in a config value;
    a paper compares the values. A line's label is `EXPERIMENT KEY=VALUE`, VALUE written as the
    selection language compares it (`lr=0.001` selects exactly the runs of the line
    `ppo lr=0.001`). Values are ordered numerically when they are all numbers, else as text. Runs
    without the key form the line `KEY=(unset)`, and a warning counts them, so nothing is dropped.
    """
    from openrlb_cli.store.filters import config_text

    key = key.strip()
    if key.startswith("config."):
        key = key[len("config."):]
    if not key:
        raise SelectionError("the config key to group by is empty")
    values_seen: dict[str, object] = {}
    for exp in selection.experiments:
        for r in exp.runs:
            if key in r.config:
                values_seen.setdefault(config_text(r.config[key]), r.config[key])
    if not values_seen:
        keys = sorted({k for e in selection.experiments for r in e.runs for k in r.config})
        raise SelectionError(f"no selected run has the config key {key!r}{_close(key, keys)}"
                             + ("" if keys else " (the selected runs have no config)"))
    order = sorted(values_seen, key=_value_order(values_seen))
    experiments: list[ExperimentSel] = []
    unset = 0
    for exp in selection.experiments:
        groups: dict[str, dict[str, list[RunInfo]]] = {}
        for env, runs in exp.runs_by_env.items():
            for r in runs:
                text = config_text(r.config[key]) if key in r.config else UNSET
                unset += text == UNSET
                groups.setdefault(text, {}).setdefault(env, []).append(r)
        for text in [*order, UNSET]:
            if text in groups:
                experiments.append(ExperimentSel(f"{exp.label} {key}={text}", exp.spec, groups[text]))
    warnings = list(selection.warnings)
    if unset:
        warnings.append(f"{unset} run(s) without config key {key!r}: drawn as {key}={UNSET}")
    return Selection(experiments, list(selection.env_ids), selection.metric, dict(selection.keys), warnings)


def _value_order(values: dict[str, object]):
    def number(v: object) -> float | None:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return None
        return float(v)

    if all(number(v) is not None for v in values.values()):
        return lambda text: (number(values[text]), text)
    return lambda text: (0.0, text)


def relabel(selection: Selection, labels: dict[str, str]) -> None:
    """Rename lines after the specs resolved (``{old: new}``; e.g. each experiment of '?project=x').

    A name that is no line, or two lines ending with one label, is a SelectionError."""
    if not labels:
        return
    current = [e.label for e in selection.experiments]
    unknown = [k for k in labels if k not in current]
    if unknown:
        raise SelectionError(f"no line labelled {unknown[0]!r} to rename (lines: {', '.join(current)})")
    for e in selection.experiments:
        e.label = labels.get(e.label, e.label)
    new = [e.label for e in selection.experiments]
    if len(set(new)) != len(new):
        dup = next(lbl for lbl in new if new.count(lbl) > 1)
        raise SelectionError(f"renaming gives two lines the label {dup!r}")


# ---------------------------------------------------------------------------- loading curves
@dataclass
class RunCurve:
    """One run's points of the selected metric: finite, sorted by step, as float64 arrays."""

    run: RunInfo
    key: str
    steps: np.ndarray
    values: np.ndarray
    walls: np.ndarray  # unix seconds, NaN where unknown
    last_step: float = float("nan")  # the run's last step before any --max-steps cut (to see runs that stop early)


@dataclass
class Curves:
    selection: Selection
    by_cell: dict[tuple[str, str], list[RunCurve]]  # (label, env) -> runs with points
    warnings: list[str] = field(default_factory=list)
    step_axes: dict[int, str] = field(default_factory=dict)  # run id -> what its steps count (see step_axes)

    def get(self, label: str, env: str) -> list[RunCurve]:
        return self.by_cell.get((label, env), [])


X_BUILTIN = ("step", "time")

def step_axes(store: Store, runs: Sequence[RunInfo]) -> dict[int, str]:
    """run id -> the name of what its steps count, from how it was read: the step column of a CSV /
    JSON lines file (e.g. Dopamine's ``Iteration``), the x axis of a W&B run (``global_step`` or
    ``_step``), ``env_steps`` for SB3 monitor and evaluation files, ``step`` for event files. Runs
    with no such record are left out. Read-only; a store without these tables gives ``{}``."""
    import json
    import sqlite3

    from openrlb_cli.ingest import registry

    # what the steps of a format count when its reader does not record a step column (its declaration)
    format_axes = {s.name: s.step_axis for s in registry.specs() if s.step_axis}
    ids = [r.id for r in runs]
    out: dict[int, str] = {}
    by_path: dict[str, list[int]] = {}  # a file of several runs (Dopamine's JSON) names them '<path>#...'
    for r in runs:
        if r.external_id:
            by_path.setdefault(r.external_id.split("#", 1)[0], []).append(r.id)
    try:
        rows = store.conn.execute(
            "SELECT path, run_id, format, state FROM ingest_files WHERE run_id IN (SELECT value FROM json_each(?)) "
            "OR path IN (SELECT value FROM json_each(?))", (json.dumps(ids), json.dumps(list(by_path)))).fetchall()
        fetched = store.conn.execute(
            "SELECT run_id, x_axis FROM fetch_runs WHERE run_id IN (SELECT value FROM json_each(?))",
            (json.dumps(ids),)).fetchall()
    except sqlite3.Error:
        return out
    for path, run_id, fmt, state in rows:
        try:
            st = json.loads(state or "{}")
        except ValueError:
            st = {}
        name = (st.get("step") or st.get("x_axis")) if isinstance(st, dict) else None
        name = name or format_axes.get(fmt)
        if name:
            for rid in by_path.get(path, [run_id]):
                out.setdefault(rid, str(name))
    for run_id, x_axis in fetched:
        out[run_id] = x_axis or "_step"
    return out


def load_curves(store: Store, selection: Selection, *, max_steps: float | None = None, x: str = "step") -> Curves:
    """Load the selected metric of every selected run (one query per metric key) into numpy.

    NaN/inf points are dropped (documented handling), points are sorted by step, and with
    `max_steps` only points at step <= max_steps are kept. Runs left without points are dropped
    with a warning; a selection with no points at all is a SelectionError.

    `x` other than `step`/`time` names a series of the run to use as the x axis: each point's step
    becomes the value that series logged at the same step (`join_on_step`), before `max_steps`
    applies; points without one are left out, runs without the series too (with a warning).
    """
    from openrlb_cli.analysis.curves import clean, join_on_step, truncate

    by_key: dict[str, list[int]] = {}
    for run_id, key in selection.keys.items():
        by_key.setdefault(key, []).append(run_id)
    loaded = {}
    for key, ids in by_key.items():
        loaded.update(store.load_many(ids, key))
    x_series = store.load_many(list(selection.keys), x) if x not in X_BUILTIN else {}
    curves = Curves(selection, {}, list(selection.warnings),
                    step_axes=step_axes(store, [r for e in selection.experiments for r in e.runs]))
    dropped_nan = dropped_x = 0
    without_x: list[str] = []
    for exp in selection.experiments:
        for env, runs in exp.runs_by_env.items():
            cell = []
            for r in runs:
                series = loaded.get(r.id)
                if series is None:
                    continue
                steps, values, walls = clean(series.steps, series.values, series.wall_times)
                dropped_nan += len(series) - len(steps)
                if x not in X_BUILTIN:
                    xs = x_series.get(r.id)
                    if xs is None or len(xs) == 0:
                        without_x.append(r.uid)
                        continue
                    new_x, hit = join_on_step(steps, xs.steps, xs.values)
                    dropped_x += int((~hit).sum())
                    steps, values, walls = clean(new_x, values[hit], walls[hit])
                last_step = float(steps[-1]) if steps.size else float("nan")
                steps, values, walls = truncate(steps, values, walls, max_steps)
                if steps.size == 0:
                    curves.warnings.append(f"{exp.label} / {env}: run {r.uid} has no finite points"
                                           + (f" up to step {max_steps:g}" if max_steps is not None else ""))
                    continue
                cell.append(RunCurve(r, selection.keys[r.id], steps, values, walls, last_step))
            if cell:
                curves.by_cell[(exp.label, env)] = cell
    if dropped_nan:
        curves.warnings.append(f"{dropped_nan} NaN/inf point(s) left out")
    if without_x:
        shown = ", ".join(without_x[:5]) + (", ..." if len(without_x) > 5 else "")
        curves.warnings.append(f"{len(without_x)} run(s) without a {x!r} series left out of the x axis {x} ({shown})")
    if dropped_x:
        curves.warnings.append(f"{dropped_x} point(s) at steps without a {x!r} value left out")
    if not curves.by_cell:
        raise SelectionError("the selection has no finite points" + (
            f" up to step {max_steps:g}" if max_steps is not None else "") + (
            f" with a {x!r} value (x axis {x}: {len(without_x)} run(s) without a {x!r} series)"
            if x not in X_BUILTIN else ""), option=() if x in X_BUILTIN else "x")
    return curves


__all__ = [
    "ALLOW_MISSING_HINT", "DEFAULT_METRIC", "METRIC_FALLBACKS", "Curves", "ExperimentSel", "RunCurve", "Selection",
    "Spec", "group_by_config", "load_curves", "parse_spec", "relabel", "resolve",
]
