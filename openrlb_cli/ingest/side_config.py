"""Hyperparameters that trainers write beside their logs, read into a run's config.

Why: config filters (`runs lr=3e-4`), `diff` and hyperparameter grouping only see what is in a run's
config, and several trainers keep the hyperparameters in a file of their own next to the curves:

- PyTorch Lightning: `hparams.yaml` in the logger's `version_N/` folder (CSVLogger beside
  `metrics.csv`, TensorBoardLogger beside the event file);
- OpenAI Baselines-style loggers and many research scripts: `params.json` beside `progress.csv`.

A side file is best effort: one that cannot be parsed is named in a warning and the curves still
ingest. Values already in the log itself (TensorBoard hparams, a CleanRL hyperparameter table) win,
because they were written by the run that produced the curves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from openrlb_cli.errors import InputError

SIDE_FILES = ("hparams.yaml", "params.json")
MAX_BYTES = 4 << 20  # a hyperparameter file is small; a bigger one is something else


def read_side_config(run_dir: Path) -> tuple[dict[str, Any], list[str]]:
    """The hyperparameters found in `run_dir`'s side files, and a warning per file that could not be read.

    Args:
        run_dir: the folder a run's log files lie in.

    Returns:
        (config, warnings): nested mappings are kept as they are (JSON in the store).
    """
    config: dict[str, Any] = {}
    warnings: list[str] = []
    for name in SIDE_FILES:
        path = run_dir / name
        if not path.is_file():
            continue
        try:
            if path.stat().st_size > MAX_BYTES:
                raise ValueError(f"larger than {MAX_BYTES >> 20} MiB")
            parsed = _parse(path)
        except (OSError, ValueError, RecursionError, InputError) as exc:
            warnings.append(f"{path}: hyperparameters not read ({exc})")
            continue
        if isinstance(parsed, dict):
            config.update({str(k): v for k, v in parsed.items()})
        elif parsed is not None:
            warnings.append(f"{path}: hyperparameters not read (not a mapping)")
    return config, warnings


def _parse(path: Path) -> Any:
    if path.suffix == ".json":
        return json.loads(path.read_text(encoding="utf-8"))
    from openrlb_cli.ingest import yaml_safe  # PyYAML only when such a file exists

    return yaml_safe.load_path(path)
