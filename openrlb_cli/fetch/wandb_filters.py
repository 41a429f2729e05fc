"""W&B run filters: `key=value` words (as `openrlb runs` takes them) become W&B's Mongo-like JSON.

W&B matches config values by JSON type, while words are text: `seed=1` must match the number 1
that a training script logged, so numeric/boolean words match either the typed value or the
string. Repeating a key means any of its values, except `tag`, where every tag is required, the
same rule as the store's own filters.
"""

from __future__ import annotations

import json
from typing import Any

from openrlb_cli.errors import InputError

# word key -> W&B run field (not config)
RUN_FIELD_KEYS = {
    "user": "username",
    "username": "username",
    "state": "state",
    "name": "displayName",
    "display_name": "displayName",
    "run": "name",
    "id": "name",
    "group": "group",
    "job_type": "jobType",
}
ENV_WORDS = ("env", "environment")
EXP_WORDS = ("exp", "experiment", "algo")


def config_path(key: str) -> str:
    """`env_id` -> `config.env_id.value`; keys already naming `.value` are kept as given."""
    if key.startswith("config."):
        key = key[len("config."):]
    if ".value" in key or key.endswith(".value"):
        return f"config.{key}"
    return f"config.{key}.value"


def typed_variants(value: str) -> list[Any]:
    """The values a text word may stand for in W&B's JSON: `"1"` -> `[1, "1"]`."""
    variants: list[Any] = []
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value
    if isinstance(parsed, (int, float, bool)) or parsed is None:
        variants.append(parsed)
    if value not in variants:
        variants.append(value)
    return variants


def match(path: str, values: list[str]) -> dict[str, Any]:
    """A clause matching any of `values` (text words) at `path`."""
    variants: list[Any] = []
    for value in values:
        for v in typed_variants(value):
            if not any(type(v) is type(w) and v == w for w in variants):
                variants.append(v)
    if len(variants) == 1:
        return {path: variants[0]}
    return {path: {"$in": variants}}


def tag_clauses(tags: list[str]) -> list[dict[str, Any]]:
    return [{"tags": {"$in": [tag]}} for tag in dict.fromkeys(tags)]


def combine(clauses: list[dict[str, Any]]) -> dict[str, Any] | None:
    clauses = [c for c in clauses if c]
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def words_to_filter(words: list[str], *, env_key: str = "env_id", exp_key: str = "exp_name") -> dict[str, Any] | None:
    """`["env=Hopper-v4", "seed=1", "seed=2", "tag=v1"]` -> a W&B filter (None for no words)."""
    grouped: dict[str, list[str]] = {}
    for word in words:
        if "=" not in word:
            raise InputError(f"filter {word!r} is not key=value (e.g. env=Hopper-v4, tag=v1, seed=1)")
        key, value = word.split("=", 1)
        key = key.strip()
        if not key:
            raise InputError(f"filter {word!r} has an empty key")
        grouped.setdefault(key, []).append(value)
    clauses: list[dict[str, Any]] = []
    for key, values in grouped.items():
        if key in ("tag", "tags"):
            clauses += tag_clauses(values)
        elif key in RUN_FIELD_KEYS:
            clauses.append(match(RUN_FIELD_KEYS[key], values))
        elif key in ENV_WORDS:
            clauses.append(match(config_path(env_key), values))
        elif key in EXP_WORDS:
            clauses.append(match(config_path(exp_key), values))
        elif key.startswith(("summary_metrics.", "summaryMetrics.")):
            clauses.append(match(key, values))
        else:
            clauses.append(match(config_path(key), values))
    return combine(clauses)


def parse_json_filter(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:  # a JSONDecodeError, or e.g. an integer literal over Python's digit limit
        why = f"{exc.msg} at character {exc.pos}" if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise InputError(f"the W&B filter is not valid JSON ({why}): {text[:80]!r}", option="wandb_filter") from None
    if not isinstance(value, dict):
        raise InputError(f"the W&B filter must be a JSON object like {{\"state\": \"finished\"}}, got {text[:80]!r}",
                         option="wandb_filter")
    return value
