"""Bulk writes for ingest: many new runs and new series in a few statements.

Why: a long-format CSV of Open RL Benchmark holds 25,000 runs of 200 points, and a directory of
CleanRL runs a thousand runs of a dozen short series.  Written one run and one series at a time,
each costs a dozen SQL statements and a dozen small numpy calls, which made the store -- not the
readers -- the bottleneck (~0.4 ms per run).  Here the runs of one read result are looked up in one
query and inserted with one `executemany` per column set, and the new series are encoded a group
of equally long series at a time (one numpy pass per group, the same bytes as `codec` gives one by
one) and inserted with one `executemany` each for series and chunks.

Ids are assigned here (max + 1, ...): the caller holds the write transaction (BEGIN IMMEDIATE), so
nobody else can insert meanwhile, and SQLite would have chosen the same ones.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import numpy as np

from openrlb_cli.model import RUN_FIELDS, RunRecord, Series
from openrlb_cli.store import codec

if TYPE_CHECKING:
    from openrlb_cli.store.store import Store


def upsert_runs(store: Store, recs: list[RunRecord]) -> list[tuple[int, bool]]:
    """`Store.upsert_run_created` for each record, in order; new runs inserted in bulk."""
    from openrlb_cli.store.store import dumps, run_uid

    keys = [(r.source, r.external_id) for r in recs]
    if len(set(keys)) < len(keys):  # the same run twice: one at a time keeps the merge order
        return [store.upsert_run_created(r) for r in recs]
    existing: dict[tuple[str, str], int] = {}
    for source in dict.fromkeys(r.source for r in recs):
        ids = json.dumps([r.external_id for r in recs if r.source == source])
        for run_id, ext in store.conn.execute(
            "SELECT id, external_id FROM runs WHERE source = ? AND external_id IN (SELECT value FROM json_each(?))",
            (source, ids),
        ):
            existing[(source, ext)] = int(run_id)
    next_id = int(store.conn.execute("SELECT coalesce(max(id), 0) FROM runs").fetchone()[0]) + 1
    now = time.time()
    out: list[tuple[int, bool]] = []
    inserts: dict[tuple[str, ...], list[list[object]]] = {}
    tags: list[tuple[int, str]] = []
    for rec, key in zip(recs, keys, strict=True):
        if key in existing:
            out.append(store.upsert_run_created(rec))
            continue
        fields = {f: getattr(rec, f) for f in RUN_FIELDS if getattr(rec, f) is not None}
        fields.setdefault("project", "local")
        fields.update(id=next_id, uid=run_uid(rec.source, rec.external_id), source=rec.source,
                      external_id=rec.external_id, config=dumps(rec.config) if rec.config else "{}",
                      summary=dumps(rec.summary) if rec.summary else "{}",
                      ingested_at=now)
        inserts.setdefault(tuple(fields), []).append(list(fields.values()))
        tags.extend((next_id, t) for t in dict.fromkeys(rec.tags))
        out.append((next_id, True))
        next_id += 1
    for cols, rows in inserts.items():
        store.conn.executemany(
            f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", rows
        )
    if tags:
        store.conn.executemany("INSERT OR IGNORE INTO run_tags (run_id, tag) VALUES (?, ?)", tags)
    return out


def add_new_series(store: Store, items: list[tuple[int, str, Series]], *, preempt: bool = False) -> int:
    """Create series known not to exist yet ((run_id, key, points)), with their chunks. With
    `preempt`, a point whose step goes back preempts the earlier ones (`store.preempt`); returns how
    many points that dropped."""
    dropped = 0
    if preempt:
        items, dropped = _preempted(items)
    small = [(r, k, s) for r, k, s in items if s.steps.shape[0] <= codec.CHUNK_POINTS]
    for run_id, key, s in items:
        if s.steps.shape[0] > codec.CHUNK_POINTS:
            store.append_points(run_id, key, s, new=True)
    if not small:
        return dropped
    next_id = int(store.conn.execute("SELECT coalesce(max(id), 0) FROM series").fetchone()[0]) + 1
    series_rows: list[tuple[object, ...]] = []
    chunk_rows: list[tuple[object, ...]] = []
    encoded = encode_series([s for _, _, s in small])
    for (run_id, key, s), enc in zip(small, encoded, strict=True):
        sid = next_id
        next_id += 1
        if enc is None:  # no points: the series exists, empty
            series_rows.append((sid, run_id, key, 0, 0, None, None, None, None))
            continue
        lo, hi, steps, vals, walls, last, last_wall = enc
        n = s.steps.shape[0]
        series_rows.append((sid, run_id, key, n, 1, lo, hi, last, last_wall))
        chunk_rows.append((sid, 0, n, lo, hi, steps, vals, walls))
    store.conn.executemany(
        "INSERT INTO series (id, run_id, key, n_points, n_chunks, step_min, step_max, last_value, last_wall_time) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        series_rows,
    )
    store.conn.executemany(
        "INSERT INTO chunks (series_id, seq, n, step_min, step_max, steps, vals, walls) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        chunk_rows,
    )
    return dropped


def _preempted(items: list[tuple[int, str, Series]]) -> tuple[list[tuple[int, str, Series]], int]:
    """`items` with each series' preempted points left out, and how many were."""
    from openrlb_cli.store.preempt import preemption

    out, dropped = [], 0
    for run_id, key, s in items:
        keep, _ = preemption(s.steps)
        if keep is not None:
            dropped += len(s) - int(keep.sum())
            s = Series(s.steps[keep], s.values[keep], s.wall_times[keep])
        out.append((run_id, key, s))
    return out, dropped


Encoded = tuple[float | None, float | None, bytes, bytes, bytes | None, float, float | None]


def encode_series(series: list[Series]) -> list[Encoded | None]:
    """Each series (at most CHUNK_POINTS points) as one chunk: (step_min, step_max, steps, vals,
    walls, last value, last wall time) exactly as `codec` encodes it alone; None when empty.
    Series of equal length are encoded together, row by row of a matrix."""
    out: list[Encoded | None] = [None] * len(series)
    by_len: dict[int, list[int]] = {}
    for i, s in enumerate(series):
        if s.steps.shape[0]:
            by_len.setdefault(s.steps.shape[0], []).append(i)
    for idx in by_len.values():
        if len(idx) < 8:  # too few to gain from a matrix
            for i in idx:
                out[i] = _encode_one(series[i])
            continue
        steps = np.stack([series[i].steps for i in idx]).astype("<f8", copy=False)
        vals = np.stack([series[i].values for i in idx]).astype("<f8", copy=False)
        walls = np.stack([series[i].wall_times for i in idx]).astype("<f8", copy=False)
        for i, enc in zip(idx, _encode_matrix(steps, vals, walls), strict=True):
            out[i] = enc
    return out


def _encode_one(s: Series) -> Encoded:
    lo, hi = codec.finite_min_max(s.steps)
    wall = float(s.wall_times[-1])
    return (lo, hi, codec.encode_steps(s.steps), codec.encode_values(s.values), codec.encode_walls(s.wall_times),
            float(s.values[-1]), None if np.isnan(wall) else wall)


def _encode_matrix(steps: np.ndarray, vals: np.ndarray, walls: np.ndarray) -> list[Encoded]:
    k, n = steps.shape
    with np.errstate(invalid="ignore", over="ignore"):
        finite = np.isfinite(steps)
        any_finite = finite.any(axis=1)
        lo = np.where(finite, steps, np.inf).min(axis=1)
        hi = np.where(finite, steps, -np.inf).max(axis=1)
        # evenly spaced steps: first + i * spacing, the same IEEE operations as codec._spaced
        spaced = np.zeros(k, dtype=bool)
        if n > 2:
            first, spacing = steps[:, 0], steps[:, 1] - steps[:, 0]
            grid = np.broadcast_to(np.arange(n, dtype=np.float64), (k, n)) * spacing[:, None]
            grid += first[:, None]
            spaced = np.isfinite(spacing) & (grid.view(np.uint64) == steps.view(np.uint64)).all(axis=1)
        small = vals.astype(np.float32)
        as_f32 = (small.astype(np.float64).view(np.uint64) == vals.view(np.uint64)).all(axis=1)
    no_walls = np.isnan(walls).all(axis=1)
    out: list[Encoded] = []
    lo_l, hi_l, any_l = lo.tolist(), hi.tolist(), any_finite.tolist()
    last_v, last_w = vals[:, -1].tolist(), walls[:, -1].tolist()
    for r, (sp, f32, nw) in enumerate(zip(spaced.tolist(), as_f32.tolist(), no_walls.tolist(), strict=True)):
        sblob = codec._SPACED.pack(float(steps[r, 0]), float(steps[r, 1] - steps[r, 0])) if sp else steps[r].tobytes()
        vblob = small[r].tobytes() if f32 else vals[r].tobytes()
        w = last_w[r]
        out.append((lo_l[r] if any_l[r] else None, hi_l[r] if any_l[r] else None, sblob, vblob,
                    None if nw else walls[r].tobytes(), last_v[r], None if w != w else w))
    return out
