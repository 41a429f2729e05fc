"""Fast path of the CSV engine for long-format tables (id columns say which run a row belongs to).

Why: Open RL Benchmark's long CSV holds 25,000 runs x 200 points in 5 M rows. The generic emitter
(`tabular_csv._emit`) slices every run and every column with a boolean mask of its own, and pandas
turns the four id columns into categoricals hashing every cell: reading took ~2.4 s of a 4 s
ingest. Here a block is parsed once into plain arrays (`Block`) and split into runs with one stable
argsort and one gather per value column; each run's points are views of those arrays.

Two parsers fill a `Block`:

* pyarrow's CSV reader, when pyarrow is importable (the optional `parquet` extra): multi-threaded,
  it releases the GIL while the store writes the previous piece, and dictionary-encodes the id
  columns as it parses. It is used only where its reading provably equals pandas': a block holding
  a quote character, a row of the wrong width, a value pyarrow rejects, a non-finite number (pandas
  hands `nan`-like text to Python's `float`, which rejects some spellings pyarrow accepts) or a
  negative zero (pandas reads an all-integer column as int64, losing the sign) goes to pandas.
* pandas' C parser (`tabular_csv._parse`), as before, turned into the same arrays.

Either way the runs, their order, their points and warnings are those of the generic emitter; the
tests compare the three on tricky input (tests/test_readers_tabular_long.py).
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from openrlb_cli.ingest.tabular.common import _Acc, column_to_float, find, float_or_none, id_roles

USE_PYARROW = True  # tests turn it off to check the pandas fill of a Block


@dataclass
class Block:
    """One parsed block: axes, value columns and id columns as arrays over its rows."""

    n: int
    steps: np.ndarray  # float64; row numbers when the table has no step column
    ok: np.ndarray  # bool: the row has a step
    walls: np.ndarray  # float64, NaN when unknown
    values: list[tuple[str, np.ndarray, np.ndarray]]  # (key, values, present)
    ids: list[tuple[str, np.ndarray, np.ndarray]]  # (role, codes (-1 missing), labels)


def applies(layout: dict[str, Any]) -> bool:
    """Long layouts whose id columns are not also parsed as numbers (the generic path keeps those)."""
    ids = set(layout["ids"].values())
    numeric = {layout["step"], layout["wall"], *(c for c, _, _ in layout["columns"])}
    return bool(ids) and not ids & numeric


def _arrow() -> Any:
    if not USE_PYARROW:
        return None
    try:
        import pyarrow as pa
        import pyarrow.csv as pv
    except ImportError:
        return None
    return pa, pv


def parse_arrow(block: bytes | memoryview, st: dict[str, Any], layout: dict[str, Any], row0: int, *,
                no_nul: bool = False) -> Block | None:
    """The block read by pyarrow, or None when pyarrow is missing or might read it differently.
    `no_nul`: the caller already knows the block holds no NUL byte."""
    mods = _arrow()
    if mods is None or find(block, b'"') >= 0 or (not no_nul and find(block, b"\x00") >= 0):
        return None
    pa, pv = mods
    numeric = [c for c in dict.fromkeys([layout["step"], layout["wall"], *(c for c, _, _ in layout["columns"])]) if c]
    ids = layout["ids"]
    types = {c: pa.float64() for c in numeric} | {c: pa.dictionary(pa.int32(), pa.string()) for c in ids.values()}
    try:
        table = pv.read_csv(
            pa.py_buffer(block),
            read_options=pv.ReadOptions(column_names=st["header"], block_size=1 << 20),
            parse_options=pv.ParseOptions(delimiter=st["sep"], quote_char=False),
            convert_options=pv.ConvertOptions(column_types=types, include_columns=list(types), null_values=[""],
                                              strings_can_be_null=False),
        )
    except (pa.ArrowException, ValueError):
        return None
    n = table.num_rows
    cols: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for c in numeric:
        arr = table.column(c).combine_chunks()
        vals = np.asarray(arr.to_numpy(zero_copy_only=False), dtype=np.float64)
        present = np.ones(n, bool) if arr.null_count == 0 else np.asarray(arr.is_valid().to_numpy(zero_copy_only=False))
        got = vals[present]
        if not np.isfinite(got).all():
            return None
        if (np.signbit(got) & (got == 0)).any() and (got == np.trunc(got)).all():
            return None  # maybe all integer texts: pandas reads int64 and "-0" becomes +0.0
        cols[c] = (vals, present)
    id_arrays = []
    for role in id_roles(ids):
        chunks = table.column(ids[role]).unify_dictionaries().chunks
        if chunks:
            codes = np.concatenate([ch.indices.to_numpy(zero_copy_only=False) for ch in chunks]).astype(np.int64)
            labels = chunks[0].dictionary.to_numpy(zero_copy_only=False).astype(object)
            if _may_convert(labels) and not all(_CANONICAL_INT.fullmatch(x) for x in labels.tolist()):
                recode, labels = _as_pandas_reads(labels, st["sep"])
                codes = recode[codes]
        else:
            codes, labels = np.zeros(0, np.int64), np.zeros(0, object)
        id_arrays.append((role, codes, labels))
    if layout["step"]:
        steps, ok = cols[layout["step"]]
    else:
        steps, ok = np.arange(row0, row0 + n, dtype=np.float64), np.ones(n, bool)
    walls = cols[layout["wall"]][0] if layout["wall"] else np.full(n, np.nan)
    values = [(key, *cols[c]) for c, _, key in layout["columns"]]
    return Block(n, steps, ok, walls, values, id_arrays)


_CANONICAL_INT = re.compile(r"0|-?[1-9][0-9]{0,17}")  # pandas makes them int64: str() gives the text back


def _may_convert(labels: np.ndarray) -> bool:
    """False when pandas surely keeps these id texts as they are (see `_as_pandas_reads`): one of
    them is neither a number nor true/false."""
    if not len(labels):
        return False
    x = str(labels[0])
    if x.lower() in ("true", "false"):
        return True
    return not pd.isna(pd.to_numeric(pd.Index([x], dtype=object), errors="coerce")[0])


def _as_pandas_reads(labels: np.ndarray, sep: str) -> tuple[np.ndarray, np.ndarray]:
    """(new code of each label, labels) as pandas' parser turns these texts of one block's id column
    into categories: when all are numbers (or all true/false) it converts them, so "1" and "1.0"
    become one category 1.0. The run keys of the generic reader follow that; so must ours.
    Asking pandas itself (the same options as `tabular_csv._parse`) keeps it exact."""
    body = "".join(f"0{sep}{x}\n" for x in labels.tolist())
    df = pd.read_csv(io.StringIO(body), sep=sep, header=None, names=["k", "id"], index_col=False,
                     dtype={"id": "category"}, keep_default_na=False, na_values={"k": [""]}, low_memory=False)
    cat = df["id"].cat
    return cat.codes.to_numpy().astype(np.int64), cat.categories.to_numpy(dtype=object)


def from_frame(path: Path, df: pd.DataFrame, layout: dict[str, Any], axes: tuple[np.ndarray, ...]) -> Block:
    """A Block from the pandas parse (`axes`: steps, ok, walls as `tabular_csv._axes` computes them)."""
    steps, ok, walls = axes
    values = [(key, *column_to_float(path, c, df[c])) for c, _, key in layout["columns"]]
    id_arrays = []
    for role in id_roles(layout["ids"]):
        col = df[layout["ids"][role]]
        cat = col if isinstance(col.dtype, pd.CategoricalDtype) else col.astype("category")
        id_arrays.append((role, cat.cat.codes.to_numpy().astype(np.int64), cat.cat.categories.to_numpy(dtype=object)))
    return Block(len(df), steps, ok, walls, values, id_arrays)


def emit(block: Block, layout: dict[str, Any], acc: _Acc) -> None:
    """Add the block's points to `acc` run by run, as `tabular_csv._emit` does for long layouts."""
    n = block.n
    if n == 0:
        return
    ids = layout["ids"]
    roles = [role for role, _, _ in block.ids]
    # one number per distinct id combination (codes are >= -1), numbered in order of first appearance
    codes = np.zeros(n, np.int64)
    span = 1
    for _, c, labels in block.ids:
        if span * (len(labels) + 1) >= 1 << 62:
            codes, span = pd.factorize(codes)[0], int(codes.max(initial=0)) + 1
        codes = codes * (len(labels) + 1) + (c + 1)
        span *= len(labels) + 1
    codes = pd.factorize(codes)[0]
    # codes count up in order of first appearance, so rows already grouped by run need no sort
    order = np.argsort(codes, kind="stable") if n > 1 and (np.diff(codes) < 0).any() else None
    counts = np.bincount(codes)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    if order is not None:
        first = order[first]
    texts = {}
    for role, c, labels in block.ids:
        ext = np.append(labels.astype(object), "")  # code -1 (missing) -> ""
        texts[role] = np.array([str(x) for x in ext[c[first]].tolist()], dtype=object)
    if roles == ["run"]:
        runs = texts["run"].tolist()
    else:  # "col=value|col=value", concatenated a column at a time
        keys = f"{ids[roles[0]]}=" + texts[roles[0]]
        for r in roles[1:]:
            keys = keys + f"|{ids[r]}=" + texts[r]
        runs = keys.tolist()
    meta, none = acc.meta, [None] * len(runs)
    columns = [texts[r].tolist() if r in texts else none for r in ("run", "experiment", "env", "seed")]
    for run, name, experiment, env, seed_text in zip(runs, *columns, strict=True):
        if run not in meta:
            seed = float_or_none(seed_text or "")
            meta[run] = {"name": name, "experiment": experiment, "env": env,
                         "seed": int(seed) if seed is not None and math.isfinite(seed) else None}
    for key, vals_, present in block.values:
        keep = present & block.ok
        idx = np.flatnonzero(keep) if order is None else order[keep[order]]
        per_run = np.bincount(codes[idx], minlength=len(runs)) if len(idx) else np.zeros(len(runs), np.int64)
        ends = np.cumsum(per_run).tolist()
        steps, values, walls = block.steps[idx], vals_[idx], block.walls[idx]
        lo = 0
        for run, hi in zip(runs, ends, strict=True):
            if hi > lo:
                acc.add(run, key, steps[lo:hi], values[lo:hi], walls[lo:hi])
            lo = hi
