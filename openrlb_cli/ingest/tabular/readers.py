"""Generic CSV and JSON-lines readers, and the public face of the table-reading modules.

Most RL logs are tables: one row per logging event, a step column, metric columns. They come in
three shapes, all handled by one engine so that incremental reading, torn tails and error messages
behave the same everywhere:

* single run: every numeric column is a metric of one run (`external_id` "");
* long: id columns (run, or experiment/env/seed) say which run a row belongs to;
* wide by seed: one column per seed (Tianshou `rew:seed_0_...`, `seed_3`, `return_seed2`).

This module decides which of the three a generic table is (`_generic_plan`) and defines the
registered readers `CSV` and `JSONL`. The machinery lives in siblings, kept small and separate:
`common` (text checks, resume offsets, numbers, column names, shared by every table reader),
`csv_engine` (the streaming CSV engine, also used by the SB3 and W&B readers), `long_csv` (its
long-format fast path) and `jsonl_engine` (the JSON-lines engine). What other code imports from the
engines is re-exported here (`read_table`, `iter_table`, ...); the CSV engine's size knobs
(BLOCK_BYTES, SNIFF_BYTES, PIECE_BYTES) live in `csv_engine`: set them there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from openrlb_cli.errors import InputError
from openrlb_cli.ingest.base import ReadOptions, ReadResult, read_head
from openrlb_cli.ingest.tabular.common import (
    ID_CANDIDATES,
    STEP_CANDIDATES,
    WALL_CANDIDATES,
    check_text,
    column_to_float,
    complete_end,
    float_or_none,
    match_column,
    resume_point,
)
from openrlb_cli.ingest.tabular.csv_engine import Plan, iter_table, read_table
from openrlb_cli.ingest.tabular.jsonl_engine import JsonlReader, read_json_rows

__all__ = [
    "CSV", "ID_CANDIDATES", "JSONL", "STEP_CANDIDATES",
    "WALL_CANDIDATES", "WIDE_SEED", "CsvReader", "JsonlReader", "Plan", "check_text", "column_to_float",
    "complete_end", "float_or_none", "iter_table", "match_column", "read_json_rows", "read_table", "resume_point",
]

WIDE_SEED = re.compile(r"^(?:(?P<metric>.+?)[:_/\- ])?seed[_\- ]?(?P<seed>\d+)(?:[^0-9].*)?$", re.I)


# ---------------------------------------------------------------- layouts

def _need(path: Path, header: list[str], col: str | None) -> str | None:
    if col is not None and col not in header:
        raise InputError(f"{path}: column {col!r} not in header ({', '.join(header[:12])}...)")
    return col


def _generic_plan(path: Path, header: list[str], sniff: pd.DataFrame, numeric: set[str],
                  options: ReadOptions) -> dict[str, Any]:
    """Layout of a generic table. Keys: step, wall, ids {role: col} (long), columns [[col, run, key]],
    runs {run: fields}, keep_step (store the step column as a series too), warnings."""
    step = _need(path, header, options.step_column) or match_column(header, STEP_CANDIDATES)
    wall = _need(path, header, options.wall_time_column) or match_column(header, WALL_CANDIDATES)
    if wall is not None and wall not in numeric and options.wall_time_column is None:
        wall = None  # a text column under that name: leave it alone
    ids = {role: _need(path, header, getattr(options, f"{role}_column")) for role in ID_CANDIDATES}
    ids = {r: c for r, c in ids.items() if c}
    axes = {step, wall}
    chosen = [_need(path, header, c) for c in options.value_columns or []]
    for c in chosen:
        if c not in numeric:
            raise InputError(f"{path}: value column {c!r} is not numeric")
    layout: dict[str, Any] = {"step": step, "wall": wall, "ids": {}, "columns": [], "runs": {}, "warnings": []}
    matches = [] if ids else [(c, WIDE_SEED.match(c)) for c in header if c in numeric and c not in axes]
    wide = [(c, m) for c, m in matches if m and (not chosen or c in chosen)]
    if wide:
        per_seed: dict[int, list[str]] = {}
        for c, m in wide:
            per_seed.setdefault(int(m["seed"]), []).append(c)
        for c, m in wide:
            seed = int(m["seed"])
            run = c if len(per_seed[seed]) == 1 else f"seed_{seed}"
            key = options.metric or m["metric"] or path.stem
            layout["columns"].append([c, run, key])
            layout["runs"].setdefault(run, {"seed": seed, "config": {"columns": per_seed[seed]}})
        rest = [c for c in header if c in numeric and c not in axes and c not in dict(wide)]
        if rest:
            layout["warnings"].append(f"{path}: wide-by-seed file; not stored (aggregates?): {', '.join(rest)}")
        return layout
    if not ids:
        for role, cands in ID_CANDIDATES.items():
            col = match_column(header, cands)
            if col and col not in axes and (role in ("run", "seed") or col not in numeric):
                ids[role] = col
    layout["ids"] = ids
    values = chosen or [c for c in header if c in numeric and c not in axes and c not in ids.values()]
    if not values:
        raise InputError(f"{path}: no numeric value columns (header: {', '.join(header[:12])})")
    skipped = [c for c in header if c not in numeric and c not in axes and c not in ids.values()]
    if skipped and not chosen:
        layout["warnings"].append(f"{path}: ignored non-numeric columns: {', '.join(skipped[:10])}")
    layout["columns"] = [[c, "", c] for c in values]
    layout["maybe_ids"] = skipped[:10] + [c for c in values if _few_integers(sniff[c])][:10]
    if not ids:
        layout["runs"] = {"": {}}
    return layout


def _few_integers(col: pd.Series) -> bool:
    """A numeric column that looks like an id (a variant or trial number): few distinct integers."""
    try:
        vals = pd.to_numeric(col, errors="coerce").dropna().to_numpy(dtype=float)
    except (TypeError, ValueError):
        return False
    distinct = np.unique(vals)
    return 0 < len(distinct) <= 100 and len(vals) >= 4 * len(distinct) and bool((distinct == np.round(distinct)).all())


# ---------------------------------------------------------------- the generic readers

class CsvReader:
    """Generic CSV/TSV: `CSV.read(path, offset, state, options, max_bytes=None)`, or `CSV.iter_read`.

    Runs: one per distinct run key (long: options.run_column, else experiment/env/seed columns, else
    columns named like run/algo/env/seed), one per seed column (wide), or one run with external_id "".
    The step column (options.step_column or a STEP_CANDIDATES name, else the row index) and wall-time
    column are axes, not series. With max_bytes, reading may stop early at a line boundary (offset <
    file size, complete=True): call again from the returned offset/state.
    """

    name = "csv"

    def detect(self, path: Path) -> bool:
        if path.suffix.lower() not in (".csv", ".tsv"):
            return False
        head = read_head(path, 4096)
        if head is None:
            return False
        # zeros up to the end of what was read may be a killed job's zero-filled tail (see `open_log`)
        text = head.rstrip(b"\x00")
        return (bool(text) or not head) and b"\x00" not in text and not head.startswith((b"\xff\xfe", b"\xfe\xff"))

    def read(self, path: Path, offset: int, state: dict[str, Any], options: ReadOptions,
             max_bytes: int | None = None) -> ReadResult:
        return read_table(path, offset, state, options, _generic_plan, max_bytes=max_bytes)

    def iter_read(self, path: Path, offset: int, state: dict[str, Any], options: ReadOptions
                  ) -> Iterator[ReadResult]:
        return iter_table(self.read, path, offset, state, options)


CSV = CsvReader()
JSONL = JsonlReader()
