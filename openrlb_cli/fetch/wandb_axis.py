"""Moving a fetched W&B run's stored points onto the x axis it is now fetched against.

Stores written before migration 0005 keyed every W&B point on `_step`, the row counter, with
`global_step` as one more series. Researchers compare runs on `global_step`, so from 0005 points
are keyed on the run's x axis and `fetch_runs.x_axis` says which. When a fetch or sync meets a run
stored against another axis than the one it now wants, `prepare_axis` fixes the store first, in
one transaction, so the points that follow are appended to series on the same axis and nothing is
stored twice:

* stored against `_step` and the x-axis series is stored at least as far as every other key:
  re-keyed in place. Each point takes the x value logged in its own `_step` row (the row-wise join
  of rlops); points of rows without one are dropped, as a fresh fetch drops them.
* otherwise (another axis, or the x series was never fetched): the run's points and progress are
  cleared and its remote digest forgotten, so this fetch downloads it again from step 0.

Progress is always in `_step` (what history windows are bounded by), so it stays valid after a
re-key.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from openrlb_cli.analysis.curves import join_on_step
from openrlb_cli.fetch import state
from openrlb_cli.model import Series
from openrlb_cli.wandb_rows import STEP


def _floor(progress: dict[str, Any], key: str) -> float:
    return float(max(progress.get(key, 0), progress.get("*", 0)))


def rekey(series: Series, x_of_step: Series) -> tuple[Series, int]:
    """Points keyed on `_step` -> keyed on the x value of the same `_step`; returns (series, dropped)."""
    x, hit = join_on_step(series.steps, x_of_step.steps, x_of_step.values)
    sort = np.argsort(x, kind="stable")
    return Series(x[sort], series.values[hit][sort], series.wall_times[hit][sort]), int((~hit).sum())


def _delete_series(store: Any, run_id: int, key: str) -> None:
    store.conn.execute("DELETE FROM chunks WHERE series_id IN (SELECT id FROM series WHERE run_id = ? AND key = ?)",
                       (run_id, key))
    store.conn.execute("DELETE FROM series WHERE run_id = ? AND key = ?", (run_id, key))


def prepare_axis(store: Any, known: state.RunState | None, x_key: str, summary: Any,
                 label: str = "") -> state.RunState | None:
    """Make the stored points of a known run agree with `x_key`; returns the state to plan with."""
    if known is None:
        return None
    stored = known.x_axis or STEP
    if stored == x_key:
        return known
    keys = [info.key for info in store.series_info([known.run_id]) if info.n_points > 0]
    if not keys:  # nothing stored yet: only the label changes
        with store.transaction():
            state.save_progress(store, known.run_id, known.progress, x_key)
        return state.RunState(known.run_id, known.digest, known.progress, x_key)
    progress = known.progress
    local = stored == STEP and x_key in keys and all(_floor(progress, x_key) >= _floor(progress, k) for k in keys)
    with store.transaction():
        if local:
            x_of_step = store.load_series(known.run_id, x_key)
            for key in keys:
                moved, dropped = rekey(store.load_series(known.run_id, key), x_of_step)
                if len(moved):
                    store.replace_series(known.run_id, key, moved)
                else:
                    _delete_series(store, known.run_id, key)
                summary.points_without_x += dropped
            state.save_progress(store, known.run_id, progress, x_key)
            summary.rekeyed += 1
            return state.RunState(known.run_id, known.digest, progress, x_key)
        for key in keys:
            _delete_series(store, known.run_id, key)
        state.save_progress(store, known.run_id, {}, x_key)
        store.conn.execute("UPDATE fetch_runs SET remote_digest = NULL WHERE run_id = ?", (known.run_id,))
    summary.warnings.append(f"run {label or known.run_id}: stored against {stored!r}, fetched again against {x_key!r}")
    return state.RunState(known.run_id, None, {}, x_key)
