"""Open RL Benchmark's sample-efficiency figure layouts: several aggregates side by side.

rlops draws `{out}_sample_efficiency` as a 2x2 grid (median, IQM, mean, optimality gap against
steps, `--rc.sample-efficiency-figsize`) and `{out}_sample_walltime_efficiency` as one aggregate
against steps and against time. openrlb draws the same panels with its own style (shared rc
settings, deterministic files; call inside `rliable_figures.save`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from openrlb_cli.analysis.bootstrap import Band
from openrlb_cli.render import figures as fg

Color = tuple[float, ...]


def efficiency_panels(panels: Sequence[tuple[str, Mapping[str, tuple[np.ndarray, Band]]]],
                      colors: Mapping[str, Color], *, figsize: tuple[float, float], ncols: int = 2,
                      xlabel: str | Sequence[str] = "Steps", dpi: int = 150) -> Figure:
    """One panel per (y label, {experiment: (x, band)}), each line with its pointwise band."""
    nrows = math.ceil(len(panels) / ncols)
    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    labels: list[str] = []
    for k, (ax, (ylabel, lines)) in enumerate(zip(axes, panels, strict=False)):
        for label, (x, band) in lines.items():
            ax.fill_between(x, band.lower, band.upper, color=colors[label], alpha=0.2, lw=0)
            ax.plot(x, band.point, color=colors[label], lw=1.6, label=label)
            if label not in labels:
                labels.append(label)
        ax.set_ylabel(ylabel)
        ax.set_xlabel(xlabel if isinstance(xlabel, str) else xlabel[k])
        ax.xaxis.set_major_locator(MaxNLocator(6, steps=[1, 2, 2.5, 5, 10]))
        if (xlabel if isinstance(xlabel, str) else xlabel[k]) == "Steps":
            ax.xaxis.set_major_formatter(FuncFormatter(fg.si_format))
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    handles = [axes[0].lines[i] for i in range(len(axes[0].lines))]
    if handles:
        fig.legend(handles=handles, labels=labels, loc="outside upper center", ncols=min(len(labels), 4),
                   frameon=False)
    return fig


__all__ = ["efficiency_panels"]
