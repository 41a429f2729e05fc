"""Comparison figures: one panel per environment, one line per experiment, deterministic files.

Why separate data and drawing: `compute_panels` is the whole data path (pure numpy via
`analysis.curves`) and `draw_figure`/`save_figure` are only matplotlib, so the benchmark can say
where time goes and tests can check numbers without pixels.

Conventions:
* A line is the mean over seeds on a common grid; each seed is interpolated only inside its own
  step range. Where fewer than all of the line's seeds cover the grid (ragged runs), the line is
  drawn dashed (`partial="dashed"`, the default), left out (`"hide"`) or drawn solid (`"solid"`).
  Isolated points (e.g. a run with a single logged point) are drawn as markers.
* Bands: `std` = mean ± sample std, `ci` = 95% bootstrap CI over seeds, `minmax`, or `none`; the
  legend says which, and a caption line under the panels states the smoothing and what the line is.
* Styles (`experiment_styles`): the Okabe–Ito colour-blind-safe palette, and a marker per line so
  that 8+ lines stay apart in greyscale. The CLI keeps each label's slot in a style book beside the
  store (`update_style_book`), so a label keeps its colour and marker in every figure and selection
  (a hash of the name would give two of eight lines the same colour a third of the time);
  `PlotOptions.colors` pins colours per label.
* Ticks (`TickFormat`): one format per axis — a common k/M/B suffix from the largest tick and the
  fewest decimals that keep every label exact — never `14k` next to `8000`.
* The x label names what the steps count (`step_axis_label`: environment steps, iterations,
  frames, from how the runs were read), `--xlabel` overrides it, `x_scale` multiplies steps (e.g.
  frames per iteration). `width` fixes the figure width in inches (or `one` / `two` columns of a
  paper) so that fonts print at their point size.
* Output is byte-identical for the same input: Agg backend, fixed DPI and rc settings, no dates
  in PNG/PDF/SVG metadata and a fixed `svg.hashsalt`.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import Formatter, MaxNLocator

from openrlb_cli.analysis import curves as cv
from openrlb_cli.errors import InputError, SelectionError
from openrlb_cli.render.styles import (  # noqa: F401  (re-exported)
    MARKERS,
    PALETTE,
    STYLE_SLOTS,
    assign_slots,
    check_pinned,
    load_style_book,
    short_metric_label,
    step_axis_label,
    style_book_path,
    update_style_book,
)
from openrlb_cli.selection import Curves

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

FORMATS = ("png", "pdf", "svg")
BANDS = ("std", "ci", "minmax", "none")
BAND_TEXT = {"std": "± 1 std over seeds", "ci": "95% bootstrap CI over seeds", "minmax": "min–max over seeds",
             "none": ""}
PARTIAL = ("dashed", "hide", "solid")
SMOOTH_KINDS = ("ma", "ema")
#: Paper widths in inches: one column of a two-column paper (ICML, NeurIPS workshop, IEEE ~3.25-3.5) and
#: the full text width of a two-column paper.
WIDTHS = {"one": 3.25, "two": 6.75}
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
    smooth: float = 0  # ma: centred moving average over this many logged points (0/1 = off); ema: the weight
    smooth_kind: str = "ma"  # ma | ema (TensorBoard's debiased exponential moving average)
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
    xlabel: str | None = None  # default: what the steps count (step_axis_label) / "Wall-clock time (unit)"
    ylabel: str | None = None  # default: a short name of the metric (short_metric_label)
    time_unit: str | None = None  # s | min | h; default: chosen from the data
    legend_cols: int | None = None  # default: as many as fit on one row
    x_scale: float = 1.0  # steps are multiplied by this (e.g. frames per iteration)
    width: float | None = None  # figure width in inches (WIDTHS: one / two columns); None: from the panels
    colors: Mapping[str, str] = field(default_factory=dict)  # label -> colour, pinned
    slots: Mapping[str, int] = field(default_factory=dict)  # label -> style slot (the store's style book)
    caption: bool = True  # a caption line under the panels (line, band, smoothing)


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
    x_label: str | None = None  # what the steps count; None: "Steps"


Color = tuple[float, float, float, float]  # RGBA in [0, 1], plain floats


def _rgba(color: str) -> Color:
    r, g, b, a = matplotlib.colors.to_rgba(color)
    return float(r), float(g), float(b), float(a)


@dataclass(frozen=True)
class Style:
    color: Color
    marker: str
    filled: bool = True


def style_of(slot: int) -> Style:
    n = len(PALETTE)
    cycle = slot // n
    color = _rgba(PALETTE[slot % n])
    return Style(color, MARKERS[(slot + 3 * cycle) % n], cycle % 2 == 0)


def experiment_styles(labels: Sequence[str], colors: Mapping[str, str] | None = None,
                      slots: Mapping[str, int] | None = None) -> dict[str, Style]:
    """Colour and marker per label (see `assign_slots`); ``colors`` pins the colour of some labels."""
    styles = {label: style_of(slot) for label, slot in assign_slots(labels, slots).items()}
    for label, color in (colors or {}).items():
        if label in styles:
            styles[label] = Style(_rgba(color), styles[label].marker,
                                  styles[label].filled)
    return {label: styles[label] for label in labels}


def experiment_colors(labels: Sequence[str], colors: Mapping[str, str] | None = None,
                      slots: Mapping[str, int] | None = None) -> dict[str, Color]:
    """The colour of each label (with the store's style book ``slots``: the same in every figure)."""
    return {label: st.color for label, st in experiment_styles(labels, colors, slots).items()}


def check_colors(colors: Mapping[str, str], labels: Sequence[str]) -> None:
    """Pinned colours must name lines of the figure and be colours matplotlib knows."""
    try:
        check_pinned(colors, labels)
    except ValueError as exc:
        raise InputError(f"pinned colours: {exc}", option="colors") from exc


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
    if opts.x == "step":
        data.x_label = step_axis_label([curves.step_axes[r.run.id] for rs in curves.by_cell.values() for r in rs
                                        if r.run.id in curves.step_axes]) if curves.step_axes else "Steps"
    elif opts.x != "time":
        data.x_label = opts.x
    no_walls = []
    for env in sel.env_ids:
        lines = []
        for exp in sel.experiments:
            xs, ys = [], []
            for rc in curves.get(exp.label, env):
                x = cv.elapsed(rc.walls) if opts.x == "time" else rc.steps * opts.x_scale
                x, y, _ = cv.clean(x, rc.values)
                if x.size == 0:
                    no_walls.append(rc.run.uid)
                    continue
                xs.append(x)
                ys.append(cv.smooth_values(y, opts.smooth, opts.smooth_kind))
            if not xs:
                continue
            grid = cv.common_grid(xs, opts.grid_points)
            matrix = cv.interpolate(xs, ys, grid)
            stats = cv.seed_stats(matrix, grid, ci=opts.band == "ci", n_boot=opts.n_boot, seed=opts.seed)
            lines.append(Line(exp.label, stats, list(zip(xs, ys, strict=True)) if opts.individual else []))
        data.panels.append(Panel(env, lines))
    if opts.x == "time":
        if not any(p.lines for p in data.panels):
            raise SelectionError("no wall-clock times in the selected runs; use steps as the x axis", option="x")
        if no_walls:
            data.warnings.append(f"{len(no_walls)} run(s) without wall-clock times left out of the time axis")
        top = max(float(np.nanmax(ln.stats.grid)) for p in data.panels for ln in p.lines)
        data.time_unit = TIME_UNITS[opts.time_unit] if opts.time_unit else _time_unit(top)
    return data


def check_options(opts: PlotOptions) -> None:
    """Bad option values -> one InputError line (called before any data is loaded)."""
    if not opts.x or not opts.x.strip():
        raise InputError("x must be step, time, or the key of a series of the runs (e.g. global_step)", option="x")
    if opts.band not in BANDS:
        raise InputError(f"band must be one of {', '.join(BANDS)}, got {opts.band!r}", option="band")
    if opts.partial not in PARTIAL:
        raise InputError(f"partial must be one of {', '.join(PARTIAL)}, got {opts.partial!r}", option="partial")
    bad = [f for f in opts.formats if f not in FORMATS]
    if bad or not opts.formats:
        raise InputError(f"figure formats must be among {', '.join(FORMATS)}, got {', '.join(bad) or 'none'}",
                         option="formats")
    if opts.time_unit is not None and opts.time_unit not in TIME_UNITS:
        raise InputError(f"time_unit must be one of s, min (or m), h; got {opts.time_unit!r}", option="time_unit")
    if opts.legend_cols is not None and opts.legend_cols < 1:
        raise InputError("legend_cols must be >= 1", option="legend_cols")
    if opts.smooth_kind not in SMOOTH_KINDS:
        raise InputError(f"smooth_kind must be one of {', '.join(SMOOTH_KINDS)}, got {opts.smooth_kind!r}",
                         option="smooth_kind")
    if opts.smooth_kind == "ema" and not 0 <= opts.smooth < 1:
        raise InputError(f"smooth with the ema smoothing kind is the EMA weight in [0, 1) (TensorBoard's slider), "
                         f"got {opts.smooth:g}", option=("smooth", "smooth_kind"))
    if opts.smooth_kind == "ma" and opts.smooth != int(opts.smooth):
        raise InputError(f"smooth is a whole number of points for the moving average, got {opts.smooth:g} "
                         "(for an exponential moving average the smoothing kind is ema)",
                         option=("smooth", "smooth_kind"))
    if opts.smooth < 0 or opts.grid_points < 2 or (opts.ncols is not None and opts.ncols < 1):
        raise InputError("smooth must be >= 0, grid_points >= 2 and ncols >= 1",
                         option=("smooth", "grid_points", "ncols"))
    if not (math.isfinite(opts.x_scale) and opts.x_scale > 0):
        raise InputError(f"x_scale must be > 0, got {opts.x_scale:g}", option="x_scale")
    if opts.width is not None and not 1.5 <= opts.width <= 40:
        raise InputError(f"width must be between 1.5 and 40 inches (or one, two), got {opts.width:g}", option="width")


def si_format(x: float, _pos: object = None) -> str:
    """1500000 -> '1.5M', 500000 -> '500k', 12 -> '12'."""
    ax = abs(x)
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if ax >= div:
            return f"{x / div:.3g}{suffix}"
    return f"{x:.3g}"


class TickFormat(Formatter):
    """One format for all tick labels of an axis: a common suffix (k from 10,000, M, B) picked from
    the largest tick, and the fewest decimals (up to 6) that write every tick exactly — so an axis
    reads ``0, 5k, 10k, 15k`` or ``6000, 8000`` but never ``14k`` beside ``8000``."""

    def format_ticks(self, values: Sequence[float]) -> list[str]:
        vals = [float(v) for v in values]
        finite = [abs(v) for v in vals if math.isfinite(v)]
        top = max(finite, default=0.0)
        div, suffix = 1.0, ""
        for d, sfx in ((1e9, "B"), (1e6, "M"), (1e4, "k")):
            if top >= d:
                div, suffix = (1e3 if sfx == "k" else d), sfx
                break
        scaled = [v / div for v in vals]
        for places in range(7):
            if all(not math.isfinite(v) or abs(round(v, places) - v) <= 1e-9 * max(1.0, abs(v)) for v in scaled):
                break
        out = []
        for v in scaled:
            text = f"{v:.{places}f}"
            if text.lstrip("-").strip("0.") == "":
                text = "0"  # no '-0' and no '0k'
            else:
                text += suffix
            out.append(text)
        return out

    def __call__(self, x: float, pos: object = None) -> str:
        return self.format_ticks([x])[0]


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


def smoothing_text(opts: PlotOptions) -> str:
    """What the smoothing did, for captions ('' when none)."""
    if opts.smooth_kind == "ema":
        return f"EMA of each run, weight {opts.smooth:g} (TensorBoard's)" if opts.smooth > 0 else ""
    return f"moving average of each run over {int(opts.smooth)} points" if opts.smooth > 1 else ""


def _any_partial(data: FigureData) -> bool:
    return any(((ln.stats.count > 0) & ~ln.stats.full).any() for p in data.panels for ln in p.lines)


BAND_CAPTION = {"std": "± 1 std", "ci": "95% bootstrap CI", "minmax": "min–max", "none": ""}


def caption_text(data: FigureData, opts: PlotOptions) -> str:
    """The caption: what a line is, what the band is, the smoothing and the metric key."""
    band = BAND_CAPTION[opts.band]
    parts = [f"Mean over seeds of {data.y_label}" + (f"; band: {band}" if band else "")]
    smooth = smoothing_text(opts)
    parts.append(smooth if smooth else "unsmoothed")
    if opts.partial == "dashed" and _any_partial(data):
        parts.append("dashed: not every seed reaches")
    if opts.x_scale != 1:
        parts.append(f"steps × {opts.x_scale:g}")
    return "; ".join(parts) + "."


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


def _legend_handles(data: FigureData, opts: PlotOptions, colors: dict[str, Color],
                    styles: Mapping[str, Style]) -> list:
    present = {ln.label for p in data.panels for ln in p.lines}
    handles: list = []
    for lbl, c in colors.items():
        if lbl in present:
            st = styles[lbl]
            handles.append(Line2D([], [], color=c, lw=1.6, marker=st.marker, ms=4.5,
                                  mfc=c if st.filled else "white", label=lbl))
    if BAND_TEXT[opts.band] and present:
        handles.append(Patch(facecolor="0.5", alpha=0.3, lw=0, label=BAND_TEXT[opts.band]))
    if opts.partial == "dashed" and _any_partial(data):
        handles.append(Line2D([], [], color="0.4", lw=1.2, ls=(0, (3, 2)), label="not all seeds"))
    return handles


def legend_columns(labels: Sequence[str], available: float) -> int:
    """The most legend columns whose entries fit in ``available`` inches: an entry is ~0.55 in of
    handle and padding plus ~0.065 in per character at 9 pt, and entries are split over columns as
    matplotlib splits them (the first ``n % ncols`` columns take one entry more)."""
    widths = [0.55 + 0.065 * len(lbl) for lbl in labels]
    for cols in range(len(widths), 1, -1):
        rows, large = divmod(len(widths), cols)
        counts = [rows + 1] * large + [rows] * (cols - large)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int)
        if sum(max(widths[a:a + c], default=0.0) for a, c in zip(starts, counts, strict=True)) <= available:
            return cols
    return 1


def draw_figure(data: FigureData, opts: PlotOptions, colors: dict[str, Color]) -> Figure:
    """Draw the panel grid (call inside `matplotlib.rc_context(RC)`).

    A bare `Figure` (no pyplot, no GUI backend): saving picks Agg/PDF/SVG canvases by format, so
    this works headless and never touches the user's pyplot state. With ``opts.width`` the panels
    shrink or grow to fill that width (fonts keep their point size); otherwise each panel is
    `AXES_SIZE`.
    """
    n = max(len(data.panels), 1)
    ncols = min(opts.ncols or (n if n <= 3 else math.ceil(math.sqrt(n))), n)
    nrows = math.ceil(n / ncols)
    m = dict(MARGINS)
    axes_w, axes_h = AXES_SIZE
    if opts.width is not None:
        m["left"], m["wspace"], m["right"] = 0.8, 0.5, 0.12
        axes_w = max(0.6, (opts.width - m["left"] - m["right"] - (ncols - 1) * m["wspace"]) / ncols)
        axes_h = max(0.8, 0.72 * axes_w)
    y_label = _y_label_lines(opts.ylabel or short_metric_label(data.y_label), 0,
                             nrows * axes_h + (nrows - 1) * m["hspace"])
    m["left"] += 0.17 * (y_label.count("\n"))  # room for a wrapped label
    width = m["left"] + ncols * axes_w + (ncols - 1) * m["wspace"] + m["right"]
    styles = experiment_styles(list(colors), slots=opts.slots)
    slots = assign_slots(list(colors), opts.slots)
    handles = _legend_handles(data, opts, colors, styles)
    leg_cols = max(1, min(len(handles), opts.legend_cols or legend_columns([h.get_label() for h in handles],
                                                                           width - 0.2)))
    leg_rows = math.ceil(len(handles) / leg_cols) if handles else 0
    caption = ""
    if opts.caption:
        caption = "\n".join(textwrap.wrap(caption_text(data, opts), max(30, int((width - 0.2) / 0.062))))
    cap_h = 0.14 * (caption.count("\n") + 1) + 0.05 if caption else 0.0
    head = (0.35 if opts.title else 0.05) + leg_rows * 0.25 + 0.05
    top = head + m["title"]
    bottom = m["bottom"] + cap_h
    height = top + nrows * axes_h + (nrows - 1) * m["hspace"] + bottom
    fig = Figure(figsize=(width, height), dpi=opts.dpi)
    fig.subplots_adjust(left=m["left"] / width, right=1 - m["right"] / width, bottom=bottom / height,
                        top=1 - top / height, wspace=m["wspace"] / axes_w, hspace=m["hspace"] / axes_h)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    unit, div = data.time_unit if data.x == "time" else ("", 1.0)
    for ax, panel in zip(axes, data.panels, strict=False):
        ax.set_title(panel.env)
        if not panel.lines:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="0.5")
        for line in panel.lines:
            _draw_line(ax, line, colors[line.label], styles[line.label], slots[line.label], div, opts)
        ax.xaxis.set_major_locator(MaxNLocator(4 if axes_w < 1.6 else 5, steps=[1, 2, 2.5, 5, 10]))
        ax.xaxis.set_major_formatter(TickFormat())
        ax.yaxis.set_major_formatter(TickFormat())
    for ax in axes[len(data.panels):]:
        ax.set_visible(False)
    default_x = f"Wall-clock time ({unit})" if data.x == "time" else (data.x_label or "Steps")
    fig.supxlabel(opts.xlabel if opts.xlabel and data.x != "time" else default_x,
                  y=(0.1 + cap_h) / height, va="bottom")
    fig.supylabel(y_label, x=0.1 / width, ha="left")
    if caption:
        fig.text(0.5, 0.04 / height, caption, ha="center", va="bottom", fontsize=7, color="0.3", linespacing=1.25)
    if opts.title:
        fig.suptitle(opts.title, y=1 - 0.08 / height, va="top")
    if handles:
        fig.legend(handles=handles, loc="upper center", frameon=False, ncols=leg_cols,
                   bbox_to_anchor=(0.5, 1 - (head - leg_rows * 0.25 - 0.05) / height), borderaxespad=0)
    return fig


def _marker_positions(n: int, slot: int, count: int = 6) -> np.ndarray:
    """About ``count`` evenly spread indices into a line of n points, offset by the line's slot so that
    the markers of different lines do not sit on top of each other."""
    if n <= count:
        return np.arange(n)
    spacing = n / count
    offset = (slot % len(PALETTE) + 0.5) / len(PALETTE) * spacing
    return np.unique(np.clip((offset + spacing * np.arange(count)).astype(int), 0, n - 1))


def _draw_line(ax: Axes, line: Line, color: Color, style: Style, slot: int, div: float,
               opts: PlotOptions) -> None:
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
    shown = np.where(np.isfinite(solid), solid, dashed if dashed is not None else np.nan)
    at = _marker_positions(gx.size, slot)
    at = at[np.isfinite(shown[at])] if at.size else at
    if at.size:
        ax.plot(gx[at], shown[at], ls="none", marker=style.marker, ms=4, color=color,
                mfc=color if style.filled else "white", mew=0.9, zorder=4)
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
    return render(data, out, opts, colors or experiment_colors(curves.selection.labels, opts.colors, opts.slots))


def render(data: FigureData, out: Path, opts: PlotOptions, colors: dict[str, Color]) -> list[Path]:
    with matplotlib.rc_context(RC):
        fig = draw_figure(data, opts, colors)
        return save_figure(fig, output_paths(out, opts.formats), opts.dpi)


__all__ = [
    "BANDS", "FORMATS", "MARKERS", "PALETTE", "WIDTHS", "FigureData", "Line", "Panel", "PlotOptions", "Style",
    "TickFormat", "assign_slots", "caption_text", "check_colors", "check_options", "compute_panels", "draw_figure",
    "experiment_colors", "experiment_styles", "load_style_book", "output_paths", "plot_curves", "render",
    "save_figure", "short_metric_label", "si_format", "step_axis_label", "style_book_path", "update_style_book",
]
