"""Score normalization: map each task's raw returns to a common scale before aggregating.

Aggregates over tasks are meaningless on raw returns (Pong spans −21..21, Asterix 0..10⁶), so
every task gets a reference pair ``(low, high)`` and scores become ``(score − low)/(high − low)``.
Reference sources (``method``):

* ``atari``: random and human scores of the 57-game Atari table shipped in
  ``openrlb_cli/data/atari_scores.csv`` (see its header for the source) — human-normalized score.
* ``maxmin``: per task, the min and max over every score of every selected experiment pooled,
  so the experiments share one scale. A task whose selected scores are all equal gets
  ``(v, v + 1)``, normalizing it to 0.
* ``none``: ``(0, 1)``, scores unchanged.
* ``csv``: a user file with columns ``env,low,high`` or ``game,random,human``.

Env ids are matched to Atari games across the usual spellings: ``Pong``, ``pong``,
``PongNoFrameskip-v4``, ``PongDeterministic-v4``, ``Pong-ramNoFrameskip-v4``, ``ALE/Pong-v5``,
envpool's ``Pong-v5``, and snake_case names such as ``montezuma_revenge`` or ``ms_pacman``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from ._layout import ScoresLike, as_padded

METHODS = ("atari", "maxmin", "none", "csv")
_KEY_COLUMNS = ("env", "env_id", "game", "task")
_LOW_COLUMNS = ("low", "random", "min")
_HIGH_COLUMNS = ("high", "human", "max")
#: Spellings that the generic key function cannot reduce to the table's name.
_ALIASES = {"montezumasrevenge": "montezumarevenge", "upanddown": "upndown", "jamesbond007": "jamesbond"}


class UnknownEnvError(ValueError):
    """Env ids with no reference scores: ``missing`` lists them all, ``env_id`` is the first."""

    def __init__(self, env_id: str, source: str, missing: Sequence[str] | None = None):
        self.env_id = env_id
        self.source = source
        self.missing = list(missing or [env_id])
        if len(self.missing) == 1:
            super().__init__(f"no reference scores for env {env_id!r} in {source}")
        else:
            listed = ", ".join(self.missing)
            super().__init__(f"no reference scores for {len(self.missing)} envs ({listed}) in {source}")


def _reference_each(
    env_ids: Sequence[str], find: Callable[[str], tuple[float, float]]
) -> dict[str, tuple[float, float]]:
    """``find`` for every env id; one UnknownEnvError naming every env that has no reference."""
    found, missing, source = {}, [], ""
    for env in env_ids:
        try:
            found[env] = find(env)
        except UnknownEnvError as exc:
            missing.append(env)
            source = exc.source
    if missing:
        raise UnknownEnvError(missing[0], source, missing)
    return found


def game_key(env_id: str) -> str:
    """Reduce an env id to a spelling-independent key: ``ALE/MsPacman-v5`` -> ``mspacman``."""
    name = env_id.strip().rsplit("/", 1)[-1]
    name = re.sub(r"-v\d+$", "", name, flags=re.IGNORECASE)
    name = re.sub(r"(NoFrameskip|Deterministic)$", "", name, flags=re.IGNORECASE)
    name = re.sub(r"-ram$", "", name, flags=re.IGNORECASE)
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    return _ALIASES.get(key, key)


def read_reference_csv(path: str | Path) -> dict[str, tuple[float, float]]:
    """Read ``name -> (low, high)`` from a CSV (lines starting with ``#`` are comments).

    The header must have a name column (env, env_id, game or task), a low column (low, random
    or min) and a high column (high, human or max).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read reference scores {path}: {exc.strerror or exc}") from exc
    return _parse_reference_csv(text, str(path))


def _parse_reference_csv(text: str, source: str) -> dict[str, tuple[float, float]]:
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    rows = list(csv.reader(lines))
    if not rows:
        raise ValueError(f"{source}: no header row")
    header = [h.strip().lower() for h in rows[0]]

    def column(candidates: Sequence[str], what: str) -> int:
        for name in candidates:
            if name in header:
                return header.index(name)
        raise ValueError(f"{source}: no {what} column (expected one of {', '.join(candidates)}); got {header}")

    k, lo, hi = column(_KEY_COLUMNS, "env"), column(_LOW_COLUMNS, "low"), column(_HIGH_COLUMNS, "high")
    table: dict[str, tuple[float, float]] = {}
    for number, row in enumerate(rows[1:], start=2):
        try:
            table[row[k].strip()] = (float(row[lo]), float(row[hi]))
        except (IndexError, ValueError) as exc:
            raise ValueError(f"{source}: bad row {number}: {','.join(row)}") from exc
    return table


@lru_cache(maxsize=1)
def atari_reference_table() -> dict[str, tuple[float, float]]:
    """The bundled 57-game table: game name (as in the CSV, e.g. ``MsPacman``) -> (random, human)."""
    text = resources.files("openrlb_cli.data").joinpath("atari_scores.csv").read_text(encoding="utf-8")
    return _parse_reference_csv(text, "the bundled Atari table")


@lru_cache(maxsize=1)
def _atari_by_key() -> dict[str, str]:
    return {game_key(name): name for name in atari_reference_table()}


def atari_game(env_id: str) -> str:
    """The Atari game an env id refers to (e.g. ``ALE/Pong-v5`` -> ``Pong``)."""
    game = _atari_by_key().get(game_key(env_id))
    if game is None:
        raise UnknownEnvError(env_id, "the 57-game Atari table")
    return game


def _lookup(table: Mapping[str, tuple[float, float]], env_id: str, source: str) -> tuple[float, float]:
    if env_id in table:
        return table[env_id]
    by_key = {game_key(name): value for name, value in table.items()}
    found = by_key.get(game_key(env_id))
    if found is None:
        raise UnknownEnvError(env_id, source)
    return found


def _task_columns(scores: object, env_ids: Sequence[str]) -> list[np.ndarray]:
    """Per-env flat score arrays from ``{env: array}`` or a ``(runs, tasks, ...)`` ScoresLike."""
    if isinstance(scores, Mapping):
        missing = [e for e in env_ids if e not in scores]
        if missing:
            raise ValueError(f"scores given for maxmin lack env(s) {missing}")
        return [np.asarray(scores[e], dtype=np.float64).ravel() for e in env_ids]
    data = as_padded(scores)  # type: ignore[arg-type]
    if data.shape[1] != len(env_ids):
        raise ValueError(f"scores have {data.shape[1]} tasks but {len(env_ids)} env ids were given")
    return [data[:, t].ravel() for t in range(data.shape[1])]


def reference_scores(
    method: str,
    env_ids: Sequence[str],
    scores_by_exp: Mapping[str, ScoresLike | Mapping[str, ArrayLike]] | None = None,
    csv_path: str | Path | None = None,
) -> dict[str, tuple[float, float]]:
    """Reference ``(low, high)`` per env id for a normalization ``method`` (see module docstring).

    ``scores_by_exp`` (for ``maxmin``) maps each experiment to either ``{env_id: scores}`` or a
    ``(runs, tasks[, points])`` array / per-task list whose tasks follow ``env_ids``.
    """
    method = method.lower()
    env_ids = list(env_ids)
    if method == "none":
        return {e: (0.0, 1.0) for e in env_ids}
    if method == "atari":
        table = atari_reference_table()
        return _reference_each(env_ids, lambda e: table[atari_game(e)])
    if method == "csv":
        if csv_path is None:
            raise ValueError("normalization 'csv' needs a reference CSV path")
        table = read_reference_csv(csv_path)
        return _reference_each(env_ids, lambda e: _lookup(table, e, str(csv_path)))
    if method == "maxmin":
        if not scores_by_exp:
            raise ValueError("normalization 'maxmin' needs the scores of the selected experiments")
        pooled: list[list[np.ndarray]] = [[] for _ in env_ids]
        for scores in scores_by_exp.values():
            for t, column in enumerate(_task_columns(scores, env_ids)):
                pooled[t].append(column)
        out = {}
        for env, columns in zip(env_ids, pooled, strict=True):
            values = np.concatenate(columns)
            values = values[np.isfinite(values)]
            if values.size == 0:
                raise ValueError(f"no finite scores for env {env!r}; cannot take its min and max")
            low, high = float(values.min()), float(values.max())
            out[env] = (low, high) if high > low else (low, low + 1.0)
        return out
    raise ValueError(f"unknown normalization {method!r}; expected one of {', '.join(METHODS)}")


def normalize(scores: ScoresLike, lows: ArrayLike, highs: ArrayLike) -> np.ndarray | list[np.ndarray]:
    """``(score − low)/(high − low)`` per task (axis 1 of an array, or per entry of a list).

    Returns the same kind of container it was given. A zero-width reference is an error: it
    would turn every score into ±inf.
    """
    lows = np.asarray(lows, dtype=np.float64).ravel()
    highs = np.asarray(highs, dtype=np.float64).ravel()
    if lows.shape != highs.shape:
        raise ValueError("lows and highs differ in length")
    width = highs - lows
    bad = np.flatnonzero(~(width != 0))
    if bad.size:
        raise ValueError(f"zero-width or NaN reference range for task index(es) {bad.tolist()}")
    if isinstance(scores, np.ndarray):
        data = np.asarray(scores, dtype=np.float64)
        if data.ndim < 2 or data.shape[1] != lows.size:
            raise ValueError(f"scores of shape {data.shape} do not have {lows.size} tasks on axis 1")
        shape = (1, lows.size) + (1,) * (data.ndim - 2)
        return (data - lows.reshape(shape)) / width.reshape(shape)
    per_task = list(scores)
    if len(per_task) != lows.size:
        raise ValueError(f"{len(per_task)} tasks given but {lows.size} reference ranges")
    return [(np.asarray(s, dtype=np.float64) - lo) / w for s, lo, w in zip(per_task, lows, width, strict=True)]


def normalize_by_env(
    scores: ScoresLike, env_ids: Sequence[str], references: Mapping[str, tuple[float, float]]
) -> np.ndarray | list[np.ndarray]:
    """``normalize`` with the ``(low, high)`` of each env id from ``reference_scores``."""
    lows = [references[e][0] for e in env_ids]
    highs = [references[e][1] for e in env_ids]
    return normalize(scores, lows, highs)
