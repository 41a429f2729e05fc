"""rliable-style figures for aggregate metrics: interval bars, performance profiles, P(X > Y), curves.

Why a module of its own: these figures show interval estimates (one bar per experiment and
metric, bands around profiles and curves), not learning curves per environment, so their layout
differs from `figures.draw_figure`. Everything else is shared with `openrlb plot`: the colours
(`figures.experiment_colors`, so an experiment has the same colour in every figure), the rc
settings, the SI step labels, and `figures.save_figure`, which writes byte-identical
PNG/PDF/SVG files.

The drawing functions take plain estimates (``bootstrap.Interval``/``Band``,
``improvement.ImprovementMatrix``) and return a bare ``Figure`` (no pyplot); call them inside
``matplotlib.rc_context(figures.RC)``, as ``save`` does. Sizes are fixed in inches from the
number of experiments, metrics and the longest label, so the same input gives the same file.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from openrlb_cli.analysis.bootstrap import Band, Interval
from openrlb_cli.analysis.improvement import ImprovementMatrix
from openrlb_cli.render import figures as fg

Color = str | fg.Color  # a pinned colour as given (name or hex), or RGBA
CHAR_WIDTH = 0.075  # inches per character of a 9 pt label (generous, so labels never clip)
SMALL_CHAR_WIDTH = 0.062  # the same for the 8 pt subtitle
PROFILE_TITLES = {"run": "Run-score distribution", "average": "Average-score distribution"}
PROFILE_YLABELS = {"run": "Fraction of runs with score > τ", "average": "Fraction of tasks with mean score > τ"}


def _text_width(labels: Sequence[str]) -> float:
    return CHAR_WIDTH * max((len(s) for s in labels), default=1)


def _margins(fig: Figure, width: float, height: float, left: float, right: float, top: float,
             bottom: float, wspace: float = 0.0, hspace: float = 0.0, panel: tuple[float, float] = (1, 1)) -> None:
    fig.subplots_adjust(left=left / width, right=1 - right / width, top=1 - top / height, bottom=bottom / height,
                        wspace=wspace / panel[0], hspace=hspace / panel[1])


def _band_patch(text: str):
    from matplotlib.patches import Patch

    return Patch(facecolor="0.5", alpha=0.3, lw=0, label=text)


def _legend(fig: Figure, labels: Sequence[str], colors: Mapping[str, Color], width: float, height: float,
            top: float, extra: Sequence[Line2D] = (), handles: Sequence | None = None) -> None:
    """One legend row block centred above the axes, ``top`` inches below the figure's top edge."""
    handles = list(handles) if handles is not None else (
        [Line2D([], [], color=colors[lbl], lw=2, label=lbl) for lbl in labels] + list(extra))
    if not handles:
        return
    fig.legend(handles=handles, loc="upper center", frameon=False, ncols=_legend_cols(handles, width),
               bbox_to_anchor=(0.5, 1 - top / height), borderaxespad=0)


def _legend_cols(handles: Sequence[Line2D], width: float) -> int:
    per_entry = 0.6 + CHAR_WIDTH * max(len(str(h.get_label())) for h in handles)
    return max(1, min(len(handles), int((width - 0.4) // per_entry)))


def _legend_height(n: int, labels: Sequence[str], width: float) -> float:
    if n == 0:
        return 0.0
    per_entry = 0.6 + _text_width(labels)
    cols = max(1, min(n, int((width - 0.4) // per_entry)))
    return 0.25 * math.ceil(n / cols)


def _wrap(subtitle: str, width: float) -> tuple[str, float]:
    """The subtitle wrapped to the figure width, and the height it takes (inches)."""
    if not subtitle:
        return "", 0.0
    lines = textwrap.wrap(subtitle, max(20, int((width - 0.3) / SMALL_CHAR_WIDTH)))
    return "\n".join(lines), 0.17 * len(lines) + 0.05


def _subtitle(fig: Figure, text: str, height: float) -> None:
    if text:
        fig.suptitle(text, y=1 - 0.06 / height, va="top", fontsize=8, color="0.35", linespacing=1.3)


def _fit(width: float | None, fixed: float, natural: float, least: float, gap: float, n: int) -> tuple[int, float]:
    """(panels per row, panel width) for a figure ``width`` inches wide (None: ``n`` panels of
    ``natural`` width in a row). ``fixed`` is the width of labels and margins, ``gap`` the space between
    panels; panels narrower than ``least`` would not hold their ticks, so the figure wraps to more rows."""
    if width is None:
        return n, natural
    cols = max(1, min(n, int((width - fixed + gap) // (least + gap))))
    return cols, max(least, (width - fixed - (cols - 1) * gap) / cols)


def _xlim(ax, values: Sequence[float]) -> None:
    """Limits that show every bar whole, with some air (bars pin autoscaling to their edges)."""
    finite = [v for v in values if np.isfinite(v)]
    if not finite:
        return
    lo, hi = min(finite), max(finite)
    pad = 0.08 * (hi - lo) if hi > lo else max(0.05 * abs(lo), 0.05)
    ax.set_xlim(lo - pad, hi + pad)


def interval_figure(intervals: Mapping[str, Mapping[str, Interval]], metrics: Sequence[str],
                    colors: Mapping[str, Color], *, xlabel: str, titles: Mapping[str, str],
                    subtitle: str = "", notes: Mapping[str, str] | None = None, dpi: int = 150,
                    width: float | None = None) -> Figure:
    """One panel per metric; per experiment a bar from lower to upper bound and a tick at the point.

    ``notes`` adds text after an experiment's name (e.g. how many tasks it was aggregated over).
    ``width``: the figure's width in inches (a paper's column); None sizes it from its panels.
    """
    labels = list(intervals)
    names = [f"{lbl} {notes[lbl]}" if notes and lbl in notes else lbl for lbl in labels]
    left, right, wspace, hspace = _text_width(names) + 0.3, 0.25, 0.3, 0.75
    ncols, panel_w = _fit(width, left + right, 2.1, 1.0, wspace, min(4, len(metrics)))
    nrows = math.ceil(len(metrics) / ncols)
    panel = (panel_w, 0.34 * len(labels) + 0.25)
    width = left + ncols * panel[0] + (ncols - 1) * wspace + right
    subtitle, sub_h = _wrap(subtitle, width)
    top, bottom = 0.4 + sub_h, 0.62
    height = top + nrows * panel[1] + (nrows - 1) * hspace + bottom
    fig = Figure(figsize=(width, height), dpi=dpi)
    _margins(fig, width, height, left, right, top, bottom, wspace, hspace, panel)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    ys = np.arange(len(labels))[::-1]  # first experiment on top
    for k, (ax, metric) in enumerate(zip(axes, metrics, strict=False)):
        _xlim(ax, [v for lbl in labels for v in (intervals[lbl][metric].lower, intervals[lbl][metric].upper,
                                                   intervals[lbl][metric].point)])
        for y, label in zip(ys, labels, strict=True):
            iv = intervals[label][metric]
            if np.isfinite(iv.lower) and np.isfinite(iv.upper):
                ax.barh(y, iv.upper - iv.lower, left=iv.lower, height=0.6, color=colors[label], alpha=0.75, lw=0)
        points = np.array([intervals[label][metric].point for label in labels])
        shown = np.isfinite(points)
        ax.vlines(points[shown], ys[shown] - 0.3, ys[shown] + 0.3, colors="k", lw=1.4)
        ax.set_title(titles.get(metric, metric))
        ax.set_ylim(-0.6, len(labels) - 0.4)
        ax.set_yticks(ys, names if k % ncols == 0 else [])
        ax.tick_params(axis="y", length=0)
        ax.grid(axis="y", visible=False)
        ax.xaxis.set_major_locator(MaxNLocator(4 if panel[0] >= 1.6 else 3))
        ax.spines["left"].set_visible(False)
    for ax in axes[len(metrics):]:
        ax.set_visible(False)
    fig.supxlabel(xlabel, y=0.08 / height, va="bottom", fontsize=9)
    _subtitle(fig, subtitle, height)
    return fig


def _markers(labels: Sequence[str], slots: Mapping[str, int] | None) -> dict[str, fg.Style]:
    return fg.experiment_styles(list(labels), slots=slots)


def _mark(ax, x: np.ndarray, y: np.ndarray, color: Color, style: fg.Style, slot: int) -> None:
    """The line's marker at a few spread points (greyscale prints tell the lines apart by it)."""
    at = fg._marker_positions(len(x), slot)
    at = at[np.isfinite(np.asarray(y, dtype=float)[at])] if at.size else at
    if at.size:
        ax.plot(np.asarray(x)[at], np.asarray(y)[at], ls="none", marker=style.marker, ms=4, color=color,
                mfc=color if style.filled else "white", mew=0.9, zorder=4)


def _legend_markers(labels: Sequence[str], colors: Mapping[str, Color], styles: Mapping[str, fg.Style]) -> list:
    return [Line2D([], [], color=colors[lbl], lw=1.6, marker=styles[lbl].marker, ms=4.5,
                   mfc=colors[lbl] if styles[lbl].filled else "white", label=lbl) for lbl in labels]


def profile_figure(taus: np.ndarray, profiles: Mapping[str, Mapping[str, Band]], colors: Mapping[str, Color], *,
                   xlabel: str, subtitle: str = "", dpi: int = 150, slots: Mapping[str, int] | None = None,
                   width: float | None = None) -> Figure:
    """Run-score and average-score distributions side by side (stacked when ``width`` inches cannot
    hold both), each line with its pointwise band."""
    labels = list(profiles)
    kinds = [k for k in PROFILE_TITLES if any(k in p for p in profiles.values())]
    left, right, wspace, bottom, hspace = 0.7, 0.3, 0.75, 0.6, 0.85
    ncols, panel_w = _fit(width, left + right, 3.2, 2.2, wspace, len(kinds))
    nrows = math.ceil(len(kinds) / ncols)
    panel = (panel_w, 2.4 if width is None else min(2.4, max(1.8, 0.75 * panel_w)))
    width = left + ncols * panel[0] + (ncols - 1) * wspace + right
    subtitle, sub_h = _wrap(subtitle, width)
    top = 0.1 + sub_h + _legend_height(len(labels), labels, width) + 0.3
    height = top + nrows * panel[1] + (nrows - 1) * hspace + bottom
    fig = Figure(figsize=(width, height), dpi=dpi)
    _margins(fig, width, height, left, right, top, bottom, wspace, hspace, panel)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax in axes[len(kinds):]:
        ax.set_visible(False)
    styles, slot_of = _markers(labels, slots), fg.assign_slots(list(labels), slots)
    for ax, kind in zip(axes, kinds, strict=False):
        for label in labels:
            band = profiles[label][kind]
            ax.fill_between(taus, band.lower, band.upper, color=colors[label], alpha=0.2, lw=0)
            ax.plot(taus, band.point, color=colors[label], lw=1.6)
            _mark(ax, taus, band.point, colors[label], styles[label], slot_of[label])
        ax.set_title(PROFILE_TITLES[kind])
        ax.set_ylabel(PROFILE_YLABELS[kind])
        ax.set_xlabel(xlabel + " (τ)")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlim(float(taus[0]), float(taus[-1]))
        ax.xaxis.set_major_formatter(fg.TickFormat())
    _subtitle(fig, subtitle, height)
    _legend(fig, labels, colors, width, height, 0.05 + sub_h,
            handles=_legend_markers(labels, colors, styles) + [_band_patch("pointwise 95% bootstrap CI")])
    return fig


def improvement_figure(matrix: ImprovementMatrix, colors: Mapping[str, Color], *, order: Sequence[str] | None = None,
                       subtitle: str = "", dpi: int = 150, width: float | None = None) -> Figure:
    """P(X > Y) for every pair, X ranked above Y in ``order``: interval bar, point tick, line at ½."""
    names = list(order or matrix.names)
    index = {n: i for i, n in enumerate(matrix.names)}
    pairs = [(x, y) for a, x in enumerate(names) for y in names[a + 1:]]
    left = _text_width(names) + 0.3
    right = _text_width(names) + 0.3
    panel = (_fit(width, left + right, 3.0, 0.8, 0, 1)[1], 0.26 * max(len(pairs), 1) + 0.2)
    width = left + panel[0] + right
    subtitle, sub_h = _wrap(subtitle, width)
    title = "Probability of improvement: X (left) vs Y (right)"
    if len(title) * 0.075 > width:  # wider than the figure (10 pt at ~0.075 in a character): two lines
        title = "Probability of improvement:\nX (left) vs Y (right)"
    top, bottom = 0.4 + sub_h + 0.17 * title.count("\n"), 0.6
    height = top + panel[1] + bottom
    fig = Figure(figsize=(width, height), dpi=dpi)
    _margins(fig, width, height, left, right, top, bottom)
    ax = fig.subplots()
    ys = np.arange(len(pairs))[::-1]
    points = np.array([matrix.point[index[x], index[y]] for x, y in pairs])
    for y, (x_name, y_name), p in zip(ys, pairs, points, strict=True):
        lo, hi = matrix.lower[index[x_name], index[y_name]], matrix.upper[index[x_name], index[y_name]]
        if np.isfinite(lo) and np.isfinite(hi):  # a zero-width interval still shows as a sliver
            ax.barh(y, max(hi - lo, 0.004), left=lo if hi - lo >= 0.004 else p - 0.002, height=0.6,
                    color=colors[x_name], alpha=0.75, lw=0)
    shown = np.isfinite(points)
    ax.vlines(points[shown], ys[shown] - 0.3, ys[shown] + 0.3, colors="k", lw=1.4)
    if not pairs:
        ax.text(0.5, 0.5, "needs at least two experiments", ha="center", va="center", transform=ax.transAxes,
                color="0.5")
    ax.axvline(0.5, color="0.4", lw=0.8, ls=(0, (3, 2)))
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.6, len(pairs) - 0.4)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1] if panel[0] >= 1.6 else [0, 0.5, 1])
    ax.set_yticks(ys, [x for x, _ in pairs])
    ax.grid(axis="y", visible=False)
    ax.tick_params(axis="y", length=0)
    ax.spines["left"].set_visible(False)
    twin = ax.twinx()
    twin.set_ylim(ax.get_ylim())
    twin.set_yticks(ys, [y for _, y in pairs])
    twin.tick_params(axis="y", length=0)
    twin.grid(False)
    for side in ("top", "right", "left", "bottom"):
        twin.spines[side].set_visible(False)
    ax.set_xlabel("P(X > Y)")
    ax.set_title(title)
    _subtitle(fig, subtitle, height)
    return fig


def efficiency_figure(bands: Mapping[str, Band], colors: Mapping[str, Color], *, ylabel: str, subtitle: str = "",
                      dpi: int = 150, slots: Mapping[str, int] | None = None, xlabel: str = "Steps",
                      x_scale: float = 1.0, width: float | None = None) -> Figure:
    """An aggregate against steps (× ``x_scale``) per experiment, with its pointwise band."""
    labels = list(bands)
    left, right, bottom = 0.8, 0.3, 0.6
    panel_w = _fit(width, left + right, 5.0, 1.6, 0, 1)[1]
    panel = (panel_w, 3.0 if width is None else min(3.0, max(1.8, 0.62 * panel_w)))
    width = left + panel[0] + right
    subtitle, sub_h = _wrap(subtitle, width)
    top = 0.1 + sub_h + _legend_height(len(labels), labels, width) + 0.1
    height = top + panel[1] + bottom
    fig = Figure(figsize=(width, height), dpi=dpi)
    _margins(fig, width, height, left, right, top, bottom)
    ax = fig.subplots()
    styles, slot_of = _markers(labels, slots), fg.assign_slots(list(labels), slots)
    for label in labels:
        band = bands[label]
        x = (band.grid if band.grid is not None else np.arange(band.point.size, dtype=float)) * x_scale
        ax.fill_between(x, band.lower, band.upper, color=colors[label], alpha=0.2, lw=0)
        ax.plot(x, band.point, color=colors[label], lw=1.6)
        _mark(ax, x, band.point, colors[label], styles[label], slot_of[label])
        if x.size == 1:
            ax.plot(x, band.point, "o", color=colors[label], ms=4)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(6, steps=[1, 2, 2.5, 5, 10]))
    ax.xaxis.set_major_formatter(fg.TickFormat())
    ax.yaxis.set_major_formatter(fg.TickFormat())
    if not labels:
        ax.text(0.5, 0.5, "no curves", ha="center", va="center", transform=ax.transAxes, color="0.5")
    _subtitle(fig, subtitle, height)
    _legend(fig, labels, colors, width, height, 0.05 + sub_h,
            handles=_legend_markers(labels, colors, styles) + ([_band_patch("pointwise 95% bootstrap CI")]
                                                               if labels else []))
    return fig


def draw(figure: str, *, colors: Mapping[str, Color] | None, labels: Sequence[str],
         slots: Mapping[str, int] | None = None, **kwargs) -> Figure:
    """The figure named ``figure`` (intervals, profiles, improvement, efficiency) from plain data.

    ``colors=None`` takes `figures.experiment_colors(labels)`, so worker processes drawing different
    figures of one run agree on every experiment's colour.
    """
    fns: dict[str, Callable[..., Figure]] = {
        "intervals": interval_figure, "profiles": profile_figure, "improvement": improvement_figure,
        "efficiency": efficiency_figure}
    if figure in ("profiles", "efficiency"):
        kwargs["slots"] = slots
    return fns[figure](colors=colors or fg.experiment_colors(labels, slots=slots), **kwargs)


def save(draw: Callable[[], Figure], base: Path, formats: Sequence[str], dpi: int = 150) -> list[Path]:
    """Draw under the shared rc settings and write ``base.<format>`` with `figures.save_figure`."""
    with matplotlib.rc_context(fg.RC):
        fig = draw()
        return fg.save_figure(fig, fg.output_paths(base, formats), dpi)


__all__ = ["draw", "efficiency_figure", "improvement_figure", "interval_figure", "profile_figure", "save"]
