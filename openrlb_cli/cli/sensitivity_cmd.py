"""`openrlb sensitivity KEY SPECS`: final score against one config key (render/sensitivity.py)."""

from __future__ import annotations

from pathlib import Path

import typer

from openrlb_cli.cli.analysis_cmd import ENV_HELP, METRIC_HELP, MISSING_HELP, SPECS_HELP, ListOptionsCommand, _split
from openrlb_cli.cli.context import app, warn


@app.command(cls=ListOptionsCommand)
def sensitivity(
    key: str = typer.Argument(..., metavar="CONFIG_KEY", help="The config key on the x axis (e.g. learning_rate)."),
    specs: list[str] = typer.Argument(None, help=SPECS_HELP, show_default=False),
    env_ids: list[str] = typer.Option(None, "--env-ids", "-e", help=ENV_HELP, show_default=False),
    metric: str = typer.Option(None, "--metric", "-m", help=METRIC_HELP, show_default=False),
    output: Path = typer.Option(Path("openrlb-sensitivity"), "--output", "-o",
                                help="Output path without suffix; <output>.csv holds the numbers."),
    formats: list[str] = typer.Option(None, "--formats", help="png, pdf, svg (default: all three).",
                                      show_default=False),
    last_n: int = typer.Option(100, "--last-n", help="Run score = mean of its last N logged points."),
    last_frac: float = typer.Option(None, "--last-frac", show_default=False,
                                    help="Run score = mean of points in the last fraction of its steps."),
    ncols: int = typer.Option(None, "--ncols", help="Panels per row.", show_default=False),
    title: str = typer.Option(None, "--title", show_default=False),
    allow_missing: bool = typer.Option(False, "--allow-missing", help=MISSING_HELP),
) -> None:
    """Final score against one config key, one panel per env and one line per experiment: the mean over
    seeds with a ± std bar, and each seed's score as a dot. Scores as in `table`."""
    from openrlb_cli.cli.analysis_cmd import _selection
    from openrlb_cli.errors import InputError
    from openrlb_cli.render import figures as fg
    from openrlb_cli.render import sensitivity as sv
    from openrlb_cli.render import tables as tb

    fmts = _split(formats) or ([output.suffix[1:]] if output.suffix[1:] in fg.FORMATS else list(fg.FORMATS))
    bad = [f for f in fmts if f not in fg.FORMATS]
    if bad:
        raise InputError(f"--formats must be among {', '.join(fg.FORMATS)}, got {', '.join(bad)}")
    if ncols is not None and ncols < 1:
        raise InputError("--ncols must be >= 1")
    tb.check_score_options(last_n, last_frac)
    curves = _selection(specs, env_ids, metric, allow_missing, None)
    data = sv.compute(curves, key, last_n=last_n, last_frac=last_frac)
    for w in data.warnings[len(curves.warnings):]:
        warn(w)
    for path in sv.write(data, output, fmts, ncols=ncols, title=title):
        print(path)
