"""One fetch at a time per store: the store's lock (`openrlb_cli.store.lock`), held as a "sync".

The lock moved to the store package when `ingest` and `track` started taking it too (an ingest and a
sync of one store are serialised like two syncs); these names stay for the code that imported them here.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from openrlb_cli.store.lock import LOCK_BUSY_EXIT, StoreBusyError, lock_path, store_lock

__all__ = ["LOCK_BUSY_EXIT", "StoreBusyError", "fetch_lock", "lock_path", "store_lock"]


def fetch_lock(store_path: Path, *, wait: bool = False,
               on_wait: Callable[[str], None] | None = None) -> AbstractContextManager[None]:
    """Hold the store's lock as a sync; without `wait`, fail at once naming the holder's pid."""
    return store_lock(store_path, wait=wait, holder="sync", on_wait=on_wait)
