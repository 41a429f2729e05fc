"""Fetch bookkeeping in the store (tables of migration 0002): saved sources and per-run progress.

Only the main (writer) thread calls these. Reads of per-run state are done in bulk per project so
planning 25,000 runs costs one query, not 25,000.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from openrlb_cli.errors import SelectionError
from openrlb_cli.store import Store
from openrlb_cli.store.store import dumps


@dataclass
class RunState:
    """What the store knows of one fetched run."""

    run_id: int
    digest: str | None = None
    progress: dict[str, Any] = field(default_factory=dict)
    x_axis: str | None = None  # W&B: the key the points are stored against; None: `_step` (before 0005)


def load_states(store: Store, source: str, id_prefix: str) -> dict[str, RunState]:
    """external_id -> RunState for the runs of `source` whose external id starts with `id_prefix`."""
    rows = store.conn.execute(
        "SELECT r.external_id, r.id, f.remote_digest, f.progress, f.x_axis FROM runs r "
        "LEFT JOIN fetch_runs f ON f.run_id = r.id "
        "WHERE r.source = ? AND substr(r.external_id, 1, ?) = ?",
        (source, len(id_prefix), id_prefix),
    ).fetchall()
    return {ext: RunState(run_id, digest, json.loads(progress or "{}"), x_axis)
            for ext, run_id, digest, progress, x_axis in rows}


def save_progress(store: Store, run_id: int, progress: dict[str, Any], x_axis: str | None = None) -> None:
    """Progress (and, when given, the x axis the points are keyed on), in the caller's transaction."""
    store.conn.execute(
        "INSERT INTO fetch_runs (run_id, progress, fetched_at, x_axis) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(run_id) DO UPDATE SET progress = excluded.progress, fetched_at = excluded.fetched_at, "
        "x_axis = coalesce(excluded.x_axis, fetch_runs.x_axis)",
        (run_id, dumps(progress), time.time(), x_axis),
    )


def x_axes(store: Store, run_ids: list[int]) -> dict[int, str | None]:
    """run id -> the x axis its fetched points are keyed on (None: not fetched, or `_step` before 0005)."""
    rows = store.conn.execute(
        "SELECT run_id, x_axis FROM fetch_runs WHERE run_id IN (SELECT value FROM json_each(?))",
        (json.dumps(list(run_ids)),),
    ).fetchall()
    return dict(rows)


def save_complete(store: Store, run_id: int, digest: str, remote: dict[str, Any]) -> None:
    store.conn.execute(
        "UPDATE fetch_runs SET remote_digest = ?, remote_updated = ?, remote_lines = ?, remote_last_step = ?, "
        "remote_state = ?, fetched_at = ? WHERE run_id = ?",
        (digest, remote.get("updated"), remote.get("lines"), remote.get("last_step"), remote.get("state"),
         time.time(), run_id),
    )


# ---------------------------------------------------------------------------- deleted on the server
def clear_deleted(store: Store, run_ids: list[int]) -> int:
    """Runs the server lists (again) are not deleted there; returns how many were marked."""
    cur = store.conn.execute(
        "UPDATE fetch_runs SET deleted_at = NULL WHERE deleted_at IS NOT NULL "
        "AND run_id IN (SELECT value FROM json_each(?))", (json.dumps(run_ids),))
    return cur.rowcount


def mark_deleted(store: Store, run_ids: list[int]) -> None:
    """Record that the server no longer has these runs (they stay in the store, hidden by default)."""
    with store.transaction():
        store.conn.executemany(
            "INSERT INTO fetch_runs (run_id, deleted_at) VALUES (?, ?) "
            "ON CONFLICT(run_id) DO UPDATE SET deleted_at = coalesce(fetch_runs.deleted_at, excluded.deleted_at)",
            [(run_id, time.time()) for run_id in run_ids])


def add_members(store: Store, source: str, run_ids: list[int]) -> None:
    """The source selects these runs (in the caller's transaction)."""
    store.conn.executemany("INSERT OR IGNORE INTO fetch_source_runs (source, run_id) VALUES (?, ?)",
                           [(source, run_id) for run_id in run_ids])


def drop_members(store: Store, source: str, run_ids: list[int]) -> None:
    with store.transaction():
        store.conn.executemany("DELETE FROM fetch_source_runs WHERE source = ? AND run_id = ?",
                               [(source, run_id) for run_id in run_ids])


def live_members(store: Store, source: str, id_prefix: str) -> dict[str, int]:
    """external id -> run id of the source's runs under `id_prefix` not already marked deleted."""
    rows = store.conn.execute(
        "SELECT r.external_id, r.id FROM fetch_source_runs m JOIN runs r ON r.id = m.run_id "
        "LEFT JOIN fetch_runs f ON f.run_id = r.id "
        "WHERE m.source = ? AND substr(r.external_id, 1, ?) = ? AND f.deleted_at IS NULL",
        (source, len(id_prefix), id_prefix)).fetchall()
    return dict(rows)


def member_counts(store: Store) -> dict[str, tuple[int, int]]:
    """source name -> (runs it selects, of which deleted on the server)."""
    rows = store.conn.execute(
        "SELECT m.source, count(*), count(f.deleted_at) FROM fetch_source_runs m "
        "LEFT JOIN fetch_runs f ON f.run_id = m.run_id GROUP BY m.source").fetchall()
    return {name: (n, deleted) for name, n, deleted in rows}


# ---------------------------------------------------------------------------- sources
@dataclass
class Source:
    name: str
    kind: str
    spec: dict[str, Any]
    created_at: float | None = None
    last_sync_at: float | None = None
    last_status: str | None = None
    last_summary: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


INCOMPLETE = "incomplete"  # a fetch or sync of the source started and has not returned (yet, or was killed)


def save_source(store: Store, name: str, kind: str, spec: dict[str, Any]) -> None:
    """Save (or update) a source, marked `incomplete` until `record_sync` says how the fetch went."""
    with store.transaction():
        store.conn.execute(
            "INSERT INTO fetch_sources (name, kind, spec, created_at, last_status) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET kind = excluded.kind, spec = excluded.spec, "
            "last_status = excluded.last_status",
            (name, kind, dumps(spec), time.time(), INCOMPLETE),
        )


def mark_incomplete(store: Store, name: str) -> None:
    with store.transaction():
        store.conn.execute("UPDATE fetch_sources SET last_status = ? WHERE name = ?", (INCOMPLETE, name))


def put_back(store: Store, source: Source) -> None:
    """Restore a saved source as it was (a fetch under its name was refused before it began)."""
    with store.transaction():
        store.conn.execute("UPDATE fetch_sources SET kind = ?, spec = ?, last_status = ? WHERE name = ?",
                           (source.kind, dumps(source.spec), source.last_status, source.name))


def record_sync(store: Store, name: str, status: str, summary: dict[str, Any]) -> None:
    with store.transaction():
        store.conn.execute(
            "UPDATE fetch_sources SET last_sync_at = ?, last_status = ?, last_summary = ? WHERE name = ?",
            (time.time(), status, dumps(summary), name),
        )


def list_sources(store: Store, names: list[str] | None = None) -> list[Source]:
    rows = store.conn.execute(
        "SELECT name, kind, spec, created_at, last_sync_at, last_status, last_summary FROM fetch_sources "
        "ORDER BY name"
    ).fetchall()
    sources = [
        Source(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5], json.loads(r[6]) if r[6] else None) for r in rows
    ]
    if names:
        known = {s.name: s for s in sources}
        missing = [n for n in names if n not in known]
        if missing:
            have = ", ".join(known) or "none saved yet: run `openrlb fetch ...` first"
            raise SelectionError(f"no fetch source named {', '.join(map(repr, missing))} (sources: {have})")
        sources = [known[n] for n in names]
    return sources


def remove_source(store: Store, name: str) -> None:
    list_sources(store, [name])
    with store.transaction():
        store.conn.execute("DELETE FROM fetch_sources WHERE name = ?", (name,))
