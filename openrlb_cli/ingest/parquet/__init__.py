"""Parquet datasets that `openrlb export --format parquet` wrote (or DuckDB, Polars, Spark shaped like them)."""

from openrlb_cli.ingest.formats import FormatSpec

# Tested first of the folder formats: a dataset directory is read whole, never walked into.
FORMATS = (
    FormatSpec("parquet", "openrlb_cli.ingest.parquet.reader:PARQUET",
               folder_test="openrlb_cli.ingest.parquet.reader:is_dataset", folder_rank=0, keeps_identity=True,
               rereads_whole=True),
)
