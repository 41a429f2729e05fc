"""Format names -> readers, and how a file's format is recognised."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from openrlb_cli.errors import InputError
from openrlb_cli.ingest.base import Reader

FORMATS = ("tensorboard", "sb3-monitor", "sb3-progress-csv", "sb3-progress-json", "sb3-evaluations", "csv",
           "jsonl", "mlflow-files", "mlflow-sqlite", "sacred", "wandb-offline", "wandb-files", "wandb-csv", "parquet")


# name -> (module, attribute) of its reader.  Imported on first use, one reader at a time: commands
# that never ingest do not pay for pandas, and neither does a directory of event files (several
# readers import pandas, ~0.2 s of a 2 s ingest).
_READERS = {
    "tensorboard": ("tensorboard.reader", "TENSORBOARD"), "sb3-monitor": ("sb3.logs", "MONITOR"),
    "sb3-progress-csv": ("sb3.logs", "PROGRESS_CSV"), "sb3-progress-json": ("sb3.logs", "PROGRESS_JSON"),
    "sb3-evaluations": ("sb3.evaluations", "EVALUATIONS"), "wandb-csv": ("wandb.csv_export", "WANDB_CSV"),
    "csv": ("tabular.readers", "CSV"), "jsonl": ("tabular.readers", "JSONL"),
    "mlflow-files": ("mlflow.file_store", "MLFLOW_RUN"),
    "mlflow-sqlite": ("mlflow.sqlite_store", "MLFLOW_SQLITE"), "parquet": ("parquet.reader", "PARQUET"),
    "sacred": ("sacred.reader", "SACRED_RUN"), "wandb-offline": ("wandb.offline", "WANDB_OFFLINE"),
    "wandb-files": ("wandb.run_folder", "WANDB_FILES"),
}


@cache
def _load(name: str) -> Reader:
    from importlib import import_module

    module, attr = _READERS[name]
    found: Reader = getattr(import_module(f"openrlb_cli.ingest.{module}"), attr)
    if found.name != name:
        raise AssertionError(f"reader {module}.{attr} is named {found.name!r}, not {name!r}")
    return found


def readers() -> dict[str, Reader]:
    """Every reader by name (imports them all)."""
    return {name: _load(name) for name in FORMATS}


# Checked in this order; the generic tabular readers come last.
DETECT_ORDER = ("tensorboard", "wandb-offline", "mlflow-sqlite", "sb3-monitor", "sb3-progress-csv", "sb3-progress-json",
                "sb3-evaluations", "wandb-csv", "csv", "jsonl")

# When one run directory holds several formats carrying the same keys (SB3 writes progress.csv,
# progress.json and an event file side by side), a key is taken from the first format here.
KEY_PRIORITY = ("sb3-progress-csv", "sb3-progress-json", "tensorboard")


def reader(name: str) -> Reader:
    if name not in FORMATS:
        raise InputError(f"unknown format {name!r}; known: {', '.join(FORMATS)}")
    return _load(name)


def detect(path: Path) -> str | None:
    for name in DETECT_ORDER:
        try:
            if _load(name).detect(path):
                return name
        except OSError:
            return None
    return None


def is_parquet_dataset(path: Path) -> bool:
    """A directory `openrlb export --format parquet` wrote (pyarrow is only needed to read it)."""
    from openrlb_cli.ingest.parquet.reader import is_dataset

    return is_dataset(path)


def is_mlflow_run_dir(path: Path) -> bool:
    return (path / "meta.yaml").is_file() and (path / "metrics").is_dir()


# Formats whose unit is a whole directory (one run per folder), recognised by `directory_format`.
DIRECTORY_FORMATS = ("mlflow-files", "sacred", "wandb-files")


def directory_format(path: Path) -> str | None:
    """The directory format `path` is a run folder of, if any (checked before its files). A W&B run
    folder holding a `.wandb` log is "wandb-offline": its log is the unit and its `files/`
    (config.yaml, wandb-summary.json, ...: the same run again) are not read as logs of their own."""
    if is_mlflow_run_dir(path):
        return "mlflow-files"
    from openrlb_cli.ingest.sacred.reader import is_run_dir

    if is_run_dir(path):
        return "sacred"
    from openrlb_cli.ingest.wandb import run_folder as wandb_files

    if wandb_files.is_run_folder(path):
        return "wandb-offline" if wandb_files.wandb_logs(path) else "wandb-files"
    return None


def directory_unit_paths(fmt: str, path: Path) -> list[Path]:
    """What the units of a run folder found by `directory_format` read: the folder, or its `.wandb` logs."""
    if fmt == "wandb-offline":
        from openrlb_cli.ingest.wandb.run_folder import wandb_logs

        return wandb_logs(path)
    return [path]
