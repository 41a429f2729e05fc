"""Comparison figures: one panel per environment, one line per experiment, deterministic files.

Why separate data and drawing: `compute_panels` is the whole data path (pure numpy via
`analysis.curves`) and `draw_figure`/`save_figure` are only matplotlib, so the benchmark can say
where time goes and tests can check numbers without pixels.

Conventions:
* A line is the mean over seeds on a common grid; each seed is interpolated only inside its own
  step range. Where fewer than all of the line's seeds cover the grid (ragged runs), the line is
  drawn dashed (`partial="dashed"`, the default), left out (`"hide"`) or drawn solid (`"solid"`).
  Isolated points (e.g. a run with a single logged point) are drawn as markers.
* Bands: `std` = mean ± sample std, `ci` = 95% bootstrap CI over seeds, `minmax`, or `none`.
* Output is byte-identical for the same input: Agg backend, fixed DPI and rc settings, no dates
  in PNG/PDF/SVG metadata and a fixed `svg.hashsalt`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator

from openrlb_cli.analysis import curves as cv
from openrlb_cli.errors import InputError, SelectionError
from openrlb_cli.selection import Curves

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

FORMATS = ("png", "pdf", "svg")
BANDS = ("std", "ci", "minmax", "none")
PARTIAL = ("dashed", "hide", "solid")
RC: dict[RcKeyType, Any] = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 9,
    "figure.titlesize": 11,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "openrlb",
    "svg.fonttype": "path",
    "pdf.fonttype": 42,
    "path.simplify": True,
}
METADATA = {
    "png": {"Software": "openrlb"},
    "pdf": {"Creator": "openrlb", "Producer": "openrlb", "CreationDate": None, "ModDate": None},
    "svg": {"Creator": "openrlb", "Date": None},
}


@dataclass
class PlotOptions:
    x: str = "step"  # step | time | the key of a series used as x (joined on step by `load_curves`)
    band: str = "std"
    smooth: int = 0  # centred moving average over this many logged points (0/1 = off)
    max_steps: float | None = None
    ncols: int | None = None
    individual: bool = False
    partial: str = "dashed"
    grid_points: int = cv.DEFAULT_GRID_POINTS
    formats: Sequence[str] = FORMATS
    dpi: int = 150
    title: str | None = None
    n_boot: int = 1000
    seed: int = 0
    xlabel: str | None = None  # default: "Environment steps" / "Wall-clock time (unit)"
    ylabel: str | None = None  # default: the metric key
    time_unit: str | None = None  # s | min | h; default: chosen from the data
    legend_cols: int | None = None  # default: as many as fit on one row


@dataclass
class Line:
    label: str
    stats: cv.CurveStats
    seeds: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # for --individual


@dataclass
class Panel:
    env: str
    lines: list[Line]


@dataclass
class FigureData:
    panels: list[Panel]
    x: str
    time_unit: tuple[str, float] = ("s", 1.0)
    y_label: str = ""
    warnings: list[str] = field(default_factory=list)


Color = tuple[float, float, float, float]  # RGBA in [0, 1], as a matplotlib colormap returns it


def experiment_colors(labels: Sequence[str]) -> dict[str, Color]:
    """Stable colours by position: tab10 for up to 10 experiments, tab20 beyond, cycling after."""
    cmap = matplotlib.colormaps["tab10" if len(labels) <= 10 else "tab20"]
    n = cmap.N
    return {label: cmap(i % n) for i, label in enumerate(labels)}


TIME_UNITS = {"s": ("s", 1.0), "min": ("min", 60.0), "m": ("min", 60.0), "h": ("h", 3600.0)}


def _time_unit(max_seconds: float) -> tuple[str, float]:
    if not np.isfinite(max_seconds) or max_seconds <= 180:
        return "s", 1.0
    if max_seconds <= 3 * 3600:
        return "min", 60.0
    return "h", 3600.0


def compute_panels(curves: Curves, opts: PlotOptions) -> FigureData:
    """The data path: per env and experiment, interpolate seeds onto a grid and take statistics."""
    check_options(opts)
    sel = curves.selection
    data = FigureData([], opts.x, y_label=sel.metric_label, warnings=list(curves.warnings))
    no_walls = []
    for env in sel.env_ids:
        lines = []
        for exp in sel.experiments:
            xs, ys = [], []
            for rc in curves.get(exp.label, env):
                x = cv.elapsed(rc.walls) if opts.x == "time" else rc.steps
                x, y, _ = cv.clean(x, rc.values)
                if x.size == 0:
                    no_walls.append(rc.run.uid)
                    continue
                xs.append(x)
                ys.append(cv.smooth(y, opts.smooth))
            if not xs:
                continue
            grid = cv.common_grid(xs, opts.grid_points)
            matrix = cv.interpolate(xs, ys, grid)
            stats = cv.seed_stats(matrix, grid, ci=opts.band == "ci", n_boot=opts.n_boot, seed=opts.seed)
            lines.append(Line(exp.label, stats, list(zip(xs, ys, strict=True)) if opts.individual else []))
        data.panels.append(Panel(env, lines))
    if opts.x == "time":
        if not any(p.lines for p in data.panels):
            raise SelectionError("no wall-clock times in the selected runs; use --x step")
        if no_walls:
            data.warnings.append(f"{len(no_walls)} run(s) without wall-clock times left out of the time axis")
        top = max(float(np.nanmax(ln.stats.grid)) for p in data.panels for ln in p.lines)
        data.time_unit = TIME_UNITS[opts.time_unit] if opts.time_unit else _time_unit(top)
    return data


def check_options(opts: PlotOptions) -> None:
    """Bad option values -> one InputError line (called before any data is loaded)."""
    if not opts.x or not opts.x.strip():
        raise InputError("--x must be step, time, or the key of a series of the runs (e.g. global_step)")
    if opts.band not in BANDS:
        raise InputError(f"--band must be one of {', '.join(BANDS)}, got {opts.band!r}")
    if opts.partial not in PARTIAL:
        raise InputError(f"--partial must be one of {', '.join(PARTIAL)}, got {opts.partial!r}")
    bad = [f for f in opts.formats if f not in FORMATS]
    if bad or not opts.formats:
        raise InputError(f"--formats must be among {', '.join(FORMATS)}, got {', '.join(bad) or 'none'}")
    if opts.time_unit is not None and opts.time_unit not in TIME_UNITS:
        raise InputError(f"--time-unit must be one of s, min (or m), h; got {opts.time_unit!r}")
    if opts.legend_cols is not None and opts.legend_cols < 1:
        raise InputError("--legend-cols must be >= 1")
    if opts.smooth < 0 or opts.grid_points < 2 or (opts.ncols is not None and opts.ncols < 1):
        raise InputError("--smooth must be >= 0, --grid-points >= 2 and --ncols >= 1")


def si_format(x: float, _pos: object = None) -> str:
    """1500000 -> '1.5M', 500000 -> '500k', 12 -> '12'."""
    ax = abs(x)
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if ax >= div:
            return f"{x / div:.3g}{suffix}"
    return f"{x:.3g}"


def _y_format(x: float, _pos: object = None) -> str:
    return si_format(x) if abs(x) >= 1e4 else f"{x:.4g}"


def _segments(stats: cv.CurveStats, partial: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(solid y, dashed y or None): solid where all seeds cover the grid, dashed where only some."""
    has = stats.count > 0
    if partial == "solid":
        return np.where(has, stats.mean, np.nan), None
    full = stats.full
    solid = np.where(full, stats.mean, np.nan)
    if partial == "hide":
        return solid, None
    part = has & ~full
    if not part.any():
        return solid, None
    near = part.copy()
    near[1:] |= part[:-1] & full[1:]
    near[:-1] |= part[1:] & full[:-1]
    return solid, np.where(near | part, stats.mean, np.nan)


def _isolated(y: np.ndarray) -> np.ndarray:
    fin = np.isfinite(y)
    prev = np.concatenate([[False], fin[:-1]])
    nxt = np.concatenate([fin[1:], [False]])
    return fin & ~prev & ~nxt


def _band(stats: cv.CurveStats, kind: str, partial: str) -> tuple[np.ndarray, np.ndarray] | None:
    if kind == "none":
        return None
    if kind == "std":
        lo, hi = stats.mean - stats.std, stats.mean + stats.std
    elif kind == "ci":
        lo, hi = stats.ci_low, stats.ci_high
    else:
        lo, hi = stats.min, stats.max
    if partial == "hide":
        lo, hi = np.where(stats.full, lo, np.nan), np.where(stats.full, hi, np.nan)
    return lo, hi


# Fixed layout in inches (faster than constrained layout, which dominated big grids, and stable).
AXES_SIZE = (2.6, 1.8)
MARGINS = {"left": 0.85, "right": 0.3, "bottom": 0.65, "wspace": 0.65, "hspace": 0.62, "title": 0.3}


def _y_label_lines(metric: str, smooth: int, height_in: float) -> str:
    """The y label, wrapped onto more lines when it is longer than the panels are tall (~11
    characters an inch at the label's size), so a long metric name is never cut off."""
    text = metric + (f" (smoothed over {smooth} points)" if smooth > 1 else "")
    per_line = max(12, int(height_in * 13))
    if len(text) <= per_line:
        return text
    lines, line = [], ""
    for word in text.replace("/", "/ ").split(" "):
        candidate = (line + " " + word).strip() if line and not line.endswith("/") else line + word
        if line and len(candidate) > per_line:
            lines.append(line)
            line = word
        else:
            line = candidate
    return "\n".join([*lines, line])


def _legend_handles(data: FigureData, opts: PlotOptions, colors: dict[str, Color]) -> list[Line2D]:
    present = {ln.label for p in data.panels for ln in p.lines}
    handles = [Line2D([], [], color=c, lw=2, label=lbl) for lbl, c in colors.items() if lbl in present]
    if opts.partial == "dashed" and any(
            ((ln.stats.count > 0) & ~ln.stats.full).any() for p in data.panels for ln in p.lines):
        handles.append(Line2D([], [], color="0.4", lw=1.2, ls=(0, (3, 2)), label="not all seeds"))
    return handles


def draw_figure(data: FigureData, opts: PlotOptions, colors: dict[str, Color]) -> Figure:
    """Draw the panel grid (call inside `matplotlib.rc_context(RC)`).

    A bare `Figure` (no pyplot, no GUI backend): saving picks Agg/PDF/SVG canvases by format, so
    this works headless and never touches the user's pyplot state.
    """
    n = max(len(data.panels), 1)
    ncols = min(opts.ncols or (n if n <= 3 else math.ceil(math.sqrt(n))), n)
    nrows = math.ceil(n / ncols)
    m = dict(MARGINS)
    y_label = _y_label_lines(opts.ylabel or data.y_label, opts.smooth, nrows * AXES_SIZE[1] + (nrows - 1) * m["hspace"])
    m["left"] += 0.17 * (y_label.count("\n"))  # room for a wrapped label
    width = m["left"] + ncols * AXES_SIZE[0] + (ncols - 1) * m["wspace"] + m["right"]
    handles = _legend_handles(data, opts, colors)
    per_entry = 0.6 + 0.07 * max((len(str(h.get_label())) for h in handles), default=1)  # inches at 9 pt
    leg_cols = max(1, min(len(handles), opts.legend_cols or int((width - 0.4) // per_entry)))
    leg_rows = math.ceil(len(handles) / leg_cols) if handles else 0
    head = (0.35 if opts.title else 0.05) + leg_rows * 0.25 + 0.05
    top = head + m["title"]
    height = top + nrows * AXES_SIZE[1] + (nrows - 1) * m["hspace"] + m["bottom"]
    fig = Figure(figsize=(width, height), dpi=opts.dpi)
    fig.subplots_adjust(left=m["left"] / width, right=1 - m["right"] / width, bottom=m["bottom"] / height,
                        top=1 - top / height, wspace=m["wspace"] / AXES_SIZE[0], hspace=m["hspace"] / AXES_SIZE[1])
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    unit, div = data.time_unit if data.x == "time" else ("", 1.0)
    for ax, panel in zip(axes, data.panels, strict=False):
        ax.set_title(panel.env)
        if not panel.lines:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="0.5")
        for line in panel.lines:
            _draw_line(ax, line, colors[line.label], div, opts)
        ax.xaxis.set_major_locator(MaxNLocator(5, steps=[1, 2, 2.5, 5, 10]))
        if data.x != "time":
            ax.xaxis.set_major_formatter(FuncFormatter(si_format))
        ax.yaxis.set_major_formatter(FuncFormatter(_y_format))
    for ax in axes[len(data.panels):]:
        ax.set_visible(False)
    default_x = {"step": "Environment steps", "time": f"Wall-clock time ({unit})"}.get(data.x, data.x)
    fig.supxlabel(opts.xlabel if opts.xlabel and data.x != "time" else default_x,
                  y=0.1 / height, va="bottom")
    fig.supylabel(y_label, x=0.1 / width, ha="left")
    if opts.title:
        fig.suptitle(opts.title, y=1 - 0.08 / height, va="top")
    if handles:
        fig.legend(handles=handles, loc="upper center", frameon=False, ncols=leg_cols,
                   bbox_to_anchor=(0.5, 1 - (head - leg_rows * 0.25 - 0.05) / height), borderaxespad=0)
    return fig


def _draw_line(ax: Axes, line: Line, color: Color, div: float, opts: PlotOptions) -> None:
    st = line.stats
    gx = st.grid / div
    for sx, sy in line.seeds:
        ax.plot(sx / div, sy, color=color, lw=0.7, alpha=0.5, zorder=1)
    band = _band(st, opts.band, opts.partial)
    if band is not None:
        ax.fill_between(gx, band[0], band[1], color=color, alpha=0.18, lw=0, zorder=2)
    solid, dashed = _segments(st, opts.partial)
    ax.plot(gx, solid, color=color, lw=1.6, zorder=3)
    if dashed is not None:
        ax.plot(gx, dashed, color=color, lw=1.2, ls=(0, (3, 2)), zorder=3)
    for y in (solid, dashed):
        if y is not None:
            iso = _isolated(y)
            if iso.any():
                ax.plot(gx[iso], y[iso], "o", color=color, ms=3.5, zorder=4)


def output_paths(base: Path, formats: Sequence[str]) -> list[Path]:
    """`out/mujoco` + (png, pdf) -> out/mujoco.png, out/mujoco.pdf (a format suffix is replaced)."""
    if base.suffix.lstrip(".") in FORMATS:
        base = base.with_suffix("")
    return [Path(f"{base}.{fmt}") for fmt in formats]


def save_figure(fig: Figure, paths: Sequence[Path], dpi: int) -> list[Path]:
    """Write each path with metadata that carries no dates; OSError becomes one InputError line."""
    for path in paths:
        fmt = path.suffix.lstrip(".")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, format=fmt, dpi=dpi, metadata=METADATA[fmt])
        except OSError as exc:
            raise InputError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from exc
    return list(paths)


def plot_curves(curves: Curves, out: Path, opts: PlotOptions,
                colors: dict[str, Color] | None = None) -> list[Path]:
    """Selection curves -> figure files. Returns the paths written."""
    data = compute_panels(curves, opts)
    return render(data, out, opts, colors or experiment_colors(curves.selection.labels))


def render(data: FigureData, out: Path, opts: PlotOptions, colors: dict[str, Color]) -> list[Path]:
    with matplotlib.rc_context(RC):
        fig = draw_figure(data, opts, colors)
        return save_figure(fig, output_paths(out, opts.formats), opts.dpi)


__all__ = [
    "BANDS", "FORMATS", "check_options", "FigureData", "Line", "Panel", "PlotOptions", "compute_panels", "draw_figure",
    "experiment_colors", "output_paths", "plot_curves", "render", "save_figure", "si_format",
]
