"""An MLflow SQLite tracking store (`mlflow.db`) read directly and read-only, without MLflow installed.

`mlflow server` defaults to `sqlite:///mlflow.db`, and recent MLflow uses one for local tracking too:
every run of every experiment lives in one file. Tables read: `experiments` (name), `runs`
(status, times, user, lifecycle stage), `params`, `tags` and `metrics` (key, value, timestamp in ms,
step, is_nan; NaN is stored as value 0 with is_nan 1, ±inf as ±float64 max, as MLflow's own reader
returns it). Deleted runs (`lifecycle_stage = 'deleted'`) are left out, as MLflow's search does.

The unit is the file; each run is one `RunRecord` (`external_id` = run uuid), mapped as the file-store
reader maps runs (`mlflow_files`). Metric rows are only inserted, and `metrics` is a rowid table, so
the state keeps the highest rowid read and how many rows had a rowid up to it: the next read fetches
`rowid > max` only. If rows were deleted or the file was replaced (that count no longer matches), every
metric is re-read and `replace=True`. The database is opened with `mode=ro` (falling back to
`immutable=1` when even that fails, e.g. a read-only directory without the WAL's shared-memory
file), so a running `mlflow server` is never disturbed. Run metadata is re-read every time (cheap);
the state also lists each run's metric keys, so a re-read empties a key whose rows are all gone.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from openrlb_cli.errors import InputError
from openrlb_cli.ingest.base import ReadOptions, ReadResult
from openrlb_cli.ingest.mlflow.file_store import STATES, param_value
from openrlb_cli.model import RunRecord, Series

MAGIC = b"SQLite format 3\x00"
MLFLOW_TABLES = {"experiments", "runs", "metrics", "params", "tags"}


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection that never creates, locks out or modifies the database."""
    uri = "file:" + quote(str(path.resolve()))
    try:
        con = sqlite3.connect(uri + "?mode=ro", uri=True, timeout=10)
        con.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        return con
    except sqlite3.OperationalError:
        return sqlite3.connect(uri + "?immutable=1", uri=True)


def _tables(con: sqlite3.Connection) -> set[str]:
    return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


class MlflowSqliteReader:
    """An MLflow SQLite tracking store file (see the module docstring)."""

    name = "mlflow-sqlite"

    def detect(self, path: Path) -> bool:
        try:
            with open(path, "rb") as f:
                if f.read(16) != MAGIC:
                    return False
            con = connect_read_only(path)
            try:
                return MLFLOW_TABLES <= _tables(con) and "alembic_version" in _tables(con)
            finally:
                con.close()
        except (OSError, sqlite3.Error):
            return False

    def read(self, path: Path, offset: int, state: dict[str, Any], options: ReadOptions) -> ReadResult:
        try:
            con = connect_read_only(path)
        except sqlite3.Error as e:
            raise InputError(f"{path}: cannot open as SQLite: {e}") from None
        try:
            return self._read(con, path, state)
        except sqlite3.DatabaseError as e:
            raise InputError(f"{path}: not a readable MLflow SQLite store: {e}") from None
        finally:
            con.close()

    def _read(self, con: sqlite3.Connection, path: Path, state: dict[str, Any]) -> ReadResult:
        missing = MLFLOW_TABLES - _tables(con)
        if missing:
            raise InputError(f"{path}: not an MLflow store (no table {', '.join(sorted(missing))})")
        con.execute("BEGIN")  # one snapshot: runs and metrics agree even while a server writes
        runs = self._runs(con)
        warnings: list[str] = []
        start, replace = int(state.get("max_rowid", 0)), False
        if start:
            (seen,) = con.execute("SELECT count(*) FROM metrics WHERE rowid <= ?", (start,)).fetchone()
            if seen != state.get("rows"):
                warnings.append(f"{path}: metric rows were deleted or the store was replaced; re-reading all")
                start, replace = 0, True
        rows = con.execute(
            "SELECT rowid, run_uuid, key, value, timestamp, step, is_nan FROM metrics WHERE rowid > ? "
            "ORDER BY run_uuid, key, rowid", (start,)).fetchall()
        top = max((r[0] for r in rows), default=start)
        (count,) = con.execute("SELECT count(*) FROM metrics WHERE rowid <= ?", (top,)).fetchone()
        con.execute("COMMIT")
        self._add_points(runs, rows)
        known: dict[str, list[str]] = {} if replace else dict(state.get("keys", {}))
        if replace:  # a key whose rows are all gone is emptied, not left stale
            for uuid, keys in state.get("keys", {}).items():
                for key in keys:
                    if uuid in runs and key not in runs[uuid].series:
                        runs[uuid].series[key] = Series.empty()
        for uuid, rec in runs.items():
            known[uuid] = sorted(set(known.get(uuid, [])) | {k for k, s in rec.series.items() if len(s)})
        return ReadResult(list(runs.values()), 0, {"max_rowid": top, "rows": count, "keys": known},
                          replace=replace, warnings=warnings)

    @staticmethod
    def _runs(con: sqlite3.Connection) -> dict[str, RunRecord]:
        exp_names = dict(con.execute("SELECT experiment_id, name FROM experiments"))
        params: dict[str, dict[str, str]] = {}
        for run, key, value in con.execute("SELECT run_uuid, key, value FROM params ORDER BY key"):
            params.setdefault(run, {})[key] = value
        tags: dict[str, dict[str, str]] = {}
        for run, key, value in con.execute("SELECT run_uuid, key, value FROM tags ORDER BY key"):
            tags.setdefault(run, {})[key] = value
        out: dict[str, RunRecord] = {}
        query = ("SELECT run_uuid, name, status, start_time, end_time, user_id, lifecycle_stage, experiment_id "
                 "FROM runs WHERE lifecycle_stage IS NULL OR lifecycle_stage != 'deleted' ORDER BY start_time")
        for uuid, name, status, start, end, user, stage, exp_id in con.execute(query):
            p, t = params.get(uuid, {}), tags.get(uuid, {})
            rec = RunRecord(source="local", external_id=uuid)
            rec.project = str(exp_names.get(exp_id) or exp_id)
            rec.name = t.get("mlflow.runName") or name or None
            rec.state = STATES.get(str(status or "").upper())
            rec.user = t.get("mlflow.user") or user or None
            rec.created_at = start / 1000.0 if isinstance(start, (int, float)) else None
            rec.updated_at = end / 1000.0 if isinstance(end, (int, float)) else None
            rec.env = next((p[k] for k in ("env_id", "env", "env_name") if p.get(k)), None)
            seed = param_value(p["seed"]) if "seed" in p else None
            rec.seed = seed if isinstance(seed, int) else None
            rec.config = {k: param_value(v) for k, v in p.items()}
            rec.config.update(mlflow_run_id=uuid, mlflow_experiment_id=str(exp_id), mlflow_tags=t,
                              lifecycle_stage=stage)
            if exp_names.get(exp_id):
                rec.config["mlflow_experiment_name"] = str(exp_names[exp_id])
            rec.tags = [f"{k}={v}" for k, v in t.items() if not k.startswith("mlflow.")]
            out[uuid] = rec
        return out

    @staticmethod
    def _add_points(runs: dict[str, RunRecord], rows: list[tuple]) -> None:
        if not rows:
            return
        arr = np.array([(r[3], r[4], r[5] if r[5] is not None else 0, r[6] or 0) for r in rows], dtype=np.float64)
        values = np.where(arr[:, 3] != 0, np.nan, arr[:, 0])
        i = 0
        while i < len(rows):  # rows are grouped by (run, key)
            run, key = rows[i][1], rows[i][2]
            j = i
            while j < len(rows) and rows[j][1] == run and rows[j][2] == key:
                j += 1
            rec = runs.get(run)
            if rec is not None:  # points of deleted runs are skipped with their runs
                rec.add_points(key, Series(arr[i:j, 2], values[i:j], arr[i:j, 1] / 1000.0))
                finite = values[i:j][np.isfinite(values[i:j])]
                if len(finite):
                    rec.summary[key] = float(finite[-1])
            i = j


MLFLOW_SQLITE = MlflowSqliteReader()
