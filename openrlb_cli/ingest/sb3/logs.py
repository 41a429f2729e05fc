"""Stable-Baselines3 logs: Monitor episode files, and the logger's progress.csv / progress.json.

Monitor files are written one per vectorised worker (`0.monitor.csv`, `1.monitor.csv`, ...), each
timing its episodes from its own `t_start`. A learning curve needs them merged: episodes ordered by
time since the earliest start (what SB3's `load_results` does), x = cumulative episode length over
all workers, i.e. the total environment steps when the episode ended. Merging is order-dependent, so
the monitor reader re-reads the whole (small) set and returns `replace=True` every time.

The pipeline calls `MONITOR.read_group(monitor_files(directory))` for a directory holding monitor
files (one run, `external_id` ""). With `rl_zoo=True`, an RL Zoo run directory's (`logs/<algo>/<env>_<n>/`)
`<env>/args.yml` and `config.yml` are added to the config as `rl_zoo: {args, hyperparams}`, with `seed`
and `experiment` (= algo) from args.yml; off by default because the ingest layout reads them too.
`MONITOR.read(path, ...)` treats a single file as a set of one.

progress.csv/json are ordinary tables read by the tabular engine; columns are matched by name (their
order changes between runs), x = `time/total_timesteps`, and every numeric column, the x column and
`time/time_elapsed` included, is kept as a series. Wall times are unknown (NaN): SB3 logs only seconds
since start.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from openrlb_cli.errors import InputError
from openrlb_cli.ingest import yaml_safe
from openrlb_cli.ingest.base import ReadOptions, ReadResult, read_head
from openrlb_cli.ingest.tabular import readers as tabular
from openrlb_cli.ingest.tabular.common import read_csv_quietly
from openrlb_cli.model import RunRecord, Series

SB3_STEPS = ("time/total_timesteps", "total_timesteps", "misc/total_timesteps", "timesteps", "step")


def is_monitor_name(path: Path) -> bool:
    return path.name == "monitor.csv" or path.name.endswith(".monitor.csv")


def monitor_files(directory: Path) -> list[Path]:
    """The monitor files of one directory, in worker order (0, 1, ..., 10, not 0, 1, 10)."""

    def key(p: Path) -> tuple[int, str]:
        m = re.match(r"^(\d+)\.", p.name)
        return (int(m.group(1)) if m else -1, p.name)

    return sorted((p for p in directory.iterdir() if p.is_file() and is_monitor_name(p)), key=key)


class _Episodes:
    """One monitor file: its JSON header and its columns (values, present)."""

    def __init__(self, meta: dict[str, Any], cols: dict[str, tuple[np.ndarray, np.ndarray]], consumed: int,
                 complete: bool):
        self.meta, self.cols, self.consumed, self.complete = meta, cols, consumed, complete

    @property
    def n(self) -> int:
        return len(self.cols["r"][0]) if "r" in self.cols else 0


def _read_monitor(path: Path, warn: list[str]) -> _Episodes:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
    data = data.rstrip(b"\0")  # a zero-filled tail (a killed job's last pages) is a tail: see tabular.open_log
    tabular.check_text(path, data, 0)
    pos = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    meta: dict[str, Any] = {}
    if data.startswith(b"#", pos):
        nl = data.find(b"\n", pos)
        if nl < 0:
            return _Episodes({}, {}, 0, False)
        try:
            meta = json.loads(data[pos + 1:nl])
        except ValueError:
            meta = None  # type: ignore[assignment]
        if not isinstance(meta, dict):
            raise InputError(f"{path}: first line is not a '#{{json}}' monitor header")
        pos = nl + 1
    nl = data.find(b"\n", pos)
    if nl < 0:
        return _Episodes(meta, {}, 0, not data[pos:].strip())
    header = next(csv.reader([data[pos:nl].decode("utf-8").rstrip("\r")]), [])
    if not {"r", "l", "t"} <= set(header):
        raise InputError(f"{path}: not an SB3 monitor file (columns {','.join(header)}; need r,l,t)")
    body = data[nl + 1:]
    cut = body.rfind(b"\n") + 1
    tail = body[cut:].decode("utf-8").rstrip("\r")
    try:
        fields = next(csv.reader([tail]), []) if tail.strip() else []
    except csv.Error:  # e.g. a field over csv's limit: not a complete line (yet)
        fields = []
    idx = {c: i for i, c in enumerate(header)}
    tail_ok = len(fields) == len(header) and all(
        tabular.float_or_none(fields[idx[c]]) is not None for c in ("r", "l", "t"))
    block = body[:cut] + (tail.encode() + b"\n" if tail_ok else b"")
    consumed = nl + 1 + (len(body) if tail_ok else cut)
    complete = tail_ok or not tail.strip()
    if not block.strip():
        return _Episodes(meta, {c: (np.empty(0), np.empty(0, bool)) for c in ("r", "l", "t")}, consumed, complete)
    try:
        df = read_csv_quietly(path, io.BytesIO(block), warn, header=None, names=header, index_col=False,
                              keep_default_na=False, na_values={c: [""] for c in header}, low_memory=False)
    except (pd.errors.ParserError, ValueError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: malformed monitor file: {str(e).strip()[:200]}") from None
    cols = {}
    for c in header:
        try:
            cols[c] = tabular.column_to_float(path, c, df[c])
        except InputError:
            if c in ("r", "l", "t"):
                raise
            warn.append(f"{path}: ignored non-numeric column {c!r}")
    for c in ("r", "l", "t"):
        if not cols[c][1].all():
            raise InputError(f"{path}: episode row without {c!r} value")
    return _Episodes(meta, cols, consumed, complete)


def rl_zoo_config(directory: Path, env_id: str | None) -> dict[str, Any]:
    """`{"args": ..., "hyperparams": ...}` from an RL Zoo run directory's `<env>/args.yml`, config.yml."""
    candidates = [directory / env_id] if env_id else []
    try:
        candidates += sorted(p for p in directory.iterdir() if p.is_dir())
    except OSError:
        return {}
    for sub in candidates:
        if (sub / "args.yml").is_file():
            out = {"args": yaml_safe.load_path(sub / "args.yml")}
            if (sub / "config.yml").is_file():
                out["hyperparams"] = yaml_safe.load_path(sub / "config.yml")
            return out
    return {}


class MonitorReader:
    """SB3 Monitor files. Use `read_group(paths)` with all monitor files of one directory."""

    name = "sb3-monitor"

    def detect(self, path: Path) -> bool:
        if not is_monitor_name(path):
            return False
        head = read_head(path, 512)
        if head is None:
            return False
        head = head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t")
        if head.startswith(b"#"):  # the `#{"t_start": ..., "env_id": ...}` header of SB3 and Baselines
            return head[1:].lstrip(b" \t").startswith(b"{")
        first = head.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", "replace")
        return {"r", "l", "t"} <= {c.strip().strip('"') for c in first.split(",")}

    def read(self, path: Path, offset: int, state: dict[str, Any], options: ReadOptions) -> ReadResult:
        """One monitor file as a set of one (whole file, replace=True)."""
        return self.read_group([path], options)

    def read_group(self, paths: list[Path], options: ReadOptions | None = None,
                   rl_zoo: bool = False) -> ReadResult:
        """Merge the monitor files of one directory into one run (complete series, replace=True).

        `state["files"]` maps each path to the bytes consumed (a torn last line is left out and
        `complete` is False); `offset` is their sum. Empty files contribute nothing; if every file is
        empty the result has no runs.
        """
        warn: list[str] = []
        eps = [(p, _read_monitor(p, warn)) for p in paths]
        state = {"files": {str(p): e.consumed for p, e in eps}}
        result = ReadResult([], sum(e.consumed for _, e in eps), state, replace=True, warnings=warn,
                            complete=all(e.complete for _, e in eps))
        eps = [(p, e) for p, e in eps if e.cols]
        if not eps:
            return result
        starts: list[Any] = [e.meta.get("t_start") for _, e in eps]  # JSON values, numbers if `known`
        known = all(isinstance(s, (int, float)) for s in starts)
        t0 = min(starts) if known else 0.0
        shifts = [(s - t0) if known else 0.0 for s in starts]
        rel = np.concatenate([e.cols["t"][0] + d for (_, e), d in zip(eps, shifts, strict=True)])
        order = np.argsort(rel, kind="stable")
        lengths = np.concatenate([e.cols["l"][0] for _, e in eps])[order]
        steps = np.cumsum(lengths)
        walls = (rel[order] + t0) if known else np.full(len(order), np.nan)
        keys = list(dict.fromkeys(c for _, e in eps for c in e.cols if c != "t" or not known))
        # Baselines writes `"env_id": null` for an env without a spec, SB3 writes str(None) = "None"
        env_ids = list(dict.fromkeys(str(e.meta["env_id"]) for _, e in eps
                                     if e.meta.get("env_id") not in (None, "", "None")))
        if len(env_ids) > 1:
            warn.append(f"{eps[0][0].parent}: monitor files disagree on env_id: {', '.join(env_ids)}")
        rec = RunRecord(source="local", external_id="", env=env_ids[0] if env_ids else None)
        for key in keys:
            vals = np.concatenate([e.cols[key][0] if key in e.cols else np.full(e.n, np.nan) for _, e in eps])
            present = np.concatenate([e.cols[key][1] if key in e.cols else np.zeros(e.n, bool) for _, e in eps])
            m = present[order]
            rec.series[key] = Series(steps[m], vals[order][m], walls[m])
        extra = {k: v for _, e in eps for k, v in e.meta.items() if k not in ("t_start", "env_id")}
        rec.config = {"monitor_files": len(paths), **({"t_start": t0} if known else {}), **extra}
        if known:
            rec.created_at = float(t0)
            rec.updated_at = float(walls.max()) if len(walls) else float(t0)
        directory = paths[0].parent
        if rl_zoo and all(p.parent == directory for p in paths):
            try:
                zoo = rl_zoo_config(directory, rec.env)
            except InputError as e:
                zoo = {}
                warn.append(str(e))
            args = zoo.get("args")
            if isinstance(args, dict):
                rec.config["rl_zoo"] = zoo
                if isinstance(args.get("seed"), int):
                    rec.seed = args["seed"]
                if isinstance(args.get("algo"), str):
                    rec.experiment = args["algo"]
        result.runs = [rec]
        return result


def _sb3_plan(path: Path, header: list[str], sniff: pd.DataFrame, numeric: set[str],
              options: ReadOptions) -> dict[str, Any]:
    step = options.step_column or tabular.match_column(header, SB3_STEPS)
    if step is not None and step not in header:
        raise InputError(f"{path}: column {step!r} not in header")
    values = [c for c in header if c in numeric]
    if not values:
        raise InputError(f"{path}: no numeric columns (header: {', '.join(header[:12])})")
    skipped = [c for c in header if c not in numeric]
    warnings = [f"{path}: ignored non-numeric columns: {', '.join(skipped[:10])}"] if skipped else []
    return {"step": step, "wall": None, "ids": {}, "columns": [[c, "", c] for c in values], "runs": {"": {}},
            "warnings": warnings}


class ProgressCsvReader:
    """SB3 `progress.csv`: one run (external_id ""), x = time/total_timesteps."""

    name = "sb3-progress-csv"

    def detect(self, path: Path) -> bool:
        return path.name == "progress.csv" and path.is_file()

    def read(self, path: Path, offset: int, state: dict[str, Any], options: ReadOptions,
             max_bytes: int | None = None) -> ReadResult:
        return tabular.read_table(path, offset, state, options, _sb3_plan, max_bytes=max_bytes)

    def iter_read(self, path: Path, offset: int, state: dict[str, Any], options: ReadOptions
                  ) -> Iterator[ReadResult]:
        """The file in pieces of about tabular_csv.PIECE_BYTES (bounded memory for huge files)."""
        return tabular.iter_table(self.read, path, offset, state, options)


class ProgressJsonReader:
    """SB3 `progress.json` (JSON lines; the key set may change from line to line)."""

    name = "sb3-progress-json"

    def detect(self, path: Path) -> bool:
        try:
            with open(path, "rb") as f:
                return path.name == "progress.json" and f.read(1) in (b"{", b"")
        except OSError:
            return False

    def read(self, path: Path, offset: int, state: dict[str, Any], options: ReadOptions) -> ReadResult:
        return tabular.read_json_rows(path, offset, state, options, step_candidates=SB3_STEPS,
                                      keep_axes=True, guess_ids=False)


MONITOR = MonitorReader()
PROGRESS_CSV = ProgressCsvReader()
PROGRESS_JSON = ProgressJsonReader()
