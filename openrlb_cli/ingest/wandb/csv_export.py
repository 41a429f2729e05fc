"""CSV files exported from the W&B web UI, which are not plain tables of one run.

Three kinds exist, told apart by the header:

* chart exports: x column first (`Step`, or whatever the chart's x axis was, e.g. `evaluations`), then
  `<run> - <metric>`, `<run> - <metric>__MIN`, `<run> - <metric>__MAX` per run; cells past a run's end
  are empty. One run per `<run>` (external_id = the run name), series `<metric>`, plus `<metric>__min`
  and `<metric>__max` (kept: for grouped charts they are the spread over the group's runs, and nothing
  is lost). Grouped exports name the run `algo: UCEA`: the values are group means; the run's config
  records `wandb_group: {"algo": "UCEA"}`.
* run-history exports: one run (external_id ""), x = `_step`, wall time = `_timestamp`, every numeric
  column (including `_step`, `_runtime`, `_timestamp`) a series. The first column need not be the step.

* runs-table exports (the project's runs table, one row per run): `Name`, `State` and some of `Notes`,
  `User`, `Tags`, `Created`, `Runtime`, `Sweep`, `ID`, then the config and summary columns the table
  showed. Each row is a run with no curves: name, state, tags, notes, created time; a column is config
  when its values are text or booleans or it names an experiment, environment or seed (`ingest.layout`
  keys), else summary (the file does not say which columns were config: W&B writes them unmarked; fix a
  misfiled key with `openrlb set`). The run's identity is its `ID` column when present, else its name.
  The whole file is re-read when it changes (a table is small).

Chart and history exports are read by the tabular engine, so incremental reads and torn tails behave
like any CSV.
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
from openrlb_cli.model import RunRecord

_CHART_COL = re.compile(r"^(?P<run>.+) - (?P<metric>.+?)(?P<agg>__MIN|__MAX)?$")
_GROUP = re.compile(r"^(?P<field>[^:]+): (?P<value>.+)$")


RUNS_TABLE_META = ("Name", "State", "Notes", "User", "Tags", "Created", "Runtime", "Sweep", "ID", "Run ID",
                   "Group", "Job Type", "Hostname", "GPU Type", "GPU Count", "Description", "Commit")
RUNS_TABLE_MAX_BYTES = 256 << 20
_STATES = {"finished": "finished", "running": "running", "crashed": "crashed", "failed": "crashed",
           "killed": "killed", "preempted": "crashed", "pending": "scheduled"}


def classify(header: list[str], quoted: bool = True) -> str | None:
    """"history", "chart", "runs" or None (not a W&B export) from the header columns."""
    cols = set(header)
    if {"Name", "State"} <= cols and cols & {"Notes", "User", "Tags", "Created", "Runtime", "Sweep", "ID"}:
        return "runs"
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
        if _is_runs_table(path):
            return read_runs_table(path)
        return tabular.read_table(path, offset, state, options, _plan, max_bytes=max_bytes)

    def iter_read(self, path: Path, offset: int, state: dict[str, Any], options: ReadOptions
                  ) -> Iterator[ReadResult]:
        """The file in pieces of about tabular_csv.PIECE_BYTES (bounded memory for huge files)."""
        if _is_runs_table(path):
            return iter([read_runs_table(path)])
        return tabular.iter_table(self.read, path, offset, state, options)


def _is_runs_table(path: Path) -> bool:
    head = read_head(path)
    if head is None:
        return False
    line = head.split(b"\n", 1)[0].decode("utf-8-sig", "replace").rstrip("\r")
    return classify(next(csv.reader([line]), [])) == "runs"


def read_runs_table(path: Path) -> ReadResult:
    """A W&B runs-table export: one run per row, no curves (see the module docstring).

    Returns:
        A ReadResult that replaces what the file gave before (`replace`), offset = the file's size.
    """
    from openrlb_cli.ingest.layout import ENV_KEYS, EXPERIMENT_KEYS, SEED_KEYS

    size = path.stat().st_size
    if size > RUNS_TABLE_MAX_BYTES:
        raise InputError(f"{path}: W&B runs table larger than {RUNS_TABLE_MAX_BYTES >> 20} MiB")
    try:
        table = pd.read_csv(path, dtype=object, keep_default_na=True)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise InputError(f"{path}: not a readable W&B runs table ({exc})") from None
    known = {*EXPERIMENT_KEYS, *ENV_KEYS, *SEED_KEYS}
    id_col = next((c for c in ("ID", "Run ID") if c in table.columns), None)
    runs: list[RunRecord] = []
    seen: dict[str, int] = {}
    for row in table.to_dict("records"):
        cells = {str(k): v for k, v in row.items() if isinstance(v, str) and v != ""}  # header names: str
        name = cells.get("Name")
        ident = cells.get(id_col) if id_col else name
        if not ident:
            continue
        seen[ident] = seen.get(ident, 0) + 1
        rec = RunRecord(source="local", external_id=ident if seen[ident] == 1 else f"{ident}#{seen[ident]}")
        rec.name = name
        rec.state = _STATES.get(str(cells.get("State", "")).lower())
        rec.tags = [t.strip() for t in cells.get("Tags", "").split(",") if t.strip()]
        created = pd.to_datetime(cells.get("Created", ""), utc=True, errors="coerce")  # "" -> NaT
        rec.created_at = None if pd.isna(created) else float(created.timestamp())
        config: dict[str, Any] = {"wandb_export": "runs-table"}
        summary: dict[str, Any] = {}
        for col, text in cells.items():
            if col in RUNS_TABLE_META and col not in ("Notes", "Sweep", "Group", "Job Type", "Runtime"):
                continue
            value = _cell(text)
            if col == "Runtime":
                summary["_runtime"] = value
            elif col in known or isinstance(value, (str, bool)) or col in ("Notes", "Sweep", "Group", "Job Type"):
                config[col if col not in RUNS_TABLE_META else "wandb_" + col.lower().replace(" ", "_")] = value
            else:
                summary[col] = value
        rec.config, rec.summary = config, summary
        runs.append(rec)
    if not runs:
        raise InputError(f"{path}: W&B runs table with no named run")
    return ReadResult(runs, offset=size, state={}, replace=True)


def _cell(text: str) -> Any:
    """A table cell as the value W&B showed: number, boolean or text."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text and "e" not in low else number


WANDB_CSV = WandbCsvReader()
