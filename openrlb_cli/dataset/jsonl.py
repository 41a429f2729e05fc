"""`openrlb export --format jsonl`: one JSON object per point, float64 exactly, NaN and ±inf kept apart.

Why not pandas' ``to_json``: it rounds doubles to 10 significant digits and writes NaN, inf and −inf
all as ``null``, so an export could neither be read back bit for bit nor tell a diverged run (inf)
from a missing value. Here:

* a finite ``step``/``value``/``wall_time`` is written with Python's ``repr`` — the shortest decimal
  that reads back as the same float64 (``float(text) == x`` for every double);
* a non-finite ``step`` or ``value`` is the string ``"NaN"``, ``"Infinity"`` or ``"-Infinity"`` (the
  protobuf JSON mapping's names, which ``float()`` also accepts), so every line stays strict JSON
  that jq and any parser read;
* ``wall_time`` is ``null`` where the store does not know it (the store keeps unknown as NaN);
* ``seed`` is an integer or ``null``; the text fields are JSON strings or ``null``.

Lines are written per run as they are read (no frame of all points in memory).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import TextIO

from openrlb_cli.model import RunInfo
from openrlb_cli.store import Store

NON_FINITE = {"nan": '"NaN"', "inf": '"Infinity"', "-inf": '"-Infinity"'}


def number(x: float) -> str:
    """A double as JSON: its shortest round-trip decimal, or "NaN" / "Infinity" / "-Infinity"."""
    return repr(x) if math.isfinite(x) else NON_FINITE[repr(x)]


def decode(value: float | str) -> float:
    """Back from the encoding (a JSON number or one of the three strings) to the float64."""
    return float(value)  # float("NaN"), float("Infinity"), float("-Infinity") are Python's own spellings


def write_points(store: Store, runs: Iterable[RunInfo], metric: str, out: TextIO) -> tuple[int, int]:
    """Write the points of ``metric`` of every run as JSON lines; returns (points, runs with points)."""
    runs = list(runs)
    series = store.load_many([r.id for r in runs], metric)
    points = n_runs = 0
    for run in runs:
        s = series.get(run.id)
        if s is None or len(s) == 0:
            continue
        head = ("{" + ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in (
            ("project", run.project), ("experiment", run.experiment), ("env", run.env), ("seed", run.seed),
            ("run", run.uid))) + ", ")
        walls = s.wall_times
        lines = [f'{head}"step": {number(st)}, "value": {number(v)}, "wall_time": '
                 f'{repr(w) if math.isfinite(w) else "null"}}}\n'
                 for st, v, w in zip(s.steps.tolist(), s.values.tolist(), walls.tolist(), strict=True)]
        out.writelines(lines)
        points += len(lines)
        n_runs += 1
    return points, n_runs


__all__ = ["NON_FINITE", "decode", "number", "write_points"]
