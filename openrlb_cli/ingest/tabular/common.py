"""Helpers every table reader shares: text checks, resume offsets, numbers, column names, point buffers.

The generic CSV and JSON-lines readers (`tabular`), the streaming CSV engine (`tabular_csv`) and the
SB3, W&B and MLflow readers all need the same small pieces: rejecting binary or non-UTF-8 input with
a clear message, finding where an incremental read resumes, turning cells into float points (an
empty cell or a missing-value marker such as `None`/`NA`/`nan` is no point, as pandas reads it),
recognising step/wall-time/id columns by name, and collecting points per run and key. They live
here, apart from either file format, so the readers agree on all of it.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from openrlb_cli.errors import InputError
from openrlb_cli.ingest.base import zero_tail_start
from openrlb_cli.model import RunRecord, Series

STEP_CANDIDATES = ("step", "global_step", "env_step", "_step", "timestep", "timesteps", "total_timesteps",
                   "time/total_timesteps", "Step", "frame", "frames", "iteration", "epoch")
# absolute wall-clock columns (unix seconds or dates) taken as wall time when none is named
WALL_CANDIDATES = ("wall_time", "walltime", "_timestamp", "timestamp")
# Column names of a long table's run ids, per role, in order of preference (case-insensitive): the
# spellings of CleanRL/Open RL Benchmark (`exp_name`, `env_id`), rliable/Atari tables (`game`, `agent`),
# DMC and Meta-World tables (`task`), Ray Tune (`trial_id`) and hand-written ones (`exp`, `algo`).
ID_CANDIDATES = {
    "run": ("run", "run_id", "run_name", "runid", "trial_id"),
    "experiment": ("experiment", "experiment_name", "exp_name", "exp", "algo", "algo_name", "algorithm",
                   "agent", "agent_name", "method", "method_name"),
    "env": ("env", "env_id", "env_name", "environment", "game", "game_name", "task", "task_name"),
    "seed": ("seed", "random_seed"),
}


def id_roles(ids: dict[str, str]) -> list[str]:
    """The id roles of a long layout in ID_CANDIDATES order, which run keys join them in. Not the
    dict's order: a layout comes back from the store's JSON state with sorted keys, and a resumed
    read must name the runs as the first read did."""
    return [role for role in ID_CANDIDATES if role in ids]


# ---------------------------------------------------------------- pandas without its warnings

def read_csv_quietly(path: Path, buf: Any, warn: list[str] | None, **kwargs: Any) -> pd.DataFrame:
    """`pd.read_csv` with pandas' own warnings (ParserWarning text with a site-packages path, printed
    straight to the terminal) turned into one line naming the file, added to `warn`."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = pd.read_csv(buf, **kwargs)
    if warn is not None:
        for w in caught:
            if issubclass(w.category, pd.errors.ParserWarning) and "Length of header" in str(w.message):
                warn.append(f"{path}: a row has more fields than the header's {len(df.columns)} columns; "
                            "its extra fields were ignored")
            elif issubclass(w.category, (pd.errors.ParserWarning, pd.errors.DtypeWarning)):
                warn.append(f"{path}: {str(w.message).splitlines()[0][:160]}")
    return df


# ---------------------------------------------------------------- bytes and lines

def open_log(path: Path) -> tuple[int, io.BufferedReader]:
    """How far the file holds text, and an open binary handle; an InputError naming the file.

    A job killed while writing often leaves the file's last pages as zeros (its size was extended
    before the data reached the disk). Those zeros are a tail, as a line still being written is:
    the text before them is read, and they are looked at again when the file changes (text written
    after them is then a NUL byte inside the log: reported, that file skipped)."""
    try:
        size = path.stat().st_size
        f = open(path, "rb")  # noqa: SIM115 - the caller closes it
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
    try:
        return zero_tail_start(f, size), f
    except OSError as e:
        f.close()
        raise InputError(f"{path}: cannot read: {e.strerror}") from None


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


def find(block: bytes | memoryview, sub: bytes) -> int:
    """`bytes.find` on a block that may be a view from the start of a reused buffer (what
    `tabular_csv._blocks` yields; memoryview has no find of its own)."""
    if isinstance(block, memoryview):
        return block.obj.find(sub, 0, block.nbytes)  # type: ignore[attr-defined]
    return block.find(sub)


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


# pandas' default missing-value markers (`na_values` in the docs of `pandas.read_csv`), the empty cell
# included: a cell holding one of them is a missing value, as pandas (and SB3's and rliable's loaders on
# top of it) read it. tests/test_readers_csv_na.py checks the list against pandas' own.
NA_TOKENS = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
                       "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"})
NA_TEXT = sorted(NA_TOKENS - {""})  # the markers worth a warning (an empty cell is the ordinary gap)


def count_na_text(col: pd.Series) -> int:
    """How many cells of a parsed column hold a missing-value marker other than the empty cell."""
    if col.dtype.kind in "fiub" or isinstance(col.dtype, pd.CategoricalDtype):
        return 0
    return int(col.isin(NA_TEXT).sum())


def column_to_float(path: Path, name: str, col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(values, present): empty cells and pandas' missing-value markers (`NA_TOKENS`: None, NA, null,
    nan, ...) are absent; inf is a point; other text is an error."""
    if col.dtype.kind in "fiub":
        vals = col.to_numpy(dtype=np.float64, na_value=np.nan)
        return vals, ~np.isnan(vals)
    arr = col.to_numpy(dtype=object)
    present = ~pd.isna(arr)
    if present.any():
        present &= ~col.isin(NA_TEXT).to_numpy(dtype=bool)
    vals = np.full(arr.shape, np.nan)
    try:
        vals[present] = arr[present].astype(np.float64)
    except (ValueError, TypeError):
        bad = next((v for v in arr[present] if float_or_none(str(v)) is None), arr[present][0])
        raise InputError(f"{path}: non-numeric value {str(bad)[:40]!r} in column {name!r}") from None
    return vals, present


# ---------------------------------------------------------------- column names

def match_column(header: list[str], candidates: tuple[str, ...]) -> str | None:
    for c in candidates:
        if c in header:
            return c
    lower = {h.lower(): h for h in header}
    return next((lower[c.lower()] for c in candidates if c.lower() in lower), None)


# ---------------------------------------------------------------- points

class _Acc:
    """Points collected per run and key, concatenated once at the end."""

    def __init__(self) -> None:
        self.parts: dict[str, dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]] = {}
        self.meta: dict[str, dict[str, Any]] = {}
        self.na: dict[str, int] = {}  # column -> cells holding a missing-value marker (left out)

    def na_warning(self, path: Path) -> list[str]:
        """One warning for the missing-value markers met, per column (none when there were none)."""
        if not self.na:
            return []
        cols = ", ".join(f"{c!r} ({n:,})" for c, n in sorted(self.na.items(), key=lambda kv: -kv[1])[:8])
        return [f"{path}: {sum(self.na.values()):,} cells holding a missing-value marker (None, NA, null, nan, ...: "
                f"pandas' na_values) left out as missing, in {cols}"]

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
                if len(parts) == 1:  # no copy: views of the block's arrays (a long CSV's runs)
                    rec.series[key] = Series(*parts[0])
                else:
                    rec.series[key] = Series(*(np.concatenate([p[i] for p in parts]) for i in range(3)))
            out.append(rec)
        return out
