"""Run filters: `key=value` words as users type them, and the SQL they become.

Grammar (one word per condition; in specs, conditions are joined by `&`):

    KEY OP VALUE        OP is one of  =  !=  <  <=  >  >=

* KEY is a run field (`project`, `experiment`, `env`, `seed`, `user`, `state`, `source`, `name`,
  `run`), `tag`, or a config key (`lr`, or `config.lr` when a config key shares a field's name).
* `=` repeated for one key means any of its values (`env=A env=B`), except `tag`, where every tag
  is required. Every other condition is required too (`seed>=3 seed<6` is a range).
* Config values compare as what they are: a VALUE that is a number matches a config value equal as
  a number, whether stored as a JSON number or as text (`lr=0.30` matches 0.3, `3e-4` matches
  `"0.0003"` as CleanRL stores it); `true`/`false` match booleans and the text `True`/`False`;
  anything else matches the text exactly. `<`, `<=`, `>`, `>=` need a number and compare only
  values that are numbers. `!=` selects runs where the condition `=` would not hold, including runs
  without that key (as pandas' `!=` and MongoDB's `$ne` do).
* `run=PREFIX` matches uids by prefix; `seed` compares as an integer.

Why in SQL: config is JSON text, and `json_extract` in SQLite reads it several times faster than
decoding every run's config in Python, so a filter over a 25,000-run store loads only the runs it
keeps. SQLite has no "is this text a number" test, so one small SQL function
(`openrlb_num`, registered by `register_functions`) parses numeric text the way Python does.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from openrlb_cli.errors import InputError

if TYPE_CHECKING:
    import sqlite3

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
TAG_KEYS = ("tag", "tags")
OPERATORS = ("!=", "<=", ">=", "==", "=", "<", ">")
COMPARISONS = ("<", "<=", ">", ">=")
_NUMBER = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")


@dataclass
class Condition:
    """One condition that is not a plain `=` (those are grouped in `RunFilter.columns`/`config`)."""

    kind: str  # "column", "config" or "tag"
    key: str  # the column, config key or tag
    op: str  # one of OPERATORS except "=" / "=="
    value: str

    def text(self) -> str:
        shown = "tag" if self.kind == "tag" else ("run" if self.key == "uid" else self.key)
        return f"{shown}{self.op}{self.value}"


@dataclass
class RunFilter:
    """What to select. Empty selects everything."""

    columns: dict[str, list[str]] = field(default_factory=dict)  # column -> any of values
    tags: list[str] = field(default_factory=list)  # all required
    config: dict[str, list[str]] = field(default_factory=dict)  # config key -> any of values
    conditions: list[Condition] = field(default_factory=list)  # all required

    def add(self, key: str, value: str, op: str = "=") -> None:
        """Add `key OP value`. Raises InputError for an empty key, an unknown operator, or a
        comparison whose value is not a number."""
        key = key.strip()
        op = "=" if op == "==" else op
        if op not in OPERATORS:
            raise InputError(f"unknown comparison {op!r} (use one of {', '.join(OPERATORS)})")
        if key in TAG_KEYS:
            kind, name = "tag", value
        elif key in COLUMN_KEYS:
            kind, name = "column", COLUMN_KEYS[key]
        else:
            if key.startswith("config."):
                key = key[len("config."):]
            if not key:
                raise InputError("empty filter key")
            kind, name = "config", key
        if op in COMPARISONS:
            if kind == "tag" or (kind == "column" and name != "seed"):
                raise InputError(f"{key}{op}{value}: only seed and config keys compare with {op}")
            if parse_number(value) is None:
                raise InputError(f"{key}{op}{value}: {op} needs a number, got {value!r}")
        if kind == "column" and name == "seed" and parse_number(value) is None:
            raise InputError(f"seed must be an integer, got {value!r}")
        if op != "=":
            self.conditions.append(Condition(kind, name, op, value))
        elif kind == "tag":
            self.tags.append(value)
        elif kind == "column":
            self.columns.setdefault(name, []).append(value)
        else:
            self.config.setdefault(name, []).append(value)

    def copy(self) -> RunFilter:
        return RunFilter({k: list(v) for k, v in self.columns.items()}, list(self.tags),
                         {k: list(v) for k, v in self.config.items()}, list(self.conditions))

    def is_empty(self) -> bool:
        return not (self.columns or self.tags or self.config or self.conditions)

    def config_keys(self) -> list[str]:
        keys = [*self.config, *(c.key for c in self.conditions if c.kind == "config")]
        return list(dict.fromkeys(keys))

    def parts(self) -> list[RunFilter]:
        """Each condition alone (a key's `=` values together): to find which one matches nothing."""
        out = [RunFilter(columns={k: list(v)}) for k, v in self.columns.items()]
        out += [RunFilter(tags=[t]) for t in self.tags]
        out += [RunFilter(config={k: list(v)}) for k, v in self.config.items()]
        out += [RunFilter(conditions=[c]) for c in self.conditions]
        return out

    def describe(self) -> str:
        words = [f"{'run' if k == 'uid' else k}={v}" for k, vs in self.columns.items() for v in vs]
        words += [f"tag={t}" for t in self.tags]
        words += [f"{k}={v}" for k, vs in self.config.items() for v in vs]
        words += [c.text() for c in self.conditions]
        return " ".join(words)

    def sql(self) -> tuple[str, list[Any]]:
        """The WHERE clause over `runs` (config compared with `openrlb_num`: see register_functions)."""
        clauses: list[str] = []
        params: list[Any] = []
        for column, values in self.columns.items():
            sql, p = _column_in(column, values)
            clauses.append(sql)
            params += p
        for tag in self.tags:
            clauses.append("runs.id IN (SELECT run_id FROM run_tags WHERE tag = ?)")
            params.append(tag)
        for key, values in self.config.items():
            ors = [_config_eq(key, v) for v in values]
            clauses.append("(" + " OR ".join(s for s, _ in ors) + ")")
            params += [x for _, p in ors for x in p]
        for cond in self.conditions:
            sql, p = _condition(cond)
            clauses.append(sql)
            params += p
        return (" AND ".join(clauses) or "1"), params


def parse_number(text: str) -> float | int | None:
    """`"0.30"` -> 0.3, `"3e-4"` -> 0.0003, `"7"` -> 7; None for anything that is not a number
    literal (`nan`, `inf`, `1_000`, `0x10` and words are text)."""
    if not isinstance(text, str) or not _NUMBER.match(text):
        return None
    s = text.strip()
    if re.fullmatch(r"[+-]?\d+", s):
        return int(s)
    x = float(s)
    return x if math.isfinite(x) else None


def _sql_num(text: Any) -> float | int | None:
    """`openrlb_num(text)`: the number a config text holds, else NULL."""
    return parse_number(text) if isinstance(text, str) else None


def register_functions(conn: sqlite3.Connection) -> None:
    """Register `openrlb_num` on a connection (deterministic, so SQLite may cache it)."""
    conn.create_function("openrlb_num", 1, _sql_num, deterministic=True)


def _column_in(column: str, values: list[str]) -> tuple[str, list[Any]]:
    if column == "uid":
        return "(" + " OR ".join("runs.uid LIKE ?" for _ in values) + ")", [v + "%" for v in values]
    if column == "seed":
        return f"runs.seed IN ({', '.join('?' * len(values))})", [parse_number(v) for v in values]
    return f"runs.{column} IN ({', '.join('?' * len(values))})", list(values)


_T = "json_type(runs.config, ?)"
_X = "json_extract(runs.config, ?)"
# the number a config value holds: JSON numbers as they are, text parsed, anything else NULL
_NUM = (f"(CASE {_T} WHEN 'integer' THEN {_X} WHEN 'real' THEN {_X} "
        f"WHEN 'text' THEN openrlb_num({_X}) END)")


def _path(key: str) -> str:
    return "$." + json.dumps(key)


def _num_expr(key: str) -> tuple[str, list[Any]]:
    p = _path(key)
    return _NUM, [p, p, p, p]


def _config_eq(key: str, value: str) -> tuple[str, list[Any]]:
    """`key=value` on config: text exactly, or as a number, boolean, null or JSON list/object."""
    p = _path(key)
    ors = [f"({_T} = 'text' AND {_X} = ?)"]
    params: list[Any] = [p, p, value]
    num = parse_number(value)
    if num is not None:
        sql, pp = _num_expr(key)
        ors.append(f"{sql} = ?")
        params += [*pp, num]
    low = value.strip().lower()
    if low in ("true", "false"):
        ors.append(f"{_T} = ?")
        params += [p, low]
        ors.append(f"({_T} = 'text' AND lower({_X}) = ?)")
        params += [p, p, low]
    elif low in ("null", "none"):
        ors.append(f"{_T} = 'null'")
        params.append(p)
    elif value.lstrip()[:1] in ("[", "{"):
        try:
            json.loads(value)
        except ValueError:
            pass
        else:
            ors.append(f"({_T} IN ('array', 'object') AND {_X} = json(?))")
            params += [p, p, value]
    return "(" + " OR ".join(ors) + ")", params


def _condition(cond: Condition) -> tuple[str, list[Any]]:
    op = cond.op
    if cond.kind == "tag":  # only != reaches here
        return "runs.id NOT IN (SELECT run_id FROM run_tags WHERE tag = ?)", [cond.value]
    if cond.kind == "column":
        if op == "!=":
            if cond.key == "uid":
                return "runs.uid NOT LIKE ?", [cond.value + "%"]
            value: Any = parse_number(cond.value) if cond.key == "seed" else cond.value
            return f"(runs.{cond.key} IS NULL OR runs.{cond.key} <> ?)", [value]
        return f"runs.seed {op} ?", [parse_number(cond.value)]
    if op == "!=":
        sql, params = _config_eq(cond.key, cond.value)
        return f"NOT coalesce({sql}, 0)", params
    sql, params = _num_expr(cond.key)
    return f"{sql} {op} ?", [*params, parse_number(cond.value)]


def split_word(word: str) -> tuple[str, str, str]:
    """`"lr<=1e-3"` -> ("lr", "<=", "1e-3"): the first operator in the word splits it. Raises
    InputError when there is none."""
    m = re.search(r"!=|<=|>=|==|=|<|>", word)
    if m is None or m.start() == 0:
        raise InputError(f"filter {word!r} is not key=value (e.g. env=Hopper-v3, tag=v1, lr<0.001, "
                         "state!=crashed)")
    return word[: m.start()], m.group(), word[m.end():]


def config_text(value: Any) -> str:
    """A config value as a filter word writes it (`lr=0.001`, `use_sde=true`): labels of lines grouped
    by a config key use it, so the label's `KEY=VALUE` selects exactly that line's runs."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return repr(value)
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def parse_filters(words: list[str] | None) -> RunFilter:
    """`["env=Hopper-v3", "tag=v1", "seed>=3"]` -> RunFilter; a word without an operator is an
    error naming it."""
    flt = RunFilter()
    for word in words or []:
        key, op, value = split_word(word)
        flt.add(key, value, op)
    return flt
