"""`openrlb compare A B`: per-environment hypothesis tests between two experiments; parse, call, print.

Scores per run come from the same selection and score rule as `table` (`cli.analysis_cmd.score_rule`,
`render.tables.rule_scores`); the tests are `analysis.hypothesis`, the layouts `render.hypothesis`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from openrlb_cli.cli.analysis_cmd import (
    ENV_HELP,
    LABEL_HELP,
    METRIC_HELP,
    MISSING_HELP,
    SCORE_HELP,
    SPECS_HELP,
    ListOptionsCommand,
    _selection,
    pairs,
    score_rule,
)
from openrlb_cli.cli.context import app, info, out, warn
from openrlb_cli.errors import InputError


@app.command(cls=ListOptionsCommand)
def compare(
    specs: list[str] = typer.Argument(None, help=SPECS_HELP + " Exactly two lines (experiments A and B).",
                                      show_default=False),
    env_ids: list[str] = typer.Option(None, "--env-ids", "-e", help=ENV_HELP, show_default=False),
    metric: str = typer.Option(None, "--metric", "-m", help=METRIC_HELP, show_default=False),
    score: str = typer.Option(None, "--score", metavar="RULE[:PARAM]", help=SCORE_HELP, show_default=False),
    last_n: int = typer.Option(None, "--last-n", show_default=False, help="= --score last-n:N (default 100)."),
    last_frac: float = typer.Option(None, "--last-frac", show_default=False, help="= --score last-frac:F."),
    at_step: float = typer.Option(None, "--at-step", show_default=False, help="= --score at-step:S."),
    max_steps: float = typer.Option(None, "--max-steps", show_default=False,
                                    help="Step budget: only points at step <= this are scored."),
    test: str = typer.Option("welch", "--test", help="welch (Welch's t-test) | mannwhitney (Mann–Whitney U)."),
    alpha: float = typer.Option(0.05, "--alpha", help="Significance level (after Holm over environments)."),
    power: float = typer.Option(0.8, "--power", help="Power for the number of seeds needed."),
    fmt: str = typer.Option(None, "--format", "-f", show_default=False,
                            help="rich (terminal) | md | csv | json. Default: rich, or from -o."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (= --format json)."),
    output: Path = typer.Option(None, "--output", "-o", help="Write to this file.", show_default=False),
    label: list[str] = typer.Option(None, "--label", metavar="OLD=NEW", help=LABEL_HELP, show_default=False),
    allow_missing: bool = typer.Option(False, "--allow-missing", help=MISSING_HELP),
) -> None:
    """Hypothesis tests of A against B per environment: p-value, Holm–Bonferroni over environments,
    Hedges' g, P(A > B), and the seeds a t-test needs to detect the observed difference.

    Each run is scored with --score (as `table`); a test compares the two experiments' run scores in
    one environment. Environments where either side has fewer than 2 runs get no p-value (n/a).
    """
    import numpy as np

    from openrlb_cli.analysis import hypothesis as ht
    from openrlb_cli.render import hypothesis as rh
    from openrlb_cli.render import tables as tb

    if test not in ht.TESTS:
        raise InputError(f"--test must be one of {', '.join(ht.TESTS)}, got {test!r}")
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise InputError(f"--alpha and --power must be in (0, 1), got {alpha:g} and {power:g}")
    if as_json:
        if fmt not in (None, "json"):
            raise InputError(f"--json and --format {fmt} disagree; give one")
        fmt = "json"
    fmt = fmt or (rh.SUFFIXES.get(output.suffix, "md") if output is not None else "rich")
    if fmt != "rich" and fmt not in rh.FORMATS:
        raise InputError(f"--format must be one of rich, {', '.join(rh.FORMATS)}, got {fmt!r}")
    if fmt == "rich" and output is not None:
        raise InputError("--format rich is for the terminal; use md, csv or json with -o")
    rule = score_rule(score, last_n=last_n, last_frac=last_frac, at_step=at_step, max_steps=max_steps)
    curves = _selection(specs, env_ids, metric, allow_missing, max_steps, labels=pairs(label, "--label"))
    labels = curves.selection.labels
    if len(labels) != 2:
        raise InputError(f"compare needs exactly two experiments, the specs give {len(labels)}"
                         + (f" ({', '.join(labels)})" if labels else ""))
    scored, warnings = tb.rule_scores(curves, rule)
    a, b = labels
    empty = np.empty(0)
    by_env = {env: (scored[(env, a)].scores if (env, a) in scored else empty,
                   scored[(env, b)].scores if (env, b) in scored else empty)
             for env in curves.selection.env_ids}
    few = [env for env, (x, y) in by_env.items() if min(x.size, y.size) < 2]
    if few:
        warnings.append(f"fewer than 2 runs on a side, no test in: {', '.join(few)}")
    report = rh.CompareReport(a, b, curves.selection.metric_label, rule, test, alpha, power,
                              ht.compare(by_env, test, power, alpha), warnings)
    for w in warnings:
        warn(w)
    if fmt == "rich":
        out().print(rh.to_rich(report))
        return
    text = rh.RENDERERS[fmt](report)
    if output is None:
        sys.stdout.write(text)
    else:
        info(f"wrote {tb.write_text(output, text)}")
