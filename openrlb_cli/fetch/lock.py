"""One fetch at a time per store: an exclusive `flock` on `<store>.lock`.

SQLite alone would keep two overlapping cron syncs from corrupting the store, but both would
download the same runs and the second would append points the first already wrote after reading
stale progress. The lock serialises whole fetches; the holder's pid is written into the file so
the loser can say who holds it. The kernel drops the lock when the holder dies, so a killed sync
never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from openrlb_cli.errors import StoreError

LOCK_BUSY_EXIT = 5


def lock_path(store_path: Path) -> Path:
    return Path(f"{store_path}.lock")


def _holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        text = os.read(fd, 64).decode("ascii", "replace").strip()
    except OSError:
        return "unknown"
    return text or "unknown"


@contextmanager
def fetch_lock(store_path: Path, *, wait: bool = False,
               on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the store's fetch lock; without `wait`, fail at once with the holder's pid."""
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
            pid = _holder(fd)
            if not wait:
                raise StoreError(
                    f"another sync is running (pid {pid}) on {store_path}; it holds {path}. "
                    "Pass --wait to wait for it to finish", exit_code=LOCK_BUSY_EXIT) from None
            if on_wait is not None:
                on_wait(pid)
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()}\n".encode())
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
