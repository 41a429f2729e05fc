"""W&B run nodes and history rows -> openrlb's model: pure functions, no network.

Kept apart from the client so the mapping rules (config unwrapping, which row values are points,
what makes a run "changed") can be read and tested on their own.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import datetime, timezone
from typing import Any, Protocol
from urllib.parse import urlsplit

import numpy as np

from openrlb_cli.model import RunRecord, Series

SOURCE = "wandb"


class RunPlace(Protocol):
    """What `run_record` needs of a listing (`fetch.wandb.WandbQuery` is one): where its runs live and
    which config keys name their experiment and env. A protocol, so this module (which ingest uses
    too) depends on no source."""

    @property
    def path(self) -> str: ...
    @property
    def exp_key(self) -> str: ...
    @property
    def env_key(self) -> str: ...


def app_url(base_url: str) -> str:
    host = urlsplit(base_url).netloc
    return "https://wandb.ai" if host == "api.wandb.ai" else base_url.rstrip("/")


def _loads(value: Any) -> Any:
    if isinstance(value, (str, bytes)):
        try:
            return json.loads(value)
        except ValueError:
            return json.loads(value, strict=False)
    return value if value is not None else {}


load_json_field = _loads  # W&B sends config, summary and historyKeys as JSON text (or already parsed)


def unwrap_config(raw: Any) -> dict[str, Any]:
    """W&B wraps each config value as {"value": v, "desc": ...}; drop the wrapper and `_wandb`."""
    config = _loads(raw) or {}
    out = {}
    for key, value in config.items():
        if key in ("_wandb", "wandb_version"):
            continue
        out[key] = value["value"] if isinstance(value, dict) and "value" in value else value
    return out


def config_value(config: dict[str, Any], key: str) -> Any:
    """A config key, also dotted into nested values (`trainer.value.lam` or `trainer.lam`)."""
    if key in config:
        return config[key]
    parts = [p for p in key.split(".") if p != "value"]
    value: Any = config
    for part in parts:
        if isinstance(value, dict) and "value" in value and part not in value:
            value = value["value"]
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _time(text: Any) -> float | None:
    if not text or not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _seed(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _text(value: Any) -> str | None:
    return None if value is None else value if isinstance(value, str) else json.dumps(value)


def last_step(node: dict[str, Any]) -> int:
    keys = _loads(node.get("historyKeys")) or {}
    step = keys.get("lastStep") if isinstance(keys, dict) else None
    return int(step) if isinstance(step, (int, float)) else -1


def run_record(node: dict[str, Any], q: RunPlace, base_url: str) -> RunRecord:
    config = unwrap_config(node.get("config"))
    summary = {k: v for k, v in (_loads(node.get("summaryMetrics")) or {}).items() if k != "_wandb"}
    run_id = node["name"]
    user = node.get("user") or {}
    return RunRecord(
        source=SOURCE,
        external_id=f"{q.path}/{run_id}",
        project=q.path,
        name=node.get("displayName") or run_id,
        experiment=_text(config_value(config, q.exp_key)),
        env=_text(config_value(config, q.env_key)),
        seed=_seed(config.get("seed")),
        state=node.get("state"),
        user=user.get("username") or user.get("name"),
        url=f"{app_url(base_url)}/{q.path}/runs/{run_id}",
        created_at=_time(node.get("createdAt")),
        updated_at=_time(node.get("heartbeatAt")),
        tags=list(node.get("tags") or []),
        config=config,
        summary=summary,
    )


def digest(node: dict[str, Any]) -> str:
    fields = [node.get(k) for k in ("heartbeatAt", "historyLineCount", "state", "displayName", "config",
                                    "summaryMetrics")]
    fields += [sorted(node.get("tags") or []), last_step(node)]
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:32]


_NON_FINITE = {"nan": math.nan, "NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf, "inf": math.inf,
               "-inf": -math.inf, "infinity": math.inf, "-infinity": -math.inf}
_SKIP = ("_step", "_timestamp")
_NUMBERS = {int, float}
_MISSING = object()


def _point(value: Any) -> float | None:
    """A row value as a point's value, or None when it is not a number (media, tables, text)."""
    kind = type(value)
    if kind is float or kind is int:
        return float(value)
    if kind is bool:
        return float(value)
    if kind is str and value in _NON_FINITE:  # W&B writes non-finite numbers as strings
        return _NON_FINITE[value]
    return None


STEP = "_step"  # W&B's row counter: what history windows are bounded by
DEFAULT_X_AXIS = "global_step"  # what Open RL Benchmark compares runs on


def history_keys(node: dict[str, Any]) -> set[str] | None:
    """The keys a run's history holds (from `historyKeys.keys`), or None when W&B did not say."""
    keys = _loads(node.get("historyKeys")) or {}
    listed = keys.get("keys") if isinstance(keys, dict) else None
    return set(listed) if isinstance(listed, dict) else None


def choose_x_axis(node: dict[str, Any], wanted: str | None) -> tuple[str, str | None]:
    """The x axis a run's points are stored against, and a warning when the wanted one is absent.

    `wanted` None means the default: `global_step` when the run logs it, else `_step`. A named key
    (`--x-axis`, a filter's `xaxis=`) the run does not log falls back to `_step`, with a warning,
    rather than dropping every point.
    """
    key = wanted or DEFAULT_X_AXIS
    if key == STEP:
        return STEP, None
    logged = history_keys(node)
    if logged is not None and key in logged:
        return key, None
    if logged is None and wanted is not None:
        return key, None  # W&B did not list the keys: trust the explicit choice
    if wanted is None:
        return STEP, None
    return STEP, f"run {node.get('name')} does not log {key!r}: its points are stored against W&B's _step"


def rows_to_series(rows: list[dict[str, Any]], floors: dict[str, int], default_floor: int,
                   x_key: str = STEP) -> tuple[dict[str, Series], int]:
    """History rows -> one series per numeric key, stored against `x_key`, and the points dropped.

    A point's step is its row's `x_key` value (e.g. `global_step`), its wall time the row's
    `_timestamp`. Rows are joined as Open RL Benchmark's rlops joins them (one row = one `_step`;
    a point exists only where its row also holds a finite x value, the `dropna()` of rlops): points
    of rows without one are dropped and counted. Floors are in `_step` (what history windows are
    bounded by): points below a key's floor are already stored, which keeps re-reads duplicate-free.
    Non-numbers (media, tables, strings) are skipped; W&B's "NaN"/"Infinity" strings are numbers.
    Column by column, so a 1,000-row page costs a few list passes per key rather than a Python
    loop over every cell.
    """
    valid = [row for row in rows if type(row.get(STEP)) in _NUMBERS]
    if not valid:
        return {}, 0
    row_steps = np.array([row[STEP] for row in valid], dtype=np.float64)
    if x_key == STEP:
        xs = row_steps
    else:
        xs = np.array([_point(row.get(x_key)) if x_key in row else None for row in valid], dtype=np.float64)
        xs[~np.isfinite(xs)] = math.nan
    raw_walls: list[Any] = [row.get("_timestamp") for row in valid]  # JSON values
    if set(map(type, raw_walls)) <= _NUMBERS:
        walls = np.array(raw_walls, dtype=np.float64)
    else:
        walls = np.array([float(w) if type(w) in _NUMBERS else math.nan for w in raw_walls], dtype=np.float64)
    has_x = ~np.isnan(xs)
    finite_x = xs[has_x]
    ordered = finite_x.size < 2 or bool(np.all(finite_x[1:] >= finite_x[:-1]))
    keys = set().union(*valid).difference(_SKIP)
    out = {}
    dropped = 0
    for key in sorted(keys):
        raw = [row.get(key, _MISSING) for row in valid]
        if set(map(type, raw)) <= _NUMBERS:
            values, keep = np.array(raw, dtype=np.float64), np.ones(len(raw), dtype=bool)
        else:
            points = [_point(v) if v is not _MISSING else None for v in raw]
            keep = np.array([p is not None for p in points], dtype=bool)
            if not keep.any():
                continue
            values = np.full(len(points), math.nan)
            values[keep] = [p for p in points if p is not None]
        keep &= row_steps >= floors.get(key, default_floor)
        without_x = keep & ~has_x
        if without_x.any():
            dropped += int(without_x.sum())
            keep &= has_x
        if not keep.all():
            s, values, w = xs[keep], values[keep], walls[keep]
        else:
            s, w = xs, walls
        if not s.size:
            continue
        if not ordered:
            order = np.argsort(s, kind="stable")
            s, values, w = s[order], values[order], w[order]
        out[key] = Series(s, values, w)
    return out, dropped
