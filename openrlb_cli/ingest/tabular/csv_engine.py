"""The streaming CSV engine behind the generic, SB3 and W&B CSV readers.

One engine reads every delimited log so that incremental reading, torn tails and error messages
behave the same everywhere; each reader only supplies a `Plan` that decides, once per file, which
columns are the step, wall time, run ids and values (see `tabular._generic_plan`).

The file is streamed in blocks through pandas' C parser, so memory stays bounded and big files
parse at several million points per second (benchmarks/bench_tabular.py). A missing value is no
point: an empty cell or one of pandas' missing-value markers (None, NA, null, nan, ...: `NA_TOKENS`),
as `pandas.read_csv` reads them; the markers other than the empty cell are counted in one warning.

Incremental reads: `offset` is the end of the last consumed line. An unterminated last line is
consumed only when it parses completely (right number of fields, numbers where numbers belong); the
state then remembers that a newline is still owed, and if the next bytes are not that newline the
line was torn after all, so the file is re-read from 0 with `replace=True`. A changed header (SB3
rewrites progress.csv when new keys appear) triggers the same full re-read.

The size knobs below are read at call time; `openrlb_cli.ingest.tabular.readers` forwards assignments to
them (tests shrink them through that module).
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from openrlb_cli.errors import InputError
from openrlb_cli.ingest.base import ReadOptions, ReadResult
from openrlb_cli.ingest.tabular import long_csv as tabular_long
from openrlb_cli.ingest.tabular.common import (
    NA_TOKENS,
    _Acc,
    check_text,
    column_to_float,
    complete_end,
    count_na_text,
    find,
    float_or_none,
    id_roles,
    open_log,
    read_csv_quietly,
    resume_point,
)

BLOCK_BYTES = 16 << 20  # bytes parsed per pandas call (bounds memory); tests shrink it
SNIFF_BYTES = 256 << 10  # rows used to decide which columns are numeric
FAST_LONG = True  # long layouts through `tabular_long`; tests turn it off to compare with `_emit`

# plan(path, header, sniff, numeric, options) -> layout (a JSON-able dict, see tabular._generic_plan)
Plan = Callable[[Path, list[str], pd.DataFrame, set[str], ReadOptions], dict[str, Any]]


def _header(path: Path, f: BinaryIO, size: int) -> tuple[list[str], str, int] | None:
    """(columns, separator, data_start) or None while the header line is incomplete."""
    f.seek(0)
    head = f.read(min(size, SNIFF_BYTES))
    while b"\n" not in head and len(head) < size:  # very wide exports have long headers
        head += f.read(min(size - len(head), SNIFF_BYTES))
    check_text(path, head, 0)
    pos = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    nl = head.find(b"\n", pos)
    if nl < 0:
        return None
    line = head[pos:nl].decode("utf-8").rstrip("\r")
    sep = "\t" if "\t" in line and "," not in line else ","
    cols = next(csv.reader([line], delimiter=sep)) if line.strip() else []
    if not cols:
        raise InputError(f"{path}: empty header line")
    seen: dict[str, int] = {}
    for i, c in enumerate(cols):
        c = c.strip() or f"column_{i}"
        n = seen[c] = seen.get(c, 0) + 1
        cols[i] = c if n == 1 else f"{c}.{n - 1}"
    return cols, sep, nl + 1


def _parse(path: Path, block: bytes | memoryview, st: dict[str, Any], usecols: list[str] | None,
           ids: list[str], numeric: list[str] | None, warn: list[str] | None = None) -> pd.DataFrame:
    try:
        return read_csv_quietly(
            path, io.BytesIO(block), warn, sep=st["sep"], header=None, names=st["header"], usecols=usecols,
            index_col=False, dtype={c: "category" for c in ids}, keep_default_na=False,
            na_values={c: [""] for c in (numeric if numeric is not None else st["header"])},
            skip_blank_lines=True, low_memory=False, encoding="utf-8",
        )
    except UnicodeDecodeError:
        check_text(path, bytes(block), -1)
        raise InputError(f"{path}: not UTF-8 text") from None
    except (pd.errors.ParserError, ValueError) as e:
        raise InputError(f"{path}: malformed CSV: {str(e).strip()[:200]}") from None


def _tail_ok(tail: bytes, st: dict[str, Any], numeric: list[str]) -> bool:
    try:
        line = tail.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError:
        return False
    try:
        fields = next(csv.reader([line], delimiter=st["sep"]), [])
    except csv.Error:  # e.g. a field over csv's limit: not a complete line (yet)
        return False
    if len(fields) != len(st["header"]):
        return False
    index = {c: i for i, c in enumerate(st["header"])}
    return all(fields[index[c]].strip() == "" or fields[index[c]] in NA_TOKENS or float_or_none(fields[index[c]])
               is not None for c in numeric)


def _needed(layout: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(numeric columns to parse, id columns)."""
    ids = list(layout["ids"].values())
    cols = [c for c, _, _ in layout["columns"]]
    numeric = list(dict.fromkeys([*(c for c in (layout["step"], layout["wall"]) if c), *cols]))
    return numeric, ids


def _axes(path: Path, df: pd.DataFrame, layout: dict[str, Any], row0: int, warn: list[str]
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(steps, has a step, wall times) of the parsed rows; rows without a step are reported."""
    n = len(df)
    if layout["step"]:
        steps, ok = column_to_float(path, layout["step"], df[layout["step"]])
        if not ok.all():
            warn.append(f"{path}: {int((~ok).sum())} rows without a {layout['step']!r} value skipped")
    else:
        steps, ok = np.arange(row0, row0 + n, dtype=np.float64), np.ones(n, bool)
    walls = np.full(n, np.nan)
    if layout["wall"]:
        col = df[layout["wall"]]
        try:
            walls = column_to_float(path, layout["wall"], col)[0]
        except InputError:
            try:
                since = pd.to_datetime(col, utc=True) - pd.Timestamp(0, tz="UTC")
                walls = (since / pd.Timedelta(1, "s")).to_numpy(dtype=np.float64, na_value=np.nan)
            except (ValueError, TypeError):
                raise InputError(f"{path}: wall-time column {layout['wall']!r} is neither numbers nor dates") from None
    return steps, ok, walls


def _emit(path: Path, df: pd.DataFrame, layout: dict[str, Any], row0: int, acc: _Acc, warn: list[str]) -> None:
    """The generic emitter (every layout); long layouts normally take `tabular_long` instead."""
    n = len(df)
    steps, ok, walls = _axes(path, df, layout, row0, warn)
    ids = layout["ids"]
    if not ids:
        for col, run, key in layout["columns"]:
            v, present = column_to_float(path, col, df[col])
            m = present & ok
            acc.add(run, key, steps[m], v[m], walls[m])
        return
    roles = id_roles(ids)
    codes = np.zeros(n, np.int64)
    labels = {}
    for role in roles:
        col = df[ids[role]]
        cat = col if isinstance(col.dtype, pd.CategoricalDtype) else col.astype("category")
        c = cat.cat.codes.to_numpy().astype(np.int64)
        labels[role] = (c, cat.cat.categories.to_numpy(dtype=object))
        codes = pd.factorize(codes * (len(labels[role][1]) + 1) + c)[0]
    # codes count up in order of first appearance, so rows already grouped by run need no sort
    order = np.argsort(codes, kind="stable") if n > 1 and (np.diff(codes) < 0).any() else None
    bounds = np.concatenate([[0], np.cumsum(np.bincount(codes))])
    cols = [(key, *column_to_float(path, col, df[col])) for col, _, key in layout["columns"]]
    if order is not None:
        steps, walls, ok = steps[order], walls[order], ok[order]
        cols = [(key, v[order], p[order]) for key, v, p in cols]
    for g in range(len(bounds) - 1):
        lo, hi = bounds[g], bounds[g + 1]
        first = lo if order is None else order[lo]
        vals = {r: str(labels[r][1][labels[r][0][first]]) if labels[r][0][first] >= 0 else "" for r in roles}
        run = vals["run"] if roles == ["run"] else "|".join(f"{ids[r]}={vals[r]}" for r in roles)
        if run not in acc.meta:
            seed = float_or_none(vals.get("seed", ""))
            acc.meta[run] = {"name": vals.get("run"), "experiment": vals.get("experiment"), "env": vals.get("env"),
                             "seed": int(seed) if seed is not None and math.isfinite(seed) else None}
        for key, v, p in cols:
            m = p[lo:hi] & ok[lo:hi]
            acc.add(run, key, steps[lo:hi][m], v[lo:hi][m], walls[lo:hi][m])


def _read_block(path: Path, block: bytes | memoryview, st: dict[str, Any], layout: dict[str, Any], usecols: list[str],
                row0: int, acc: _Acc, warn: list[str], *, no_nul: bool = False) -> int:
    """Parse one block of whole lines and add its points to `acc`; the number of rows it held."""
    numeric_cols, id_cols = _needed(layout)
    fast = FAST_LONG and tabular_long.applies(layout)
    parsed = tabular_long.parse_arrow(block, st, layout, row0, no_nul=no_nul) if fast else None
    if parsed is not None and layout["step"] and not parsed.ok.all():
        warn.append(f"{path}: {int((~parsed.ok).sum())} rows without a {layout['step']!r} value skipped")
    if parsed is None:
        df = _parse(path, block, st, usecols, id_cols, numeric_cols, warn)
        for c in numeric_cols:
            n = count_na_text(df[c])
            if n:
                acc.na[c] = acc.na.get(c, 0) + n
        if not fast:
            _emit(path, df, layout, row0, acc, warn)
            return len(df)
        parsed = tabular_long.from_frame(path, df, layout, _axes(path, df, layout, row0, warn))
    tabular_long.emit(parsed, layout, acc)
    return parsed.n


def record_end(buf: bytes | bytearray, need: int, final: bool) -> int:
    """Where the last whole CSV record of `buf[:need]` ends: just after its last newline that is not
    inside a quoted field (`need` itself when `final` and no quoted field is left open); 0 if none.

    Why: a quoted cell may hold line breaks, so the last newline before a block end (or the end of the
    detection window) can be inside a record. `buf` starts at a record start, so the quotes before a
    newline outside any quoted field are even in number (RFC 4180: a quote opens a field or is doubled
    inside one). Quotes are counted backwards from the end, each byte once."""
    if buf.find(b'"', 0, need) < 0:
        return need if final else buf.rfind(b"\n", 0, need) + 1
    total = buf.count(b'"', 0, need)
    if final and total % 2 == 0:
        return need
    after, hi = 0, need
    while True:
        nl = buf.rfind(b"\n", 0, hi)
        if nl < 0:
            return 0
        after += buf.count(b'"', nl + 1, hi)
        if (total - after) % 2 == 0:
            return nl + 1
        hi = nl


def _blocks(f: io.BufferedReader, start: int, end: int) -> Iterator[tuple[memoryview, int]]:
    """Blocks of whole lines in [start, end) (end is just after a newline), with their end offsets:
    block k ends at the last newline before start + (k + 1) * BLOCK_BYTES (or at `end`).

    Each block is a view from the start of one reused buffer, valid until the next block is asked
    for (both parsers copy what they keep): reading into fresh 16 MiB bytes objects and slicing
    them cost ~0.3 s of page faults and copies on a 400 MB file. The partial line after a block is
    read again from the file rather than carried. Use `find` to search a block. Blocks end between
    records (`record_end`: not inside a quoted line break); when a quoted field is still open at `end`,
    the blocks stop at the last record before it."""
    buf = bytearray(0)
    pos = read_end = start
    while pos < end:
        read_end = min(read_end + BLOCK_BYTES, end)
        need = read_end - pos
        if len(buf) < need:
            buf = bytearray(max(need, min(BLOCK_BYTES + (1 << 16), end - start)))
        f.seek(pos)
        if f.readinto(memoryview(buf)[:need]) < need:
            return  # the file shrank under us: what is left is read next time
        final = read_end >= end
        cut = record_end(buf, need, final)
        if cut:  # else a record longer than a block: read on
            yield memoryview(buf)[:cut], pos + cut
            pos += cut
        if final and pos < end:  # a quoted field open past the last newline: the rest waits
            return


def read_table(path: Path, offset: int, state: dict[str, Any], options: ReadOptions, plan: Plan, *,
               max_bytes: int | None = None) -> ReadResult:
    """Read a delimited file incrementally with the layout `plan` decides once (at offset 0)."""
    size, f = open_log(path)
    with f:
        warn: list[str] = []
        replace = False
        st = state if offset > 0 and state.get("layout") else {}
        if st:
            f.seek(0)
            sig = hashlib.sha1(f.read(st["data_start"])).hexdigest()
            start = resume_point(f, offset, size, st) if offset <= size and sig == st["sig"] else None
            if start is None:
                warn.append(f"{path}: header changed or last line was torn; re-reading the whole file")
                st, replace = {}, True
        if not st:
            if size == 0:
                return ReadResult([], 0, {}, replace=replace)
            head = _header(path, f, size)
            if head is None:
                return ReadResult([], 0, {}, replace=replace, complete=False)
            st = {"header": head[0], "sep": head[1], "data_start": head[2], "rows": 0, "pending_nl": False}
            f.seek(0)
            st["sig"] = hashlib.sha1(f.read(head[2])).hexdigest()
            window = SNIFF_BYTES
            while True:  # whole records; a quoted line break may cross the window's end: widen it
                hi = min(size, head[2] + window)
                f.seek(head[2])
                sample = f.read(hi - head[2])
                cut = record_end(sample, len(sample), False)
                if cut or hi >= size:
                    break
                window *= 2
            sniff_end = head[2] + cut
            if sample[:cut].strip():
                sample = sample[:cut]
            else:
                sample += b"\n"
            check_text(path, sample, head[2])
            sniff = _parse(path, sample, st, None, [], None, warn)
            if sniff.empty:
                return ReadResult([], 0, {}, replace=replace, complete=sniff_end == size)
            numeric = set()
            for c in st["header"]:
                try:
                    column_to_float(path, c, sniff[c])
                    numeric.add(c)
                except InputError:
                    pass
            layout = plan(path, st["header"], sniff, numeric, options)
            warn += layout.pop("warnings", [])
            st["layout"] = layout
            start = st["data_start"]
        assert start is not None  # the resume point, or the data start when (re-)reading from the top
        layout = st["layout"]
        numeric_cols, id_cols = _needed(layout)
        end = complete_end(f, start, size)
        tail = b""
        if end < size:
            f.seek(end)
            tail = f.read(size - end)
        checked = [c for c in numeric_cols if c != layout["wall"]]
        tail_ok = bool(tail.strip()) and _tail_ok(tail, st, checked)
        usecols = list(dict.fromkeys([*numeric_cols, *id_cols]))
        acc, consumed, rows, stopped = _Acc(), start, st["rows"], False
        for block, block_end in _blocks(f, start, end):
            nul = find(block, b"\x00")
            if nul >= 0:
                check_text(path, bytes(block[: nul + 1]), block_end - len(block))
            rows += _read_block(path, block, st, layout, usecols, rows, acc, warn, no_nul=True)
            consumed = block_end
            if max_bytes is not None and consumed - start >= max_bytes and consumed < end:
                stopped = True
                break
        # a newline is still owed if nothing came after the line consumed last time
        pending = bool(st.get("pending_nl")) and consumed == start == offset
        open_quote = not stopped and consumed < end  # a quoted field still open: the rest waits
        if open_quote:
            warn.append(f"{path}: a quoted field opened after byte {consumed} is not closed; the rows from "
                        "there on are read once it is (still being written?)")
        if tail_ok and not stopped and not open_quote:
            rows += _read_block(path, tail + b"\n", st, layout, usecols, rows, acc, warn)
            consumed, pending = size, True
        warn += acc.na_warning(path)
        if "maybe_ids" in layout:  # the generic reader's tables (SB3's and W&B's have fixed layouts)
            warn += repeated_steps(path, acc, layout)
        new_state = {**st, "rows": rows, "pending_nl": pending}
        first = start == st["data_start"]
        return ReadResult(acc.records(layout["runs"], first), consumed, new_state, replace=replace,
                          warnings=list(dict.fromkeys(warn)),
                          complete=not open_quote and (stopped or not tail.strip() or tail_ok))


def repeated_steps(path: Path, acc: _Acc, layout: dict[str, Any]) -> list[str]:
    """A warning when a step repeats within a run of a table whose other columns might tell runs
    apart (a long table, or one with unused text or id-like columns): several runs merged into one
    (an experiment column nobody named) look exactly like that. Repeated steps are kept as logged."""
    if not layout["step"] or not (layout["ids"] or layout["maybe_ids"]):
        return []
    merged, example = 0, ""
    for run, keys in acc.parts.items():
        parts = next(iter(keys.values()))
        steps = parts[0][0] if len(parts) == 1 else np.concatenate([p[0] for p in parts])
        if len(steps) > 1 and (np.diff(steps) <= 0).any() and len(np.unique(steps)) < len(steps):
            merged += 1
            if not example:
                vals, counts = np.unique(steps, return_counts=True)
                example = f"{run or 'the run'}: step {vals[counts > 1][0]:g} {counts.max()} times"
    if not merged:
        return []
    cols = [c for c in layout["maybe_ids"] if c not in layout["ids"].values()]
    hint = (f"columns that might tell runs apart: {', '.join(cols)}" if cols
            else "no other column tells them apart")
    return [f"{path}: a step repeats within {merged} run(s) ({example}); several runs merged into one? {hint}"]


PIECE_BYTES = 64 << 20  # bytes per ReadResult in iter_table, so the points of a huge file are not all in memory


def iter_table(read: Callable[..., ReadResult], path: Path, offset: int, state: dict[str, Any],
               options: ReadOptions) -> Iterator[ReadResult]:
    """`read` in pieces of about PIECE_BYTES; each result continues from the previous offset/state.
    Only the first piece can say replace=True, and then it holds the whole file (one piece)."""
    size = path.stat().st_size
    res = read(path, offset, state, options, max_bytes=PIECE_BYTES)
    if res.replace and res.offset < size:
        res = read(path, 0, {}, options)
        res.replace = True
    yield res
    while res.complete and offset < res.offset < size:
        offset = res.offset
        res = read(path, offset, res.state, options, max_bytes=PIECE_BYTES)
        yield res
