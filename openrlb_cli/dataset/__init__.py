"""The store as a Hive-partitioned Parquet dataset, for DuckDB, Polars, Spark (and back).

Layout of an export directory (what `export.write_dataset` writes and `ingest.parquet` reads):

    DIR/openrlb_dataset.json                      format name and version, counts, metrics
    DIR/runs/part-0.parquet                       one row per run (config, summary as JSON text)
    DIR/points/project=P/env=E/part-0.parquet     one row per point of the runs of (P, E)

Partition values are percent-encoded (`ALE/Pong-v5` -> `env=ALE%2FPong-v5`) and a run without an
env is in `env=__HIVE_DEFAULT_PARTITION__`, as Hive, Spark, DuckDB and pyarrow read them. The
partition columns are not repeated inside the files (Spark refuses a column that is both).

pyarrow is an optional dependency (`pip install 'openrlb[parquet]'`): imported only here, by
`pyarrow_modules`, which turns its absence into one clear error.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote

from openrlb_cli.errors import InputError

FORMAT = "openrlb-parquet"
VERSION = 1
MANIFEST = "openrlb_dataset.json"
RUNS_DIR = "runs"
POINTS_DIR = "points"
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"

# Columns of the points files (project and env are the partition directories) and of the runs table.
POINT_COLUMNS = ("experiment", "seed", "run", "metric", "step", "value", "wall_time")
RUN_COLUMNS = ("run", "project", "name", "experiment", "env", "seed", "state", "user", "url", "source",
               "external_id", "created_at", "updated_at", "tags", "config", "summary", "n_series", "n_points")


def pyarrow_modules() -> tuple[Any, Any]:
    """(pyarrow, pyarrow.parquet), or an InputError saying how to install them."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as exc:
        raise InputError(
            f"Parquet needs pyarrow, which is not installed ({exc}); install it with "
            "pip install 'openrlb[parquet]'"
        ) from None
    return pyarrow, pyarrow.parquet


def partition_name(key: str, value: str | None) -> str:
    """`key=value` with the value percent-encoded (every byte but letters, digits and `_.-~`)."""
    return f"{key}={NULL_PARTITION if value is None else quote(value, safe='')}"


def partition_value(segment: str, key: str) -> str | None:
    """The value of a `key=value` directory name, decoded; None for Hive's null partition."""
    prefix = f"{key}="
    if not segment.startswith(prefix):
        raise InputError(f"expected a {prefix}... directory in the Parquet dataset, found {segment!r}")
    raw = segment[len(prefix):]
    return None if raw == NULL_PARTITION else unquote(raw)
