"""The contract between log readers and the ingest pipeline.

A reader turns one *unit* (a file, or for MLflow a run directory, or for SB3 monitors the set of
monitor files of one directory) into `RunRecord`s. It is told where it stopped last time
(`offset` + its own JSON `state`) and returns only the points after that, plus the new offset and
state; the pipeline commits points and state in one transaction, so a crash never loses or doubles
points. Readers raise `InputError` with a reason for bad input; they never write to the store.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from openrlb_cli.errors import InputError
from openrlb_cli.model import RunRecord


@dataclass
class ReadOptions:
    """Options from the command line that readers of tabular formats need."""

    step_column: str | None = None  # CSV/JSONL: the x-axis column
    value_columns: list[str] | None = None  # CSV/JSONL: which columns are metrics (default: all numeric)
    run_column: str | None = None  # long format: column naming the run
    experiment_column: str | None = None
    env_column: str | None = None
    seed_column: str | None = None
    wall_time_column: str | None = None
    metric: str | None = None  # wide-by-seed files: the metric name to store the columns under


@dataclass
class ReadResult:
    runs: list[RunRecord]  # what the unit contributes; series hold only the new points
    offset: int = 0  # bytes consumed (where the next read starts)
    state: dict[str, Any] = field(default_factory=dict)  # reader-specific, JSON-serialisable
    replace: bool = False  # series are complete and replace what is stored (small re-read formats)
    warnings: list[str] = field(default_factory=list)  # each starts with the file it is about
    complete: bool = True  # False when a torn tail was left for later (file still being written)
    # The unit is damaged at `offset` (one line: what and at which byte): the records before it are in
    # this result, the rest is not read. The pipeline stores them, reports the unit as skipped (exit 2)
    # and reads it again from `offset` at the next ingest.
    damage: str | None = None


class Reader(Protocol):
    name: str

    def detect(self, path: Path) -> bool:
        """Cheap check (name, first bytes) that `path` is this format."""

    def read(self, path: Path, offset: int, state: dict[str, Any], options: ReadOptions) -> ReadResult:
        """Read `path` from `offset`; raise InputError for bad input."""


def read_head(path: Path, size: int = 1 << 16) -> bytes | None:
    """The first `size` bytes of a file, for format detection; None when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read(size)
    except OSError:
        return None


@contextmanager
def open_to_resume(path: Path, offset: int) -> Iterator[tuple[BinaryIO, int]]:
    """(open file, its size) for a log read on from `offset`; a resume point past the end means the
    file was replaced, which is one clear error rather than a silent re-read."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
    with f:
        size = os.fstat(f.fileno()).st_size
        if offset > size:
            raise InputError(f"{path}: resume offset beyond the end of the file (replaced?)")
        yield f, size


def read_json(path: Path) -> Any:
    """A whole JSON file; unreadable or invalid is one `InputError` naming the file."""
    try:
        return json.loads(path.read_bytes())
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not valid JSON ({e})") from None


def zero_tail_start(f: BinaryIO, size: int, piece: int = 1 << 16) -> int:
    """Where the run of zero bytes that ends the open file ``f`` (``size`` bytes) starts; ``size``
    when its last byte is not zero. Why: a job killed while writing often leaves the file's last
    pages as zeros (the size was extended before the data reached the disk): a tail, not damage."""
    end = size
    while end > 0:
        lo = max(0, end - piece)
        f.seek(lo)
        stripped = f.read(end - lo).rstrip(b"\0")
        if stripped:
            return lo + len(stripped)
        end = lo
    return 0
