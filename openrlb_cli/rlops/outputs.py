"""`openrlb rlops` outputs: Open RL Benchmark's files and numbers, drawn with openrlb's renderers.

Files, as `openrlbenchmark.rlops` 0.3.1 names them (`{out}` = `--output-filename`):

* `{out}.png|pdf|svg`, `{out}-time.png|pdf|svg`: one panel per environment, each experiment's
  mean ± sample std over its runs on expt's 10,000-point grid, `--pc.rolling` applied over that
  grid; `--pc.max-steps` limits the step figure's x axis only;
* `{out}.md|csv`: mean ± population std of each run's last N metric values (environments x
  experiments, text `"44.59 ± 3.57"`), the markdown in pandas/tabulate's pipe layout;
* `{out}_runtimes.md|csv`: expt's summary of `_runtime` in `--pc.time-unit` (minutes by default);
* with `--rliable`: `{out}_aggregate.png|pdf` (median, IQM, mean, optimality gap of the final
  interpolated normalized scores), `{out}_performance_profile.png|pdf`, `{out}_sample_efficiency
  .png|pdf` (the four aggregates at each of `--rc.nsubsamples` points) and
  `{out}_sample_walltime_efficiency.png|pdf` (the chosen one against steps and time); rlops only
  prints its numbers, openrlb also writes them: `{out}_aggregate.csv` and `{out}_rliable.json`.

Intervals are openrlb's stratified bootstrap (seeded, so reruns give identical files) with
rlops' replicate counts (10 unless `--rc.*-num-bootstrap-reps` says otherwise); point estimates
are rliable's definitions. See `rlops_calc` for how each number is computed.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from openrlb_cli.errors import InputError, SelectionError
from openrlb_cli.rlops import calc

METRICS = [("median", "Median"), ("iqm", "IQM"), ("mean", "Mean"), ("optimality_gap", "Optimality Gap")]


@dataclass
class RlopsResult:
    files: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # outputs this build cannot produce


# ------------------------------------------------------------------------------ tables
def _number_text(x: float) -> str:
    return format(x, "g")


def _after_point(text: str) -> int:
    """Digits after the decimal point as tabulate counts them for decimal alignment (-1: none)."""
    if any(c in text for c in "eE") or "." not in text:
        return -1
    return len(text) - text.rindex(".") - 1


def pipe_table(index: Sequence[str], columns: Sequence[str], cells: Sequence[Sequence[Any]]) -> str:
    """`DataFrame.to_markdown()` (tabulate's pipe format): text columns left-aligned, number
    columns right-aligned on their decimal points, columns at least the header + 2 wide."""
    headers = ["", *columns]
    body = [[str(i), *row] for i, row in zip(index, cells, strict=True)]
    cols = []
    for j, header in enumerate(headers):
        values = [row[j] for row in body]
        numeric = j > 0 and all(isinstance(v, (float, int)) and not isinstance(v, bool) for v in values)
        texts = [_number_text(float(v)) if numeric else str(v) for v in values]
        if numeric:
            most = max((_after_point(t) for t in texts), default=0)
            texts = [t + " " * (most - _after_point(t)) for t in texts]
        width = max([len(header) + 2, *map(len, texts)])
        cols.append((header, texts, width, numeric))
    lines = ["| " + " | ".join((h.rjust(w) if num else h.ljust(w)) for h, _, w, num in cols) + " |",
             "|" + "|".join(("-" * (w + 1) + ":") if num else (":" + "-" * (w + 1)) for _, _, w, num in cols) + "|"]
    for i in range(len(body)):
        lines.append("| " + " | ".join((t[i].rjust(w) if num else t[i].ljust(w)) for _, t, w, num in cols) + " |")
    return "\n".join(lines)


def csv_table(index: Sequence[str], columns: Sequence[str], cells: Sequence[Sequence[Any]]) -> str:
    """`DataFrame.to_csv()`: an unnamed index column, floats as Python's shortest repr."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["", *columns])
    for name, row in zip(index, cells, strict=True):
        writer.writerow([name, *[repr(float(v)) if isinstance(v, float) else v for v in row]])
    return buf.getvalue()


def _write(path: Path, text: str) -> Path:
    from openrlb_cli.render.tables import write_text

    return write_text(path, text)


def tables(panels: Sequence[str], labels: Sequence[str], rows: dict[tuple[str, str], list[calc.RunRows]],
           last_n: int, unit: str) -> dict[str, list[list[Any]]]:
    scores = [[calc.score_text(*calc.score_cell(rows.get((lbl, env), []), last_n)) for lbl in labels]
              for env in panels]
    runtimes = [[calc.runtime_summary(rows.get((lbl, env), []), unit) for lbl in labels] for env in panels]
    return {"scores": scores, "runtimes": runtimes}


# ------------------------------------------------------------------------------ curve figures
def figure_data(curves: Any, rows: dict[tuple[str, str], list[calc.RunRows]], panels: Sequence[str],
                x: str, rolling: int, unit: str) -> Any:
    from openrlb_cli.analysis import curves as cv
    from openrlb_cli.render import figures as fg

    data = fg.FigureData([], x, y_label=curves.selection.metric_label)
    for env in panels:
        lines = []
        for label in curves.selection.labels:
            runs = rows.get((label, env), [])
            if not runs:
                continue
            xs = [r.x if x == "step" else r.runtime for r in runs]
            c = calc.rlops_curve(xs, [r.value for r in runs], rolling)
            n = c.n_runs
            stats = cv.CurveStats(c.grid, c.mean, (c.upper - c.lower) / 2, c.lower, c.upper,
                                  np.full(c.grid.size, n), n)
            lines.append(fg.Line(label, stats))
        data.panels.append(fg.Panel(env, lines))
    data.time_unit = (unit, calc.TIME_DIVISORS.get(unit, 1.0))
    return data


def write_curve_figures(curves: Any, rows: dict[tuple[str, str], list[calc.RunRows]], args: Any,
                        panels: Sequence[str], out: Path) -> list[Path]:
    import matplotlib

    from openrlb_cli.render import figures as fg

    pc = args.pc
    unit = pc.get("time-unit", "m")
    opts = fg.PlotOptions(ncols=pc.get("ncols", 2), band="minmax", partial="solid", formats=("png", "pdf", "svg"),
                          xlabel=pc.get("xlabel", "Steps"), ylabel=pc.get("ylabel", "Episodic Return"),
                          legend_cols=pc.get("ncols-legend", 2))
    fg.check_options(opts)
    colors = fg.experiment_colors(curves.selection.labels)
    written = []
    for x, path in (("step", out), ("time", Path(f"{out}-time"))):
        data = figure_data(curves, rows, panels, x, pc.get("rolling", 100), unit)
        with matplotlib.rc_context(fg.RC):
            fig = fg.draw_figure(data, opts, colors)
            if x == "step" and pc.get("max-steps") is not None:
                for ax in fig.axes[: len(panels)]:
                    ax.set_xlim(0, pc["max-steps"])
            written += fg.save_figure(fig, fg.output_paths(path, opts.formats), opts.dpi)
    return written


# ------------------------------------------------------------------------------ rliable
@dataclass
class RliableNumbers:
    envs: list[str]
    n_seeds: dict[str, int]
    scores: dict[str, np.ndarray]  # (seeds, envs, nsub), raw
    normalized: dict[str, np.ndarray]
    final: dict[str, np.ndarray]  # (seeds, envs)
    steps_axis: dict[str, np.ndarray]
    time_axis: dict[str, np.ndarray]


def rliable_numbers(labels: Sequence[str], panels: Sequence[str], rows: dict[tuple[str, str], list[calc.RunRows]],
                    rc: dict[str, Any], unit: str) -> RliableNumbers:
    """rlops' `score_dict`, its normalization and the efficiency x axes."""
    from openrlb_cli.analysis import normalize as nz

    nsub = int(rc.get("nsubsamples", 20))
    if nsub < 1:
        raise InputError(f"--rc.nsubsamples must be >= 1, got {nsub}")
    scores, n_seeds, steps_axis, time_axis = {}, {}, {}, {}
    for label in labels:
        by_env = [rows.get((label, env), []) for env in panels]
        empty = [env for env, runs in zip(panels, by_env, strict=True) if not runs]
        if empty:
            raise SelectionError(f"--rliable: {label!r} has no finished run with points in {', '.join(empty)}")
        n_seeds[label] = min(len(runs) for runs in by_env)
        scores[label] = calc.score_matrix(by_env, n_seeds[label], nsub)
        steps_axis[label] = np.linspace(0, float(np.nanmean([calc.step_summary(r) for r in by_env])), nsub)
        time_axis[label] = np.linspace(0, float(np.nanmean([calc.runtime_summary(r, unit) for r in by_env])), nsub)
    method = rc.get("score-normalization-method", "maxmin")
    if method == "atari":
        try:
            refs = nz.reference_scores("atari", list(panels))
        except ValueError as exc:
            raise InputError(f"--rc.score-normalization-method atari: {exc}") from None
        normalized = calc.reference_normalize(scores, [refs[e][0] for e in panels], [refs[e][1] for e in panels])
    else:
        normalized = calc.maxmin_normalize(scores)
    return RliableNumbers(list(panels), n_seeds, scores, normalized, calc.final_scores(normalized), steps_axis,
                          time_axis)


def _reps(rc: dict[str, Any], name: str) -> int:
    reps = int(rc.get(f"{name}-num-bootstrap-reps", 10))  # rlops' default
    if reps < 1:
        raise InputError(f"--rc.{name}-num-bootstrap-reps must be >= 1, got {reps}")
    return reps


def _band_doc(band: Any, x: np.ndarray | None = None) -> dict[str, Any]:
    doc = {"point": _floats(band.point), "lower": _floats(band.lower), "upper": _floats(band.upper)}
    if x is not None:
        doc["x"] = _floats(x)
    return doc


def _floats(a: Any) -> Any:
    arr = np.asarray(a, dtype=np.float64)
    return np.where(np.isfinite(arr), arr, np.nan).tolist() if arr.ndim else float(arr)


def write_rliable(curves: Any, rows: dict[tuple[str, str], list[calc.RunRows]], args: Any, panels: Sequence[str],
                  out: Path) -> list[Path]:
    from openrlb_cli.aggregate.compute import stream
    from openrlb_cli.analysis import bootstrap as bs
    from openrlb_cli.analysis import efficiency as eff
    from openrlb_cli.analysis import profiles as pf
    from openrlb_cli.render import figures as fg
    from openrlb_cli.render import rliable_figures as agf
    from openrlb_cli.rlops import figures as rf

    rc, unit = args.rc, args.pc.get("time-unit", "m")
    labels = curves.selection.labels
    nums = rliable_numbers(labels, panels, rows, rc, unit)
    colors = fg.experiment_colors(labels)
    doc: dict[str, Any] = {
        "normalization": rc.get("score-normalization-method", "maxmin"), "env_ids": list(panels),
        "n_seeds": nums.n_seeds, "scores": {k: _floats(v) for k, v in nums.scores.items()},
        "normalized": {k: _floats(v) for k, v in nums.normalized.items()},
        "final": {k: _floats(v) for k, v in nums.final.items()}}
    written: list[Path] = []
    if rc.get("aggregate-metrics-plots", True):
        reps = _reps(rc, "interval-estimates")
        intervals = {lbl: bs.aggregate_intervals(nums.final[lbl], [m for m, _ in METRICS], reps=reps,
                                                 seed=stream(0, "rlops-aggregate", lbl)) for lbl in labels}
        doc["aggregates"] = {lbl: {m: {"point": iv.point, "lower": iv.lower, "upper": iv.upper}
                                   for m, iv in ivs.items()} for lbl, ivs in intervals.items()}
        doc["aggregate_reps"] = reps
        rows_csv = [[lbl, title, iv[m].point, iv[m].lower, iv[m].upper]
                    for lbl, iv in intervals.items() for m, title in METRICS]
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["experiment", "metric", "point", "lower", "upper"])
        w.writerows([[a, b, repr(float(c)), repr(float(d)), repr(float(e))] for a, b, c, d, e in rows_csv])
        written.append(_write(Path(f"{out}_aggregate.csv"), buf.getvalue()))
        written += agf.save(lambda: agf.interval_figure(intervals, [m for m, _ in METRICS], colors,
                                                        xlabel="Normalized Score", titles=dict(METRICS)),
                            Path(f"{out}_aggregate"), ("png", "pdf"))
    if rc.get("performance-profile-plots", True):
        reps = _reps(rc, "performance-profile")
        taus = np.linspace(0.0, float(rc.get("normalized-score-threshold", 8.0)), 81)
        profiles = {lbl: {kind: pf.performance_profile(nums.final[lbl], taus, kind=kind, reps=reps,
                                                       seed=stream(0, "rlops-profile", kind, lbl))
                          for kind in ("run", "average")} for lbl in labels}
        doc["profiles"] = {"taus": _floats(taus), "reps": reps,
                           **{lbl: {k: _band_doc(b) for k, b in p.items()} for lbl, p in profiles.items()}}
        written += agf.save(lambda: agf.profile_figure(taus, profiles, colors, xlabel="Normalized Score"),
                            Path(f"{out}_performance_profile"), ("png", "pdf"))
    if rc.get("sample-efficiency-plots", True):
        reps = _reps(rc, "sample-efficiency")
        bands = {m: {lbl: eff.aggregate_curve(nums.normalized[lbl], m, reps=reps,
                                              seed=stream(0, "rlops-efficiency", m, lbl)) for lbl in labels}
                 for m, _ in METRICS}
        doc["efficiency"] = {"reps": reps, **{m: {lbl: _band_doc(b, nums.steps_axis[lbl]) for lbl, b in by.items()}
                                              for m, by in bands.items()}}
        doc["time_axis"] = {"unit": unit, **{lbl: _floats(x) for lbl, x in nums.time_axis.items()}}
        figsize = tuple(rc.get("sample-efficiency-figsize", (14.0, 6.8)))
        panels_se = [(title, {lbl: (nums.steps_axis[lbl], bands[m][lbl]) for lbl in labels}) for m, title in METRICS]
        written += agf.save(lambda: rf.efficiency_panels(panels_se, colors, figsize=figsize, ncols=2,
                                                         xlabel=args.pc.get("xlabel", "Steps")),
                            Path(f"{out}_sample_efficiency"), ("png", "pdf"))
        chosen = rc.get("sample-efficiency-and-walltime-efficiency-method", "Median")
        if isinstance(chosen, str):
            m = dict((t, k) for k, t in METRICS)[chosen]
            pair = [(chosen, {lbl: (nums.steps_axis[lbl], bands[m][lbl]) for lbl in labels}),
                    (chosen, {lbl: (nums.time_axis[lbl], bands[m][lbl]) for lbl in labels})]
            written += agf.save(lambda: rf.efficiency_panels(pair, colors, figsize=(14.0, 3.4), ncols=2,
                                                             xlabel=["Steps", f"Time ({unit})"]),
                                Path(f"{out}_sample_walltime_efficiency"), ("png", "pdf"))
    written.append(_write(Path(f"{out}_rliable.json"), json.dumps(_json_safe(doc), indent=1) + "\n"))
    return written


def _json_safe(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: _json_safe(v) for k, v in doc.items()}
    if isinstance(doc, (list, tuple)):
        return [_json_safe(v) for v in doc]
    if isinstance(doc, float) and not math.isfinite(doc):
        return None
    return doc


# ------------------------------------------------------------------------------ everything
def write_all(curves: Any, rows: dict[tuple[str, str], list[calc.RunRows]], args: Any) -> RlopsResult:
    result = RlopsResult(warnings=list(curves.warnings))
    out = Path(args.output_filename)
    panels = list(curves.selection.env_ids)
    labels = curves.selection.labels
    unit = args.pc.get("time-unit", "m")
    result.files += write_curve_figures(curves, rows, args, panels, out)
    t = tables(panels, labels, rows, args.last_n, unit)
    for key, stem in (("scores", str(out)), ("runtimes", f"{out}_runtimes")):
        result.files.append(_write(Path(f"{stem}.md"), pipe_table(panels, labels, t[key])))
        result.files.append(_write(Path(f"{stem}.csv"), csv_table(panels, labels, t[key])))
    if args.rliable:
        result.files += write_rliable(curves, rows, args, panels, out)
    return result
