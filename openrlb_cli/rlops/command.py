"""`openrlb rlops`: Open RL Benchmark's `python -m openrlbenchmark.rlops` command line, from the store.

The same arguments (`--filters` groups, `--env-ids` lists, `--pc.*`, `--rc.*`,
`--wandb-project-name`, ...) are read; runs that are missing or changed are fetched into the
store in full (never sampled: `--scan-history` is accepted and always true), then rlops' outputs
are written with rlops' numbers and file names (`rlops_outputs`, computed by `rlops_calc` and
checked against openrlbenchmark 0.3.1 itself). `--offline` skips fetching and uses the store only.

How rlops' semantics map onto the store: a group's `ceik`/`cen` config keys become the runs' env
and experiment when fetched; points are stored against the x axis (`xaxis`, default
`global_step`), joined onto the metric row by row as rlops does (see `wandb_map.rows_to_series`);
runs still `running` are left out, as rlops does; runs keep W&B's listing order (oldest first),
which decides rlops' seed pairing and truncation for rliable; environments of several groups are
matched by position (panel i shows env i of every group, titled by the first group's name).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import numpy as np

from openrlb_cli.errors import InputError, SelectionError
from openrlb_cli.rlops.filters import OrlbGroup, parse_groups, split_option_groups
from openrlb_cli.store import Store

UNSUPPORTED = {
    "--report": "--report (a W&B report) is not supported: openrlb writes figures and tables locally",
}
# rlops options openrlb reads but has no use for (layout details of rlops' matplotlib code)
IGNORED = ("pc.cm", "pc.rm", "pc.hspace", "pc.wspace", "pc.sharex")
EFFICIENCY_METHODS = ("Median", "IQM", "Mean", "Optimality Gap")


@dataclass
class RlopsArgs:
    groups: list[OrlbGroup]
    output_filename: str = "compare"
    last_n: int = 100
    offline: bool = False
    check_empty_runs: bool = True
    rliable: bool = False
    pc: dict[str, Any] = field(default_factory=dict)
    rc: dict[str, Any] = field(default_factory=dict)
    given: set[str] = field(default_factory=set)  # option names present on the command line
    wandb_project_name: str = "cleanrl"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="openrlb rlops", add_help=False, allow_abbrev=False)
    p.add_argument("--output-filename", default="compare")
    p.add_argument("--metric-last-n-average-window", type=int, default=100)
    p.add_argument("--wandb-project-name", default="cleanrl")  # the project of headers without wpn=
    p.add_argument("--rc.sample-efficiency-figsize", dest="rc.sample-efficiency-figsize", type=float, nargs=2,
                   default=None, metavar=("WIDTH", "HEIGHT"))
    for flag in ("scan-history", "offline", "rliable", "check-empty-runs", "report", "pc.sharex",
                 "rc.sample-efficiency-plots", "rc.performance-profile-plots", "rc.aggregate-metrics-plots"):
        head, _, tail = flag.rpartition(".")
        negative = f"--{head}.no-{tail}" if head else f"--no-{flag}"
        p.add_argument(f"--{flag}", dest=flag, action="store_true", default=None)
        p.add_argument(negative, dest=flag, action="store_false")
    for name, kind in [("pc.ncols", int), ("pc.ncols-legend", int), ("pc.xlabel", str), ("pc.ylabel", str),
                       ("pc.max-steps", _optional(float)), ("pc.rolling", int), ("pc.time-unit", str), ("pc.cm", float),
                       ("pc.rm", float), ("pc.hspace", float), ("pc.wspace", float), ("rc.nsubsamples", int),
                       ("rc.score-normalization-method", str), ("rc.normalized-score-threshold", float),
                       ("rc.sample-efficiency-and-walltime-efficiency-method", _optional(str)),
                       ("rc.sample-efficiency-num-bootstrap-reps", int),
                       ("rc.performance-profile-num-bootstrap-reps", int),
                       ("rc.interval-estimates-num-bootstrap-reps", int)]:
        p.add_argument(f"--{name}", dest=name, type=kind, default=None)
    return p


class _NoneGiven:
    """`--pc.max-steps None` as tyro reads it: explicitly nothing (the default)."""


NONE_GIVEN = _NoneGiven()


def _optional(kind: type) -> Any:
    def convert(text: str) -> Any:
        return NONE_GIVEN if text == "None" else kind(text)
    convert.__name__ = kind.__name__
    return convert


def _normalise(token: str) -> str:
    """tyro accepts `--pc.ncols_legend` and `--pc.ncols-legend`; so do we."""
    if not token.startswith("--"):
        return token
    name, eq, value = token.partition("=")
    return name.replace("_", "-") + eq + value


def parse_args(argv: list[str]) -> RlopsArgs:
    plain, groups = split_option_groups([_normalise(t) for t in argv], ("--filters", "--env-ids"))
    for name, why in UNSUPPORTED.items():
        if name in plain:
            raise InputError(why)
    parser = _parser()
    try:
        ns, rest = parser.parse_known_args(plain)
    except SystemExit:  # argparse already printed the reason
        raise InputError("cannot read the rlops options (see `openrlb rlops --help`)") from None
    if rest:
        raise InputError(f"unknown rlops option {rest[0]!r} (see `openrlb rlops --help`)")
    values = vars(ns)
    given = {k for k, v in values.items() if v is not None}
    values = {k: (None if v is NONE_GIVEN else v) for k, v in values.items()}
    method = values.get("rc.sample-efficiency-and-walltime-efficiency-method")
    if method is not None and method not in EFFICIENCY_METHODS:
        raise InputError(f"--rc.sample-efficiency-and-walltime-efficiency-method must be one of "
                         f"{', '.join(EFFICIENCY_METHODS)} or None, got {method!r}")
    if "rc.sample-efficiency-and-walltime-efficiency-method" in given and method is None:
        values["rc.sample-efficiency-and-walltime-efficiency-method"] = NONE_GIVEN  # kept: no walltime figure
    if values.get("report"):
        raise InputError(UNSUPPORTED["--report"])
    method = values.get("rc.score-normalization-method")
    if method not in (None, "maxmin", "atari"):
        raise InputError(f"--rc.score-normalization-method must be maxmin or atari, got {method!r}")
    last_n = values["metric_last_n_average_window"]
    if last_n < 1:
        raise InputError(f"--metric-last-n-average-window must be >= 1, got {last_n}")
    return RlopsArgs(
        groups=parse_groups(groups["--filters"], groups["--env-ids"], values["wandb_project_name"]),
        output_filename=values["output_filename"],
        last_n=last_n,
        offline=bool(values.get("offline")),
        check_empty_runs=values.get("check-empty-runs") is not False,
        rliable=bool(values.get("rliable")),
        pc={k[3:]: v for k, v in values.items() if k.startswith("pc.") and v is not None},
        rc={k[3:]: v for k, v in values.items() if k.startswith("rc.") and v is not None},
        given=given,
        wandb_project_name=values["wandb_project_name"],
    )


def wandb_queries(args: RlopsArgs) -> list[Any]:
    return [q for g in args.groups for q in g.queries()]


# ------------------------------------------------------------------------------ selection
def spec_text(group: OrlbGroup, exp: Any) -> str:
    """An openrlb selection spec equivalent to one rlops experiment filter (values %-escaped)."""
    parts = [("project", group.path), ("source", "wandb")]
    parts += [("tag", t) for t in exp.tags] + [("user", u) for u in exp.users]
    parts += [(k, v) for k, vs in exp.config.items() for v in vs]
    parts.append(("cl", exp.label))
    query = "&".join(f"{quote(k, safe='')}={quote(str(v), safe='')}" for k, v in parts)
    return f"{quote(exp.exp_name, safe='')}?{query}"


def _join_x(store: Store, curves: Any, xaxis: str) -> list[str]:
    """Put every curve on the group's x axis.

    Fetched runs are stored against it already (`fetch_runs.x_axis`). Runs stored against W&B's
    `_step` (by openrlb before migration 0005 with `--offline`, or runs that do not log the axis)
    get the x-axis series' value logged at the same `_step`, as rlops joins rows.
    """
    from openrlb_cli.analysis.curves import join_on_step
    from openrlb_cli.fetch.state import x_axes

    warnings: list[str] = []
    cells = [rc for runs in curves.by_cell.values() for rc in runs]
    axes = x_axes(store, [rc.run.id for rc in cells])
    cells = [rc for rc in cells if (axes.get(rc.run.id) or "_step") != xaxis]
    if not cells:
        return warnings
    for rc in cells:
        if (axes.get(rc.run.id) or "_step") != "_step":
            warnings.append(f"run {rc.run.uid} is stored against {axes[rc.run.id]!r}, not {xaxis!r}: "
                            f"fetch it again with this group (or --x-axis {xaxis})")
    cells = [rc for rc in cells if (axes.get(rc.run.id) or "_step") == "_step"]
    x_of = store.load_many([rc.run.id for rc in cells], xaxis)
    for rc in cells:
        xs = x_of.get(rc.run.id)
        if xs is None or len(xs) == 0:
            warnings.append(f"run {rc.run.uid} has no {xaxis!r} series: plotted against W&B's _step")
            continue
        x, hit = join_on_step(rc.steps, xs.steps, xs.values)
        if not hit.all():
            warnings.append(f"run {rc.run.uid}: {int((~hit).sum())} point(s) without a {xaxis!r} value left out")
        values, walls = rc.values[hit], rc.walls[hit]
        sort = np.argsort(x, kind="stable")
        rc.steps, rc.values, rc.walls = x[sort], values[sort], walls[sort]
    return warnings


def build_curves(store: Store, args: RlopsArgs) -> Any:
    """Resolve every group against the store and merge them into one `Curves` (panels by position)."""
    from openrlb_cli.selection import Curves, ExperimentSel, Selection, load_curves, resolve

    panels = args.groups[0].env_ids
    for g in args.groups[1:]:
        if len(g.env_ids) != len(panels):
            raise InputError(f"--env-ids lists must be equally long (panels are matched by position): "
                             f"{len(panels)} vs {len(g.env_ids)}")
    experiments: list[ExperimentSel] = []
    keys: dict[int, str] = {}
    by_cell: dict[tuple[str, str], list[Any]] = {}
    warnings: list[str] = []
    for group in args.groups:
        rename = dict(zip(group.env_ids, panels, strict=True))
        sel = resolve(store, [spec_text(group, e) for e in group.experiments], group.env_ids, group.metric,
                      allow_missing=not args.check_empty_runs)
        curves = load_curves(store, sel)
        warnings += curves.warnings + _join_x(store, curves, group.xaxis)
        for exp in sel.experiments:
            experiments.append(ExperimentSel(exp.label, exp.spec,
                                             {rename.get(env, env): runs for env, runs in exp.runs_by_env.items()}))
        keys.update(sel.keys)
        for (label, env), runs in curves.by_cell.items():
            kept = [rc for rc in runs if rc.run.state != "running"]
            if len(kept) < len(runs):
                warnings.append(f"{label} / {env}: {len(runs) - len(kept)} running run(s) left out (as rlops does)")
            if kept:
                if (label, rename.get(env, env)) in by_cell:
                    raise SelectionError(f"two experiments are labelled {label!r}; give each its own cl=")
                by_cell[(label, rename.get(env, env))] = kept
    if not by_cell:
        raise SelectionError("no finished run with points matches the filters (fetch first, or drop --offline)")
    metric = args.groups[0].metric if len({g.metric for g in args.groups}) == 1 else None
    selection = Selection(experiments, list(panels), metric, keys, warnings)
    return Curves(selection, by_cell, warnings)


# ------------------------------------------------------------------------------ outputs
def load_rows(store: Store, curves: Any, args: RlopsArgs) -> dict[tuple[str, str], list[Any]]:
    """Every cell's runs as rlops sees them (`rlops_calc.RunRows`), in W&B's listing order.

    The metric points come from the curves (already on the group's x axis); `_runtime` is joined
    on from its own series where that is stored on the same axis, else wall time stands in.
    """
    from openrlb_cli.fetch.state import x_axes
    from openrlb_cli.rlops import calc

    xaxis_of = {e.label: g.xaxis for g in args.groups for e in g.experiments}
    cells = [rc for runs in curves.by_cell.values() for rc in runs]
    ids = [rc.run.id for rc in cells]
    axes = x_axes(store, ids)
    runtimes = store.load_many(ids, "_runtime")
    out: dict[tuple[str, str], list[Any]] = {}
    for (label, env), runs in curves.by_cell.items():
        ordered = sorted(runs, key=lambda rc: (rc.run.created_at if rc.run.created_at is not None else np.inf,
                                               rc.run.external_id))
        rows = []
        for rc in ordered:
            rt = runtimes.get(rc.run.id)
            same_axis = (axes.get(rc.run.id) or "_step") == xaxis_of.get(label, "global_step")
            if rt is None or not same_axis:
                rows.append(calc.join_rows(rc.steps, rc.values, rc.walls, None, None, None))
            else:
                rows.append(calc.join_rows(rc.steps, rc.values, rc.walls, rt.steps, rt.values, rt.wall_times))
        out[(label, env)] = [r for r in rows if len(r)]
    return out


def write_outputs(curves: Any, rows: dict[tuple[str, str], list[Any]], args: RlopsArgs) -> Any:
    """rlops' figures and tables (and with --rliable its rliable figures), rlops' numbers."""
    from openrlb_cli.rlops.outputs import write_all

    result = write_all(curves, rows, args)
    result.warnings += [f"--{name} is accepted and has no effect in openrlb" for name in IGNORED
                        if name in args.given]
    return result
