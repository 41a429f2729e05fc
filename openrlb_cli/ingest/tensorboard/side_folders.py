"""Folders that torch and tensorboardX write beside a run's event file but that are not runs.

- `add_hparams(hparam_dict, metric_dict)` (torch, tensorboardX, and loggers built on them) writes the
  hyperparameters, plus one scalar per metric at step 0, to a new sub-folder named by the time
  (`<logdir>/<time.time()>/events.out.tfevents...`) so that TensorBoard's HParams dashboard sees one
  session per call. That folder describes the run in `<logdir>`: its file is attached to that run
  (config from the hparams, the metric scalars as series) instead of becoming a run of its own.
- `add_embedding` writes the projector's `projector_config.pbtxt` in the log folder and
  `<step>/<tag>/tensors.tsv`, `metadata.tsv` (and `sprite.png`) below it: embedding vectors and their
  labels, not curves. Such files are not logs.
"""

from __future__ import annotations

import re
from pathlib import Path

from openrlb_cli.ingest.tensorboard.events import is_event_file
from openrlb_cli.ingest.tensorboard.protowire import HPARAMS_TAG

_TIME_FOLDER = re.compile(r"^\d{9,11}\.\d+$")  # str(time.time())
_HEAD_BYTES = 1 << 16
PROJECTOR_FILES = ("tensors.tsv", "metadata.tsv", "bookmarks.txt")


def hparams_owner(folder: Path) -> Path | None:
    """The run folder an `add_hparams` sub-folder describes, or None if `folder` is not one.

    Args:
        folder: a folder holding event files.

    Returns:
        Its parent when the folder is named by a time, holds an event file that starts with an hparams
        session, and the parent holds event files of its own (the run the hyperparameters belong to).
    """
    if not _TIME_FOLDER.match(folder.name):
        return None
    parent = folder.parent
    try:
        if not any(is_event_file(p) and p.is_file() for p in parent.iterdir()):
            return None
        for path in folder.iterdir():
            if is_event_file(path) and path.is_file():
                with path.open("rb") as f:
                    if HPARAMS_TAG.encode() in f.read(_HEAD_BYTES):
                        return parent
    except OSError:
        return None
    return None


def is_projector_file(path: Path) -> bool:
    """A file `add_embedding` wrote (an ancestor up to three levels up holds `projector_config.pbtxt`)."""
    if path.name not in PROJECTOR_FILES:
        return False
    return any((parent / "projector_config.pbtxt").is_file() for parent in list(path.parents)[:3])
