"""MLflow tracking stores read directly: the file store (`mlruns/`) and the SQLite store."""

from pathlib import Path

from openrlb_cli.ingest.formats import FormatSpec

FORMATS = (
    FormatSpec("mlflow-files", "openrlb_cli.ingest.mlflow.file_store:MLFLOW_RUN",
               folder_test="openrlb_cli.ingest.mlflow:is_run_dir", folder_rank=10, per_directory=True,
               preempts="always", step_axis="step"),
    FormatSpec("mlflow-sqlite", "openrlb_cli.ingest.mlflow.sqlite_store:MLFLOW_SQLITE", detect_rank=30,
               preempts="always", sqlite=True, rereads_whole=True, step_axis="step"),
)


def is_run_dir(path: Path) -> bool:
    """A file store's run folder (here, not in `file_store`, which imports pandas: every folder walked is tested)."""
    return (path / "meta.yaml").is_file() and (path / "metrics").is_dir()
