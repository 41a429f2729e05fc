"""W&B run nodes and history rows -> openrlb's model: pure functions, no network.

Kept apart from the client so the mapping rules (config unwrapping, which row values are points,
what makes a run "changed") can be read and tested on their own.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import numpy as np

from openrlb_cli.model import RunRecord, Series

if TYPE_CHECKING:
    from openrlb_cli.fetch.wandb import WandbQuery

SOURCE = "wandb"


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


def run_record(node: dict[str, Any], q: WandbQuery, base_url: str) -> RunRecord:
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


def rows_to_series(rows: list[dict[str, Any]], floors: dict[str, int], default_floor: int) -> dict[str, Series]:
    """History rows -> one series per numeric key (step `_step`, wall time `_timestamp`).

    Points below a key's floor (already stored) are dropped, which keeps re-reads duplicate-free.
    Non-numbers (media, tables, strings) are skipped; W&B's "NaN"/"Infinity" strings are numbers.
    Column by column, so a 1,000-row page costs a few list passes per key rather than a Python
    loop over every cell.
    """
    valid = [row for row in rows if type(row.get("_step")) in _NUMBERS]
    if not valid:
        return {}
    steps = np.array([row["_step"] for row in valid], dtype=np.float64)
    raw_walls = [row.get("_timestamp") for row in valid]
    if set(map(type, raw_walls)) <= _NUMBERS:
        walls = np.array(raw_walls, dtype=np.float64)
    else:
        walls = np.array([float(w) if type(w) in _NUMBERS else math.nan for w in raw_walls], dtype=np.float64)
    ordered = steps.size < 2 or bool(np.all(steps[1:] >= steps[:-1]))
    keys = set().union(*valid).difference(_SKIP)
    out = {}
    for key in sorted(keys):
        raw = [row.get(key, _MISSING) for row in valid]
        if set(map(type, raw)) <= _NUMBERS:
            values, keep = np.array(raw, dtype=np.float64), None
        else:
            points = [_point(v) if v is not _MISSING else None for v in raw]
            keep = np.array([p is not None for p in points], dtype=bool)
            if not keep.any():
                continue
            values = np.array([p for p in points if p is not None], dtype=np.float64)
        s, w = (steps, walls) if keep is None else (steps[keep], walls[keep])
        above = s >= floors.get(key, default_floor)
        if not above.all():
            s, values, w = s[above], values[above], w[above]
        if not s.size:
            continue
        if not ordered:
            order = np.argsort(s, kind="stable")
            s, values, w = s[order], values[order], w[order]
        out[key] = Series(s, values, w)
    return out
