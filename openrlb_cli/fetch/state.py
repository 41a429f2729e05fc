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


def save_source(store: Store, name: str, kind: str, spec: dict[str, Any]) -> None:
    with store.transaction():
        store.conn.execute(
            "INSERT INTO fetch_sources (name, kind, spec, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET kind = excluded.kind, spec = excluded.spec",
            (name, kind, dumps(spec), time.time()),
        )


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
