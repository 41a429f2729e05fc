"""Runs stored twice (their logs were ingested again after a move, before openrlb knew a log by its
content): found by their points, and merged.

Why by points: the paths that told them apart are gone or differ, and the content fingerprints of
0006 did not exist when they were read. Two local runs are the same run when, for every metric key,
one run's series starts with every point of the other's -- steps, values *and wall times* equal
(NaN equal to NaN). Wall times keep two genuine runs apart even when a fixed seed made their
curves identical. Within such a pair the *keeper* is the run holding every point of both: it has
every key of the other and each of its series is at least as long (when equal: the older run, whose
uid users saw first). Merging deletes the other run after giving the keeper its tags and the config
keys it lacks; the keeper's points are untouched, so no point is lost or doubled. A pair where each
run has points the other lacks is reported and left alone.

The other run's `ingest_files` rows go with it: its logs, read again, are then matched to the
keeper's by their fingerprint (or, for rows from before 0006, by name, size and modification time).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from openrlb_cli.store.store import dumps

if TYPE_CHECKING:
    from openrlb_cli.model import Series
    from openrlb_cli.store.store import Store

HEAD_POINTS = 16  # points of a series' start that group candidate runs


@dataclass
class Merge:
    keeper: int  # run id
    dropped: list[int] = field(default_factory=list)


@dataclass
class DedupeReport:
    merges: list[Merge] = field(default_factory=list)
    conflicts: list[tuple[int, int]] = field(default_factory=list)  # same start, each has points the other lacks


def _head_key(s: Series) -> str:
    import numpy as np

    n = min(HEAD_POINTS, len(s))
    parts = [np.ascontiguousarray(a[:n], dtype="<f8").tobytes() for a in (s.steps, s.values, s.wall_times)]
    return hashlib.blake2b(b"\0".join(parts), digest_size=12).hexdigest()


def _extends(longer: Series, shorter: Series) -> bool:
    """Whether `longer` begins with every point of `shorter` (NaN equals NaN)."""
    import numpy as np

    n = len(shorter)
    if len(longer) < n:
        return False
    pairs = ((longer.steps, shorter.steps), (longer.values, shorter.values), (longer.wall_times, shorter.wall_times))
    return all(np.array_equal(a[:n], b, equal_nan=True) for a, b in pairs)


def find(store: Store) -> DedupeReport:
    """The merges that would remove every run stored twice among local runs (nothing is changed)."""
    conn = store.conn
    keys: dict[int, dict[str, int]] = {}
    for run_id, key, n in conn.execute(
            "SELECT s.run_id, s.key, s.n_points FROM series s JOIN runs r ON r.id = s.run_id "
            "WHERE r.source = 'local' AND s.n_points > 0"):
        keys.setdefault(run_id, {})[key] = n
    if len(keys) < 2:
        return DedupeReport()
    # candidates: runs whose first metric key starts with the same points
    groups: dict[tuple[str, str], list[int]] = {}
    by_key: dict[str, list[int]] = {}
    for run_id, ks in keys.items():
        by_key.setdefault(min(ks), []).append(run_id)
    for key, run_ids in by_key.items():
        if len(run_ids) < 2:
            continue
        for run_id, series in store.load_many(run_ids, key).items():
            groups.setdefault((key, _head_key(series)), []).append(run_id)
    report = DedupeReport()
    done: set[int] = set()  # runs already in a merge
    for _, run_ids in sorted(groups.items()):
        pending = sorted(r for r in run_ids if r not in done)
        while len(pending) > 1:
            keeper, rest, dropped = pending[0], pending[1:], []
            for other in rest:
                better = _keeper(store, keeper, other, keys)
                if better is None:
                    if _same_start(store, keeper, other, keys):
                        report.conflicts.append((keeper, other))
                    continue
                dropped.append(other if better == keeper else keeper)
                keeper = better
            if dropped:
                report.merges.append(Merge(keeper, sorted(dropped)))
            handled = {keeper, *dropped}
            done |= handled
            pending = [r for r in rest if r not in handled]
    return report


def _keeper(store: Store, a: int, b: int, keys: dict[int, dict[str, int]]) -> int | None:
    """The run of `a`, `b` that holds every point of both, or None when neither does."""
    ka, kb = keys[a], keys[b]
    for first, second in ((a, b), (b, a)) if sum(ka.values()) >= sum(kb.values()) else ((b, a), (a, b)):
        big, small = keys[first], keys[second]
        if set(small) <= set(big) and all(big[k] >= n for k, n in small.items()):
            if all(_extends(store.load_series(first, k), store.load_series(second, k)) for k in small):
                return first
    return None


def _same_start(store: Store, a: int, b: int, keys: dict[int, dict[str, int]]) -> bool:
    """Whether two runs begin with the same points on every key they share (then they are one run
    whose copies went on differently, worth a line in the report)."""
    common = sorted(set(keys[a]) & set(keys[b]))
    return bool(common) and all(_head_key(store.load_series(a, k)) == _head_key(store.load_series(b, k))
                                for k in common)


def apply(store: Store, report: DedupeReport) -> int:
    """Carry out the merges (one transaction); the number of runs removed."""
    removed = 0
    with store.transaction():
        for merge in report.merges:
            config = json.loads(store.conn.execute("SELECT config FROM runs WHERE id = ?",
                                                   (merge.keeper,)).fetchone()[0])
            for other in merge.dropped:
                theirs = json.loads(store.conn.execute("SELECT config FROM runs WHERE id = ?", (other,)).fetchone()[0])
                config = {**theirs, **config}
                store.conn.execute("INSERT OR IGNORE INTO run_tags (run_id, tag) SELECT ?, tag FROM run_tags "
                                   "WHERE run_id = ?", (merge.keeper, other))
                store.conn.execute("DELETE FROM runs WHERE id = ?", (other,))
                removed += 1
            store.conn.execute("UPDATE runs SET config = ? WHERE id = ?", (dumps(config), merge.keeper))
    return removed


def locations(store: Store, run_ids: list[int]) -> dict[int, str]:
    """Where each run was last read from (a unit path of it), for reports."""
    out: dict[int, str] = {}
    for run_id, path in store.conn.execute(
            "SELECT run_id, min(path) FROM ingest_files WHERE run_id IN (SELECT value FROM json_each(?)) "
            "AND copy_of IS NULL GROUP BY run_id", (json.dumps(run_ids),)):
        out[run_id] = path
    for run_id, ext in store.conn.execute(
            "SELECT id, external_id FROM runs WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(run_ids),)):
        out.setdefault(run_id, ext)
    return out
