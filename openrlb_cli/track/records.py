"""The tracked run in the store: its run row, its provenance row (0003) and its identity.

Why here and not in `Store`: only tracking needs these few statements, and keeping them beside
the tracker keeps the core store small. Every function takes an open `Store`.

Identity: a tracked run starts as `source="track", external_id=<uuid4 hex>`. Once its log
directory is known it is re-keyed to `source="local", external_id=<resolved log dir>`, exactly the
key `openrlb ingest` gives that directory, so tailing the directory (or a later `openrlb ingest`)
adds points to this same run. The `uid` users see is kept. If the directory was already a run
(e.g. the command re-used an existing log folder), that run is adopted: it takes the tracked
run's metadata, provenance and uid, and the provisional row is dropped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from openrlb_cli.errors import SelectionError, StoreError
from openrlb_cli.model import RunInfo
from openrlb_cli.store import Store
from openrlb_cli.store.store import dumps

_JSON = {"command", "git", "system", "packages", "env", "extra"}


@dataclass
class Provenance:
    command: list[str]
    cwd: str
    started_at: float
    git: dict[str, Any] | None = None
    system: dict[str, Any] = field(default_factory=dict)
    packages: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    host: str | None = None
    pid: int | None = None
    logdir: str | None = None
    scan_root: str | None = None
    exit_code: int | None = None
    ended_at: float | None = None
    duration: float | None = None
    diff: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


_COLUMNS = [f.name for f in fields(Provenance)]


def _require_table(store: Store) -> None:
    row = store.conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'run_provenance'").fetchone()
    if row is None:
        raise StoreError(f"the store {store.path} has no run_provenance table (migration 0003 missing)")


def save_provenance(store: Store, run_id: int, prov: Provenance) -> None:
    """Insert or replace the run's provenance (call inside `store.transaction()`)."""
    _require_table(store)
    values = [dumps(v) if k in _JSON and v is not None else v for k, v in prov.to_dict().items()]
    store.conn.execute(
        f"INSERT OR REPLACE INTO run_provenance (run_id, {', '.join(_COLUMNS)}) "
        f"VALUES (?, {', '.join('?' * len(_COLUMNS))})",
        [run_id, *values],
    )


def update_provenance(store: Store, run_id: int, **changes: Any) -> None:
    """Set some provenance columns (call inside `store.transaction()`)."""
    unknown = set(changes) - set(_COLUMNS)
    if unknown:
        raise ValueError(f"unknown provenance fields {sorted(unknown)}")
    sets = ", ".join(f"{k} = ?" for k in changes)
    values = [dumps(v) if k in _JSON and v is not None else v for k, v in changes.items()]
    store.conn.execute(f"UPDATE run_provenance SET {sets} WHERE run_id = ?", [*values, run_id])


def load_provenance(store: Store, run_id: int) -> Provenance | None:
    try:
        row = store.conn.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM run_provenance WHERE run_id = ?", (run_id,)).fetchone()
    except Exception as exc:  # sqlite3.OperationalError: a store without 0003
        if "no such table" in str(exc):
            return None
        raise
    if row is None:
        return None
    data = {k: (json.loads(v) if k in _JSON and v is not None else v) for k, v in zip(_COLUMNS, row, strict=True)}
    return Provenance(**data)


def require_provenance(store: Store, run: RunInfo) -> Provenance:
    prov = load_provenance(store, run.id)
    if prov is None:
        raise SelectionError(f"run {run.uid} was not started with `openrlb track`; it has no command or "
                             f"package versions to show")
    return prov


def set_state(store: Store, run_id: int, state: str, updated_at: float) -> None:
    store.conn.execute("UPDATE runs SET state = ?, updated_at = ? WHERE id = ?", (state, updated_at, run_id))


def touch(store: Store, run_id: int, updated_at: float) -> None:
    store.conn.execute("UPDATE runs SET updated_at = ? WHERE id = ?", (updated_at, run_id))


def attach_logdir(store: Store, run_id: int, logdir: Path) -> int:
    """Re-key the tracked run to its log directory (see the module docstring); returns its id."""
    external_id = str(logdir)
    with store.transaction():
        conn = store.conn
        row = conn.execute("SELECT source, external_id, uid, config FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise StoreError(f"the tracked run (id {run_id}) was deleted from the store while running")
        if (row[0], row[1]) == ("local", external_id):
            return run_id
        other = store.run_id_for("local", external_id)
        if other is None:  # a run read from this folder before, keyed by its content (migration 0006)
            row = conn.execute("SELECT run_id FROM ingest_files WHERE run_dir = ? AND run_id IS NOT NULL "
                               "AND copy_of IS NULL LIMIT 1", (external_id,)).fetchone()
            other = None if row is None or row[0] == run_id else int(row[0])
        if other is None:
            conn.execute("UPDATE runs SET source = 'local', external_id = ? WHERE id = ?", (external_id, run_id))
            return run_id
        # adopt the existing run of that directory
        uid, config = row[2], json.loads(row[3])
        cols = ("project", "name", "experiment", "env", "seed", "state", "user", "created_at", "updated_at")
        mine = conn.execute(f"SELECT {', '.join(cols)} FROM runs WHERE id = ?", (run_id,)).fetchone()
        theirs_config = json.loads(conn.execute("SELECT config FROM runs WHERE id = ?", (other,)).fetchone()[0])
        tags = [t for (t,) in conn.execute("SELECT tag FROM run_tags WHERE run_id = ?", (run_id,))]
        conn.execute("DELETE FROM run_provenance WHERE run_id = ?", (other,))
        conn.execute("UPDATE run_provenance SET run_id = ? WHERE run_id = ?", (other, run_id))
        conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        sets = {c: v for c, v in zip(cols, mine, strict=True) if v is not None}
        sets.update(uid=uid, config=dumps({**theirs_config, **config}))
        conn.execute(f"UPDATE runs SET {', '.join(f'{c} = ?' for c in sets)} WHERE id = ?", [*sets.values(), other])
        conn.executemany("INSERT OR IGNORE INTO run_tags (run_id, tag) VALUES (?, ?)", [(other, t) for t in tags])
        return other
