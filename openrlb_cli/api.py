"""Python API over the store for analysis code and notebooks: tidy pandas frames, no SQL.

    from openrlb_cli.api import open_store, frame
    with open_store() as store:
        df = frame(store, ["env=Hopper-v3", "project=tianshou"], "rew")
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from openrlb_cli.model import RunInfo
from openrlb_cli.store import RunFilter, Store, parse_filters

TIDY_COLUMNS = ["project", "experiment", "env", "seed", "run", "step", "value", "wall_time"]


def open_store(path: str | Path | None = None) -> Store:
    """The store at `path`, `$OPENRLB_DB`, or the per-user default."""
    return Store(path)


def select(store: Store, filters: RunFilter | list[str] | None = None) -> list[RunInfo]:
    flt = filters if isinstance(filters, RunFilter) else parse_filters(filters)
    return store.runs(flt)


def frame(store: Store, filters: RunFilter | list[str] | None, metric: str) -> pd.DataFrame:
    """One metric for the selected runs as a long/tidy frame with TIDY_COLUMNS."""
    runs = select(store, filters)
    return frame_for_runs(store, runs, metric)


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


def runs_frame(runs: list[RunInfo]) -> pd.DataFrame:
    """Run metadata as a frame (one row per run; tags joined by commas)."""
    return pd.DataFrame(
        [
            {
                "run": r.uid, "project": r.project, "experiment": r.experiment, "env": r.env,
                "seed": r.seed, "state": r.state, "name": r.name, "tags": ",".join(r.tags),
                "source": r.source,
            }
            for r in runs
        ]
    )
