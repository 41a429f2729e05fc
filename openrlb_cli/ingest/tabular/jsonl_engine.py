"""The JSON-lines engine behind the generic JSONL reader and SB3's progress.json.

JSON logs are one object per line whose keys may differ from line to line (nested objects become
`a/b` keys), so unlike CSV there is no header to plan from: the step, wall-time and id keys are
chosen from the first row, and which keys are numeric is learned as rows arrive and kept in the
incremental state. Offsets, torn last lines and the owed newline follow the same rules as the CSV
engine (`tabular_csv`). A file holding one JSON array of objects is re-read whole each time.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from openrlb_cli.errors import InputError
from openrlb_cli.ingest.base import ReadOptions, ReadResult, read_head
from openrlb_cli.ingest.tabular.common import (
    ID_CANDIDATES,
    STEP_CANDIDATES,
    WALL_CANDIDATES,
    _Acc,
    check_text,
    float_or_none,
    id_roles,
    match_column,
    open_log,
    resume_point,
)


def _flatten(obj: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in obj.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}/"))
        else:
            out[f"{prefix}{k}"] = v
    return out


def read_json_rows(path: Path, offset: int, state: dict[str, Any], options: ReadOptions, *,
                   step_candidates: tuple[str, ...] = STEP_CANDIDATES, keep_axes: bool = False,
                   guess_ids: bool = True) -> ReadResult:
    """JSON lines (one object per line; keys may differ per line; nested objects become `a/b` keys).
    A file holding one JSON array of objects is re-read whole each time (replace=True)."""
    size, f = open_log(path)
    with f:
        replace, warn = False, []
        st = dict(state) if offset > 0 and state.get("kind") == "jsonl" else {}
        start: int | None = 0
        if st:
            start = resume_point(f, offset, size, st) if offset <= size and not st.get("array") else None
            if start is None:
                st, replace = {}, True
                if offset <= size and not state.get("array"):
                    warn.append(f"{path}: last line was torn; re-reading the whole file")
        if not st:
            start = 0
            st = {"kind": "jsonl", "rows": 0, "lines": 0, "pending_nl": False, "numeric": [], "text": []}
        assert start is not None  # no resume point emptied `st`, so it was set to 0 just above
        f.seek(start)
        data = f.read(size - start)
        check_text(path, data, start)
        rows: list[dict[str, Any]] = []
        if start == 0 and data.lstrip().startswith(b"["):
            try:
                arr = json.loads(data)
            except ValueError as e:
                raise InputError(f"{path}: invalid JSON: {e}") from None
            if not isinstance(arr, list) or not all(isinstance(r, dict) for r in arr):
                raise InputError(f"{path}: a JSON array must hold objects")
            rows, consumed, pending, complete = arr, size, False, True
            st["array"], replace = True, True
        else:
            cut = data.rfind(b"\n") + 1
            lines = data[:cut].split(b"\n")[:-1]
            tail, pending, complete = data[cut:], False, True
            if tail.strip():
                try:
                    ok = isinstance(json.loads(tail), dict)
                except ValueError:
                    ok = False
                if ok:
                    lines.append(tail)
                    cut, pending = len(data), True
                else:
                    complete = False
            consumed = start + cut
            for i, raw in enumerate(lines, start=st["lines"] + 1):
                if not raw.strip():
                    continue
                try:
                    obj = json.loads(raw)
                except ValueError as e:
                    raise InputError(f"{path}: line {i}: invalid JSON ({e})") from None
                if not isinstance(obj, dict):
                    raise InputError(f"{path}: line {i}: expected a JSON object, got {type(obj).__name__}")
                rows.append(obj)
            st["lines"] += len(lines)
        acc = _json_points(path, rows, st, options, step_candidates, keep_axes, guess_ids, warn)
        st["pending_nl"] = pending or (bool(state.get("pending_nl")) and consumed == offset == start)
        return ReadResult(acc.records({}, False), consumed, st, replace=replace, warnings=list(dict.fromkeys(warn)),
                          complete=complete)


def _json_points(path: Path, rows: list[dict[str, Any]], st: dict[str, Any], options: ReadOptions,
                 step_candidates: tuple[str, ...], keep_axes: bool, guess_ids: bool, warn: list[str]) -> _Acc:
    acc = _Acc()
    pts: dict[tuple[str, str], list[tuple[float, float, float, int]]] = {}  # (step, value, wall, row)
    numeric, text = set(st["numeric"]), set(st["text"])
    skipped = 0
    row_runs: list[tuple[str, float]] = []  # (run, step) of each row read, for implicit seeds
    for obj in rows:
        row = _flatten(obj)
        if "step" not in st:
            st["step"] = options.step_column or match_column(list(row), step_candidates)
            st["wall"] = options.wall_time_column or match_column(list(row), WALL_CANDIDATES)
            ids = {r: getattr(options, f"{r}_column") for r in ID_CANDIDATES}
            ids = {r: c for r, c in ids.items() if c}
            if not ids and guess_ids:
                for role, cands in ID_CANDIDATES.items():
                    c = match_column(list(row), cands)
                    if c and c != st["step"] and (role == "seed" or isinstance(row[c], str)):
                        ids[role] = c
            st["ids"] = ids
        ids, step_key, wall_key = st["ids"], st["step"], st["wall"]
        st["rows"] += 1
        step: float | None
        if step_key is None:
            step = float(st["rows"] - 1)
        else:
            step = _num(path, step_key, row.get(step_key), numeric)
            if step is None:
                skipped += 1
                continue
        wall = _num(path, wall_key, row.get(wall_key), numeric) if wall_key else None
        wall = math.nan if wall is None else wall
        vals = {r: "" if row.get(c) is None else str(row.get(c)) for r, c in ids.items()}
        run = "" if not ids else vals["run"] if list(ids) == ["run"] else "|".join(
            f"{ids[r]}={vals[r]}" for r in id_roles(ids))
        if ids and run not in acc.meta:
            seed = float_or_none(vals.get("seed", ""))
            acc.meta[run] = {"name": vals.get("run"), "experiment": vals.get("experiment"), "env": vals.get("env"),
                             "seed": int(seed) if seed is not None and math.isfinite(seed) else None}
        chosen = options.value_columns
        row_runs.append((run, step))
        for key, v in row.items():
            if key in ids.values() or (not keep_axes and key in (step_key, wall_key)):
                continue
            if chosen and key not in chosen:
                continue
            if isinstance(v, str) and key not in numeric and float_or_none(v) is None:
                text.add(key)
                continue
            x = _num(path, key, v, numeric)
            if x is not None:
                pts.setdefault((run, key), []).append((step, x, wall, len(row_runs) - 1))
    seeds = _implicit_seeds(path, row_runs, st, "seed" in st.get("ids", {}), warn)
    for (run, key), p in pts.items():
        a = np.array(p, dtype=np.float64)
        if seeds is None:
            acc.add(run, key, a[:, 0], a[:, 1], a[:, 2])
            continue
        k = seeds[a[:, 3].astype(np.int64)]
        for seed in np.unique(k).tolist():
            sel = k == seed
            name = f"{run}|seed={seed}" if run else f"seed={seed}"
            acc.meta[name] = {**acc.meta.get(run, {}), "seed": seed}
            acc.add(name, key, a[sel, 0], a[sel, 1], a[sel, 2])
    if seeds is not None:
        for run in {r for r, _ in row_runs}:
            acc.meta.pop(run, None)
    if skipped:
        warn.append(f"{path}: {skipped} lines without a {st['step']!r} value skipped")
    if text - numeric:
        warn.append(f"{path}: ignored non-numeric keys: {', '.join(sorted(text - numeric)[:10])}")
    st["numeric"], st["text"] = sorted(numeric), sorted(text)
    return acc


def _implicit_seeds(path: Path, row_runs: list[tuple[str, float]], st: dict[str, Any], has_seed: bool,
                    warn: list[str]) -> np.ndarray | None:  # fmt: skip
    """The seed of each row when a run's steps restart, else None.

    Without a seed column, a step that falls back to the run's first step starts the next seed
    (Dopamine's Atari results list 5 seeds one after another, ``Iteration`` restarting at 0).  The
    first read of a file decides: if a run restarts there, every run of the file is split into
    seeds 0, 1, ...; restarts seen only later (a JSON-lines file that grew) cannot re-split points
    already ingested, so they are reported instead."""
    if has_seed or not row_runs:
        return None
    segments = st.setdefault("segments", {})  # run -> [first step, last step, seed]
    seeds, restarted = [], []
    for run, step in row_runs:
        seg = segments.get(run)
        if seg is None:
            seg = segments[run] = [step, step, 0]
        elif step < seg[1] and step <= seg[0]:
            seg[2] += 1
            restarted.append(run)
        seg[1] = step
        seeds.append(seg[2])
    if st.get("implicit_seeds") is None:
        st["implicit_seeds"] = bool(restarted)
    if st["implicit_seeds"]:
        return np.array(seeds, dtype=np.int64)
    if restarted:
        warn.append(f"{path}: steps of {restarted[0] or 'the run'!r} restart after points already ingested; "
                    "kept as one run (re-ingest the file into a fresh store to split it into seeds)")
    return None


def _num(path: Path, key: str, v: Any, numeric: set[str]) -> float | None:
    """A JSON value as a float point, None when absent; text where numbers were is an error."""
    if v is None or isinstance(v, (list, dict)):
        return None
    if isinstance(v, (bool, int, float)):
        numeric.add(key)
        return float(v)
    x = float_or_none(str(v))
    if x is None:
        raise InputError(f"{path}: non-numeric value {str(v)[:40]!r} for key {key!r}")
    numeric.add(key)
    return x


class JsonlReader:
    """Generic JSON lines (`.jsonl`, `.ndjson`, and `.json` files whose lines are objects or that hold
    one array of objects)."""

    name = "jsonl"

    def detect(self, path: Path) -> bool:
        if path.suffix.lower() not in (".jsonl", ".ndjson", ".json"):
            return False
        head = read_head(path)
        if head is None:
            return False
        if path.suffix.lower() == ".json" and re.match(rb"\s*\[\s*(\{|\])", head):
            return True  # a JSON array of records (e.g. Dopamine's results)
        lines = [ln for ln in head.split(b"\n") if ln.strip()]
        need = 1 if path.suffix.lower() != ".json" else 2  # one object in a .json is a config, not a log
        ok = 0
        for ln in lines[:need]:
            try:
                ok += isinstance(json.loads(ln), dict)
            except ValueError:
                return False
        return ok >= need

    def read(self, path: Path, offset: int, state: dict[str, Any], options: ReadOptions) -> ReadResult:
        return read_json_rows(path, offset, state, options)
