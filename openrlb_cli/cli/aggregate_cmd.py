"""`openrlb aggregate`: rliable-style aggregate metrics with interval estimates; parse, call, print.

All numbers come from `openrlb_cli.aggregate` (which calls `openrlb_cli.analysis`); this module
only maps options, prints the table or JSON, and lists the files. The selection options are the
ones of `plot`/`table` (`--env-ids` and `--formats` take several words or commas).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from openrlb_cli.cli import context
from openrlb_cli.cli.analysis_cmd import (
    COLOR_HELP,
    ENV_HELP,
    LABEL_HELP,
    METRIC_HELP,
    SCORE_HELP,
    SPECS_HELP,
    X_KEY_HELP,
    X_SCALE_HELP,
    ListOptionsCommand,
    _split,
    check_x,
    pairs,
    parse_width,
    score_rule,
    style_slots,
)
from openrlb_cli.cli.context import app, info, open_store, out, warn
from openrlb_cli.errors import InputError

FORMATS = ("png", "pdf", "svg")


@app.command(cls=ListOptionsCommand)
def aggregate(
    ctx: typer.Context,
    specs: list[str] = typer.Argument(None, help=SPECS_HELP, show_default=False),
    env_ids: list[str] = typer.Option(None, "--env-ids", "-e", help=ENV_HELP + " Each env is one task.",
                                      show_default=False),
    metric: str = typer.Option(None, "--metric", "-m", help=METRIC_HELP, show_default=False),
    normalize: str = typer.Option("maxmin", "--normalize", "-n",
                                  help="atari (human-normalized, 57-game table) | maxmin (per task, over the "
                                       "selection) | none | PATH.csv (columns env,low,high or game,random,human)."),
    score: str = typer.Option(None, "--score", metavar="RULE[:PARAM]", help=SCORE_HELP, show_default=False),
    max_steps: float = typer.Option(None, "--max-steps", show_default=False,
                                    help="Step budget: only points at step <= this are scored and drawn."),
    last_n: int = typer.Option(None, "--last-n", help="Run score = mean of its last N logged points (default 100).",
                               show_default=False),
    last_frac: float = typer.Option(None, "--last-frac", show_default=False,
                                    help="Run score = mean of points in the last fraction of its steps."),
    at_step: float = typer.Option(None, "--at-step", show_default=False,
                                  help="Run score = value interpolated at step S (error outside a run's range)."),
    x: str = typer.Option("step", "--x", metavar="step|KEY", help=X_KEY_HELP + " Applies to --at-step, "
                          "--last-frac and the sample-efficiency curves."),
    reps: int = typer.Option(50_000, "--reps", help="Bootstrap replicates for the aggregate intervals."),
    profile_reps: int = typer.Option(2_000, "--profile-reps", help="Replicates for the performance-profile bands."),
    poi_reps: int = typer.Option(2_000, "--poi-reps", help="Replicates for probability of improvement."),
    curve_reps: int = typer.Option(2_000, "--curve-reps", help="Replicates for the sample-efficiency bands."),
    ci: float = typer.Option(0.95, "--ci", help="Confidence level."),
    method: str = typer.Option("percentile", "--method",
                               help="percentile | basic | bc | bca, as rliable (aggregates and P(X > Y); bands are "
                                    "always percentile)."),
    task_bootstrap: bool = typer.Option(False, "--task-bootstrap",
                                        help="Resample tasks as well as runs (rliable's task_bootstrap; not for "
                                             "P(X > Y); needs equal run counts per task)."),
    seed: int = typer.Option(0, "--bootstrap-seed", help="Seed of the bootstrap's random numbers: same seed, same "
                                                         "intervals bit for bit (not a run filter)."),
    old_seed: int = typer.Option(None, "--seed", hidden=True, show_default=False,
                                 help="Old name of --bootstrap-seed."),
    gamma: float = typer.Option(1.0, "--gamma", help="Target of the optimality gap."),
    tau_points: int = typer.Option(101, "--tau-points", help="Thresholds τ of the performance profiles."),
    tau_max: float = typer.Option(None, "--tau-max", help="Profiles over τ in [0, MAX] (default: the score range).",
                                  show_default=False),
    curve_points: int = typer.Option(50, "--curve-points",
                                     help="Grid points of the sample-efficiency curves (0 = no curves)."),
    curve_aggregate: str = typer.Option("iqm", "--curve-aggregate", help="iqm | median | mean | optimality_gap."),
    whole_curve_auc: bool = typer.Option(False, "--whole-curve-auc",
                                         help="Also aggregate each run's normalized area under the curve over the "
                                              "steps every run covers (entire runs resampled)."),
    allow_missing_tasks: bool = typer.Option(False, "--allow-missing-tasks",
                                             help="An experiment without runs in a task is aggregated over the "
                                                  "tasks it has (and compared over shared tasks) with a warning."),
    formats: list[str] = typer.Option(None, "--formats", help="png, pdf, svg (default: all three).",
                                      show_default=False),
    output: Path = typer.Option(Path("openrlb-aggregate"), "--output", "-o",
                                help="Prefix of the files written (PREFIX_aggregates.json, PREFIX_intervals.png, ...); "
                                     "an existing directory gets the bare names."),
    dpi: int = typer.Option(150, "--dpi"),
    width: str = typer.Option(None, "--width", metavar="one|two|INCHES", show_default=False,
                              help="Figure width: one (3.25 in, one column of a two-column paper), two (6.75 in, "
                                   "full width) or inches; panels are sized to fit and wrap to more rows where they "
                                   "would be too narrow (long labels may need more). Default: sized from the panels."),
    xlabel: str = typer.Option(None, "--xlabel", show_default=False,
                               help="x label of the sample-efficiency figure (default: what the steps count)."),
    x_scale: float = typer.Option(1.0, "--x-scale", help=X_SCALE_HELP + " (sample-efficiency figure)"),
    color: list[str] = typer.Option(None, "--color", metavar="LABEL=COLOR", help=COLOR_HELP, show_default=False),
    label: list[str] = typer.Option(None, "--label", metavar="OLD=NEW", help=LABEL_HELP, show_default=False),
    workers: int = typer.Option(None, "--workers", help="Threads (default: cores, at most 8); never changes results.",
                                show_default=False),
    as_json: bool = typer.Option(False, "--json", help="Print the aggregates document as JSON instead of the table."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No table and no informational output."),
) -> None:
    """Aggregate metrics across tasks with stratified-bootstrap confidence intervals (rliable's definitions).

    Per experiment: IQM, median, mean and optimality gap of normalized run scores with intervals;
    performance profiles; probability of improvement for every pair; sample-efficiency curves. Writes
    PREFIX_{aggregates,improvement,profiles,efficiency}.{json,csv}, PREFIX_scores.csv and the figures
    PREFIX_{intervals,profiles,improvement,efficiency}.{png,pdf,svg}; byte-identical for the same seed.
    """
    from openrlb_cli.render import figure_pool

    # first, so that the figure-writing process imports matplotlib while this one imports scipy and computes
    pool = figure_pool.start(workers)
    if pool is not None:
        ctx.call_on_close(pool.close)
    from openrlb_cli import aggregate as ag
    from openrlb_cli import memory

    if quiet:
        context.state.quiet = True
    if old_seed is not None:
        if seed != 0 and seed != old_seed:
            raise InputError("--seed is the old name of --bootstrap-seed; give one")
        seed = old_seed
    rule = score_rule(score, last_n=last_n, last_frac=last_frac, at_step=at_step, max_steps=max_steps)
    opts = ag.AggregateOptions(
        normalize=normalize, last_n=100 if last_n is None else last_n, last_frac=last_frac, at_step=at_step,
        score=rule,
        reps=reps, profile_reps=profile_reps, poi_reps=poi_reps, curve_reps=curve_reps, ci=ci, method=method,
        seed=seed, gamma=gamma, tau_points=tau_points, tau_max=tau_max, curve_points=curve_points,
        curve_aggregate=curve_aggregate,
        whole_curve_auc=whole_curve_auc, allow_missing_tasks=allow_missing_tasks, task_bootstrap=task_bootstrap,
        workers=workers)
    ag.check_options(opts)
    fmts = _split(formats) or list(FORMATS)
    bad = [f for f in fmts if f not in FORMATS]
    if bad:
        raise InputError(f"--formats must be among {', '.join(FORMATS)}, got {', '.join(bad)}")
    if dpi < 10:
        raise InputError(f"--dpi must be >= 10, got {dpi}")
    if not x_scale > 0:
        raise InputError(f"--x-scale must be > 0, got {x_scale:g}")
    inches = parse_width(width)
    if x == "time":
        raise InputError("--x time is for plots; aggregate steps are step or a series KEY")
    memory.reuse_freed_blocks()  # ~0.8 s less page faulting in the bootstrap (see openrlb_cli.memory)
    with open_store(create=False) as store:
        curves = ag.load(store, specs or [], _split(env_ids), metric, allow_missing_tasks, x=check_x(x),
                         max_steps=max_steps, labels=pairs(label, "--label"))
    result = ag.compute(curves, opts)
    for w in result.warnings:
        warn(w)
    pinned = pairs(color, "--color")
    slots = style_slots(result.labels)
    colors = None
    if pinned:
        from openrlb_cli.render.styles import check_pinned, colors_of

        try:
            check_pinned(pinned, result.labels)
        except ValueError as exc:
            raise InputError(f"--color: {exc}") from exc
        colors = colors_of(result.labels, slots, pinned)
    paths = ag.write_outputs(result, output, fmts, dpi=dpi, pool=pool, slots=slots, colors=colors, xlabel=xlabel,
                             x_scale=x_scale, width=inches)
    if as_json:
        sys.stdout.write(ag.data_files(result)["aggregates.json"])
    elif not context.state.quiet:
        out().print(ag.to_rich(result))
    info(f"wrote {len(paths)} files: " + ", ".join(str(p) for p in paths))
