"""Imports the optional command modules so they register on the app.

Each import is guarded so a command module under construction cannot break the others.
"""

from __future__ import annotations

import importlib

_MODULES = ("analysis_cmd", "aggregate_cmd", "fetch_cmd", "track_cmd")

for _name in _MODULES:
    try:
        importlib.import_module(f"openrlb_cli.cli.{_name}")
    except ModuleNotFoundError as exc:  # not written yet
        if exc.name != f"openrlb_cli.cli.{_name}":
            raise
