"""Stable-Baselines3 / RL Zoo logs: Monitor files, progress.csv/json, evaluations.npz."""

from openrlb_cli.ingest.formats import FormatSpec

# One run per folder: SB3 writes its monitor files, progress.csv/json and evaluations.npz side by side.
# progress.csv carries the logger's keys most precisely, then progress.json, then an event file.
FORMATS = (
    FormatSpec("sb3-monitor", "openrlb_cli.ingest.sb3.logs:MONITOR", detect_rank=40, group="*.monitor.csv",
               per_directory=True, rereads_whole=True, step_axis="env_steps"),
    FormatSpec("sb3-progress-csv", "openrlb_cli.ingest.sb3.logs:PROGRESS_CSV", detect_rank=41,
               per_directory=True, key_rank=0, preempts="always"),
    FormatSpec("sb3-progress-json", "openrlb_cli.ingest.sb3.logs:PROGRESS_JSON", detect_rank=42,
               per_directory=True, key_rank=1, preempts="always", yields_to="sb3-progress-csv"),
    FormatSpec("sb3-evaluations", "openrlb_cli.ingest.sb3.evaluations:EVALUATIONS", detect_rank=43,
               per_directory=True, step_axis="env_steps"),
)
