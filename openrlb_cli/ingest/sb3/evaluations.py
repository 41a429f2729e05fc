"""SB3 / RL Zoo ``evaluations.npz``: the EvalCallback's periodic evaluation episodes.

Why: the Zoo's evaluation curve (deterministic policy, separate env) is what its benchmark reports,
and the npz keeps every evaluation episode in float64, where the event file only has float32 means.
The arrays are ``timesteps`` (n,), ``results`` and ``ep_lengths`` (n, episodes) and, for goal envs,
``successes``.  Each becomes series under ``evaluations/`` (distinct from the event file's
``eval/*`` tags, so neither source's points are mixed into the other's series):
``mean_reward``/``std_reward``/``mean_ep_length``/``success_rate`` per evaluation, and
``episode_reward``/``episode_length`` with one point per episode (steps repeat).  Files are loaded
with ``allow_pickle=False``: an npz is never a way to run code.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from openrlb_cli.errors import InputError
from openrlb_cli.ingest.base import ReadOptions, ReadResult
from openrlb_cli.model import RunRecord, Series

FILE_NAME = "evaluations.npz"


def _arrays(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: np.asarray(npz[k]) for k in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"{path}: not a readable evaluations.npz ({exc})") from None


def _matrix(path: Path, arrays: dict[str, np.ndarray], key: str, n: int) -> np.ndarray | None:
    if key not in arrays:
        return None
    a = arrays[key]
    if a.dtype.kind not in "biuf" or a.ndim != 2 or a.shape[0] != n:
        raise InputError(f"{path}: {key!r} should be a numeric ({n}, episodes) array, got {a.dtype} {a.shape}")
    return a.astype(np.float64)


class EvaluationsReader:
    name = "sb3-evaluations"

    def detect(self, path: Path) -> bool:
        return path.name == FILE_NAME

    def read(self, path: Path, offset: int, state: dict[str, Any], options: ReadOptions) -> ReadResult:
        arrays = _arrays(path)
        steps = arrays.get("timesteps")
        if steps is None or steps.ndim != 1 or steps.dtype.kind not in "biuf":
            raise InputError(f"{path}: no 1-D numeric 'timesteps' array (found {', '.join(arrays) or 'nothing'})")
        steps = steps.astype(np.float64)
        n = len(steps)
        rec = RunRecord(source="local", external_id="")
        none = np.full(n, np.nan)
        results = _matrix(path, arrays, "results", n)
        lengths = _matrix(path, arrays, "ep_lengths", n)
        successes = _matrix(path, arrays, "successes", n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the mean of zero episodes is NaN, kept
            if results is not None:
                rec.series["evaluations/mean_reward"] = Series(steps, results.mean(axis=1), none)
                rec.series["evaluations/std_reward"] = Series(steps, results.std(axis=1), none)
                rec.series["evaluations/episode_reward"] = _per_episode(steps, results)
            if lengths is not None:
                rec.series["evaluations/mean_ep_length"] = Series(steps, lengths.mean(axis=1), none)
                rec.series["evaluations/episode_length"] = _per_episode(steps, lengths)
            if successes is not None:
                rec.series["evaluations/success_rate"] = Series(steps, successes.mean(axis=1), none)
        # the callback rewrites the whole file at every evaluation: re-read it whole
        return ReadResult([rec], offset=path.stat().st_size, state={}, replace=True)


def _per_episode(steps: np.ndarray, a: np.ndarray) -> Series:
    k = a.shape[1]
    return Series(np.repeat(steps, k), a.ravel(), np.full(a.size, np.nan))


EVALUATIONS = EvaluationsReader()
