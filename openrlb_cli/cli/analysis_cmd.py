"""`openrlb plot`, `openrlb table` and `openrlb report`: parse options, call the library, print.

The selection language, the metric fallback and all numbers live in `openrlb_cli.selection`,
`openrlb_cli.analysis.curves` and `openrlb_cli.render`; this module only wires options to them.
`--env-ids` and `--formats` take several words (`--env-ids Hopper-v3 Ant-v3`, up to the next
option), may be repeated, and accept commas, so put the experiment specs before them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from typer.core import TyperCommand

from openrlb_cli.cli.context import app, error, info, open_store, out, warn
from openrlb_cli.errors import InputError
from openrlb_cli.metric_keys import METRIC_FALLBACKS

if TYPE_CHECKING:
    import click

_GREEDY = ("--env-ids", "-e", "--formats")


def expand_list_options(args: list[str], names: tuple[str, ...] = _GREEDY) -> list[str]:
    """`--env-ids A B --x step` -> `--env-ids A --env-ids B --x step` (words up to the next option)."""
    out_args: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        out_args.append(arg)
        i += 1
        if arg == "--":
            out_args += args[i:]
            break
        if arg in names:
            first = True
            while i < len(args) and not args[i].startswith("-"):
                if not first:
                    out_args.append(arg)
                out_args.append(args[i])
                first = False
                i += 1
    return out_args


class ListOptionsCommand(TyperCommand):
    """A command whose list options take several words each."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, expand_list_options(list(args)))


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


SPECS_HELP = ("Experiment specs EXPERIMENT?key=value&...: keys project, tag (repeat = all required), seed, "
              "user, other keys = config (repeat = any); cl=LABEL sets the legend label. An empty EXPERIMENT "
              "('?project=x') means every experiment the filters match.")
ENV_HELP = "Environments (panels/rows), several words or commas. Default: every env the specs match."
METRIC_HELP = ("Metric key. Default: per run the first of " + ", ".join(METRIC_FALLBACKS) + ".")
MISSING_HELP = "Leave out spec × env pairs without runs instead of failing."
X_KEY_HELP = ("x axis: step, or any series of the runs (e.g. global_step, _runtime), joined on step: each point "
              "takes the value KEY logged at its step; points without one are left out.")


def check_x(x: str) -> str:
    if not x or not x.strip():
        raise InputError("--x must be step, time, or the key of a series of the runs (e.g. global_step)")
    return x.strip()


GROUP_BY_HELP = ("One line (table: one column) per value of this config key within each experiment, e.g. "
                 "learning_rate; runs without it form KEY=(unset).")


def _selection(specs: list[str] | None, env_ids: list[str] | None, metric: str | None, allow_missing: bool,
               max_steps: float | None, x: str = "step", group_by: str | None = None):
    if max_steps is not None and max_steps <= 0:
        raise InputError(f"--max-steps must be > 0, got {max_steps:g}")
    from openrlb_cli.selection import group_by_config, load_curves, resolve

    with open_store(create=False) as store:
        sel = resolve(store, specs or [], _split(env_ids), metric, allow_missing=allow_missing)
        if group_by is not None:
            sel = group_by_config(sel, group_by)
        curves = load_curves(store, sel, max_steps=max_steps, x=check_x(x))
    for w in curves.warnings:
        warn(w)
    return curves


@app.command(cls=ListOptionsCommand)
def plot(
    specs: list[str] = typer.Argument(None, help=SPECS_HELP, show_default=False),
    env_ids: list[str] = typer.Option(None, "--env-ids", "-e", help=ENV_HELP, show_default=False),
    metric: str = typer.Option(None, "--metric", "-m", help=METRIC_HELP, show_default=False),
    output: Path = typer.Option(Path("openrlb-plot"), "--output", "-o",
                                help="Output path without suffix (a .png/.pdf/.svg suffix picks that format; "
                                     "an existing directory gets curves.<format>)."),
    formats: list[str] = typer.Option(None, "--formats", help="png, pdf, svg (default: all three).",
                                      show_default=False),
    x: str = typer.Option("step", "--x", metavar="step|time|KEY",
                          help="x axis: step, time (wall-clock since the run's first point), or any series KEY of "
                               "the runs (e.g. global_step), joined on step; points without a KEY value are left "
                               "out."),
    band: str = typer.Option("std", "--band", help="std | ci (95% bootstrap over seeds) | minmax | none."),
    smooth: int = typer.Option(0, "--smooth", help="Centred moving average over N logged points per run."),
    max_steps: float = typer.Option(None, "--max-steps", help="Only points at step <= this.", show_default=False),
    ncols: int = typer.Option(None, "--ncols", help="Panels per row.", show_default=False),
    individual: bool = typer.Option(False, "--individual", help="Also draw each seed as a thin line."),
    partial: str = typer.Option("dashed", "--partial",
                                help="Where not all seeds reach: dashed | hide | solid."),
    title: str = typer.Option(None, "--title", show_default=False),
    grid_points: int = typer.Option(500, "--grid-points", help="Max points of the common step grid."),
    dpi: int = typer.Option(150, "--dpi"),
    xlabel: str = typer.Option(None, "--xlabel", help="x-axis label (step axis).", show_default=False),
    ylabel: str = typer.Option(None, "--ylabel", help="y-axis label (default: the metric).", show_default=False),
    time_unit: str = typer.Option(None, "--time-unit", help="s | min | h for --x time (default: from the data).",
                                  show_default=False),
    legend_cols: int = typer.Option(None, "--legend-cols", help="Legend columns (default: one row).",
                                    show_default=False),
    allow_missing: bool = typer.Option(False, "--allow-missing", help=MISSING_HELP),
    group_by: str = typer.Option(None, "--group-by", metavar="CONFIG_KEY", help=GROUP_BY_HELP, show_default=False),
) -> None:
    """Learning curves: one panel per env, one line per experiment (mean over seeds) with a band.

    Each seed is interpolated onto a common step grid only inside its own step range (never
    extrapolated); where fewer than all seeds reach, the line is dashed (--partial). NaN points are
    left out. Writes byte-identical PNG/PDF/SVG for the same store and command.
    """
    from openrlb_cli.render import figures as fg

    if output.is_dir():
        output = output / "curves"
    fmts = _split(formats) or ([output.suffix[1:]] if output.suffix[1:] in fg.FORMATS else list(fg.FORMATS))
    opts = fg.PlotOptions(x=x, band=band, smooth=smooth, max_steps=max_steps, ncols=ncols, individual=individual,
                          partial=partial, grid_points=grid_points, formats=fmts, dpi=dpi, title=title,
                          xlabel=xlabel, ylabel=ylabel, time_unit=time_unit, legend_cols=legend_cols)
    fg.check_options(opts)
    curves = _selection(specs, env_ids, metric, allow_missing, max_steps, x, group_by)
    for path in fg.plot_curves(curves, output, opts):
        print(path)


@app.command(cls=ListOptionsCommand)
def table(
    specs: list[str] = typer.Argument(None, help=SPECS_HELP, show_default=False),
    env_ids: list[str] = typer.Option(None, "--env-ids", "-e", help=ENV_HELP, show_default=False),
    metric: str = typer.Option(None, "--metric", "-m", help=METRIC_HELP, show_default=False),
    last_n: int = typer.Option(100, "--last-n", help="Run score = mean of its last N logged points."),
    last_frac: float = typer.Option(None, "--last-frac", show_default=False,
                                    help="Run score = mean of points in the last fraction of its steps."),
    ci: bool = typer.Option(False, "--ci", help="Add the 95% bootstrap CI over seeds."),
    max_steps: float = typer.Option(None, "--max-steps", help="Score at this step budget.", show_default=False),
    x: str = typer.Option("step", "--x", metavar="step|KEY", help=X_KEY_HELP + " Applies to --last-frac and "
                          "--max-steps."),
    runtime: bool = typer.Option(False, "--runtime", help="Wall-clock runtime table instead of scores."),
    minimize: bool = typer.Option(False, "--minimize", help="Lower is better when marking the best cell."),
    fmt: str = typer.Option(None, "--format", "-f", show_default=False,
                            help="rich (terminal) | md | csv | latex | json | html. Default: rich, or from -o."),
    output: Path = typer.Option(None, "--output", "-o", help="Write to this file.", show_default=False),
    allow_missing: bool = typer.Option(False, "--allow-missing", help=MISSING_HELP),
    group_by: str = typer.Option(None, "--group-by", metavar="CONFIG_KEY", help=GROUP_BY_HELP, show_default=False),
) -> None:
    """Final score per environment × experiment: mean ± sample std over seeds (seed count).

    A run's score is the mean of its last --last-n logged points, or with --last-frac of the points
    in that last fraction of its logged step range. The best mean per environment is marked.
    """
    from openrlb_cli.render import tables as tb

    by_suffix = {v: k for k, v in tb.SUFFIXES.items()}
    fmt = fmt or (by_suffix.get(output.suffix, "md") if output is not None else "rich")
    if fmt != "rich" and fmt not in tb.TABLE_FORMATS:
        raise InputError(f"--format must be one of rich, {', '.join(tb.TABLE_FORMATS)}, got {fmt!r}")
    if fmt == "rich" and output is not None:
        raise InputError("--format rich is for the terminal; use md, csv, latex, json or html with -o")
    tb.check_score_options(last_n, last_frac)
    if x == "time":
        raise InputError("--x time is for plots; a table's steps are step or a series KEY")
    curves = _selection(specs, env_ids, metric, allow_missing, max_steps, x, group_by)
    result = (tb.runtime_table(curves) if runtime else
              tb.score_table(curves, last_n=last_n, last_frac=last_frac, ci=ci, minimize=minimize))
    if runtime and not tb.has_values(result):
        warn("no wall-clock times in the selected runs")
    if fmt == "rich":
        out().print(tb.to_rich(result))
    elif output is None:
        sys.stdout.write(tb.render_table(result, fmt))
    else:
        info(f"wrote {tb.write_table(result, fmt, output)}")


@app.command(cls=ListOptionsCommand)
def report(
    specs: list[str] = typer.Argument(None, help=SPECS_HELP, show_default=False),
    env_ids: list[str] = typer.Option(None, "--env-ids", "-e", help=ENV_HELP, show_default=False),
    metric: str = typer.Option(None, "--metric", "-m", help=METRIC_HELP, show_default=False),
    output: Path = typer.Option(..., "--output", "-o", help="Report directory (created)."),
    formats: list[str] = typer.Option(None, "--formats", help="Figure formats (PNG is always written).",
                                      show_default=False),
    band: str = typer.Option("std", "--band", help="std | ci | minmax | none."),
    smooth: int = typer.Option(0, "--smooth", help="Centred moving average over N logged points per run."),
    max_steps: float = typer.Option(None, "--max-steps", show_default=False),
    ncols: int = typer.Option(None, "--ncols", show_default=False),
    last_n: int = typer.Option(100, "--last-n"),
    last_frac: float = typer.Option(None, "--last-frac", show_default=False),
    no_ci: bool = typer.Option(False, "--no-ci", help="Leave the bootstrap CI out of the score table."),
    minimize: bool = typer.Option(False, "--minimize"),
    title: str = typer.Option("openrlb report", "--title"),
    no_sections: bool = typer.Option(False, "--no-extra-sections", help="Skip registered sections (aggregates)."),
    allow_missing: bool = typer.Option(False, "--allow-missing", help=MISSING_HELP),
    aggregate: bool = typer.Option(False, "--aggregate",
                                   help="Add aggregate metrics (IQM, median, mean, optimality gap with bootstrap CIs, "
                                        "profiles, P(X > Y), sample efficiency; as `openrlb aggregate`) under "
                                        "aggregates/."),
    normalize: str = typer.Option("maxmin", "--normalize", help="Score normalization for --aggregate: atari | maxmin "
                                                                "| none | PATH.csv."),
    group_by: str = typer.Option(None, "--group-by", metavar="CONFIG_KEY", help=GROUP_BY_HELP, show_default=False),
) -> None:
    """Figures, tables, index.md and a self-contained index.html in one directory (for CI). Exit 0 only if
    everything was written."""
    from openrlb_cli.render import figures as fg
    from openrlb_cli.render import report as rp
    from openrlb_cli.render import tables as tb

    popts = fg.PlotOptions(band=band, smooth=smooth, max_steps=max_steps, ncols=ncols,
                           formats=_split(formats) or ["png", "svg"])
    fg.check_options(popts)
    tb.check_score_options(last_n, last_frac)
    extra = []
    if aggregate:  # the section uses the report's --last-n/--last-frac for run scores
        from openrlb_cli import aggregate as ag

        agg_opts = ag.AggregateOptions(normalize=normalize)
        ag.check_options(agg_opts)
        extra.append(ag.report_provider(agg_opts))
    curves = _selection(specs, env_ids, metric, allow_missing, max_steps, group_by=group_by)
    ropts = rp.ReportOptions(plot=popts, last_n=last_n, last_frac=last_frac, ci=not no_ci, minimize=minimize,
                             title=title, specs=list(specs or []))
    result = rp.write_report(curves, output, ropts, extra_sections=extra, use_registered=not no_sections)
    for path in result.files:
        print(path)
    for e in result.errors:
        error(e)
    if not result.ok:
        raise typer.Exit(1)
    info(f"report written to {output / 'index.html'}")
