"""Generic CSV and JSON-lines readers, and the streaming engine the SB3 and W&B CSV readers share.

Most RL logs are tables: one row per logging event, a step column, metric columns. They come in
three shapes, all handled by one engine so that incremental reading, torn tails and error messages
behave the same everywhere:

* single run: every numeric column is a metric of one run (`external_id` "");
* long: id columns (run, or experiment/env/seed) say which run a row belongs to;
* wide by seed: one column per seed (Tianshou `rew:seed_0_...`, `seed_3`, `return_seed2`).

The CSV path streams the file in blocks through pandas' C parser, so memory stays bounded and big
files parse at several million points per second (benchmarks/bench_tabular.py). A missing cell is
no point; a literal `nan` is a NaN point (pandas would merge the two, so an empty cell is the only
NA marker and columns holding a literal nan take a slower exact path).

Incremental reads: `offset` is the end of the last consumed line. An unterminated last line is
consumed only when it parses completely (right number of fields, numbers where numbers belong); the
state then remembers that a newline is still owed, and if the next bytes are not that newline the
line was torn after all, so the file is re-read from 0 with `replace=True`. A changed header (SB3
rewrites progress.csv when new keys appear) triggers the same full re-read.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from openrlb_cli.errors import InputError
from openrlb_cli.ingest.base import ReadOptions, ReadResult
from openrlb_cli.model import RunRecord, Series

BLOCK_BYTES = 16 << 20  # bytes parsed per pandas call (bounds memory); tests shrink it
SNIFF_BYTES = 256 << 10  # rows used to decide which columns are numeric

STEP_CANDIDATES = ("step", "global_step", "env_step", "_step", "timestep", "timesteps", "total_timesteps",
                   "time/total_timesteps", "Step", "frame", "frames", "iteration", "epoch")
# absolute wall-clock columns (unix seconds or dates) taken as wall time when none is named
WALL_CANDIDATES = ("wall_time", "walltime", "_timestamp", "timestamp")
ID_CANDIDATES = {
    "run": ("run", "run_id", "run_name", "runid"),
    "experiment": ("experiment", "algo", "algorithm", "agent", "method"),
    "env": ("env", "env_id", "environment", "game", "task"),
    "seed": ("seed",),
}
WIDE_SEED = re.compile(r"^(?:(?P<metric>.+?)[:_/\- ])?seed[_\- ]?(?P<seed>\d+)(?:[^0-9].*)?$", re.I)

# plan(path, header, sniff, numeric, options) -> layout (a JSON-able dict, see _generic_plan)
Plan = Callable[[Path, list[str], pd.DataFrame, set[str], ReadOptions], dict[str, Any]]


# ---------------------------------------------------------------- bytes and lines

def check_text(path: Path, data: bytes, at: int) -> None:
    """Reject binary data and non-UTF-8 text with a message that says which."""
    if at == 0 and data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise InputError(f"{path}: UTF-16 text is not supported; re-save the file as UTF-8")
    nul = data.find(b"\x00")
    if nul >= 0:
        raise InputError(f"{path}: binary data (NUL byte at offset {at + nul}); not a text log (UTF-16?)")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.end >= len(data) - 3 and e.reason == "unexpected end of data":
            return  # a multi-byte character cut by a block boundary
        raise InputError(f"{path}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {at + e.start});"
                         " re-save as UTF-8") from None


def complete_end(f: BinaryIO, start: int, size: int) -> int:
    """Offset just after the last newline in [start, size), or `start` if there is none."""
    pos = size
    while pos > start:
        lo = max(start, pos - (1 << 16))
        f.seek(lo)
        i = f.read(pos - lo).rfind(b"\n")
        if i >= 0:
            return lo + i + 1
        pos = lo
    return start


def resume_point(f: BinaryIO, offset: int, size: int, state: dict[str, Any]) -> int | None:
    """Where to continue after `offset`; None when an earlier unterminated line proved torn."""
    if not state.get("pending_nl") or offset >= size:
        return offset
    f.seek(offset)
    head = f.read(2)
    if head[:1] == b"\n":
        return offset + 1
    if head == b"\r\n":
        return offset + 2
    return None


def float_or_none(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def column_to_float(path: Path, name: str, col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(values, present): empty cells are absent; literal nan/inf are points; other text is an error."""
    if col.dtype.kind in "fiub":
        vals = col.to_numpy(dtype=np.float64, na_value=np.nan)
        return vals, ~np.isnan(vals)
    arr = col.to_numpy(dtype=object)
    present = ~pd.isna(arr)
    vals = np.full(arr.shape, np.nan)
    try:
        vals[present] = arr[present].astype(np.float64)
    except (ValueError, TypeError):
        bad = next((v for v in arr[present] if float_or_none(str(v)) is None), arr[present][0])
        raise InputError(f"{path}: non-numeric value {str(bad)[:40]!r} in column {name!r}") from None
    return vals, present


# ---------------------------------------------------------------- layouts

def match_column(header: list[str], candidates: tuple[str, ...]) -> str | None:
    for c in candidates:
        if c in header:
            return c
    lower = {h.lower(): h for h in header}
    return next((lower[c.lower()] for c in candidates if c.lower() in lower), None)


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
    wide = [] if ids else [(c, WIDE_SEED.match(c)) for c in header if c in numeric and c not in axes]
    wide = [(c, m) for c, m in wide if m and (not chosen or c in chosen)]
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
    if not ids:
        layout["runs"] = {"": {}}
    return layout


# ---------------------------------------------------------------- the CSV engine

class _Acc:
    """Points collected per run and key, concatenated once at the end."""

    def __init__(self) -> None:
        self.parts: dict[str, dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]] = {}
        self.meta: dict[str, dict[str, Any]] = {}

    def add(self, run: str, key: str, s: np.ndarray, v: np.ndarray, w: np.ndarray) -> None:
        if len(s):
            self.parts.setdefault(run, {}).setdefault(key, []).append((s, v, w))

    def records(self, declared: dict[str, dict[str, Any]], every: bool) -> list[RunRecord]:
        """Runs with new points; with `every`, also the declared runs that have none yet."""
        out = []
        for run in dict.fromkeys([*(declared if every else ()), *self.meta, *self.parts]):
            fields = dict(declared.get(run) or self.meta.get(run) or {})
            rec = RunRecord(source="local", external_id=run, **fields)
            for key, parts in self.parts.get(run, {}).items():
                rec.series[key] = Series(*(np.concatenate([p[i] for p in parts]) for i in range(3)))
            out.append(rec)
        return out


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


def _parse(path: Path, block: bytes, st: dict[str, Any], usecols: list[str] | None,
           ids: list[str], numeric: list[str] | None) -> pd.DataFrame:
    try:
        return pd.read_csv(
            io.BytesIO(block), sep=st["sep"], header=None, names=st["header"], usecols=usecols,
            index_col=False, dtype={c: "category" for c in ids}, keep_default_na=False,
            na_values={c: [""] for c in (numeric if numeric is not None else st["header"])},
            skip_blank_lines=True, low_memory=False, encoding="utf-8",
        )
    except UnicodeDecodeError:
        check_text(path, block, -1)
        raise InputError(f"{path}: not UTF-8 text") from None
    except (pd.errors.ParserError, ValueError) as e:
        raise InputError(f"{path}: malformed CSV: {str(e).strip()[:200]}") from None


def _tail_ok(tail: bytes, st: dict[str, Any], numeric: list[str]) -> bool:
    try:
        line = tail.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError:
        return False
    fields = next(csv.reader([line], delimiter=st["sep"]), [])
    if len(fields) != len(st["header"]):
        return False
    index = {c: i for i, c in enumerate(st["header"])}
    return all(fields[index[c]].strip() == "" or float_or_none(fields[index[c]]) is not None for c in numeric)


def _needed(layout: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(numeric columns to parse, id columns)."""
    ids = list(layout["ids"].values())
    cols = [c for c, _, _ in layout["columns"]]
    numeric = list(dict.fromkeys([*(c for c in (layout["step"], layout["wall"]) if c), *cols]))
    return numeric, ids


def _emit(path: Path, df: pd.DataFrame, layout: dict[str, Any], row0: int, acc: _Acc, warn: list[str]) -> None:
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
    ids = layout["ids"]
    if not ids:
        for col, run, key in layout["columns"]:
            v, present = column_to_float(path, col, df[col])
            m = present & ok
            acc.add(run, key, steps[m], v[m], walls[m])
        return
    roles = list(ids)
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


def _blocks(f: BinaryIO, start: int, end: int) -> Iterator[tuple[bytes, int]]:
    """Blocks of whole lines in [start, end) (end is just after a newline), with their end offsets."""
    f.seek(start)
    pos, carry = start, b""
    while pos < end:
        n = min(BLOCK_BYTES, end - pos)
        buf = carry + f.read(n)
        pos += n
        cut = len(buf) if pos >= end else buf.rfind(b"\n") + 1
        if cut:
            yield buf[:cut], pos - (len(buf) - cut)
            carry = buf[cut:]
        else:
            carry = buf


def read_table(path: Path, offset: int, state: dict[str, Any], options: ReadOptions, plan: Plan, *,
               max_bytes: int | None = None) -> ReadResult:
    """Read a delimited file incrementally with the layout `plan` decides once (at offset 0)."""
    try:
        size = path.stat().st_size
        f = open(path, "rb")  # noqa: SIM115
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
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
            sniff_end = complete_end(f, head[2], min(size, head[2] + SNIFF_BYTES))
            f.seek(head[2])
            sample = f.read(sniff_end - head[2])
            if not sample.strip():
                f.seek(head[2])
                sample = f.read(min(size, head[2] + SNIFF_BYTES) - head[2]) + b"\n"
            check_text(path, sample, head[2])
            sniff = _parse(path, sample, st, None, [], None)
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
            nul = block.find(b"\x00")
            if nul >= 0:
                check_text(path, block[: nul + 1], block_end - len(block))
            df = _parse(path, block, st, usecols, id_cols, numeric_cols)
            _emit(path, df, layout, rows, acc, warn)
            rows, consumed = rows + len(df), block_end
            if max_bytes is not None and consumed - start >= max_bytes and consumed < end:
                stopped = True
                break
        # a newline is still owed if nothing came after the line consumed last time
        pending = bool(st.get("pending_nl")) and consumed == start == offset
        if tail_ok and not stopped:
            df = _parse(path, tail + b"\n", st, usecols, id_cols, numeric_cols)
            _emit(path, df, layout, rows, acc, warn)
            rows, consumed, pending = rows + len(df), size, True
        new_state = {**st, "rows": rows, "pending_nl": pending}
        first = start == st["data_start"]
        return ReadResult(acc.records(layout["runs"], first), consumed, new_state, replace=replace,
                          warnings=list(dict.fromkeys(warn)), complete=stopped or not tail.strip() or tail_ok)


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
        try:
            with open(path, "rb") as f:
                head = f.read(4096)
        except OSError:
            return False
        return b"\x00" not in head and not head.startswith((b"\xff\xfe", b"\xfe\xff"))

    def read(self, path: Path, offset: int, state: dict[str, Any], options: ReadOptions,
             max_bytes: int | None = None) -> ReadResult:
        return read_table(path, offset, state, options, _generic_plan, max_bytes=max_bytes)

    def iter_read(self, path: Path, offset: int, state: dict[str, Any], options: ReadOptions
                  ) -> Iterator[ReadResult]:
        return iter_table(self.read, path, offset, state, options)


# ---------------------------------------------------------------- JSON lines

def _flatten(obj: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in obj.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}/"))
        else:
            out[f"{prefix}{k}"] = v
    return out


def read_json_rows(path: Path, offset: int, state: dict[str, Any], options: ReadOptions, *,
                   step_candidates: tuple[str, ...] = STEP_CANDIDATES, keep_axes: bool = False,
                   guess_ids: bool = True) -> ReadResult:
    """JSON lines (one object per line; keys may differ per line; nested objects become `a/b` keys).
    A file holding one JSON array of objects is re-read whole each time (replace=True)."""
    try:
        size = path.stat().st_size
        f = open(path, "rb")  # noqa: SIM115
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
    with f:
        replace, warn = False, []
        st = dict(state) if offset > 0 and state.get("kind") == "jsonl" else {}
        start: int | None = 0
        if st:
            start = resume_point(f, offset, size, st) if offset <= size and not st.get("array") else None
            if start is None:
                st, replace = {}, True
                if offset <= size and not state.get("array"):
                    warn.append(f"{path}: last line was torn; re-reading the whole file")
        if not st:
            start = 0
            st = {"kind": "jsonl", "rows": 0, "lines": 0, "pending_nl": False, "numeric": [], "text": []}
        f.seek(start)
        data = f.read(size - start)
        check_text(path, data, start)
        rows: list[dict[str, Any]] = []
        if start == 0 and data.lstrip().startswith(b"["):
            try:
                arr = json.loads(data)
            except ValueError as e:
                raise InputError(f"{path}: invalid JSON: {e}") from None
            if not isinstance(arr, list) or not all(isinstance(r, dict) for r in arr):
                raise InputError(f"{path}: a JSON array must hold objects")
            rows, consumed, pending, complete = arr, size, False, True
            st["array"], replace = True, True
        else:
            cut = data.rfind(b"\n") + 1
            lines = data[:cut].split(b"\n")[:-1]
            tail, pending, complete = data[cut:], False, True
            if tail.strip():
                try:
                    ok = isinstance(json.loads(tail), dict)
                except ValueError:
                    ok = False
                if ok:
                    lines.append(tail)
                    cut, pending = len(data), True
                else:
                    complete = False
            consumed = start + cut
            for i, raw in enumerate(lines, start=st["lines"] + 1):
                if not raw.strip():
                    continue
                try:
                    obj = json.loads(raw)
                except ValueError as e:
                    raise InputError(f"{path}: line {i}: invalid JSON ({e})") from None
                if not isinstance(obj, dict):
                    raise InputError(f"{path}: line {i}: expected a JSON object, got {type(obj).__name__}")
                rows.append(obj)
            st["lines"] += len(lines)
        acc = _json_points(path, rows, st, options, step_candidates, keep_axes, guess_ids, warn)
        st["pending_nl"] = pending or (bool(state.get("pending_nl")) and consumed == offset == start)
        return ReadResult(acc.records({}, False), consumed, st, replace=replace, warnings=list(dict.fromkeys(warn)),
                          complete=complete)


def _json_points(path: Path, rows: list[dict[str, Any]], st: dict[str, Any], options: ReadOptions,
                 step_candidates: tuple[str, ...], keep_axes: bool, guess_ids: bool, warn: list[str]) -> _Acc:
    acc = _Acc()
    pts: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    numeric, text = set(st["numeric"]), set(st["text"])
    skipped = 0
    for obj in rows:
        row = _flatten(obj)
        if "step" not in st:
            st["step"] = options.step_column or match_column(list(row), step_candidates)
            st["wall"] = options.wall_time_column or match_column(list(row), WALL_CANDIDATES)
            ids = {r: getattr(options, f"{r}_column") for r in ID_CANDIDATES}
            ids = {r: c for r, c in ids.items() if c}
            if not ids and guess_ids:
                for role, cands in ID_CANDIDATES.items():
                    c = match_column(list(row), cands)
                    if c and c != st["step"] and (role == "seed" or isinstance(row[c], str)):
                        ids[role] = c
            st["ids"] = ids
        ids, step_key, wall_key = st["ids"], st["step"], st["wall"]
        st["rows"] += 1
        if step_key is None:
            step = float(st["rows"] - 1)
        else:
            step = _num(path, step_key, row.get(step_key), numeric)
            if step is None:
                skipped += 1
                continue
        wall = _num(path, wall_key, row.get(wall_key), numeric) if wall_key else None
        wall = math.nan if wall is None else wall
        vals = {r: "" if row.get(c) is None else str(row.get(c)) for r, c in ids.items()}
        run = "" if not ids else vals["run"] if list(ids) == ["run"] else "|".join(
            f"{ids[r]}={vals[r]}" for r in ids)
        if ids and run not in acc.meta:
            seed = float_or_none(vals.get("seed", ""))
            acc.meta[run] = {"name": vals.get("run"), "experiment": vals.get("experiment"), "env": vals.get("env"),
                             "seed": int(seed) if seed is not None and math.isfinite(seed) else None}
        chosen = options.value_columns
        for key, v in row.items():
            if key in ids.values() or (not keep_axes and key in (step_key, wall_key)):
                continue
            if chosen and key not in chosen:
                continue
            if isinstance(v, str) and key not in numeric and float_or_none(v) is None:
                text.add(key)
                continue
            x = _num(path, key, v, numeric)
            if x is not None:
                pts.setdefault((run, key), []).append((step, x, wall))
    for (run, key), p in pts.items():
        a = np.array(p, dtype=np.float64)
        acc.add(run, key, a[:, 0], a[:, 1], a[:, 2])
    if skipped:
        warn.append(f"{path}: {skipped} lines without a {st['step']!r} value skipped")
    if text - numeric:
        warn.append(f"{path}: ignored non-numeric keys: {', '.join(sorted(text - numeric)[:10])}")
    st["numeric"], st["text"] = sorted(numeric), sorted(text)
    return acc


def _num(path: Path, key: str, v: Any, numeric: set[str]) -> float | None:
    """A JSON value as a float point, None when absent; text where numbers were is an error."""
    if v is None or isinstance(v, (list, dict)):
        return None
    if isinstance(v, (bool, int, float)):
        numeric.add(key)
        return float(v)
    x = float_or_none(str(v))
    if x is None:
        raise InputError(f"{path}: non-numeric value {str(v)[:40]!r} for key {key!r}")
    numeric.add(key)
    return x


class JsonlReader:
    """Generic JSON lines (`.jsonl`, `.ndjson`, and `.json` files whose lines are objects)."""

    name = "jsonl"

    def detect(self, path: Path) -> bool:
        if path.suffix.lower() not in (".jsonl", ".ndjson", ".json"):
            return False
        try:
            with open(path, "rb") as f:
                lines = [ln for ln in f.read(1 << 16).split(b"\n") if ln.strip()]
        except OSError:
            return False
        need = 1 if path.suffix.lower() != ".json" else 2
        ok = 0
        for ln in lines[:need]:
            try:
                ok += isinstance(json.loads(ln), dict)
            except ValueError:
                return False
        return ok >= min(need, len(lines)) and ok > 0

    def read(self, path: Path, offset: int, state: dict[str, Any], options: ReadOptions) -> ReadResult:
        return read_json_rows(path, offset, state, options)


CSV = CsvReader()
JSONL = JsonlReader()
