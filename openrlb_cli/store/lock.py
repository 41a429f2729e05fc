"""One writer of a store's points at a time: an exclusive `flock` on `<store>.lock`.

SQLite alone keeps two overlapping writers from corrupting the store, but not from doubling its
points: an ingest (or a fetch) first reads how far each file (or remote run) was read, then appends
what comes after. Two of them planning from the same progress both append the same points (two
`openrlb ingest` of one folder stored every point twice). So `ingest`, `fetch`, `sync` and the live
ingest of `track` all take this lock around planning *and* writing.

The holder's pid and what it is doing are written into the file, so the loser can say who holds it.
The kernel drops the lock when the holder dies, so a killed process never leaves a stale lock
behind. The lock is per open file, not per process: a second `store_lock` of the same store, even
from the same thread, is refused (or waits), which is what keeps two threads of one process apart.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from openrlb_cli.errors import StoreError

LOCK_BUSY_EXIT = 5
# what a holder is doing -> how the message names it
_DOING = {"sync": "sync", "ingest": "ingest", "track": "tracked run's live ingest"}


class StoreBusyError(StoreError):
    """Another process holds the store's lock; `pid` and `holder` say who (as far as known)."""

    exit_code = LOCK_BUSY_EXIT

    def __init__(self, message: str, pid: str, holder: str):
        super().__init__(message)
        self.pid, self.holder = pid, holder


def lock_path(store_path: Path) -> Path:
    """`<store>.lock` beside the store file (symlinks resolved, so every path to it agrees)."""
    return Path(f"{os.path.realpath(store_path)}.lock")


def _holder(fd: int) -> tuple[str, str]:
    """(pid, what it does) as the holder wrote them; an older openrlb wrote the pid alone (a sync)."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 64).decode("ascii", "replace").split()
    except OSError:
        return "unknown", "sync"
    return (text[0] if text else "unknown"), (text[1] if len(text) > 1 else "sync")


@contextmanager
def store_lock(store_path: Path, *, wait: bool = False, holder: str = "ingest",
               on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the store's lock for `holder` ("ingest", "sync", "track"); without `wait`, fail at once with
    `StoreBusyError` naming the process that holds it, else call `on_wait(pid)` and block until it is free."""
    path = lock_path(store_path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StoreError(f"cannot create the lock file {path}: {exc.strerror}") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid, doing = _holder(fd)
            if not wait:
                raise StoreBusyError(
                    f"another {_DOING.get(doing, doing)} is running (pid {pid}) on {store_path}; it holds {path}",
                    pid, doing) from None
            if on_wait is not None:
                on_wait(pid)
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()} {holder}\n".encode())
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
