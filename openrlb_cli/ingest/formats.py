"""What a log format declares about itself, so that adding a format is one new package.

Each format package under `openrlb_cli/ingest/` (e.g. `tensorboard/`, `sb3/`) lists its formats in its
`__init__.py` as ``FORMATS = (FormatSpec(...), ...)``; `registry` finds them by walking the packages of
`openrlb_cli.ingest` (`registry.specs`). A declaration is plain data: its reader and its hooks are
``"module:attribute"`` strings, imported on first use, so finding the formats imports no reader (the
package `__init__` files stay light: no numpy, no pandas).

This module imports only the standard library: the CLI's listing commands never pay for it either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# What a step going back within a run means (`store.preempt`, as TensorBoard does):
#   "never": the points are kept (the log is re-read whole, or holds the steps in any order);
#   "always": a resumed job writes into the run again: the points at that step and after are replaced;
#   "single-run": "always" for a unit holding one run (`external_id` ""), "never" for a table of several
#   (a long or wide table whose steps go back within a run is more likely missing a run column).
Preemption = Literal["never", "always", "single-run"]


@dataclass(frozen=True)
class FormatSpec:
    """One log format: its name, where its reader is, how its units are found and how runs are made of them."""

    name: str  # what `ingest --format` takes and `ingest_files.format` stores
    reader: str  # "module:attribute" of its `base.Reader`, whose `.name` is `name`
    # File detection: formats with a rank are tried on every file, lowest rank first (the generic CSV and
    # JSON lines readers last: any `.csv` is theirs only if no specific reader claims it). None: never
    # recognised from a file (a folder format, or one that must be named).
    detect_rank: float | None = None
    # A folder format: "module:function" telling whether a folder is one of its runs (checked before the
    # folder's files, in `folder_rank` order, first match wins). The unit is the folder itself, unless
    # `folder_units` ("module:function", folder -> list of paths) names the files to read instead (a W&B
    # run folder holding `.wandb` logs); a folder whose `folder_units` are none is not this format's.
    # With `folder_units` the format is a file format that claims a whole folder; without, its files are
    # never read one by one.
    folder_test: str | None = None
    folder_rank: float | None = None
    folder_units: str | None = None
    # All the files of this format in one folder are one unit, named by this glob in the folder (SB3
    # monitor files, merged into one run); the reader has `read_group(paths, options)`.
    group: str | None = None
    # In a folder where files of this other format are found, this format's files are not read: they
    # repeat those, less precisely (SB3's progress.json beside its progress.csv).
    yields_to: str | None = None
    # The unit feeds the one run of its folder (several formats side by side make one run), rather than
    # the runs the file itself names.
    per_directory: bool = False
    # Keys several formats of one run folder carry are taken from the format ranked first here.
    key_rank: float | None = None
    preempts: Preemption = "never"
    sqlite: bool = False  # a SQLite database: its `-wal` file is part of the unit's size and mtime
    keeps_identity: bool = False  # its runs carry their identity (an exported dataset): kept as they are
    rereads_whole: bool = False  # re-read whole each time (the reader replaces what it stored): no offset
    step_axis: str | None = None  # what its steps count when the reader records no step column

    @property
    def is_folder(self) -> bool:
        """The unit is the folder itself (an MLflow or Sacred run folder, an exported dataset)."""
        return self.folder_test is not None and self.folder_units is None


def load_attr(ref: str) -> object:
    """The attribute a ``"module:attribute"`` reference names (the module imported now)."""
    from importlib import import_module

    module, _, attr = ref.partition(":")
    return getattr(import_module(module), attr)
