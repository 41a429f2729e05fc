"""Run filters: `key=value` words as users type them, and the SQL they become.

Repeating a key means any of its values, except `tag`, where every tag is required. Keys that are
not run fields filter on config keys (`config.lr=0.1` or just `lr=0.1`), compared as text so
`seed=1` matches a config value stored as the number 1.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from openrlb_cli.errors import InputError

COLUMN_KEYS = {
    "project": "project",
    "experiment": "experiment",
    "exp": "experiment",
    "exp_name": "experiment",
    "algo": "experiment",
    "env": "env",
    "env_id": "env",
    "seed": "seed",
    "user": "user",
    "state": "state",
    "source": "source",
    "name": "name",
    "run": "uid",
    "uid": "uid",
}


@dataclass
class RunFilter:
    """What to select. Empty lists select everything."""

    columns: dict[str, list[str]] = field(default_factory=dict)  # column -> any of values
    tags: list[str] = field(default_factory=list)  # all required
    config: dict[str, list[str]] = field(default_factory=dict)  # config key -> any of values

    def add(self, key: str, value: str) -> None:
        key = key.strip()
        if key in ("tag", "tags"):
            self.tags.append(value)
        elif key in COLUMN_KEYS:
            self.columns.setdefault(COLUMN_KEYS[key], []).append(value)
        else:
            if key.startswith("config."):
                key = key[len("config.") :]
            if not key:
                raise InputError("empty filter key")
            self.config.setdefault(key, []).append(value)

    def is_empty(self) -> bool:
        return not (self.columns or self.tags or self.config)

    def sql(self) -> tuple[str, list[Any]]:
        """WHERE clause (without config filters, which `matches_config` applies)."""
        clauses: list[str] = []
        params: list[Any] = []
        for column, values in self.columns.items():
            if column == "uid":
                ors = " OR ".join("runs.uid LIKE ?" for _ in values)
                clauses.append(f"({ors})")
                params += [v + "%" for v in values]
            elif column == "seed":
                seeds = []
                for v in values:
                    try:
                        seeds.append(int(v))
                    except ValueError as exc:
                        raise InputError(f"seed must be an integer, got {v!r}") from exc
                clauses.append(f"runs.seed IN ({', '.join('?' * len(seeds))})")
                params += seeds
            else:
                clauses.append(f"runs.{column} IN ({', '.join('?' * len(values))})")
                params += values
        for tag in self.tags:
            clauses.append("runs.id IN (SELECT run_id FROM run_tags WHERE tag = ?)")
            params.append(tag)
        return (" AND ".join(clauses) or "1"), params

    def matches_config(self, config: dict[str, Any]) -> bool:
        for key, values in self.config.items():
            if key not in config:
                return False
            if config_text(config[key]) not in values:
                return False
        return True


def config_text(value: Any) -> str:
    """How a config value compares with a typed filter value."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return repr(value)
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def parse_filters(words: list[str] | None) -> RunFilter:
    """`["env=Hopper-v3", "tag=v1"]` -> RunFilter; a word without `=` is an error naming it."""
    flt = RunFilter()
    for word in words or []:
        if "=" not in word:
            raise InputError(f"filter {word!r} is not key=value (e.g. env=Hopper-v3, tag=v1, lr=0.001)")
        key, value = word.split("=", 1)
        flt.add(key, value)
    return flt
