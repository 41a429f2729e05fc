"""What a log *is*, apart from where it lies: unit fingerprints, and checks of what was read.

Why: a run's logs get moved, renamed, reached through symlinks and copied (a colleague's copy, a
synced cluster folder). Keyed by path, each of these became a second copy of every run. And a file
resumed from a byte offset may have been rewritten meanwhile (SB3 overwrites `progress.csv` when a
new run starts in the same folder): read on from the old offset, it gave the old points plus the new
file's tail. Two small hashes answer both:

- the *fingerprint* of a unit: its name and its first `HEAD` bytes (TensorBoard event files carry
  their creation time, host and pid in the name and the first record; SB3 monitor files a
  `#{"t_start": ...}` header; CSV/JSON lines their header and first rows), or, for run folders whose
  files are rewritten in place, the ids their tool wrote (MLflow run id, Sacred start time and host,
  W&B run folder name). A unit at an unknown path with a known fingerprint is that unit moved, or a
  copy of it.
- the *checks* of what a reader consumed: per resumed file, the hash of its first bytes and of the
  bytes just before the offset. When a file changed and one of them no longer matches (or the file
  is shorter than the offset), it was rewritten: it is read again from its start.

Reading costs at most two 4 KiB reads per file, only for files that are new or changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HEAD = 4096  # bytes of a file's beginning in its fingerprint (and in a check)
TAIL = 4096  # bytes before a resume offset in a check
ID_BASED = -1  # `head_len` of a fingerprint made of a tool's ids (exact, no prefix to compare)


@dataclass(frozen=True)
class Fingerprint:
    name: str  # file or folder name
    head_len: int  # bytes hashed (fewer than HEAD: the file was that short), or ID_BASED
    head_hash: str
    body_hash: str | None = None  # the same bytes without the name (files only): finds a renamed file


def _digest(*parts: bytes) -> str:
    h = hashlib.blake2b(digest_size=16)
    for p in parts:
        h.update(p)
        h.update(b"\0")
    return h.hexdigest()


def _head(path: Path, n: int = HEAD) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def file_fingerprint(path: Path, head: bytes | None = None) -> Fingerprint:
    head = _head(path) if head is None else head
    return Fingerprint(path.name, len(head), _digest(path.name.encode(), head), _digest(head))


def prefix_hash(name: str, head: bytes, length: int) -> str:
    """The hash a fingerprint of `length` bytes would have, for a file whose first bytes are `head`."""
    return _digest(name.encode(), head[:length])


_MLFLOW_ID = re.compile(rb"^(run_id|run_uuid|experiment_id):\s*'?([^'\s]*)'?\s*$", re.M)


def fingerprint(fmt: str, paths: list[Path]) -> Fingerprint | None:
    """The unit's fingerprint; None when it has none (unreadable, or a format that keeps its runs'
    own ids, like an exported dataset)."""
    try:
        if fmt == "parquet":
            return None
        first = paths[0]
        if fmt == "mlflow-files":
            ids = sorted(_MLFLOW_ID.findall((first / "meta.yaml").read_bytes()))
            if not ids:
                return None
            return Fingerprint(first.name, ID_BASED, _digest(b"mlflow", *(k + b"=" + v for k, v in ids)))
        if fmt == "sacred":
            run = json.loads((first / "run.json").read_bytes())
            host = run.get("host") if isinstance(run.get("host"), dict) else {}
            exp = run.get("experiment") if isinstance(run.get("experiment"), dict) else {}
            parts = (first.name, exp.get("name"), run.get("start_time"), host.get("hostname"), run.get("command"))
            return Fingerprint(first.name, ID_BASED, _digest(b"sacred", *(str(p).encode() for p in parts)))
        if fmt == "wandb-files":
            from openrlb_cli.ingest.wandb.run_folder import files_dir

            meta = files_dir(first) / "wandb-metadata.json"
            head = _head(meta) if meta.is_file() else b""
            return Fingerprint(first.name, ID_BASED, _digest(b"wandb", first.name.encode(), head))
        if fmt == "mlflow-sqlite":
            return _sqlite_fingerprint(first)
        return file_fingerprint(first)
    except (OSError, ValueError, AttributeError):
        return None


def _sqlite_fingerprint(path: Path) -> Fingerprint | None:
    """An MLflow SQLite store's first run (its header bytes change with every write)."""
    import sqlite3

    from openrlb_cli.ingest.mlflow.sqlite_store import connect_read_only

    try:
        con = connect_read_only(path)
        try:
            row = con.execute("SELECT run_uuid FROM runs ORDER BY start_time, run_uuid LIMIT 1").fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return None
    return None if row is None else Fingerprint(path.name, ID_BASED, _digest(b"mlflow-sqlite", str(row[0]).encode()))


# ---------------------------------------------------------------------------- checks of what was read
def _consumed_hash(f: Any, offset: int) -> str:
    """Hash of the first bytes and of the bytes just before `offset` (all of them when few)."""
    if offset <= HEAD + TAIL:
        f.seek(0)
        return _digest(f.read(offset))
    f.seek(0)
    head = f.read(HEAD)
    f.seek(offset - TAIL)
    return _digest(head, f.read(TAIL))


def resumed_files(fmt: str, paths: list[Path], offset: int, state: dict[str, Any]) -> list[tuple[str, Path, int]]:
    """(label, file, offset) of each file the unit's reader will read on from a byte offset."""
    from openrlb_cli.ingest import registry

    if not paths or registry.spec(fmt).rereads_whole:  # re-read whole each time: nothing to check
        return []
    first = paths[0]
    if fmt == "mlflow-files":
        metrics = state["metrics"] if isinstance(state.get("metrics"), dict) else {}
        return [(f"metrics/{key}", first / "metrics" / key, int(st.get("offset", 0)))
                for key, st in sorted(metrics.items()) if isinstance(st, dict) and st.get("offset", 0) > 0]
    if fmt == "wandb-files":
        from openrlb_cli.ingest.wandb.run_folder import HISTORY, files_dir

        return [(HISTORY, files_dir(first) / HISTORY, offset)] if offset > 0 else []
    return [("", first, offset)] if offset > 0 else []


def checks(fmt: str, paths: list[Path], offset: int, state: dict[str, Any]) -> list[list[Any]] | None:
    """What a reader consumed, to verify before it reads on: [[label, offset, hash], ...]; None when a
    file cannot be read (then nothing is checked, as before)."""
    out: list[list[Any]] = []
    try:
        for label, path, at in resumed_files(fmt, paths, offset, state):
            with open(path, "rb") as f:
                out.append([label, at, _consumed_hash(f, at)])
    except OSError:
        return None
    return out


def _label_path(fmt: str, first: Path, label: str) -> Path:
    if label.startswith("metrics/") and fmt == "mlflow-files":
        return first / label
    if fmt == "wandb-files":
        from openrlb_cli.ingest.wandb.run_folder import files_dir

        return files_dir(first) / label
    return first


def unchanged_since(fmt: str, paths: list[Path], recorded: Iterable[list[Any]]) -> bool:
    """Whether every file still holds the bytes it held when `recorded` was taken (False: a file was
    shortened or rewritten, and its reader must start over)."""
    for label, at, digest in recorded:
        try:
            with open(_label_path(fmt, paths[0], str(label)), "rb") as f:
                if os.fstat(f.fileno()).st_size < at or _consumed_hash(f, at) != digest:
                    return False
        except OSError:
            return False
    return True


def same_bytes(a: Path, b: Path, length: int, block: int = 1 << 20) -> bool:
    """Whether the first `length` bytes of two files are equal (both must be at least that long)."""
    try:
        with open(a, "rb") as fa, open(b, "rb") as fb:
            left = length
            while left > 0:
                x, y = fa.read(min(block, left)), fb.read(min(block, left))
                if x != y or not x:
                    return False
                left -= len(x)
    except OSError:
        return False
    return True


def salted(fp: Fingerprint | None, salt: str) -> str:
    """A new identity: from the fingerprint (so a moved copy still finds it), told apart by `salt`."""
    base = fp.head_hash if fp is not None else ""
    return "fp:" + _digest(base.encode(), salt.encode())[:20]


def new_ident(fp: Fingerprint | None, fallback: str) -> str:
    """The identity of a unit seen for the first time: its fingerprint, or (unreadable) its path."""
    return "fp:" + fp.head_hash[:20] if fp is not None else salted(None, fallback)


def body_hash(path: Path, name: str, head_len: int, head_hash: str) -> str | None:
    """The name-less hash (`Fingerprint.body_hash`) of a stored fingerprint, from the file it was taken
    of, when that file still begins with the same bytes; None otherwise (or when unreadable)."""
    try:
        head = _head(path, head_len)
    except OSError:
        return None
    if len(head) != head_len or _digest(name.encode(), head) != head_hash:
        return None
    return _digest(head)
