"""Python API over the store for analysis code and notebooks: tidy pandas frames, no SQL.

    from openrlb_cli.api import open_store, frame, runs_frame, metric_keys
    with open_store() as store:
        runs = runs_frame(store, ["project=tianshou", "learning_rate<1e-3"])   # config as columns
        keys = metric_keys(store, ["project=tianshou"])                     # {"test/reward": 720, ...}
        df = frame(store, ["env=Hopper-v3", "project=tianshou"], "rew")      # filter words, as `openrlb runs`
        df = frame(store, ["sac?project=tianshou&cl=SAC", "td3?project=tianshou"])  # specs, as `openrlb plot`

Filters are the CLI's words (`key=value`, `!=`, `<`, `<=`, `>`, `>=`; see `store/filters.py`), a
`RunFilter`, or `plot`/`table` specs (`EXPERIMENT?key=value&...`). A filter key or value the store
does not have, and a metric no selected run has, raise `SelectionError` with close matches: an empty
frame would look like a result.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from openrlb_cli.errors import SelectionError
from openrlb_cli.model import RunInfo
from openrlb_cli.store import RunFilter, Store, parse_filters, suggest
from openrlb_cli.store.filters import parse_number

TIDY_COLUMNS = ["project", "experiment", "env", "seed", "run", "step", "value", "wall_time"]
RUN_COLUMNS = ["run", "project", "experiment", "env", "seed", "state", "name", "user", "tags", "note", "source",
               "created_at", "updated_at"]
Filters = RunFilter | Sequence[str] | str | None


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
