"""Why a filter selects nothing, in the user's words, with close matches for typos.

`openrlb runs projct=tianshou` used to print "0 runs": a key or value that the store has never
seen is almost always a typo, so the commands that select runs (and the Python API) say which
condition matched nothing and suggest what the store holds instead (difflib, as `plot` does for
experiments and envs). Each condition is checked alone (one `count(*)` each), and the store's
vocabulary (field values, config keys, tags) is read only when a message needs it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from openrlb_cli.errors import SelectionError
from openrlb_cli.store.filters import COLUMN_KEYS, TAG_KEYS, RunFilter

if TYPE_CHECKING:
    from openrlb_cli.model import RunInfo
    from openrlb_cli.store.store import Store

# states a run may have even when no stored run has it yet (a cron job asking for running runs)
KNOWN_STATES = {"running", "finished", "crashed", "failed", "killed", "preempted", "deleted"}


@dataclass
class Miss:
    """One condition that matches no run. `unknown`: its key or value is nowhere in the store
    (likely a typo); otherwise it is a comparison or `!=` that simply holds for no run."""

    text: str
    unknown: bool


def close(word: str, vocab: Iterable[Any], n: int = 3) -> str:
    """` (did you mean 'a', 'b'?)` or ``: the close matches of `word` among `vocab`."""
    import difflib  # only when a message needs it

    options = sorted({str(v) for v in vocab if v not in (None, "")})
    matches = difflib.get_close_matches(word, options, n=n, cutoff=0.5)
    return f" (did you mean {', '.join(repr(m) for m in matches)}?)" if matches else ""


class _Vocab:
    def __init__(self, store: Store):
        self.store = store
        self._keys: set[str] | None = None

    def column(self, column: str) -> set[Any]:
        return {r[0] for r in self.store.conn.execute(f"SELECT DISTINCT {column} FROM runs") if r[0] is not None}

    def tags(self) -> set[str]:
        return {r[0] for r in self.store.conn.execute("SELECT DISTINCT tag FROM run_tags")}

    def config_keys(self) -> set[str]:
        if self._keys is None:
            self._keys = {r[0] for r in self.store.conn.execute(
                "SELECT DISTINCT j.key FROM runs, json_each(runs.config) j")}
        return self._keys

    def config_values(self, key: str) -> set[str]:
        return {str(r[0]) for r in self.store.conn.execute(
            "SELECT DISTINCT json_extract(config, ?) FROM runs WHERE json_type(config, ?) IS NOT NULL",
            ("$." + _quote(key), "$." + _quote(key))) if r[0] is not None}


def _quote(key: str) -> str:
    import json

    return json.dumps(key)


def _count(store: Store, flt: RunFilter) -> int:
    where, params = flt.sql()
    return int(store.conn.execute(f"SELECT count(*) FROM runs WHERE {where}", params).fetchone()[0])


def misses(store: Store, flt: RunFilter) -> list[Miss]:
    """The conditions of `flt` that alone match no run (empty when each matches some run)."""
    vocab = _Vocab(store)
    out: list[Miss] = []
    for part in flt.parts():
        if _count(store, part):
            continue
        for column, values in part.columns.items():
            known = vocab.column(column)
            for v in values:
                if column == "uid":
                    out.append(Miss(f"no run id starts with {v!r}", True))
                elif column == "seed":
                    out.append(Miss(f"no run has seed {v}" + close(v, known), True))
                elif column == "state" and v in KNOWN_STATES:
                    out.append(Miss(f"no run is in state {v!r}", False))
                elif v not in known:
                    out.append(Miss(f"no {column} {v!r}{close(v, known)}", True))
        for tag in part.tags:
            out.append(Miss(f"no tag {tag!r}{close(tag, vocab.tags())}", True))
        for key, values in part.config.items():
            out.append(_config_miss(vocab, key, " or ".join(f"{key}={v}" for v in values), values))
        for cond in part.conditions:
            if cond.kind == "config" and cond.key not in vocab.config_keys():
                out.append(_unknown_key(vocab, cond.key))
            else:
                out.append(Miss(f"no run has {cond.text()}", False))
    return out


def _unknown_key(vocab: _Vocab, key: str) -> Miss:
    names = [*COLUMN_KEYS, *TAG_KEYS, *vocab.config_keys()]
    return Miss(f"no run has a field or config key {key!r}{close(key, names)}", True)


def _config_miss(vocab: _Vocab, key: str, shown: str, values: list[str]) -> Miss:
    if key not in vocab.config_keys():
        return _unknown_key(vocab, key)
    known = vocab.config_values(key)
    hint = close(values[0], known)
    if not hint and known:
        listed = sorted(known)
        hint = f" (values: {', '.join(listed[:6])}{', ...' if len(listed) > 6 else ''})"
    return Miss(f"no run has {shown}{hint}", True)


def explain(store: Store, flt: RunFilter) -> str:
    """One line saying why `flt` selects no run."""
    if _count(store, RunFilter()) == 0:
        return f"the store {str(store.path)!r} has no runs"
    found = misses(store, flt)
    if not found:
        return "no run has all of these (each alone matches some run)"
    return "; ".join(m.text for m in found)


def unused_values(store: Store, flt: RunFilter) -> list[str]:
    """Values of a key given several times (`env=A env=B`: any of them) that the store does not have,
    while the others select runs: likely typos, which the selection would otherwise hide."""
    out: list[str] = []
    for column, values in flt.columns.items():
        if len(values) > 1:
            for v in values:
                out += [m.text for m in misses(store, RunFilter(columns={column: [v]})) if m.unknown]
    for key, values in flt.config.items():
        if len(values) > 1:
            for v in values:
                out += [m.text for m in misses(store, RunFilter(config={key: [v]})) if m.unknown]
    return out


def select(store: Store, flt: RunFilter, *, allow_empty: bool = False, deleted: bool = False) -> list[RunInfo]:
    """The runs `flt` selects (with `deleted`, also those their server deleted). An empty selection
    raises SelectionError saying why, with close matches; with `allow_empty`, only a key or value the
    store does not have at all raises."""
    runs = store.runs(flt, deleted=deleted)
    if runs or flt.is_empty():
        return runs
    if allow_empty:
        found = misses(store, flt)
        if not any(m.unknown for m in found) or _count(store, RunFilter()) == 0:
            return runs
        return _raise(flt, "; ".join(m.text for m in found))
    return _raise(flt, explain(store, flt))


def _raise(flt: RunFilter, reason: str) -> list[RunInfo]:
    raise SelectionError(f"no run matches {flt.describe()}: {reason}")
