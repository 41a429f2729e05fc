"""Everything `openrlb aggregate` writes or shows, from one `AggregateResult`.

Why one module: the JSON/CSV files, the terminal table, the report's Markdown and the figures must
show the same numbers, so they all read the same result; figures are drawn by
`render.rliable_figures` and saved with the shared `render.figures.save_figure`.

Files under ``-o PREFIX`` (``PREFIX_<name>``; an existing directory gets ``dir/<name>``):
``aggregates.json``/``.csv`` (one record per experiment × metric), ``improvement.json``/``.csv``
(P(X > Y) for every ordered pair), ``profiles.json``/``.csv``, ``efficiency.json``/``.csv``,
``scores.csv`` (every run's raw and normalized score) and the figures ``intervals``, ``profiles``,
``improvement``, ``efficiency`` in each requested format. JSON is strict (NaN becomes null) and
deterministic: the same command and seed give identical bytes.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from openrlb_cli.aggregate.compute import (
    AggregateOptions,
    AggregateResult,
    compute,
    lower_is_better,
    metric_title,
)
from openrlb_cli.analysis import bootstrap as bs
from openrlb_cli.analysis import scores as sc
from openrlb_cli.errors import InputError

if TYPE_CHECKING:
    from openrlb_cli.render.figure_pool import FigurePool


def _num(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def normalization_text(result: AggregateResult) -> str:
    method = sc.resolve_normalization(result.options.normalize)[0]
    return {"maxmin": "max-min normalized per task over the selection",
            "atari": "human-normalized (Atari random and human scores)",
            "none": "not normalized"}.get(method, f"normalized with reference scores from {result.normalization}")


def records(result: AggregateResult) -> list[dict[str, object]]:
    """One record per experiment × metric (the rows of ``_aggregates.csv``)."""
    out: list[dict[str, object]] = []
    for label in result.labels:
        m = result.normalized[label]
        for metric, iv in result.intervals[label].items():
            out.append({"experiment": label, "metric": metric, "point": _num(iv.point), "lower": _num(iv.lower),
                        "upper": _num(iv.upper), "reps": iv.reps, "ci": iv.ci, "method": iv.method,
                        "seed": result.options.seed, "normalization": result.normalization,
                        "n_runs": m.n_runs, "n_tasks": m.n_tasks})
    return out


def document(result: AggregateResult) -> dict[str, object]:
    """``_aggregates.json``: the records with everything needed to reproduce them."""
    return {
        "metric": result.metric, "score": result.score_how, "normalization": result.normalization,
        "references": {env: [_num(lo), _num(hi)] for env, (lo, hi) in result.references.items()},
        "experiments": result.labels, "envs": result.env_ids,
        "runs_per_task": {lbl: {e: int(c) for e, c in zip(m.env_ids, m.counts, strict=True)}
                          for lbl, m in result.normalized.items()},
        "auc_range": None if result.auc_grid is None else [float(result.auc_grid[0]), float(result.auc_grid[-1])],
        "options": result.options.recorded(), "records": records(result), "warnings": result.warnings,
    }


def improvement_records(result: AggregateResult) -> list[dict[str, object]]:
    mat, out = result.improvement, list[dict[str, object]]()
    for i, x in enumerate(mat.names):
        for j, y in enumerate(mat.names):
            if i != j:
                out.append({"x": x, "y": y, "point": _num(mat.point[i, j]), "lower": _num(mat.lower[i, j]),
                            "upper": _num(mat.upper[i, j]), "n_tasks": int(result.pair_tasks[i, j]),
                            "reps": mat.reps, "ci": mat.ci, "method": mat.method, "seed": result.options.seed})
    return out


def _matrix(a: np.ndarray) -> list[list[float | None]]:
    return [[_num(v) for v in row] for row in a]


def _band_doc(band: bs.Band) -> dict[str, list[float | None]]:
    return {"point": [_num(v) for v in band.point], "lower": [_num(v) for v in band.lower],
            "upper": [_num(v) for v in band.upper]}


def _steps(band: bs.Band) -> np.ndarray:
    """A sample-efficiency band's steps (`_efficiency` always passes them, so the grid is set)."""
    assert band.grid is not None
    return band.grid


def _csv(rows: Sequence[dict[str, object]], fields: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(fields)
    for row in rows:
        writer.writerow(["" if row[f] is None else repr(row[f]) if isinstance(row[f], float) else row[f]
                         for f in fields])
    return buf.getvalue()


def _json(doc: object) -> str:
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"


def data_files(result: AggregateResult) -> dict[str, str]:
    """File name suffix -> text of every data file ``write_outputs`` writes."""
    o = result.options
    mat = result.improvement
    files = {
        "aggregates.json": _json(document(result)),
        "aggregates.csv": _csv(records(result), list(records(result)[0])),
        "improvement.json": _json({"experiments": list(mat.names), "point": _matrix(mat.point),
                                   "lower": _matrix(mat.lower), "upper": _matrix(mat.upper),
                                   "n_tasks": result.pair_tasks.tolist(), "reps": mat.reps, "ci": mat.ci,
                                   "method": mat.method, "seed": o.seed, "pairs": improvement_records(result)}),
        "improvement.csv": _csv(improvement_records(result),
                                ["x", "y", "point", "lower", "upper", "n_tasks", "reps", "ci", "method", "seed"]),
        "profiles.json": _json({"taus": [float(t) for t in result.taus], "reps": o.profile_reps, "ci": o.ci,
                                "method": "percentile", "seed": o.seed,
                                "profiles": {lbl: {k: _band_doc(b) for k, b in p.items()}
                                             for lbl, p in result.profiles.items()}}),
        "profiles.csv": _csv([{"experiment": lbl, "kind": kind, "tau": float(t), "point": _num(b.point[k]),
                               "lower": _num(b.lower[k]), "upper": _num(b.upper[k])}
                              for lbl, p in result.profiles.items() for kind, b in p.items()
                              for k, t in enumerate(result.taus)],
                             ["experiment", "kind", "tau", "point", "lower", "upper"]),
        "scores.csv": _csv([{"experiment": lbl, "env": env, "run": uid, "score": _num(result.raw[lbl].values[r, t]),
                             "normalized": _num(result.normalized[lbl].values[r, t])}
                            for lbl in result.labels for t, env in enumerate(result.env_ids)
                            for r, uid in enumerate(result.run_uids.get((lbl, env), []))],
                           ["experiment", "env", "run", "score", "normalized"]),
    }
    if result.efficiency:
        files["efficiency.json"] = _json({
            "aggregate": o.curve_aggregate, "points": o.curve_points, "reps": o.curve_reps, "ci": o.ci,
            "method": "percentile", "seed": o.seed,
            "curves": {lbl: {"steps": [float(s) for s in _steps(b)], **_band_doc(b)}
                       for lbl, b in result.efficiency.items()}})
        files["efficiency.csv"] = _csv(
            [{"experiment": lbl, "aggregate": o.curve_aggregate, "step": float(s), "point": _num(b.point[k]),
              "lower": _num(b.lower[k]), "upper": _num(b.upper[k])}
             for lbl, b in result.efficiency.items() for k, s in enumerate(_steps(b))],
            ["experiment", "aggregate", "step", "point", "lower", "upper"])
    return files


def output_namer(prefix: Path) -> Callable[[str], Path]:
    """``out/mujoco`` -> ``out/mujoco_<name>``; an existing directory (or a trailing /) -> ``dir/<name>``."""
    if prefix.is_dir() or str(prefix).endswith(("/", os.sep)):
        return lambda name: prefix / name
    return lambda name: prefix.with_name(f"{prefix.name}_{name}")


def score_axis_label(result: AggregateResult) -> str:
    method = sc.resolve_normalization(result.options.normalize)[0]
    return {"atari": "Human-normalized score", "none": "Score"}.get(method, "Normalized score")


def subtitle(result: AggregateResult) -> str:
    o = result.options
    return (f"{normalization_text(result)}; run score: {result.score_how}; {o.ci:.0%} CI, "
            f"{bootstrap_text(o)}, seed {o.seed}")


def bootstrap_text(o: AggregateOptions) -> str:
    return "stratified bootstrap of runs and tasks" if o.task_bootstrap else "stratified bootstrap"


def write_outputs(result: AggregateResult, prefix: Path, formats: Sequence[str] = ("png", "pdf", "svg"),
                  *, colors: Mapping[str, str | tuple[float, ...]] | None = None, dpi: int = 150,
                  pool: FigurePool | None = None, slots: Mapping[str, int] | None = None,
                  xlabel: str | None = None, x_scale: float = 1.0, width: float | None = None) -> list[Path]:
    """Write the data files and the four figures under ``prefix``; returns the paths written.
    ``width``: every figure's width in inches (None: sized from its panels).

    With a `render.figure_pool.FigurePool` every figure file is written by a worker process (the same
    bytes) and this process need not import matplotlib at all.
    """
    from openrlb_cli.render import tables as tb

    bad = [f for f in formats if f not in FIGURE_FORMATS]
    if bad or not formats:
        raise InputError(f"figure formats must be among {', '.join(FIGURE_FORMATS)}, got {', '.join(bad) or 'none'}",
                         option="formats")
    if width is not None and not 1.5 <= width <= 40:
        raise InputError(f"width must be between 1.5 and 40 inches (or one, two), got {width:g}", option="width")
    name = output_namer(Path(prefix))
    figures = figure_jobs(result, colors, dpi, slots=slots, xlabel=xlabel, x_scale=x_scale, width=width)
    paths = [tb.write_text(name(suffix), text) for suffix, text in data_files(result).items()]
    if pool is not None:
        return paths + pool.write([(draw, kwargs, Path(f"{name(fig)}.{fmt}"), dpi)
                                   for fig, draw, kwargs in figures for fmt in formats])
    import functools

    from openrlb_cli.render import figure_pool
    from openrlb_cli.render import rliable_figures as af

    for fig, draw, kwargs in figures:  # in-process: draw each figure once for all its formats
        paths += af.save(functools.partial(figure_pool.resolve(draw), **kwargs), name(fig), formats, dpi)
    return paths


FIGURE_FORMATS = ("png", "pdf", "svg")


def figure_jobs(result: AggregateResult, colors: Mapping[str, str | tuple[float, ...]] | None,
                dpi: int, *, slots: Mapping[str, int] | None = None, xlabel: str | None = None,
                x_scale: float = 1.0, width: float | None = None) -> list[tuple[str, str, dict[str, object]]]:
    """``(name, "module:function", kwargs)`` per figure; the function's ``(**kwargs)`` returns it.

    Plain data only (picklable for worker processes); ``colors=None`` lets the drawing side pick the
    shared experiment colours.
    """
    label, sub = score_axis_label(result), subtitle(result)
    titles = {m: metric_title(m) for m in result.metrics}
    order = sorted(result.labels, key=lambda lbl: -np.nan_to_num(result.intervals[lbl]["iqm"].point, nan=-np.inf))
    notes = {lbl: f"({m.n_tasks}/{len(result.env_ids)} tasks)" for lbl, m in result.normalized.items() if m.missing}
    common = {"colors": None if colors is None else dict(colors), "labels": list(result.labels),
              "subtitle": sub, "dpi": dpi, "slots": dict(slots or {}), "width": width}
    draw = "openrlb_cli.render.rliable_figures:draw"
    jobs: list[tuple[str, str, dict[str, object]]] = [
        ("intervals", draw, dict(common, figure="intervals", intervals=result.intervals, metrics=result.metrics,
                                 xlabel=label, titles=titles, notes=notes)),
        ("profiles", draw, dict(common, figure="profiles", taus=result.taus, profiles=result.profiles, xlabel=label)),
        ("improvement", draw, dict(common, figure="improvement", matrix=result.improvement, order=order)),
    ]
    if result.options.curve_points:
        ylabel = f"{metric_title(result.options.curve_aggregate)} {label[0].lower()}{label[1:]}"
        jobs.append(("efficiency", draw, dict(common, figure="efficiency", bands=result.efficiency, ylabel=ylabel,
                                              xlabel=xlabel or result.step_axis, x_scale=x_scale)))
    return jobs


# ---------------------------------------------------------------------------- tables
def _fmt(x: float, scale: float) -> str:
    if not np.isfinite(x):
        return "nan"
    return f"{x:.{1 if scale >= 100 else 2 if scale >= 10 else 3}f}"


def table_rows(result: AggregateResult) -> tuple[list[str], list[list[str]], list[set[str]]]:
    """Header, rows of cell text ('point [lower, upper]') and, per metric column, the best experiments."""
    metrics = result.metrics
    header = ["Experiment", *[metric_title(m) for m in metrics], "Runs", "Tasks"]
    best, scale = [], {}
    for m in metrics:
        points = {lbl: result.intervals[lbl][m].point for lbl in result.labels}
        finite = {k: v for k, v in points.items() if np.isfinite(v)}
        target = (min if lower_is_better(m) else max)(finite.values()) if finite else None
        best.append({k for k, v in finite.items() if v == target})
        scale[m] = max((abs(v) for v in finite.values()), default=0.0)
    rows = []
    for lbl in result.labels:
        ivs = [result.intervals[lbl][m] for m in metrics]
        cells = [f"{_fmt(iv.point, scale[m])} [{_fmt(iv.lower, scale[m])}, {_fmt(iv.upper, scale[m])}]"
                 for m, iv in zip(metrics, ivs, strict=True)]
        mat = result.normalized[lbl]
        rows.append([lbl, *cells, str(mat.n_runs), str(mat.n_tasks)])
    return header, rows, best


def caption(result: AggregateResult) -> str:
    o = result.options
    return (f"Aggregates of {result.metric} ({normalization_text(result)}; run score: {result.score_how}): "
            f"point estimate [{o.ci:.0%} CI], {bootstrap_text(o)}, {o.reps:,} replicates ({o.method}, seed "
            f"{o.seed}). Best point per column in bold; optimality gap: lower is better.")


def to_rich(result: AggregateResult):  # -> rich.table.Table
    from rich.table import Table

    header, rows, best = table_rows(result)
    table = Table(title="Aggregate metrics", caption=caption(result))
    for k, name in enumerate(header):
        table.add_column(name, justify="left" if k == 0 else "right", style="bold" if k == 0 else None)
    for row in rows:
        table.add_row(row[0], *[f"[bold green]{c}[/]" if row[0] in best[k] else c
                                for k, c in enumerate(row[1:1 + len(best)])], *row[1 + len(best):])
    return table


def to_markdown(result: AggregateResult) -> str:
    header, rows, best = table_rows(result)

    def esc(s: str) -> str:
        return s.replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for row in rows:
        cells = [f"**{c}**" if row[0] in best[k] else c for k, c in enumerate(row[1:1 + len(best)])]
        lines.append("| " + " | ".join([esc(row[0]), *cells, *row[1 + len(best):]]) + " |")
    return "\n".join(lines) + "\n\n" + caption(result) + "\n"


# ---------------------------------------------------------------------------- report section
def report_provider(opts: AggregateOptions | None = None):
    """A `render.report` section provider computing the aggregates of the report's selection.

    The run score follows the report's ``--last-n``/``--last-frac`` (unless ``opts.at_step`` is
    set), so the aggregates describe the same scores as the report's table. Files go to
    ``<report>/aggregates/``.
    """

    def aggregates(ctx):  # ctx: render.report.ReportContext
        from openrlb_cli.render import report as rp

        o = opts or AggregateOptions()
        if o.at_step is None and o.score is None:
            o = dataclasses.replace(o, last_n=ctx.options.last_n, last_frac=ctx.options.last_frac,
                                    score=ctx.options.score)
        result = compute(ctx.curves, o)
        out_dir = ctx.out_dir / "aggregates"
        out_dir.mkdir(parents=True, exist_ok=True)
        formats = list(dict.fromkeys(["png", *ctx.options.plot.formats]))
        plot = ctx.options.plot
        paths = write_outputs(result, out_dir, formats, colors=ctx.colors, dpi=plot.dpi, slots=plot.slots,
                              xlabel=plot.xlabel, x_scale=plot.x_scale)
        images = [p.relative_to(ctx.out_dir) for p in paths if p.suffix == ".png"]
        links = ", ".join(f"[{p.name}]({p.relative_to(ctx.out_dir).as_posix()})" for p in paths
                          if p.suffix in (".json", ".csv"))
        notes = "".join(f"- {w}\n" for w in result.warnings if w not in ctx.curves.warnings)
        md = to_markdown(result) + (f"\n{notes}" if notes else "") + f"\nFiles: {links}.\n"
        return rp.ReportSection("Aggregate metrics", md, images=images,
                                files=[p for p in paths if p.suffix != ".png"])

    return aggregates


def register_report_section(opts: AggregateOptions | None = None) -> None:
    """Make every following `render.report.write_report` include the aggregate section."""
    from openrlb_cli.render import report as rp

    rp.register_section("aggregates", report_provider(opts))


__all__ = [
    "caption", "data_files", "document", "improvement_records", "output_namer", "records",
    "register_report_section", "report_provider", "to_markdown", "to_rich", "write_outputs",
]
