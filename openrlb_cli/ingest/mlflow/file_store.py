"""MLflow's file store (`mlruns/<experiment_id>/<run_id>/`) read directly, without MLflow installed.

A run directory holds `meta.yaml`, `params/<name>` and `tags/<name>` (file content = value) and
`metrics/<key>` files of `<timestamp_ms> <value> <step>` lines; keys containing `/` are nested paths
(`metrics/charts/sps` is key `charts/sps`). The experiment's name is in `../meta.yaml`.
`artifact_uri`/`artifact_location` are absolute paths from the writing machine and are never followed.

The unit is the run directory (`external_id` ""): call `MLFLOW_RUN.read(run_dir, offset, state, options)`.
Metric files only grow, so the state keeps a byte offset per metric file and each read returns only
new lines (`offset` is the sum, for bookkeeping). If a metric file shrank or its last consumed line
turned out torn, every metric is re-read and `replace=True`.

Mapping: project = experiment name; name = tag `mlflow.runName` (else `run_name`); config = params
(numbers parsed when the text is a plain decimal) + `mlflow_run_id`, `mlflow_experiment_id`, `mlflow_experiment_name`,
`mlflow_tags` (all tags) and `lifecycle_stage`; tags = `key=value` for tags outside `mlflow.*`;
status 1..5 / RUNNING..KILLED -> running, scheduled, finished, crashed (FAILED), killed; env/seed from
params env_id|env|env_name / seed; summary = last finite value of each metric read.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from openrlb_cli.errors import InputError
from openrlb_cli.ingest import yaml_safe
from openrlb_cli.ingest.base import ReadOptions, ReadResult, read_head
from openrlb_cli.ingest.tabular import readers as tabular
from openrlb_cli.model import RunRecord, Series

STATES = {"1": "running", "2": "scheduled", "3": "finished", "4": "crashed", "5": "killed",
          "RUNNING": "running", "SCHEDULED": "scheduled", "FINISHED": "finished", "FAILED": "crashed",
          "KILLED": "killed"}
_INT = re.compile(r"^-?(?:0|[1-9][0-9]*)$")
_FLOAT = re.compile(r"^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?$")


def param_value(text: str) -> Any:
    """A param as int/float when the text is a plain decimal number that reads back exactly
    (no leading zeros, no `.5`/`1.`, no nan/inf), else the text itself."""
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    return text


def _files(root: Path) -> dict[str, Path]:
    """Files under `root` keyed by their relative path with `/` separators."""
    out: dict[str, Path] = {}
    if not root.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            out[p.relative_to(root).as_posix()] = p
    return out


def _text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None


def _meta(path: Path) -> dict[str, Any]:
    meta = yaml_safe.load_path(path) if path.is_file() else {}
    if not isinstance(meta, dict):
        raise InputError(f"{path}: expected a mapping")
    return meta


def _metric_lines(path: Path, data: bytes, key: str) -> Series:
    if not data.strip():
        return Series.empty()
    try:
        df = pd.read_csv(io.BytesIO(data), sep=" ", header=None, names=["ts", "value", "step"], index_col=False,
                         dtype=np.float64, skip_blank_lines=True)
    except (pd.errors.ParserError, ValueError) as e:
        raise InputError(f"{path}: malformed metric file for {key!r}: {str(e).strip()[:160]}") from None
    steps = df["step"].to_numpy()
    steps = np.where(np.isnan(steps), 0.0, steps)  # MLflow < 1.0 wrote no step
    return Series(steps, df["value"].to_numpy(), df["ts"].to_numpy() / 1000.0)


def _tail_ok(tail: bytes) -> bool:
    parts = tail.decode("utf-8", "replace").split()  # MLflow >= 1.0 always writes the step
    return len(parts) == 3 and all(tabular.float_or_none(p) is not None for p in parts)


class MlflowRunReader:
    """One MLflow file-store run directory (see the module docstring)."""

    name = "mlflow-files"

    def detect(self, path: Path) -> bool:
        meta = path / "meta.yaml"
        if not (path.is_dir() and meta.is_file()):
            return False
        if not any((path / d).is_dir() for d in ("metrics", "params", "tags")):
            return False
        head = read_head(meta, 4096)
        if head is None:
            return False
        return b"run_id:" in head or b"run_uuid:" in head

    def read(self, path: Path, offset: int, state: dict[str, Any], options: ReadOptions) -> ReadResult:
        if not path.is_dir():
            raise InputError(f"{path}: not an MLflow run directory")
        meta = _meta(path / "meta.yaml")
        exp = _meta(path.parent / "meta.yaml")
        params = {k: _text(p) for k, p in _files(path / "params").items()}
        tags = {k: _text(p) for k, p in _files(path / "tags").items()}
        rec = RunRecord(source="local", external_id="")
        rec.project = str(exp.get("name") or meta.get("experiment_id") or path.parent.name)
        rec.name = tags.get("mlflow.runName") or (str(meta["run_name"]) if meta.get("run_name") else None)
        rec.state = STATES.get(str(meta.get("status", "")).upper())
        rec.user = tags.get("mlflow.user") or (str(meta["user_id"]) if meta.get("user_id") else None)
        for field, key in (("created_at", "start_time"), ("updated_at", "end_time")):
            if isinstance(meta.get(key), (int, float)):
                setattr(rec, field, meta[key] / 1000.0)
        env = next((params[k] for k in ("env_id", "env", "env_name") if params.get(k)), None)
        rec.env = env
        seed = param_value(params.get("seed", "")) if "seed" in params else None
        rec.seed = seed if isinstance(seed, int) else None
        rec.config = {k: param_value(v) for k, v in params.items()}
        rec.config.update(mlflow_run_id=str(meta.get("run_id") or meta.get("run_uuid") or path.name),
                          mlflow_experiment_id=str(meta.get("experiment_id") or path.parent.name),
                          mlflow_tags=tags, lifecycle_stage=meta.get("lifecycle_stage"))
        if exp.get("name"):  # also the project; kept in config so filters and `diff` see it
            rec.config["mlflow_experiment_name"] = str(exp["name"])
        rec.tags = [f"{k}={v}" for k, v in tags.items() if not k.startswith("mlflow.")]

        metrics = _files(path / "metrics")
        old = state.get("metrics", {}) if offset > 0 else {}
        warn, replace, complete = [], False, True
        plan: dict[str, tuple[Path, int, bool]] = {}
        for key, p in metrics.items():
            size = p.stat().st_size
            st = old.get(key, {"offset": 0, "pending_nl": False})
            with open(p, "rb") as f:
                start = tabular.resume_point(f, st["offset"], size, st) if st["offset"] <= size else None
            if start is None:
                warn.append(f"{path}: metric {key!r} shrank or was torn; re-reading all metrics")
                replace = True
                break
            plan[key] = (p, start, bool(st["pending_nl"]) and start == st["offset"])  # newline still owed
        if replace:
            plan = {key: (p, 0, False) for key, p in metrics.items()}
        new_state: dict[str, Any] = {"metrics": {}}
        for key, (p, start, owed) in plan.items():
            with open(p, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                f.seek(start)
                data = f.read(size - start)
            tabular.check_text(p, data, start)
            cut = data.rfind(b"\n") + 1
            pending = owed and not data
            if data[cut:].strip():
                if _tail_ok(data[cut:]):
                    cut, pending = len(data), True
                else:
                    complete = False
            series = _metric_lines(p, data[:cut], key)
            if len(series) or start == 0:
                rec.series[key] = series
            finite = series.values[np.isfinite(series.values)]
            if len(finite):
                rec.summary[key] = float(finite[-1])
            new_state["metrics"][key] = {"offset": start + cut, "pending_nl": pending}
        total = sum(m["offset"] for m in new_state["metrics"].values())
        return ReadResult([rec], total, new_state, replace=replace, warnings=warn, complete=complete)


MLFLOW_RUN = MlflowRunReader()
