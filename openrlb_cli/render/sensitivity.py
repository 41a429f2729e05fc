"""Sensitivity figure: final score against one config key, one panel per environment.

Why: a sweep's question is "how much does the score depend on this hyperparameter"; papers answer
with the final score against the value, one line per algorithm, with the spread over seeds. Each
run's score is `table`'s (`analysis.curves.final_score`: mean of the last N points or of the last
fraction of its steps); a point is the mean over seeds with a ± std bar (`score_stats`), and every
seed's own score is drawn as a small dot. Numeric values sit on a numeric axis (logarithmic when all
are positive and span at least a factor 100, as learning rates do); other values are categories in
text order. Runs without the key are left out with a warning that counts them.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from openrlb_cli.analysis import curves as cv
from openrlb_cli.errors import SelectionError
from openrlb_cli.render import figures as fg
from openrlb_cli.selection import Curves


@dataclass
class Point:
    value: object  # the config value (number or text)
    stats: cv.ScoreStats
    scores: list[float]


@dataclass
class SensitivityData:
    key: str
    metric: str
    numeric: bool
    envs: list[str]
    lines: dict[tuple[str, str], list[Point]]  # (env, label) -> points in value order
    labels: list[str]
    warnings: list[str] = field(default_factory=list)

    @property
    def log_x(self) -> bool:
        vals = [float(p.value) for pts in self.lines.values() for p in pts]  # type: ignore[arg-type]
        return self.numeric and bool(vals) and min(vals) > 0 and max(vals) / min(vals) >= 100


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))


def compute(curves: Curves, key: str, *, last_n: int | None = 100, last_frac: float | None = None) -> SensitivityData:
    from openrlb_cli.store.filters import config_text

    key = key.removeprefix("config.").strip()
    sel = curves.selection
    missing = 0
    raw: dict[tuple[str, str], dict[str, tuple[object, list[float]]]] = {}
    for env in sel.env_ids:
        for label in sel.labels:
            for rc in curves.get(label, env):
                if key not in rc.run.config:
                    missing += 1
                    continue
                value = rc.run.config[key]
                score = cv.final_score(rc.steps, rc.values, last_n=last_n, last_frac=last_frac)
                cell = raw.setdefault((env, label), {})
                cell.setdefault(config_text(value), (value, []))[1].append(score)
    if not raw:
        keys = sorted({k for rcs in curves.by_cell.values() for rc in rcs for k in rc.run.config})
        shown = ", ".join(keys[:10]) + (", ..." if len(keys) > 10 else "")
        raise SelectionError(f"no selected run has the config key {key!r} (config keys there: {shown or 'none'})")
    numeric = all(_is_number(v) for cell in raw.values() for v, _ in cell.values())
    lines = {}
    for cell_key, cell in raw.items():
        items = list(cell.values())
        items.sort(key=(lambda it: float(it[0])) if numeric else (lambda it: str(it[0])))
        lines[cell_key] = [Point(v, cv.score_stats(s), s) for v, s in items]
    warnings = list(curves.warnings)
    if missing:
        warnings.append(f"{missing} run(s) without config key {key!r} left out of the sensitivity figure")
    return SensitivityData(key, sel.metric_label, numeric, list(sel.env_ids), lines, sel.labels, warnings)


def to_csv(data: SensitivityData) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["env", "experiment", data.key, "n_seeds", "mean", "std", "scores"])
    for (env, label), pts in data.lines.items():
        for p in pts:
            w.writerow([env, label, p.value, p.stats.n, repr(p.stats.mean), repr(p.stats.std),
                        " ".join(repr(s) for s in p.scores)])
    return buf.getvalue()


def draw(data: SensitivityData, colors: dict[str, fg.Color], ncols: int | None = None,
         title: str | None = None) -> Figure:
    n = max(len(data.envs), 1)
    ncols = min(ncols or (n if n <= 3 else math.ceil(math.sqrt(n))), n)
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(0.9 + 3.0 * ncols, 1.0 + 2.4 * nrows + (0.3 if title else 0)), dpi=150)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    categories = sorted({str(p.value) for pts in data.lines.values() for p in pts})
    shown: dict[str, ErrorbarContainer] = {}
    for ax, env in zip(axes, data.envs, strict=False):
        ax.set_title(env)
        labels = [lbl for lbl in data.labels if (env, lbl) in data.lines]
        for k, label in enumerate(labels):
            pts = data.lines[(env, label)]
            if data.numeric:
                xs = np.array([float(p.value) for p in pts])  # type: ignore[arg-type]
            else:
                off = (k - (len(labels) - 1) / 2) * 0.08  # side by side within a category
                xs = np.array([categories.index(str(p.value)) + off for p in pts])
            means = np.array([p.stats.mean for p in pts])
            stds = np.array([p.stats.std if p.stats.n > 1 else 0.0 for p in pts])
            c = colors[label]
            for x, p in zip(xs, pts, strict=True):
                ax.plot([x] * len(p.scores), p.scores, ".", color=c, alpha=0.35, ms=4, zorder=2)
            shown[label] = ax.errorbar(xs, means, yerr=stds, color=c, marker="o", ms=4, lw=1.4, capsize=3,
                                       zorder=3, label=label)
        if data.log_x:
            ax.set_xscale("log")
        elif data.numeric:
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
        else:
            ax.set_xticks(range(len(categories)), categories, rotation=30 if len(categories) > 4 else 0)
        ax.yaxis.set_major_formatter(fg.TickFormat())  # one format per axis, as `plot`
    for ax in axes[len(data.envs):]:
        ax.set_visible(False)
    fig.supxlabel(data.key)
    fig.supylabel(f"final {data.metric}")
    fig.text(0.005, 0.005, "mean ± std over seeds; dots: each seed's score", fontsize=7, color="0.35")
    if title:
        fig.suptitle(title)
    if shown:
        # matplotlib's stubs type legend handles as Artists; legend takes errorbar containers too
        fig.legend(list(shown.values()), list(shown), loc="upper center",  # type: ignore[call-overload]
                   ncols=min(len(shown), 4), frameon=False)
    top = 1 - (0.55 + 0.25 * math.ceil(len(shown) / 4) + (0.3 if title else 0)) / fig.get_figheight()
    fig.subplots_adjust(left=0.9 / fig.get_figwidth() + 0.02, right=0.97, bottom=0.75 / fig.get_figheight(),
                        top=top, wspace=0.35, hspace=0.55)
    return fig


def write(data: SensitivityData, out: Path, formats: list[str], colors: dict[str, fg.Color] | None = None,
          ncols: int | None = None, title: str | None = None) -> list[Path]:
    """Figure files plus `<out>.csv` with every number drawn."""
    from openrlb_cli.render.tables import write_text

    colors = colors or fg.experiment_colors(data.labels)
    with matplotlib.rc_context(fg.RC):
        fig = draw(data, colors, ncols, title)
        paths = fg.save_figure(fig, fg.output_paths(out, formats), 150)
    base = out.with_suffix("") if out.suffix.lstrip(".") in fg.FORMATS else out
    paths.append(write_text(Path(f"{base}.csv"), to_csv(data)))
    return paths


__all__ = ["Point", "SensitivityData", "compute", "draw", "to_csv", "write"]
