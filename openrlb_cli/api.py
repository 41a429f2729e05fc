"""Python API over the store for analysis code and notebooks: tidy pandas frames, no SQL.

    from openrlb_cli.api import open_store, frame, runs_frame, metric_keys
    with open_store() as store:
        runs = runs_frame(store, ["project=tianshou", "learning_rate<1e-3"])   # config as columns
        keys = metric_keys(store, ["project=tianshou"])                     # {"test/reward": 720, ...}
        df = frame(store, ["env=Hopper-v3", "project=tianshou"], "rew")      # filter words, as `openrlb runs`
        df = frame(store, ["sac?project=tianshou&cl=SAC", "td3?project=tianshou"])  # specs, as `openrlb plot`

Numbers as the CLI computes them, from the same code: `scores` (one score per run under a score
rule, as `openrlb table` scores runs), `score_table` (mean/std/n per env × experiment, as `table`),
`aggregate` (rliable-style IQM/median/mean/optimality gap with bootstrap intervals, as `openrlb
aggregate`), `ingest` (local logs into the store under the store's lock, as `openrlb ingest`),
`fetch_wandb`/`fetch_mlflow` (as `openrlb fetch`, saved as sources for `openrlb sync`):

    with open_store("out/demo.db") as store:
        ingest(store, "sample_runs/")                                        # {"runs": 21, "points": ...}
        s = scores(store, ["q_learning", "sarsa_lambda"], env_ids=["CartPole-v1"], rule="last-n:20")
        t = score_table(store, ["q_learning", "sarsa_lambda"], env_ids=["CartPole-v1"], rule="max-mean")
        t["mean"]                                                            # env × experiment
        a = aggregate(store, ["q_learning", "sarsa_lambda"], env_ids=["CartPole-v1", "MountainCar-v0"], reps=2000)

Filters are the CLI's words (`key=value`, `!=`, `<`, `<=`, `>`, `>=`; see `store/filters.py`), a
`RunFilter`, or `plot`/`table` specs (`EXPERIMENT?key=value&...`). A filter key or value the store
does not have, and a metric no selected run has, raise `SelectionError` with close matches: an empty
frame would look like a result.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from openrlb_cli.analysis.score_rules import ScoreRule
from openrlb_cli.errors import InputError, OpenrlbError, SelectionError
from openrlb_cli.model import RunInfo
from openrlb_cli.store import RunFilter, Store, parse_filters, suggest
from openrlb_cli.store.filters import parse_number

TIDY_COLUMNS = ["project", "experiment", "env", "seed", "run", "step", "value", "wall_time"]
RUN_COLUMNS = ["run", "project", "experiment", "env", "seed", "state", "name", "user", "tags", "note", "source",
               "created_at", "updated_at"]
Filters = RunFilter | Sequence[str] | str | None
SCORE_COLUMNS = ["experiment", "env", "seed", "run", "score"]

__all__ = [
    "RUN_COLUMNS", "SCORE_COLUMNS", "TIDY_COLUMNS", "Filters", "aggregate", "fetch_mlflow", "fetch_wandb", "frame",
    "frame_for_runs", "ingest",
    "metric_keys", "open_store", "runs_frame", "score_table", "scores", "select",
]


def open_store(path: str | Path | None = None) -> Store:
    """The store at `path`, `$OPENRLB_DB`, or the per-user default."""
    return Store(path)


def _words(filters: Sequence[str] | str) -> list[str]:
    return [filters] if isinstance(filters, str) else list(filters)


def _is_spec(word: str) -> bool:
    return "?" in word or not any(op in word for op in ("=", "<", ">"))


def select(store: Store, filters: Filters = None) -> list[RunInfo]:
    """The runs that filter words (or a RunFilter) select. A key or value the store does not have
    raises SelectionError naming it with close matches; filters that simply match no run give []."""
    if isinstance(filters, RunFilter):
        flt = filters
    else:
        words = _words(filters or [])
        if any(_is_spec(w) for w in words):
            raise SelectionError(f"{next(w for w in words if _is_spec(w))!r} is a spec (EXPERIMENT?key=value): "
                                 "select() takes filter words such as env=Hopper-v3; frame() takes specs")
        flt = parse_filters(words)
    return suggest.select(store, flt, allow_empty=True)


def metric_keys(store: Store, filters: Filters = None) -> dict[str, int]:
    """The metric keys of the selected runs, each with how many of them log it (sorted by key)."""
    return store.keys([r.id for r in select(store, filters)])


def frame(store: Store, filters: Filters, metric: str | None = None, *,
          env_ids: Sequence[str] | None = None) -> pd.DataFrame:
    """One metric of the selected runs as a long/tidy frame with TIDY_COLUMNS.

    `filters` are filter words (`["env=Hopper-v3", "seed>=3"]`), a RunFilter, or the CLI's specs
    (`"sac?project=tianshou&cl=SAC"`, or a list of them, with `env_ids` as `--env-ids`): specs add a
    `label` column (the legend label) and, without `metric`, use each run's episodic-return key as
    `plot` does. A metric none of the selected runs has raises SelectionError with close matches."""
    if not isinstance(filters, RunFilter) and filters and all(_is_spec(w) for w in _words(filters)):
        return _spec_frame(store, _words(filters), metric, env_ids)
    if metric is None:
        raise SelectionError("frame() of filter words needs a metric (see metric_keys())")
    runs = select(store, filters)
    if env_ids:
        runs = [r for r in runs if r.env in set(env_ids)]
    df = frame_for_runs(store, runs, metric)
    if df.empty and runs:
        keys = store.keys([r.id for r in runs])
        raise SelectionError(f"none of the {len(runs)} selected runs has metric {metric!r}"
                             f"{suggest.close(metric, keys)}")
    return df


def _spec_frame(store: Store, specs: list[str], metric: str | None, env_ids: Sequence[str] | None) -> pd.DataFrame:
    from openrlb_cli.selection import resolve

    selection = resolve(store, specs, env_ids, metric)
    parts = []
    for exp in selection.experiments:
        by_key: dict[str, list[RunInfo]] = {}
        for r in exp.runs:
            by_key.setdefault(selection.keys[r.id], []).append(r)
        for key, runs in by_key.items():
            df = frame_for_runs(store, runs, key)
            df.insert(0, "label", exp.label)
            parts.append(df)
    if not parts:
        return pd.DataFrame({c: [] for c in ["label", *TIDY_COLUMNS]})
    return pd.concat(parts, ignore_index=True)


def frame_for_runs(store: Store, runs: list[RunInfo], metric: str) -> pd.DataFrame:
    series = store.load_many([r.id for r in runs], metric)
    parts = []
    for run in runs:
        s = series.get(run.id)
        if s is None or len(s) == 0:
            continue
        n = len(s)
        parts.append(
            pd.DataFrame(
                {
                    "project": np.repeat(np.array(run.project), n),
                    "experiment": np.repeat(np.array(run.experiment), n),
                    "env": np.repeat(np.array(run.env), n),
                    "seed": pd.array(np.repeat(np.array(run.seed), n), dtype="Int64"),
                    "run": np.repeat(run.uid, n),
                    "step": s.steps,
                    "value": s.values,
                    "wall_time": s.wall_times,
                }
            )
        )
    if not parts:
        return pd.DataFrame({c: [] for c in TIDY_COLUMNS})
    return pd.concat(parts, ignore_index=True)


def runs_frame(store: Store | list[RunInfo], filters: Filters = None, *, config: bool = True) -> pd.DataFrame:
    """The selected runs, one row each: RUN_COLUMNS (tags joined by commas), then each config key
    as a column (named `config.KEY` when KEY is also a run column). A config column whose values
    are all numbers, stored as JSON numbers or as text (CleanRL), holds numbers.

    `runs_frame(list_of_RunInfo)` (the older form) frames those runs."""
    runs = store if isinstance(store, list) else select(store, filters)
    rows = [{"run": r.uid, "project": r.project, "experiment": r.experiment, "env": r.env, "seed": r.seed,
             "state": r.state, "name": r.name, "user": r.user, "tags": ",".join(r.tags), "note": r.note,
             "source": r.source, "created_at": r.created_at, "updated_at": r.updated_at} for r in runs]
    df = pd.DataFrame(rows, columns=RUN_COLUMNS)
    df["seed"] = df["seed"].astype("Int64")
    if not config:
        return df
    keys = list(dict.fromkeys(k for r in runs for k in r.config))
    columns: dict[str, Any] = {}
    for key in keys:
        name = f"config.{key}" if key in RUN_COLUMNS else key
        columns[name] = _config_column([r.config.get(key) for r in runs])
    if columns:
        df = pd.concat([df, pd.DataFrame(columns, index=df.index)], axis=1)
    return df


def _config_column(values: list[Any]) -> Any:
    """Numbers when every value present is a number (JSON or text), else the values as they are."""
    present = [v for v in values if v is not None]
    if not present or any(isinstance(v, bool) for v in present):
        return values
    nums = [v if isinstance(v, (int, float)) else parse_number(v) if isinstance(v, str) else None for v in present]
    if any(x is None for x in nums):
        return values
    out = [None if v is None else (v if isinstance(v, (int, float)) else parse_number(v)) for v in values]
    if all(isinstance(x, int) for x in out if x is not None):
        return pd.array(out, dtype="Int64")
    return np.array([np.nan if x is None else float(x) for x in out])


# ---------------------------------------------------------------------------- scores, tables, aggregates
Specs = Sequence[str] | str


def _domain_words(exc: OpenrlbError) -> OpenrlbError:
    """The same error naming this module's arguments: the library says which options a message is about
    (`exc.options`, e.g. `allow_missing`), the CLI shows them as flags and this module as argument names."""
    text = re.sub(r"--([a-z][a-z-]*)", lambda m: m.group(1).replace("-", "_"), str(exc))
    if exc.options and not any(o in text for o in exc.options):
        text += f" (argument {', '.join(exc.options)})"
    new = type(exc)(text, exc.exit_code)
    new.options = exc.options
    return new


def _rule(rule: str | ScoreRule, max_steps: float | None, std: str) -> ScoreRule:
    """A score rule from its text (`"last-n:100"`, `"max-mean"`, `"at-step:1e6"`) or as given, with
    the step budget and std convention; InputError in domain words for an unknown rule or parameter."""
    from openrlb_cli.analysis import score_rules as sr

    try:
        if isinstance(rule, sr.ScoreRule):
            return sr.ScoreRule(rule.rule, rule.param, max_steps if max_steps is not None else rule.budget,
                                std if std != "sample" else rule.std)
        name, param = sr.parse_rule(rule)
        return sr.ScoreRule(name, param, max_steps, std)
    except ValueError as exc:
        raise InputError(f"score rule {rule!r}: {exc}") from exc


def _curves(store: Store, specs: Specs, env_ids: Sequence[str] | None, metric: str | None,
            max_steps: float | None, allow_missing: bool = False) -> Any:
    """The selection of `specs` × `env_ids` and its curves, loaded as `table`/`aggregate` load them."""
    from openrlb_cli.selection import load_curves, resolve

    if max_steps is not None and not max_steps > 0:
        raise InputError(f"the step budget (max_steps) must be > 0, got {max_steps:g}")
    try:
        selection = resolve(store, _words(specs), list(env_ids or []), metric, allow_missing=allow_missing)
        return load_curves(store, selection, max_steps=max_steps)
    except OpenrlbError as exc:
        raise _domain_words(exc) from exc


def scores(store: Store, specs: Specs, *, env_ids: Sequence[str] | None = None, metric: str | None = None,
           rule: str | ScoreRule = "last-n:100", max_steps: float | None = None,
           allow_missing: bool = False) -> pd.DataFrame:
    """One score per run, computed by the score-rule code `openrlb table` uses.

    Why: a notebook that recomputes "the mean of the last 100 points" by hand drifts from the
    table (budget cut, NaN points, `max-mean`'s common steps); this is the table's own per-run step.

    Args:
        store: an open store (`open_store()`).
        specs: experiment specs as `plot`/`table` take them (`"sac?project=tianshou&cl=SAC"`,
            `"?project=x"` for every experiment), one or a list.
        env_ids: the environments (default: every env the specs match).
        metric: the metric key (default: per run its episodic-return key, as `table`).
        rule: how a run becomes a score: `last-n[:N]`, `last-frac[:F]`, `final`, `max-mean`,
            `auc`, `at-step:S` (see `analysis.score_rules`), or a `ScoreRule`.
        max_steps: step budget: only points at step <= this are scored.
        allow_missing: leave out spec × env pairs without runs instead of raising SelectionError.

    Returns:
        A tidy frame with SCORE_COLUMNS (experiment is the spec's label), one row per run with
        points, ordered env by env as the table. `df.attrs["score_rule"]` records the rule,
        `df.attrs["score_step"]` the step of each `max-mean` cell (`{(env, experiment): step}`)
        and `df.attrs["warnings"]` what `table` would warn about.
    """
    from openrlb_cli.render import tables as tb

    sr_rule = _rule(rule, max_steps, "sample")
    curves = _curves(store, specs, env_ids, metric, max_steps, allow_missing)
    cells, warnings = tb.rule_scores(curves, sr_rule)
    rows = []
    for (env, label), cell in cells.items():
        for rc, value in zip(curves.get(label, env), cell.scores, strict=True):
            rows.append({"experiment": label, "env": env, "seed": rc.run.seed, "run": rc.run.uid,
                         "score": float(value)})
    df = pd.DataFrame(rows, columns=SCORE_COLUMNS)
    df["seed"] = df["seed"].astype("Int64")
    df["score"] = df["score"].astype(np.float64)
    df.attrs.update(score_rule=sr_rule.record(), metric=curves.selection.metric_label,
                    score_step={key: c.step for key, c in cells.items() if c.step is not None},
                    warnings=list(curves.warnings) + warnings)
    return df


def score_table(store: Store, specs: Specs, *, env_ids: Sequence[str] | None = None, metric: str | None = None,
                rule: str | ScoreRule = "last-n:100", max_steps: float | None = None, std: str = "sample",
                ci: bool = False, n_boot: int = 10_000, bootstrap_seed: int = 0,
                allow_missing: bool = False) -> pd.DataFrame:
    """The env × experiment table of `openrlb table`: mean, std and seed count of the run scores.

    Args:
        store: an open store.
        specs: experiment specs, as for `scores`.
        env_ids: the environments (default: every env the specs match).
        metric: the metric key (default: per run its episodic-return key).
        rule: the score rule of each run, as for `scores`.
        max_steps: step budget: only points at step <= this are scored.
        allow_missing: leave out spec × env pairs without runs instead of raising SelectionError.
        std: `sample` (ddof=1, the default) or `population` (ddof=0, as `np.std` and Tianshou).
        ci: add the 95% bootstrap CI over seeds (`ci_low`, `ci_high`), as `table --ci`.
        n_boot: bootstrap replicates of that CI.
        bootstrap_seed: seed of the bootstrap's random numbers (not a run filter).

    Returns:
        A frame indexed by env with columns `(statistic, experiment)`: `df["mean"]` is the
        env × experiment table of means, `df["std"]` and `df["n"]` the std and seed count (and
        `ci_low`/`ci_high` with `ci`); a cell without runs is NaN (n 0). `df.attrs` holds
        `score_rule` (rule, parameter, budget, std convention), `statistic` (e.g. "mean and
        sample std (ddof=1) over seeds"), `metric`, `best` (env -> experiments with the best
        mean) and `warnings`.
    """
    from openrlb_cli.render import tables as tb

    sr_rule = _rule(rule, max_steps, std)
    curves = _curves(store, specs, env_ids, metric, max_steps, allow_missing)
    table = tb.score_table(curves, ci=ci, n_boot=n_boot, seed=bootstrap_seed, rule=sr_rule)
    stats = ["mean", "std", "n"] + (["ci_low", "ci_high"] if ci else [])
    data: dict[tuple[str, str], list[float]] = {}
    for stat in stats:
        for label in table.labels:
            col = []
            for env in table.envs:
                st = table.cell(env, label)
                col.append(float(getattr(st, stat)) if st is not None else (0.0 if stat == "n" else np.nan))
            data[(stat, label)] = col
    df = pd.DataFrame(data, index=pd.Index(table.envs, name="env"))
    df.columns = pd.MultiIndex.from_tuples(list(data), names=["statistic", "experiment"])
    df["n"] = df["n"].astype(int)
    df.attrs.update(score_rule=sr_rule.record(), statistic=f"mean and {sr_rule.std_text()} over seeds",
                    metric=table.metric, best={env: sorted(table.best(env)) for env in table.envs},
                    warnings=list(curves.warnings) + table.warnings)
    return df


def aggregate(store: Store, specs: Specs, *, env_ids: Sequence[str] | None = None, metric: str | None = None,
              rule: str | ScoreRule = "last-n:100", max_steps: float | None = None, normalize: str = "maxmin",
              reps: int = 50_000, ci: float = 0.95, method: str = "percentile", bootstrap_seed: int = 0,
              gamma: float = 1.0, task_bootstrap: bool = False, allow_missing_tasks: bool = False,
              workers: int | None = None) -> pd.DataFrame:
    """rliable-style aggregate metrics with stratified-bootstrap intervals, as `openrlb aggregate`.

    Each env is one task; run scores (under `rule`) are normalized per task, then IQM, median,
    mean and optimality gap are estimated per experiment with interval bounds. Same seed, same
    numbers as `openrlb aggregate --json` with the same options.

    Args:
        store: an open store.
        specs: experiment specs, as for `scores`.
        env_ids: the environments (default: every env the specs match).
        metric: the metric key (default: per run its episodic-return key).
        rule: the score rule of each run, as for `scores`.
        max_steps: step budget: only points at step <= this are scored.
        normalize: `maxmin` (per task over the selection), `atari` (human-normalized), `none`,
            or the path of a reference CSV (columns env,low,high or game,random,human).
        reps: bootstrap replicates of the intervals (the CLI's default 50,000; a few hundred
            for a quick look).
        ci: confidence level.
        method: `percentile`, `basic`, `bc` or `bca`, as rliable.
        bootstrap_seed: seed of the bootstrap's random numbers (not a run filter).
        gamma: target of the optimality gap.
        task_bootstrap: resample tasks as well as runs (rliable's `task_bootstrap`).
        allow_missing_tasks: aggregate an experiment without runs in a task over the tasks it has
            (with a warning) instead of raising SelectionError.
        workers: threads (default: cores, at most 8); never changes the numbers.

    Returns:
        One row per experiment × metric with columns experiment, metric (iqm, median, mean,
        optimality_gap), point, lower, upper, reps, ci, method, seed, normalization, n_runs,
        n_tasks. `df.attrs` holds `score` (how a run became a score), `normalization`,
        `references` (env -> [low, high]), `improvement` (probability of improvement records
        for every pair, with min(reps, 2000) replicates as the CLI's default), `options` and
        `warnings`.
    """
    from openrlb_cli import aggregate as ag

    sr_rule = _rule(rule, max_steps, "sample")
    side = min(reps, 2_000)
    opts = ag.AggregateOptions(normalize=normalize, score=sr_rule, reps=reps, profile_reps=side, poi_reps=side,
                               curve_reps=side, ci=ci, method=method, seed=bootstrap_seed, gamma=gamma,
                               curve_points=0, allow_missing_tasks=allow_missing_tasks,
                               task_bootstrap=task_bootstrap, workers=workers)
    try:
        ag.check_options(opts)
        if max_steps is not None and not max_steps > 0:
            raise InputError(f"the step budget (max_steps) must be > 0, got {max_steps:g}")
        curves = ag.load(store, _words(specs), list(env_ids or []), metric, allow_missing_tasks,
                         max_steps=max_steps)
        result = ag.compute(curves, opts)
    except OpenrlbError as exc:
        raise _domain_words(exc) from exc
    doc = ag.document(result)
    df = pd.DataFrame(ag.records(result))
    df.attrs.update(score=doc["score"], normalization=doc["normalization"], references=doc["references"],
                    improvement=ag.improvement_records(result), options=doc["options"], warnings=doc["warnings"])
    return df


# ---------------------------------------------------------------------------- ingest
def ingest(store: Store, paths: Sequence[str | Path] | str | Path, *, fmt: str | None = None,
           project: str | None = None, experiment: str | None = None, env: str | None = None,
           seed: int | str | None = None, tags: Sequence[str] = (), config: dict[str, Any] | None = None,
           layout: str | None = None, columns: dict[str, Any] | None = None, as_copy: bool = False,
           wait: bool = False) -> dict[str, Any]:
    """Ingest local run logs into the store, as `openrlb ingest`; re-ingesting reads only what is new.

    The store's lock (shared with `ingest`, `fetch` and `sync` of other processes) is held while
    planning and writing, so two writers never append the same points twice.

    Args:
        store: an open store.
        paths: files or directories (walked recursively).
        fmt: force a format (`tensorboard`, `sb3-monitor`, `csv`, `jsonl`, `mlflow-files`, ...);
            default: recognised per file.
        project: the runs' project; may hold `{stem}`, `{parent}` and `{grandparent}` (the file's
            name, folder, the folder above). Given metadata wins over anything inferred from the logs.
        experiment: the runs' experiment (algorithm) name; placeholders as for `project`.
        env: the runs' environment id; placeholders as for `project`.
        seed: the runs' seed (an integer, or text with those placeholders).
        tags: tags to add to every run.
        config: config keys to set on every run.
        layout: a path template below each path (`"{env}/{experiment}/*"`).
        columns: CSV/JSONL reading options, the fields of `ingest.base.ReadOptions`
            (`step_column`, `value_columns`, `run_column`, `env_column`, ...).
        as_copy: store logs that copy logs already stored as runs of their own.
        wait: if another process holds the store's lock, wait for it instead of raising
            `StoreBusyError`.

    Returns:
        The summary `ingest --json` prints: units_read, units_unchanged, runs, new_runs, series,
        points, skipped (path and reason of each file not read), warnings, already_stored.
        InputError when no log file is found under the paths (nothing would look like success).
    """
    from openrlb_cli.ingest.base import ReadOptions
    from openrlb_cli.ingest.layout import compile_template
    from openrlb_cli.ingest.pipeline import Overrides, discover
    from openrlb_cli.ingest.pipeline import ingest as run_ingest
    from openrlb_cli.store.lock import store_lock

    roots = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    if seed is not None and not isinstance(seed, int) and "{" not in str(seed):
        try:
            seed = int(seed)
        except ValueError:
            raise InputError(f"seed must be an integer or hold {{stem}}/{{parent}}/{{grandparent}}, "
                             f"got {seed!r}") from None
    if layout is not None:
        compile_template(layout)
    try:
        options = ReadOptions(**(columns or {}))
    except TypeError as exc:
        raise InputError(f"unknown reading option in columns: {exc}") from None
    overrides = Overrides(project=project, experiment=experiment, env=env,
                          seed=str(seed) if seed is not None else None, tags=list(tags),
                          config=dict(config or {}), layout=layout)
    with store_lock(store.path, wait=wait, holder="ingest"):
        units, skipped = discover(roots, fmt)
        if not units:
            where = ", ".join(str(p) for p in roots[:3]) + (f" and {len(roots) - 3} more" if len(roots) > 3 else "")
            raise InputError(f"no {fmt + ' ' if fmt else ''}log file found in {where}"
                             + ("" if fmt else " (give its format)"))
        summary = run_ingest(store, roots, fmt=fmt, options=options, overrides=overrides, units=units,
                             as_copy=as_copy)
    summary.skipped = skipped + summary.skipped
    return summary.to_dict()


# ---------------------------------------------------------------------------- fetch
def _fetch(store: Store, kind: str, spec: dict[str, Any], name: str | None, workers: int, max_rps: float | None,
           retries: int, timeout: float, wait: bool, allow_empty: bool) -> dict[str, Any]:
    """`fetch_and_save` under the store's lock, as `openrlb fetch`: the summary `fetch --json` prints."""
    from openrlb_cli.fetch.http import RetryPolicy
    from openrlb_cli.fetch.lock import fetch_lock
    from openrlb_cli.fetch.sync import FetchOptions, SyncResult, fetch_and_save

    if workers < 1:
        raise InputError(f"workers must be at least 1, got {workers}")
    if retries < 1:
        raise InputError(f"retries must be at least 1, got {retries}")
    policy = RetryPolicy(max_attempts=retries, read_timeout=timeout)
    with fetch_lock(store.path, wait=wait):
        opts = FetchOptions(workers=workers, max_rps=max_rps, policy=policy)
        saved, summary = fetch_and_save(store, kind, spec, opts, name, allow_empty=allow_empty)
    return SyncResult([(saved, summary)]).to_dict()


def fetch_wandb(store: Store, project: str, filters: Sequence[str] = (), *, where: dict[str, Any] | None = None,
                metrics: Sequence[str] | None = None, env_key: str = "env_id", exp_key: str = "exp_name",
                x_axis: str | None = None, base_url: str | None = None, page_size: int = 1000, workers: int = 8,
                max_rps: float | None = 20.0, retries: int = 6, timeout: float = 60.0, name: str | None = None,
                wait: bool = False, allow_empty: bool = False) -> dict[str, Any]:
    """Fetch W&B runs (full, unsampled histories) into the store, as `openrlb fetch wandb`.

    The fetch is saved as a source that `openrlb sync` re-runs; re-fetching downloads only new
    points. The API key comes from `$WANDB_API_KEY` or `~/.netrc` (never stored).

    Args:
        store: an open store.
        project: `ENTITY/PROJECT`, e.g. `"openrlbenchmark/cleanrl"`.
        filters: filter words evaluated on the server: `env=`, `exp=`, `seed=`, `tag=` (all
            required), `user=`, `state=`, `name=`, or any config key (`learning_rate=0.001`).
        where: a W&B (Mongo-like) filter, e.g. `{"config.env_id.value": "Hopper-v4"}`, combined
            with `filters`.
        metrics: fetch only these history keys (default: every key).
        env_key: config key holding the environment id.
        exp_key: config key holding the experiment name.
        x_axis: history key the points are stored against (default: `global_step` where a run
            logs it, else W&B's `_step`).
        base_url: the W&B API (default: `$WANDB_BASE_URL`, else the public API).
        page_size: history rows per request.
        workers: parallel requests.
        max_rps: requests per second over all workers (0: no limit).
        retries: attempts per request.
        timeout: seconds to wait for an answer.
        name: name of the saved source (default: `wandb:ENTITY/PROJECT[@hash]`).
        wait: if another process holds the store's lock, wait instead of raising StoreBusyError.
        allow_empty: save the source even when no run matches yet (otherwise NothingMatchedError).

    Returns:
        The summary `fetch --json` prints: `status` (`ok`, `partial` or `failed`), runs
        new/updated/unchanged/failed, points_added, requests, and `sources` with each run failure.
    """
    from openrlb_cli.fetch.http import check_url
    from openrlb_cli.fetch.wandb import WandbQuery, WandbSpec, default_base_url, parse_project
    from openrlb_cli.fetch.wandb_filters import combine, words_to_filter

    if page_size < 1:
        raise InputError(f"page_size must be at least 1, got {page_size}")
    if x_axis is not None and not x_axis.strip():
        raise InputError("x_axis needs a history key (e.g. global_step)")
    if where is not None and not isinstance(where, dict):
        raise InputError(f"where must be a dict (a W&B filter), got {type(where).__name__}")
    entity, proj = parse_project(project)
    flt = combine([words_to_filter(list(filters), env_key=env_key, exp_key=exp_key) or {}, where or {}])
    query = WandbQuery(entity, proj, flt, list(dict.fromkeys(metrics)) if metrics else None, env_key, exp_key,
                       x_axis or None)
    url = check_url(base_url or default_base_url(), "the W&B base URL")
    spec = WandbSpec(base_url=url, queries=[query], page_size=page_size).to_json()
    return _fetch(store, "wandb", spec, name, workers, max_rps, retries, timeout, wait, allow_empty)


def fetch_mlflow(store: Store, url: str, experiments: Sequence[str] | str, *, filter: str | None = None,
                 metrics: Sequence[str] | None = None, env_key: str = "env_id", exp_key: str = "exp_name",
                 workers: int = 8, max_rps: float | None = None, retries: int = 6, timeout: float = 60.0,
                 name: str | None = None, wait: bool = False, allow_empty: bool = False) -> dict[str, Any]:
    """Fetch the runs of an MLflow tracking server (REST API) into the store, as `openrlb fetch mlflow`.

    Saved as a source for `openrlb sync`. Credentials: `$MLFLOW_TRACKING_TOKEN`, or
    `$MLFLOW_TRACKING_USERNAME`/`$MLFLOW_TRACKING_PASSWORD` (never stored).

    Args:
        store: an open store.
        url: the tracking server, e.g. `http://127.0.0.1:5000`.
        experiments: experiment name(s) on the server.
        filter: MLflow search filter, e.g. `"params.env_id = 'Hopper-v4'"`.
        metrics: fetch only these metric keys (default: every key).
        env_key: param (or tag) holding the environment id.
        exp_key: param (or tag) holding the experiment name.
        workers: parallel requests.
        max_rps: requests per second (None or 0: no limit).
        retries: attempts per request.
        timeout: seconds to wait for an answer.
        name: name of the saved source.
        wait: if another process holds the store's lock, wait instead of raising StoreBusyError.
        allow_empty: save the source even when no run matches yet (otherwise NothingMatchedError).

    Returns:
        The summary `fetch --json` prints, as for `fetch_wandb`.
    """
    from openrlb_cli.fetch.http import check_url
    from openrlb_cli.fetch.mlflow import MlflowSpec

    names = [experiments] if isinstance(experiments, str) else list(experiments)
    if not names:
        raise InputError("fetch_mlflow needs at least one experiment name")
    spec = MlflowSpec(base_url=check_url(url, "the MLflow URL"), experiments=list(dict.fromkeys(names)),
                      filter=filter, metrics=list(dict.fromkeys(metrics)) if metrics else None,
                      env_key=env_key, exp_key=exp_key).to_json()
    return _fetch(store, "mlflow", spec, name, workers, max_rps, retries, timeout, wait, allow_empty)
