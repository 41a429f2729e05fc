"""The numbers an interactive chart draws: `plot`'s panels as compact JSON, downsampled on request.

Why: the interactive report and `openrlb view` must show what `openrlb plot` shows. Both take
`render.figures.compute_panels` (mean and statistics over seeds on each line's common grid, the
same interpolation and smoothing) and the figure's own `_segments` (solid where every seed reaches,
dashed where only some) and `_band` (std, ci, minmax), then only serialise them here.

Downsampling (`extreme_indices`) keeps what a pixel column shows: for each of `buckets` equal
slices of the x range it keeps the first and last point, the points where the mean is lowest and
highest, where each band's lower edge is lowest and its upper edge highest, and both sides of every
gap (NaN), so a chart `buckets` pixels wide draws the same envelope as from all points (min/max per
pixel, as M4 does). All arrays of a line keep the same indices, so x, mean and band stay aligned.

Numbers are written with 7 significant digits (float32 precision; x values with 10), NaN as null.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from openrlb_cli.render import figures as fg

BAND_KINDS = ("std", "ci", "minmax")


def hex_color(rgba: Sequence[float]) -> str:
    return "#" + "".join(f"{round(float(c) * 255):02x}" for c in rgba[:3])


def marker_styles(labels: Sequence[str], slots: Mapping[str, int] | None = None) -> dict[str, dict[str, Any]]:
    """label -> the marker `plot` draws on its line (shape, filled or hollow, style slot). Why: the palette
    has 8 colours, so lines 9-16 share a colour with lines 1-8 and only their markers (hollow, another
    shape) tell them apart — in print as in the interactive charts, which draw the same markers."""
    assigned = fg.assign_slots(list(labels), slots)
    return {label: {"marker": st.marker, "filled": st.filled, "slot": assigned[label]}
            for label, st in fg.experiment_styles(list(labels), slots=slots).items()}


def extreme_indices(x: np.ndarray, lows: Iterable[np.ndarray], highs: Iterable[np.ndarray],
                    buckets: int) -> np.ndarray:
    """Sorted indices into `x` (ascending) that keep, per bucket of the x range, the first and last
    point, each `lows` array's minimum and each `highs` array's maximum, and the edges of NaN gaps."""
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    if n <= 2 or buckets < 1:
        return np.arange(n)
    span = x[-1] - x[0]
    if not span > 0:
        return np.array([0, n - 1]) if n > 1 else np.arange(n)
    bucket = np.minimum(((x - x[0]) / span * buckets).astype(np.int64), buckets - 1)
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:] - 1, n - 1]
    keep = [starts, ends]
    for arr, sign in [(a, 1.0) for a in lows] + [(a, -1.0) for a in highs]:
        arr = np.asarray(arr, dtype=np.float64)
        finite = np.isfinite(arr)
        if not finite.any():
            continue
        key = np.where(finite, sign * arr, np.inf)
        order = np.lexsort((key, bucket))  # by bucket, then value: each bucket's first is its extreme
        firsts = order[np.r_[0, np.flatnonzero(np.diff(bucket[order])) + 1]]
        keep.append(firsts[finite[firsts]])
        edges = np.flatnonzero(finite[1:] != finite[:-1])  # both sides of each gap
        keep += [edges, edges + 1]
    return np.unique(np.concatenate(keep))


def line_payload(line: fg.Line, kinds: Sequence[str], partial: str, width: int | None) -> dict[str, Any]:
    """One experiment's line: x, solid and dashed mean, seed count, and the requested bands."""
    st = line.stats
    solid, dashed = fg._segments(st, partial)
    bands = {}
    for kind in kinds:
        if kind == "ci" and st.ci_low is None:  # computed only when asked for (bootstrap)
            continue
        band = fg._band(st, kind, partial)
        if band is not None:
            bands[kind] = band
    x = st.grid
    idx: np.ndarray | slice
    if width is not None and x.size > 4 * width:
        mean = np.where(st.count > 0, st.mean, np.nan)
        lows = [mean, *(b[0] for b in bands.values())]
        highs = [mean, *(b[1] for b in bands.values())]
        idx = extreme_indices(x, lows, highs, width)
    else:
        idx = slice(None)
    out: dict[str, Any] = {
        "label": line.label, "n_runs": int(st.n_runs), "x": x[idx], "solid": solid[idx],
        "count": st.count[idx].astype(np.int64), "bands": {k: [b[0][idx], b[1][idx]] for k, b in bands.items()},
    }
    if dashed is not None:
        out["dashed"] = dashed[idx]
    return out


def figure_payload(data: fg.FigureData, opts: fg.PlotOptions, kinds: Sequence[str] = BAND_KINDS,
                   width: int | None = None) -> dict[str, Any]:
    """The panels of `compute_panels`, as the charts read them."""
    unit, div = data.time_unit if data.x == "time" else ("", 1.0)
    return {
        "x": data.x, "x_label": {"step": opts.xlabel or "Environment steps",
                                 "time": f"Wall-clock time ({unit})"}.get(data.x, data.x),
        "x_div": div,
        "y_label": (opts.ylabel or data.y_label)
        + (f" (smoothed over {opts.smooth} points)" if opts.smooth > 1 else ""),
        "panels": [{"env": p.env, "lines": [line_payload(ln, kinds, opts.partial, width) for ln in p.lines]}
                   for p in data.panels],
    }


def n_points(payload: Any) -> int:
    """How many numbers the payload carries (for benchmarks)."""
    if isinstance(payload, np.ndarray):
        return int(payload.size)
    if isinstance(payload, dict):
        return sum(n_points(v) for v in payload.values())
    if isinstance(payload, (list, tuple)):
        return sum(n_points(v) for v in payload)
    return 0


def _array(a: np.ndarray) -> str:
    if a.dtype.kind in "iub":
        return "[" + ",".join(map(str, a.tolist())) + "]"
    digits = 7
    return "[" + ",".join(f"{v:.{digits}g}" if math.isfinite(v) else "null" for v in a.tolist()) + "]"


def _x_array(a: np.ndarray) -> str:
    return "[" + ",".join(f"{v:.10g}" if math.isfinite(v) else "null" for v in a.tolist()) + "]"


def dumps(obj: Any, _key: str = "") -> str:
    """JSON with numpy arrays written compactly (x values with more digits than y values)."""
    if isinstance(obj, np.ndarray):
        return _x_array(obj) if _key == "x" else _array(obj)
    if isinstance(obj, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v, str(k))}" for k, v in obj.items()) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(dumps(v, _key) for v in obj) + "]"
    if isinstance(obj, float) and not math.isfinite(obj):
        return "null"
    if isinstance(obj, (np.integer, np.floating)):
        return dumps(obj.item())
    return json.dumps(obj)


def for_script_tag(text: str) -> str:
    """JSON safe inside `<script type="application/json">` in HTML: no `</script>`, `<!--`, or line
    separators can end or confuse the element (`<`, `>`, `&` become JSON escapes; still valid JSON)."""
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


__all__ = ["BAND_KINDS", "dumps", "extreme_indices", "figure_payload", "for_script_tag", "hex_color", "marker_styles",
           "line_payload", "n_points"]
