"""Sacred FileStorageObserver run folders, read without Sacred installed."""

from openrlb_cli.ingest.formats import FormatSpec

FORMATS = (
    FormatSpec("sacred", "openrlb_cli.ingest.sacred.reader:SACRED_RUN",
               folder_test="openrlb_cli.ingest.sacred.reader:is_run_dir", folder_rank=20, per_directory=True,
               rereads_whole=True, step_axis="step"),
)
