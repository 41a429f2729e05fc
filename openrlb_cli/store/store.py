"""The store's typed API: write runs and points, query runs and series. All SQL lives here.

Writes go through `write_run`, one transaction per call, so a run is either fully updated or not at
all. Readers (plots) and writers (ingest, sync) may run at the same time thanks to WAL.
"""

from __future__ import annotations

import json
import math
import sqlite3
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openrlb_cli.errors import SelectionError, StoreError
from openrlb_cli.model import RUN_FIELDS, RunInfo, RunRecord, Series, SeriesInfo
from openrlb_cli.store import edits
from openrlb_cli.store.database import connect, default_db_path, schema_version, write_transaction
from openrlb_cli.store.filters import RunFilter, register_functions

if TYPE_CHECKING:
    import numpy as np


class _LazyCodec:
    """`openrlb_cli.store.codec` (and with it numpy), imported on first use: listing runs (`openrlb
    runs`, `info`, `show`) needs neither, and the CLI should start in a fraction of a second."""

    def __getattr__(self, name: str) -> Any:
        from openrlb_cli.store import codec as module

        globals()["codec"] = module  # from now on the module itself: no proxy cost per call
        return getattr(module, name)


codec = _LazyCodec()

_RUN_COLUMNS = (
    "id, uid, project, name, experiment, env, seed, state, user, url, source, external_id, "
    "created_at, updated_at, config, summary, note"
)

# runs not marked deleted on their server (fetch_runs.deleted_at, migration 0007)
_LIVE = "NOT EXISTS (SELECT 1 FROM fetch_runs f WHERE f.run_id = runs.id AND f.deleted_at IS NOT NULL)"


def run_uid(source: str, external_id: str) -> str:
    import hashlib  # OpenSSL loads in ~3 ms: only when a run is created

    return hashlib.sha256(f"{source}\0{external_id}".encode()).hexdigest()[:10]


def _json_default(value: Any) -> Any:
    np = sys.modules.get("numpy")  # a numpy value implies numpy is loaded; never import it for this
    if np is None:
        return str(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default, sort_keys=True, allow_nan=True)


class Store:
    """A handle on one store file. Cheap to open; close when done (or use as a context manager)."""

    def __init__(self, path: str | Path | None = None, *, create: bool = True):
        self.path = Path(path).expanduser() if path is not None else default_db_path()
        self.conn: sqlite3.Connection = connect(self.path, create=create)
        register_functions(self.conn)  # `openrlb_num`, which config filters use

    def close(self) -> None:
        try:
            wrote = self.conn.total_changes > 0
        except sqlite3.ProgrammingError:  # closed already: closing twice is allowed
            return
        if wrote:
            self.refresh_statistics()
        self.conn.close()

    def refresh_statistics(self, min_runs: int = 1000) -> bool:
        """Give SQLite's query planner current row counts for `runs` (`ANALYZE runs`) when they are
        missing or off by more than 10 %. Why: without them the planner answers "project P and env E"
        by walking every run of the project through the (project, experiment, env) index — 10 ms at
        25,000 runs where the env index takes 2.5 ms — and `openrlb view` asks that on every env switch.
        Called on closing a connection that wrote; costs ~30 ms at 25,000 runs, nothing when counts are
        current. Never waits for another writer: statistics are an optimisation, skipped when busy.
        Returns whether it analysed."""
        try:
            n = self.conn.execute("SELECT count(*) FROM runs").fetchone()[0]
            if n < min_runs:
                return False
            known = 0
            if self.conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone():
                row = self.conn.execute("SELECT stat FROM sqlite_stat1 WHERE tbl = 'runs' LIMIT 1").fetchone()
                known = int(row[0].split()[0]) if row else 0
            if abs(n - known) * 10 <= n:
                return False
            wait = self.conn.execute("PRAGMA busy_timeout").fetchone()[0]
            self.conn.execute("PRAGMA busy_timeout = 0")
            try:
                self.conn.execute("ANALYZE runs")
                self.conn.commit()
            finally:
                self.conn.execute(f"PRAGMA busy_timeout = {int(wait)}")
            return True
        except (sqlite3.Error, ValueError, IndexError):
            return False

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        with write_transaction(self.conn):
            yield self

    # ---------------------------------------------------------------- writing
    def write_run(self, rec: RunRecord, *, replace: bool = False) -> int:
        """Upsert the run and append (or with `replace`, replace) its series, atomically."""
        with self.transaction():
            run_id = self.upsert_run(rec)
            for key, series in rec.series.items():
                if replace:
                    self.replace_series(run_id, key, series)
                else:
                    self.append_points(run_id, key, series)
        return run_id

    def upsert_run(self, rec: RunRecord) -> int:
        """Create the run or update the fields the record sets; tags are added, config/summary merged."""
        return self.upsert_run_created(rec)[0]

    def upsert_run_created(self, rec: RunRecord) -> tuple[int, bool]:
        """`upsert_run`, and whether the run is new (then it has no series yet)."""
        row = self.conn.execute(
            "SELECT id, config, summary, user_fields FROM runs WHERE source = ? AND external_id = ?",
            (rec.source, rec.external_id),
        ).fetchone()
        if row is not None and row[3]:
            edits.apply(rec, edits.load(row[3]))  # the user's fixes win over what the source says
        now = time.time()
        fields = {f: getattr(rec, f) for f in RUN_FIELDS if getattr(rec, f) is not None}
        if row is None:
            fields.setdefault("project", "local")
            fields.update(
                uid=run_uid(rec.source, rec.external_id),
                source=rec.source,
                external_id=rec.external_id,
                config=dumps(rec.config),
                summary=dumps(rec.summary),
                ingested_at=now,
            )
            cols = ", ".join(fields)
            cur = self.conn.execute(
                f"INSERT INTO runs ({cols}) VALUES ({', '.join('?' * len(fields))})", list(fields.values())
            )
            assert cur.lastrowid is not None  # sqlite3 sets it after every INSERT
            run_id = int(cur.lastrowid)
        else:
            run_id = int(row[0])
            config = {**json.loads(row[1]), **rec.config}
            summary = {**json.loads(row[2]), **rec.summary}
            fields.update(config=dumps(config), summary=dumps(summary), ingested_at=now)
            sets = ", ".join(f"{k} = ?" for k in fields)
            self.conn.execute(f"UPDATE runs SET {sets} WHERE id = ?", [*fields.values(), run_id])
        if rec.tags:
            self.conn.executemany(
                "INSERT OR IGNORE INTO run_tags (run_id, tag) VALUES (?, ?)",
                [(run_id, t) for t in dict.fromkeys(rec.tags)],
            )
        return run_id, row is None

    def refresh_run(self, run_id: int, rec: RunRecord) -> None:
        """Overwrite what a remote server owns of a known run, in the caller's transaction.

        `upsert_run` merges (the files of one run add up); a tracker's copy of a run replaces
        what was fetched before: its state, name, times, config and summary are the server's
        latest, and a tag removed on the server is removed here. Fields the record leaves None
        (e.g. no experiment key in the config) keep their stored value.
        """
        self.apply_user_edits(rec)  # what the user set with `openrlb set` wins over the server's copy
        fields: dict[str, Any] = {f: getattr(rec, f) for f in RUN_FIELDS if getattr(rec, f) is not None}
        fields.update(config=dumps(rec.config), summary=dumps(rec.summary), ingested_at=time.time())
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.conn.execute(f"UPDATE runs SET {sets} WHERE id = ?", [*fields.values(), run_id])
        tags = list(dict.fromkeys(rec.tags))
        self.conn.execute("DELETE FROM run_tags WHERE run_id = ? AND tag NOT IN (SELECT value FROM json_each(?))",
                          (run_id, json.dumps(tags)))
        self.conn.executemany("INSERT OR IGNORE INTO run_tags (run_id, tag) VALUES (?, ?)",
                              [(run_id, t) for t in tags])

    def apply_user_edits(self, rec: RunRecord) -> RunRecord:
        """`rec` (in place) with the fields the user set on the stored run (`openrlb set`): for
        writers that update a known run with their own SQL instead of `upsert_run`."""
        row = self.conn.execute(
            "SELECT user_fields FROM runs WHERE source = ? AND external_id = ?", (rec.source, rec.external_id)
        ).fetchone()
        return edits.apply(rec, edits.load(row[0])) if row is not None and row[0] else rec

    def _series_row(self, run_id: int, key: str, new: bool = False) -> tuple[int, int, int, float | None]:
        row = None if new else self.conn.execute(
            "SELECT id, n_chunks, n_points, step_max FROM series WHERE run_id = ? AND key = ?", (run_id, key)
        ).fetchone()
        if row is None:
            cur = self.conn.execute("INSERT INTO series (run_id, key) VALUES (?, ?)", (run_id, key))
            assert cur.lastrowid is not None  # sqlite3 sets it after every INSERT
            return int(cur.lastrowid), 0, 0, None
        return int(row[0]), int(row[1]), int(row[2]), row[3]

    def append_points(self, run_id: int, key: str, series: Series, *, new: bool = False,
                      preempt: bool = False) -> int:
        """Append points to the run's series `key` (created if needed; `new`: known not to exist).

        With `preempt`, points whose step goes back preempt earlier ones, stored or new, as
        TensorBoard does for a resumed job (`store.preempt`). Returns how many points were preempted."""
        series_id, n_chunks, _, step_max = self._series_row(run_id, key, new)
        dropped = 0
        if preempt:
            from openrlb_cli.store.preempt import preemption

            keep, cut = preemption(series.steps, step_max)
            if keep is not None:
                dropped += len(series) - int(keep.sum())
                series = Series(series.steps[keep], series.values[keep], series.wall_times[keep])
            if cut is not None and step_max is not None and step_max >= cut:
                dropped += self.truncate_series(series_id, cut)
                n_chunks = self.conn.execute("SELECT n_chunks FROM series WHERE id = ?", (series_id,)).fetchone()[0]
        n = len(series)
        if n == 0:
            return dropped
        rows = []
        for seq, start in enumerate(range(0, n, codec.CHUNK_POINTS), start=n_chunks):
            sl = slice(start, start + codec.CHUNK_POINTS)
            steps, vals, walls = series.steps[sl], series.values[sl], series.wall_times[sl]
            lo, hi = codec.finite_min_max(steps)
            rows.append(
                (series_id, seq, len(steps), lo, hi, codec.encode_steps(steps), codec.encode_values(vals),
                 codec.encode_walls(walls))
            )
        self.conn.executemany(
            "INSERT INTO chunks (series_id, seq, n, step_min, step_max, steps, vals, walls) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        lo, hi = codec.finite_min_max(series.steps)
        self.conn.execute(
            "UPDATE series SET n_points = n_points + ?, n_chunks = n_chunks + ?, "
            "step_min = min(coalesce(step_min, ?), ?), step_max = max(coalesce(step_max, ?), ?), "
            "last_value = ?, last_wall_time = ? WHERE id = ?",
            (n, len(rows), lo, lo, hi, hi, float(series.values[-1]), _opt(series.wall_times[-1]), series_id),
        )
        return dropped

    def truncate_series(self, series_id: int, cut: float) -> int:
        """Remove the stored points of a series whose step is >= `cut` (a resumed job preempts them),
        rewriting only the chunks that hold such points, and recompute the series' statistics.
        Returns how many points were removed."""
        import numpy as np

        removed = 0
        for chunk_id, n, steps, vals, walls in self.conn.execute(
            "SELECT id, n, steps, vals, walls FROM chunks WHERE series_id = ? AND step_max >= ? ORDER BY seq",
            (series_id, cut),
        ).fetchall():
            s = codec.decode_steps(steps, n)
            keep = ~(s >= cut)
            k = int(keep.sum())
            removed += n - k
            if k == 0:
                self.conn.execute("DELETE FROM chunks WHERE id = ?", (chunk_id,))
                continue
            v, w = codec.decode_values(vals, n)[keep], codec.decode_walls(walls, n)[keep]
            s = np.ascontiguousarray(s[keep])
            lo, hi = codec.finite_min_max(s)
            self.conn.execute(
                "UPDATE chunks SET n = ?, step_min = ?, step_max = ?, steps = ?, vals = ?, walls = ? WHERE id = ?",
                (k, lo, hi, codec.encode_steps(s), codec.encode_values(v), codec.encode_walls(w), chunk_id),
            )
        if removed:
            self._refresh_series_stats(series_id)
        return removed

    def _refresh_series_stats(self, series_id: int) -> None:
        """n_points, n_chunks (the next free seq), step range and last point from the chunks left."""
        n_points, next_seq, lo, hi = self.conn.execute(
            "SELECT coalesce(sum(n), 0), coalesce(max(seq) + 1, 0), min(step_min), max(step_max) FROM chunks "
            "WHERE series_id = ?", (series_id,)
        ).fetchone()
        last_value = last_wall = None
        row = self.conn.execute(
            "SELECT n, vals, walls FROM chunks WHERE series_id = ? ORDER BY seq DESC LIMIT 1", (series_id,)
        ).fetchone()
        if row is not None:
            last_value = float(codec.decode_values(row[1], row[0])[-1])
            last_wall = _opt(float(codec.decode_walls(row[2], row[0])[-1]))
        self.conn.execute(
            "UPDATE series SET n_points = ?, n_chunks = ?, step_min = ?, step_max = ?, last_value = ?, "
            "last_wall_time = ? WHERE id = ?",
            (n_points, next_seq, lo, hi, last_value, last_wall, series_id),
        )

    def truncate_run(self, run_id: int, cut: float, keep: Iterable[str] = ()) -> int:
        """`truncate_series` for every series of a run (a restart marker preempts them all) but those
        of the keys in `keep` (another log of the run provides them: the marker is not about them)."""
        kept = set(keep)
        ids = [r[0] for r in self.conn.execute(
            "SELECT id, key FROM series WHERE run_id = ? AND step_max >= ?", (run_id, cut)) if r[1] not in kept]
        return sum(self.truncate_series(i, cut) for i in ids)

    def replace_series(self, run_id: int, key: str, series: Series, *, preempt: bool = False) -> int:
        self.conn.execute(
            "DELETE FROM chunks WHERE series_id IN (SELECT id FROM series WHERE run_id = ? AND key = ?)",
            (run_id, key),
        )
        self.conn.execute("DELETE FROM series WHERE run_id = ? AND key = ?", (run_id, key))
        return self.append_points(run_id, key, series, preempt=preempt)

    def delete_runs(self, run_ids: Iterable[int]) -> int:
        ids = list(run_ids)
        with self.transaction():
            self.conn.execute(
                "DELETE FROM runs WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(ids),)
            )
        return len(ids)

    # ---------------------------------------------------------------- reading runs
    def runs(self, flt: RunFilter | None = None, *, deleted: bool = False) -> list[RunInfo]:
        """Runs matching the filter; runs deleted on their server (migration 0007) only with `deleted`."""
        flt = flt or RunFilter()
        where, params = flt.sql()
        if not deleted:
            where = f"({where}) AND {_LIVE}"
        rows = self.conn.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE {where} ORDER BY project, experiment, env, seed, id",
            params,
        ).fetchall()
        tags = self._tags([r[0] for r in rows])
        return [_run_info(r, tags.get(r[0], [])) for r in rows]

    def deleted_at(self, run_ids: Iterable[int]) -> dict[int, float]:
        """run id -> when its server was seen without it, for the runs so marked."""
        rows = self.conn.execute(
            "SELECT run_id, deleted_at FROM fetch_runs WHERE deleted_at IS NOT NULL "
            "AND run_id IN (SELECT value FROM json_each(?))", (json.dumps(list(run_ids)),)).fetchall()
        return dict(rows)

    def _tags(self, run_ids: list[int]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        if not run_ids:
            return out
        for run_id, tag in self.conn.execute(
            "SELECT run_id, tag FROM run_tags WHERE run_id IN (SELECT value FROM json_each(?)) "
            "ORDER BY run_id, tag",
            (json.dumps(run_ids),),
        ):
            out.setdefault(run_id, []).append(tag)
        return out

    def get_run(self, ref: str) -> RunInfo:
        """A run by uid (or unique uid prefix), numeric id, or exact name."""
        rows = self.conn.execute(
            f"SELECT {_RUN_COLUMNS} FROM runs WHERE uid LIKE ? OR name = ? OR CAST(id AS TEXT) = ?",
            (ref + "%", ref, ref),
        ).fetchall()
        if not rows:
            raise SelectionError(f"no run matches {ref!r} (use a uid from `openrlb runs`)")
        if len(rows) > 1:
            uids = ", ".join(r[1] for r in rows[:5])
            raise SelectionError(f"{ref!r} matches {len(rows)} runs ({uids}...); give more of the uid")
        return _run_info(rows[0], self._tags([rows[0][0]]).get(rows[0][0], []))

    def run_id_for(self, source: str, external_id: str) -> int | None:
        row = self.conn.execute(
            "SELECT id FROM runs WHERE source = ? AND external_id = ?", (source, external_id)
        ).fetchone()
        return None if row is None else int(row[0])

    # ---------------------------------------------------------------- reading series
    def series_info(self, run_ids: Iterable[int] | None = None, key: str | None = None) -> list[SeriesInfo]:
        clauses, params = [], []
        if run_ids is not None:
            clauses.append("run_id IN (SELECT value FROM json_each(?))")
            params.append(json.dumps(list(run_ids)))
        if key is not None:
            clauses.append("key = ?")
            params.append(key)
        where = " AND ".join(clauses) or "1"
        return [
            SeriesInfo(*row)
            for row in self.conn.execute(
                "SELECT run_id, key, n_points, step_min, step_max, last_value, last_wall_time "
                f"FROM series WHERE {where} ORDER BY run_id, key",
                params,
            )
        ]

    def keys(self, run_ids: Iterable[int] | None = None) -> dict[str, int]:
        """Metric keys and how many of the given runs have each."""
        return {
            s_key: n
            for s_key, n in self.conn.execute(
                "SELECT key, count(*) FROM series "
                + ("WHERE run_id IN (SELECT value FROM json_each(?)) " if run_ids is not None else "")
                + "GROUP BY key ORDER BY key",
                [json.dumps(list(run_ids))] if run_ids is not None else [],
            )
        }

    def load_series(self, run_id: int, key: str) -> Series:
        return self.load_many([run_id], key).get(run_id, Series.empty())

    def load_many(self, run_ids: Iterable[int], key: str) -> dict[int, Series]:
        """One metric for many runs, decoded straight from the chunk BLOBs into numpy."""
        import numpy as np

        parts: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
        cur = self.conn.execute(
            "SELECT s.run_id, c.n, c.steps, c.vals, c.walls FROM series s JOIN chunks c ON c.series_id = s.id "
            "WHERE s.key = ? AND s.run_id IN (SELECT value FROM json_each(?)) ORDER BY s.run_id, c.seq",
            (key, json.dumps(list(run_ids))),
        )
        for run_id, n, steps, vals, walls in cur:
            parts.setdefault(run_id, []).append(
                (codec.decode_steps(steps, n), codec.decode_values(vals, n), codec.decode_walls(walls, n))
            )
        out = {}
        for run_id, chunks in parts.items():
            if len(chunks) == 1:
                s, v, w = chunks[0]
            else:
                s, v, w = (np.concatenate([c[i] for c in chunks]) for i in range(3))
            out[run_id] = Series(s, v, w)
        return out

    # ---------------------------------------------------------------- ingest bookkeeping
    def file_state(self, path: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            f"SELECT {_FILE_COLUMNS} FROM ingest_files WHERE path = ?", (path,)
        ).fetchone()
        return None if row is None else file_row(row)

    def set_file_state(self, path: str, *, run_id: int | None, fmt: str, size: int, mtime: float,
                       offset: int, state: dict[str, Any] | None = None, **identity: Any) -> None:
        """Record what ingest read of a unit; `identity`: its 0006 columns (ident, run_dir, name,
        head_len, head_hash, checks, copy_of), left as they were when not given."""
        cols = {"run_id": run_id, "format": fmt, "size": size, "mtime": mtime, "offset": offset,
                "state": dumps(state or {}), "ingested_at": time.time()}
        for key, value in identity.items():
            if key not in _IDENTITY_COLUMNS:
                raise TypeError(f"unknown ingest_files column {key!r}")
            cols[key] = dumps(value) if key == "checks" and value is not None else value
        self.conn.execute(
            f"INSERT INTO ingest_files (path, {', '.join(cols)}) VALUES (?{', ?' * len(cols)}) "
            f"ON CONFLICT(path) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in cols)}",
            (path, *cols.values()),
        )

    # ---------------------------------------------------------------- summary
    def info(self) -> dict[str, Any]:
        count = lambda sql: self.conn.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "path": str(self.path),
            "schema_version": schema_version(self.conn),
            "runs": count("SELECT count(*) FROM runs"),
            "projects": count("SELECT count(DISTINCT project) FROM runs"),
            "series": count("SELECT count(*) FROM series"),
            "points": count("SELECT coalesce(sum(n_points), 0) FROM series"),
            "files_tracked": count("SELECT count(*) FROM ingest_files"),
            "size_bytes": self.path.stat().st_size if self.path.exists() else 0,
        }


_IDENTITY_COLUMNS = ("ident", "run_dir", "name", "head_len", "head_hash", "checks", "copy_of", "body_hash")
_FILE_COLUMNS = "path, run_id, format, size, mtime, offset, state, " + ", ".join(_IDENTITY_COLUMNS)


def file_row(row: tuple) -> dict[str, Any]:
    """An `ingest_files` row selected with `_FILE_COLUMNS`, JSON columns decoded."""
    out = dict(zip(("path", "run_id", "format", "size", "mtime", "offset", "state", *_IDENTITY_COLUMNS), row,
                   strict=True))
    out["state"] = json.loads(out["state"])
    out["checks"] = None if out["checks"] is None else json.loads(out["checks"])
    return out


def _opt(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def _run_info(r: tuple, tags: list[str]) -> RunInfo:
    return RunInfo(
        id=r[0], uid=r[1], project=r[2], name=r[3], experiment=r[4], env=r[5], seed=r[6], state=r[7],
        user=r[8], url=r[9], source=r[10], external_id=r[11], created_at=r[12], updated_at=r[13],
        tags=tags, config=json.loads(r[14]), summary=json.loads(r[15]), note=r[16],
    )


def require_runs(runs: list[RunInfo], what: str) -> list[RunInfo]:
    if not runs:
        raise SelectionError(f"no runs match {what}")
    return runs


__all__ = ["Store", "StoreError", "run_uid", "require_runs"]
