"""The local SQLite store: schema via migrations, runs, series and chunked points."""

from openrlb_cli.store.filters import RunFilter, parse_filters
from openrlb_cli.store.store import Store, run_uid

__all__ = ["Store", "RunFilter", "parse_filters", "run_uid"]
