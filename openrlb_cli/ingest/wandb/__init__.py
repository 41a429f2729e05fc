"""W&B logs on disk: offline `.wandb` runs, run folders, and CSV exports from the web UI."""

from openrlb_cli.ingest.formats import FormatSpec

# A W&B run folder holding a `.wandb` log is "wandb-offline": its log is the unit and its `files/`
# (config.yaml, wandb-summary.json, ...: the same run again) are not read as logs of their own; a run
# folder without one is "wandb-files", one unit.
FORMATS = (
    FormatSpec("wandb-offline", "openrlb_cli.ingest.wandb.offline:WANDB_OFFLINE", detect_rank=20,
               folder_test="openrlb_cli.ingest.wandb.run_folder:is_run_folder", folder_rank=30,
               folder_units="openrlb_cli.ingest.wandb.run_folder:wandb_logs"),
    FormatSpec("wandb-files", "openrlb_cli.ingest.wandb.run_folder:WANDB_FILES",
               folder_test="openrlb_cli.ingest.wandb.run_folder:is_run_folder", folder_rank=31, per_directory=True),
    FormatSpec("wandb-csv", "openrlb_cli.ingest.wandb.csv_export:WANDB_CSV", detect_rank=50),
)
