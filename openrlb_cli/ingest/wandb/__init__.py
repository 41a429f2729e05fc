"""W&B logs on disk: offline `.wandb` runs, run folders, and CSV exports from the web UI."""
