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

from openrlb_cli.cli.context import app, error, info, open_store, out, warn, with_flags
from openrlb_cli.errors import InputError
from openrlb_cli.metric_keys import METRIC_FALLBACKS

if TYPE_CHECKING:  # the click typer parses with: its own copy (typer >= 0.2x); nothing is imported at run time
    from typer import _click as click

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


SCORE_HELP = ("How a run becomes a score: last-n[:N] (mean of the last N logged points, default 100), "
              "last-frac[:F] (mean over the last fraction F of its steps), final (last point at or before "
              "--max-steps), max-mean (max over steps of the mean over seeds, each seed at that step: the TD3 / "
              "SpinningUp / Tianshou 'max average return'), auc (mean of the curve over its step range), "
              "at-step[:S] (value interpolated at step S). Default: last-n:100.")
STD_HELP = "Std over seeds: sample (ddof=1) | population (ddof=0, as np.std and Tianshou's tables)."


def score_rule(score: str | None, *, last_n: int | None = None, last_frac: float | None = None,
               at_step: float | None = None, max_steps: float | None = None, std: str = "sample"):
    """--score and the older --last-n/--last-frac/--at-step -> one `ScoreRule` (InputError naming the flags)."""
    from openrlb_cli.analysis import score_rules as sr

    given = {flag: v for flag, v in (("--last-n", last_n), ("--last-frac", last_frac), ("--at-step", at_step))
             if v is not None}
    flag_of = {"last-n": "--last-n", "last-frac": "--last-frac", "at-step": "--at-step"}
    source = "--score"
    try:
        if score is None:
            if len(given) > 1:
                raise InputError(f"give only one of --last-n, --last-frac, --at-step (got {', '.join(given)})")
            implied = {"--last-frac": "last-frac", "--at-step": "at-step"}
            rule, param = implied.get(next(iter(given), ""), "last-n"), None
        else:
            rule, param = sr.parse_rule(score)
        flag = flag_of.get(rule)
        extra = [f for f in given if f != flag]
        if extra:
            raise InputError(f"{', '.join(extra)} does not apply to --score {rule}")
        if param is None and flag in given:
            param, source = float(given[flag]), flag
        if param is None and rule == "last-n":
            param = float(sr.DEFAULT_LAST_N)
        if param is None and rule in sr.RULES_WITH_PARAM:
            raise InputError(f"--score {rule} needs its parameter: --score {rule}:{sr.RULES_WITH_PARAM[rule]} "
                             f"(or {flag} {sr.RULES_WITH_PARAM[rule]})")
        return sr.ScoreRule(rule, param, max_steps, std)
    except ValueError as exc:
        what = "--std" if "std convention" in str(exc) else "--max-steps" if "budget" in str(exc) else source
        raise InputError(f"{what}: {exc}") from exc


def check_x(x: str) -> str:
    if not x or not x.strip():
        raise InputError("--x must be step, time, or the key of a series of the runs (e.g. global_step)")
    return x.strip()


def pairs(values: list[str] | None, flag: str) -> dict[str, str]:
    """`--color sac=#0072B2 --color 'td3=tab:red'` -> {'sac': '#0072B2', 'td3': 'tab:red'}."""
    out: dict[str, str] = {}
    for item in values or []:
        key, eq, value = item.partition("=")
        if not eq or not key.strip() or not value.strip():
            raise InputError(f"{flag} takes LABEL=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def relabel(selection, labels: dict[str, str]) -> None:
    """`--label OLD=NEW`: `selection.relabel` with the flag named in its errors."""
    from openrlb_cli.errors import SelectionError
    from openrlb_cli.selection import relabel as rename

    try:
        rename(selection, labels)
    except SelectionError as exc:
        raise SelectionError(f"--label: {exc}", option=exc.options) from exc


def style_slots(labels: list[str]) -> dict[str, int]:
    """The store's style book (`render.styles`), with any new label added: each label's colour and marker."""
    from openrlb_cli.cli import context
    from openrlb_cli.render.styles import style_book_path, update_style_book
    from openrlb_cli.store.database import default_db_path

    path = Path(context.state.db).expanduser() if context.state.db else default_db_path()
    return update_style_book(style_book_path(path), labels)


def parse_width(text: str | None) -> float | None:
    """`--width one|two|INCHES` -> inches (None: from the panels)."""
    from openrlb_cli.render.figures import WIDTHS

    if text is None:
        return None
    if text.strip().lower() in WIDTHS:
        return WIDTHS[text.strip().lower()]
    try:
        return float(text)
    except ValueError:
        raise InputError(f"--width must be one, two or a width in inches, got {text!r}") from None


WIDTH_HELP = ("Figure width: one (3.25 in, one column of a two-column paper), two (6.75 in, full width) or inches; "
              "panels are sized to fit and fonts print at their point size. Default: 2.6 in per panel.")
SMOOTH_HELP = ("Smoothing of each run: with --smooth-kind ma (default) a centred moving average over N logged points; "
               "with ema the weight in [0, 1) of TensorBoard's debiased exponential moving average (e.g. 0.6).")
SMOOTH_KIND_HELP = "ma (centred moving average) | ema (TensorBoard / W&B exponential moving average)."
COLOR_HELP = "Pin a line's colour: LABEL=COLOR (repeatable; e.g. 'sac=#0072B2'). Default: stable per label."
LABEL_HELP = "Rename a line: OLD=NEW (repeatable; e.g. each experiment of '?project=x')."
X_SCALE_HELP = "Multiply steps by this on the x axis (e.g. 4 frames per agent step); pair it with --xlabel."


GROUP_BY_HELP = ("One line (table: one column) per value of this config key within each experiment, e.g. "
                 "learning_rate; runs without it form KEY=(unset).")


def _selection(specs: list[str] | None, env_ids: list[str] | None, metric: str | None, allow_missing: bool,
               max_steps: float | None, x: str = "step", labels: dict[str, str] | None = None,
               group_by: str | None = None):
    if max_steps is not None and max_steps <= 0:
        raise InputError(f"--max-steps must be > 0, got {max_steps:g}")
    from openrlb_cli.selection import group_by_config, load_curves, resolve

    with open_store(create=False) as store:
        sel = resolve(store, specs or [], _split(env_ids), metric, allow_missing=allow_missing)
        if group_by is not None:
            sel = group_by_config(sel, group_by)
        relabel(sel, labels or {})
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
    smooth: float = typer.Option(0, "--smooth", help=SMOOTH_HELP),
    smooth_kind: str = typer.Option("ma", "--smooth-kind", help=SMOOTH_KIND_HELP),
    max_steps: float = typer.Option(None, "--max-steps", help="Only points at step <= this.", show_default=False),
    ncols: int = typer.Option(None, "--ncols", help="Panels per row.", show_default=False),
    width: str = typer.Option(None, "--width", metavar="one|two|INCHES", help=WIDTH_HELP, show_default=False),
    individual: bool = typer.Option(False, "--individual", help="Also draw each seed as a thin line."),
    partial: str = typer.Option("dashed", "--partial",
                                help="Where not all seeds reach: dashed | hide | solid."),
    title: str = typer.Option(None, "--title", show_default=False),
    grid_points: int = typer.Option(500, "--grid-points", help="Max points of the common step grid."),
    dpi: int = typer.Option(150, "--dpi"),
    xlabel: str = typer.Option(None, "--xlabel", show_default=False,
                               help="x-axis label (default: what the steps count: Environment steps, Iterations...)."),
    x_scale: float = typer.Option(1.0, "--x-scale", help=X_SCALE_HELP),
    ylabel: str = typer.Option(None, "--ylabel", help="y-axis label (default: a short name of the metric).",
                               show_default=False),
    time_unit: str = typer.Option(None, "--time-unit", help="s | min | h for --x time (default: from the data).",
                                  show_default=False),
    legend_cols: int = typer.Option(None, "--legend-cols", help="Legend columns (default: as many as fit).",
                                    show_default=False),
    color: list[str] = typer.Option(None, "--color", metavar="LABEL=COLOR", help=COLOR_HELP, show_default=False),
    label: list[str] = typer.Option(None, "--label", metavar="OLD=NEW", help=LABEL_HELP, show_default=False),
    no_caption: bool = typer.Option(False, "--no-caption", help="No caption line under the panels."),
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
    opts = fg.PlotOptions(x=x, band=band, smooth=smooth, smooth_kind=smooth_kind, max_steps=max_steps, ncols=ncols,
                          individual=individual, partial=partial, grid_points=grid_points, formats=fmts, dpi=dpi,
                          title=title, xlabel=xlabel, ylabel=ylabel, time_unit=time_unit, legend_cols=legend_cols,
                          x_scale=x_scale, width=parse_width(width), colors=pairs(color, "--color"),
                          caption=not no_caption)
    fg.check_options(opts)
    curves = _selection(specs, env_ids, metric, allow_missing, max_steps, x, pairs(label, "--label"), group_by)
    fg.check_colors(opts.colors, curves.selection.labels)
    opts.slots = style_slots(curves.selection.labels)
    for path in fg.plot_curves(curves, output, opts):
        print(path)


@app.command(cls=ListOptionsCommand)
def table(
    specs: list[str] = typer.Argument(None, help=SPECS_HELP, show_default=False),
    env_ids: list[str] = typer.Option(None, "--env-ids", "-e", help=ENV_HELP, show_default=False),
    metric: str = typer.Option(None, "--metric", "-m", help=METRIC_HELP, show_default=False),
    score: str = typer.Option(None, "--score", metavar="RULE[:PARAM]", help=SCORE_HELP, show_default=False),
    last_n: int = typer.Option(None, "--last-n", show_default=False,
                               help="Run score = mean of its last N logged points (--score last-n:N; default 100)."),
    last_frac: float = typer.Option(None, "--last-frac", show_default=False,
                                    help="Run score = mean of points in the last fraction of its steps (--score "
                                         "last-frac:F)."),
    at_step: float = typer.Option(None, "--at-step", show_default=False,
                                  help="Run score = value interpolated at step S (--score at-step:S)."),
    std: str = typer.Option("sample", "--std", help=STD_HELP),
    ci: bool = typer.Option(False, "--ci", help="Add the 95% bootstrap CI over seeds."),
    max_steps: float = typer.Option(None, "--max-steps", help="Step budget: only points at step <= this are scored.",
                                    show_default=False),
    x: str = typer.Option("step", "--x", metavar="step|KEY", help=X_KEY_HELP + " Applies to --last-frac and "
                          "--max-steps."),
    runtime: bool = typer.Option(False, "--runtime", help="Wall-clock runtime table instead of scores."),
    minimize: bool = typer.Option(False, "--minimize", help="Lower is better when marking the best cell."),
    fmt: str = typer.Option(None, "--format", "-f", show_default=False,
                            help="rich (terminal) | md | csv | latex | json | html. Default: rich, or from -o."),
    as_json: bool = typer.Option(False, "--json", help="Print the table as JSON (= --format json)."),
    label: list[str] = typer.Option(None, "--label", metavar="OLD=NEW", help=LABEL_HELP, show_default=False),
    output: Path = typer.Option(None, "--output", "-o", help="Write to this file.", show_default=False),
    allow_missing: bool = typer.Option(False, "--allow-missing", help=MISSING_HELP),
    group_by: str = typer.Option(None, "--group-by", metavar="CONFIG_KEY", help=GROUP_BY_HELP, show_default=False),
) -> None:
    """Final score per environment × experiment: mean ± std over seeds (seed count).

    A run's score follows --score (default: the mean of its last 100 logged points); every output
    states the rule, its parameter, the step budget and the std convention. The best mean per
    environment is marked. A rule averaging more than half of a run, or a run stopping before
    --max-steps, is a warning naming the runs.
    """
    from openrlb_cli.render import tables as tb

    if as_json:
        if fmt not in (None, "json"):
            raise InputError(f"--json and --format {fmt} disagree; give one")
        fmt = "json"
    by_suffix = {v: k for k, v in tb.SUFFIXES.items()}
    fmt = fmt or (by_suffix.get(output.suffix, "md") if output is not None else "rich")
    if fmt != "rich" and fmt not in tb.TABLE_FORMATS:
        raise InputError(f"--format must be one of rich, {', '.join(tb.TABLE_FORMATS)}, got {fmt!r}")
    if fmt == "rich" and output is not None:
        raise InputError("--format rich is for the terminal; use md, csv, latex, json or html with -o")
    rule = score_rule(score, last_n=last_n, last_frac=last_frac, at_step=at_step, max_steps=max_steps, std=std)
    if x == "time":
        raise InputError("--x time is for plots; a table's steps are step or a series KEY")
    curves = _selection(specs, env_ids, metric, allow_missing, max_steps, x, pairs(label, "--label"), group_by)
    result = (tb.runtime_table(curves) if runtime else
              tb.score_table(curves, ci=ci, minimize=minimize, rule=rule))
    for w in result.warnings:
        warn(w)
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
    smooth: float = typer.Option(0, "--smooth", help=SMOOTH_HELP),
    smooth_kind: str = typer.Option("ma", "--smooth-kind", help=SMOOTH_KIND_HELP),
    max_steps: float = typer.Option(None, "--max-steps", show_default=False),
    ncols: int = typer.Option(None, "--ncols", show_default=False),
    width: str = typer.Option(None, "--width", metavar="one|two|INCHES", help=WIDTH_HELP, show_default=False),
    xlabel: str = typer.Option(None, "--xlabel", show_default=False,
                               help="x-axis label of the step figures (default: what the steps count)."),
    x_scale: float = typer.Option(1.0, "--x-scale", help=X_SCALE_HELP),
    ylabel: str = typer.Option(None, "--ylabel", help="y-axis label (default: a short name of the metric).",
                               show_default=False),
    color: list[str] = typer.Option(None, "--color", metavar="LABEL=COLOR", help=COLOR_HELP, show_default=False),
    label: list[str] = typer.Option(None, "--label", metavar="OLD=NEW", help=LABEL_HELP, show_default=False),
    score: str = typer.Option(None, "--score", metavar="RULE[:PARAM]", help=SCORE_HELP, show_default=False),
    last_n: int = typer.Option(None, "--last-n", show_default=False, help="= --score last-n:N (default 100)."),
    last_frac: float = typer.Option(None, "--last-frac", show_default=False, help="= --score last-frac:F."),
    std: str = typer.Option("sample", "--std", help=STD_HELP),
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

    popts = fg.PlotOptions(band=band, smooth=smooth, smooth_kind=smooth_kind, max_steps=max_steps, ncols=ncols,
                           formats=_split(formats) or ["png", "svg"], width=parse_width(width), xlabel=xlabel,
                           x_scale=x_scale, ylabel=ylabel, colors=pairs(color, "--color"))
    fg.check_options(popts)
    rule = score_rule(score, last_n=last_n, last_frac=last_frac, max_steps=max_steps, std=std)
    extra = []
    if aggregate:  # the section uses the report's score rule for run scores
        from openrlb_cli import aggregate as ag

        agg_opts = ag.AggregateOptions(normalize=normalize)
        ag.check_options(agg_opts)
        extra.append(ag.report_provider(agg_opts))
    curves = _selection(specs, env_ids, metric, allow_missing, max_steps, labels=pairs(label, "--label"),
                        group_by=group_by)
    fg.check_colors(popts.colors, curves.selection.labels)
    popts.slots = style_slots(curves.selection.labels)
    ropts = rp.ReportOptions(plot=popts, score=rule, ci=not no_ci, minimize=minimize,
                             title=title, specs=list(specs or []))
    result = rp.write_report(curves, output, ropts, extra_sections=extra, use_registered=not no_sections)
    for path in result.files:
        print(path)
    for e in result.errors:
        error(with_flags(e, result.error_options.get(e, ())))
    if not result.ok:
        raise typer.Exit(1)
    info(f"report written to {output / 'index.html'}")
