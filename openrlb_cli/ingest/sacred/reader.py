"""Sacred's FileStorageObserver output (`<basedir>/<run id>/`), read without Sacred installed.

A run directory holds `run.json` (experiment name, command, host, status, start/stop/heartbeat times,
result, `meta.config_updates`), `config.json` (the full configuration, seed included) and, once the
run logged something, `metrics.json`: `{name: {"steps": [...], "values": [...], "timestamps": [...]}}`.
Sacred writes naive UTC datetimes (`utcnow()`), NaN as the JSON literal `NaN`; `_sources/` beside the
runs holds copies of source files and is not a run.

The unit is the run directory (`external_id` "", one run per folder). Sacred rewrites `run.json` and
`metrics.json` whole at every heartbeat, so they are re-read whole and returned with `replace=True`;
a `metrics.json` caught mid-rewrite (not valid JSON yet) leaves the stored points as they are and the
result incomplete, and the next ingest reads the finished file.

Mapping: experiment = the experiment's name; state from status (COMPLETED finished, FAILED and
TIMED_OUT crashed, INTERRUPTED killed, RUNNING running, QUEUED scheduled); config = config.json +
`sacred_command`, `sacred_config_updates`, `sacred_host`; env/seed from config keys (the layout's
usual `env_id`/`env`/… and `seed`); summary = a numeric `result` and each metric's last finite value.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from openrlb_cli.errors import InputError
from openrlb_cli.ingest.base import ReadOptions, ReadResult, read_head, read_json
from openrlb_cli.model import RunRecord, Series

STATES = {"COMPLETED": "finished", "FAILED": "crashed", "TIMED_OUT": "crashed", "INTERRUPTED": "killed",
          "RUNNING": "running", "QUEUED": "scheduled"}


def is_run_dir(path: Path) -> bool:
    """A FileStorageObserver run folder: `run.json` naming an experiment, and `config.json`."""
    run, config = path / "run.json", path / "config.json"
    if not (run.is_file() and config.is_file()):
        return False
    head = read_head(run)
    return head is not None and head.lstrip().startswith(b"{") and b'"experiment"' in head


def utc_seconds(text: Any) -> float | None:
    """Sacred's naive-UTC ISO datetime as unix seconds."""
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return None


def _number(v: Any) -> float:
    if isinstance(v, bool) or v is None:
        return math.nan if v is None else float(v)
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


class SacredRunReader:
    """One FileStorageObserver run directory (see the module docstring)."""

    name = "sacred"

    def detect(self, path: Path) -> bool:
        return path.is_dir() and is_run_dir(path)

    def read(self, path: Path, offset: int, state: dict[str, Any], options: ReadOptions) -> ReadResult:
        if not path.is_dir():
            raise InputError(f"{path}: not a Sacred run directory")
        run = read_json(path / "run.json")
        config = read_json(path / "config.json")
        if not isinstance(run, dict) or not isinstance(config, dict):
            raise InputError(f"{path}: run.json and config.json must hold JSON objects")
        exp = run["experiment"] if isinstance(run.get("experiment"), dict) else {}
        rec = RunRecord(source="local", external_id="")
        rec.experiment = str(exp["name"]) if exp.get("name") else None
        rec.state = STATES.get(str(run.get("status", "")).upper())
        rec.created_at = utc_seconds(run.get("start_time"))
        rec.updated_at = utc_seconds(run.get("stop_time")) or utc_seconds(run.get("heartbeat"))
        meta = run["meta"] if isinstance(run.get("meta"), dict) else {}
        host = run["host"] if isinstance(run.get("host"), dict) else {}
        rec.config = {**config, "sacred_command": run.get("command"),
                      "sacred_config_updates": meta.get("config_updates", {}),
                      "sacred_host": {k: host[k] for k in ("hostname", "python_version", "cpu") if k in host}}
        result = run.get("result")
        if isinstance(result, (int, float)) and not isinstance(result, bool):
            rec.summary["result"] = float(result)
        warnings: list[str] = []
        complete = True
        metrics_path = path / "metrics.json"
        if metrics_path.is_file():
            try:
                metrics = read_json(metrics_path)
            except InputError as e:  # being rewritten at this heartbeat: keep what is stored
                warnings.append(f"{e}; kept the points stored before")
                metrics, complete = {}, False
            if not isinstance(metrics, dict):
                raise InputError(f"{metrics_path}: expected a JSON object of metrics")
            for key, m in metrics.items():
                rec.series[str(key)] = self._series(metrics_path, key, m)
                finite = rec.series[str(key)].values[np.isfinite(rec.series[str(key)].values)]
                if len(finite):
                    rec.summary[str(key)] = float(finite[-1])
        return ReadResult([rec], 0, {}, replace=True, warnings=warnings, complete=complete)

    @staticmethod
    def _series(path: Path, key: str, m: Any) -> Series:
        if not isinstance(m, dict) or not isinstance(m.get("values"), list):
            raise InputError(f"{path}: metric {key!r} has no list of values")
        values = _numbers(m["values"])
        steps = _numbers(m["steps"]) if isinstance(m.get("steps"), list) else np.arange(len(values), dtype=float)
        stamps = m["timestamps"] if isinstance(m.get("timestamps"), list) else []
        if len(steps) != len(values):
            raise InputError(f"{path}: metric {key!r} has {len(steps)} steps for {len(values)} values")
        walls = _walls(stamps) if len(stamps) == len(values) else np.full(len(values), math.nan)
        return Series(steps, values, walls)


def _numbers(items: list[Any]) -> np.ndarray:
    """JSON numbers as float64 in one numpy call; anything else (null, text, booleans) one by one."""
    if all(type(v) is float or type(v) is int for v in items):
        return np.array(items, dtype=np.float64)
    return np.array([_number(v) for v in items], dtype=np.float64)


def _walls(stamps: list[Any]) -> np.ndarray:
    """Sacred's naive-UTC ISO timestamps as unix seconds: parsed by numpy at once (what numpy cannot
    parse, or a time zone, goes through `utc_seconds` one by one)."""
    if all(type(t) is str and "+" not in t and not t.endswith("Z") for t in stamps):
        try:
            return np.array(stamps, dtype="datetime64[us]").astype(np.int64) / 1e6
        except ValueError:
            pass
    walls = [utc_seconds(t) for t in stamps]
    return np.array([math.nan if w is None else w for w in walls], dtype=np.float64)


SACRED_RUN = SacredRunReader()
