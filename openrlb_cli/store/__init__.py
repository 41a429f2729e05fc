"""The local SQLite store: schema via migrations, runs, series and chunked points.

`Store` and `run_uid` load on first use (module `__getattr__`), so that what only needs filters
(`openrlb --help`, parsing a selection) does not import sqlite3, hashlib and the store itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from openrlb_cli.store.filters import RunFilter, parse_filters

if TYPE_CHECKING:
    from openrlb_cli.store.store import Store, run_uid

__all__ = ["Store", "RunFilter", "parse_filters", "run_uid"]


def __getattr__(name: str) -> Any:
    if name in ("Store", "run_uid"):
        from openrlb_cli.store import store

        return getattr(store, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
