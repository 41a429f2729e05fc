"""Parquet datasets that `openrlb export --format parquet` wrote (or DuckDB, Polars, Spark shaped like them)."""
