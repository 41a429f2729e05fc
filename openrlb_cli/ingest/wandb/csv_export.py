"""CSV files exported from the W&B web UI, which are not plain tables of one run.

Two kinds exist, told apart by the header:

* chart exports: x column first (`Step`, or whatever the chart's x axis was, e.g. `evaluations`), then
  `<run> - <metric>`, `<run> - <metric>__MIN`, `<run> - <metric>__MAX` per run; cells past a run's end
  are empty. One run per `<run>` (external_id = the run name), series `<metric>`, plus `<metric>__min`
  and `<metric>__max` (kept: for grouped charts they are the spread over the group's runs, and nothing
  is lost). Grouped exports name the run `algo: UCEA`: the values are group means; the run's config
  records `wandb_group: {"algo": "UCEA"}`.
* run-history exports: one run (external_id ""), x = `_step`, wall time = `_timestamp`, every numeric
  column (including `_step`, `_runtime`, `_timestamp`) a series. The first column need not be the step.

Both are read by the tabular engine, so incremental reads and torn tails behave like any CSV.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from openrlb_cli.errors import InputError
from openrlb_cli.ingest.base import ReadOptions, ReadResult, read_head
from openrlb_cli.ingest.tabular import readers as tabular

_CHART_COL = re.compile(r"^(?P<run>.+) - (?P<metric>.+?)(?P<agg>__MIN|__MAX)?$")
_GROUP = re.compile(r"^(?P<field>[^:]+): (?P<value>.+)$")


def classify(header: list[str], quoted: bool = True) -> str | None:
    """"history", "chart" or None (not a W&B export) from the header columns."""
    cols = set(header)
    if "_step" in cols and cols & {"_runtime", "_timestamp"}:
        return "history"
    if len(header) >= 2 and not _CHART_COL.match(header[0]) and all(_CHART_COL.match(c) for c in header[1:]):
        if quoted or any(c.endswith(("__MIN", "__MAX")) for c in header[1:]):
            return "chart"
    return None


def _plan(path: Path, header: list[str], sniff: pd.DataFrame, numeric: set[str],
          options: ReadOptions) -> dict[str, Any]:
    kind = classify(header)
    skipped = [c for c in header if c not in numeric]
    warnings = [f"{path}: ignored non-numeric columns: {', '.join(skipped[:10])}"] if skipped else []
    if kind == "history":
        values = [c for c in header if c in numeric]
        return {"step": "_step", "wall": "_timestamp" if "_timestamp" in header else None, "ids": {},
                "columns": [[c, "", c] for c in values], "runs": {"": {"config": {"wandb_export": "history"}}},
                "warnings": warnings}
    if kind != "chart":
        raise InputError(f"{path}: not a W&B CSV export (no '<run> - <metric>' columns and no _step)")
    x = header[0]
    if x not in numeric:
        raise InputError(f"{path}: x column {x!r} is not numeric")
    columns, runs = [], {}
    for c in header[1:]:
        if c not in numeric:
            continue
        m = _CHART_COL.match(c)
        assert m is not None
        run, agg = m["run"], m["agg"]
        columns.append([c, run, m["metric"] + (agg.lower() if agg else "")])
        if run not in runs:
            config: dict[str, Any] = {"wandb_export": "chart", "x_axis": x}
            g = _GROUP.match(run)
            if g:
                config["wandb_group"] = {g["field"]: g["value"]}
            runs[run] = {"name": run, "config": config}
    return {"step": x, "wall": None, "ids": {}, "columns": columns, "runs": runs, "warnings": warnings}


class WandbCsvReader:
    """W&B chart and run-history CSV exports (`classify` tells which; see the module docstring)."""

    name = "wandb-csv"

    def detect(self, path: Path) -> bool:
        if path.suffix.lower() != ".csv":
            return False
        head = read_head(path)
        if head is None:
            return False
        try:
            line = head.split(b"\n", 1)[0].decode("utf-8-sig").rstrip("\r")
        except UnicodeDecodeError:
            return False
        header = next(csv.reader([line]), [])
        return classify(header, quoted=line.startswith('"')) is not None

    def read(self, path: Path, offset: int, state: dict[str, Any], options: ReadOptions,
             max_bytes: int | None = None) -> ReadResult:
        return tabular.read_table(path, offset, state, options, _plan, max_bytes=max_bytes)

    def iter_read(self, path: Path, offset: int, state: dict[str, Any], options: ReadOptions
                  ) -> Iterator[ReadResult]:
        """The file in pieces of about tabular_csv.PIECE_BYTES (bounded memory for huge files)."""
        return tabular.iter_table(self.read, path, offset, state, options)


WANDB_CSV = WandbCsvReader()
