"""`openrlb ingest`: local run logs into the store."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from openrlb_cli.cli.context import app, info, open_store, print_json, progress, state, warn

if TYPE_CHECKING:
    from openrlb_cli.ingest.base import ReadOptions
    from openrlb_cli.ingest.pipeline import IngestSummary, Overrides
    from openrlb_cli.store import Store

EXIT_SKIPPED = 2


@app.command("ingest")
def ingest_cmd(
    paths: list[Path] = typer.Argument(..., help="Files or directories (walked recursively)."),
    fmt: str | None = typer.Option(
        None, "--format", "-f",
        help="Force a format: tensorboard, sb3-monitor, sb3-progress-csv, sb3-progress-json, csv, jsonl, "
        "mlflow-files, mlflow-sqlite, sacred, wandb-offline, wandb-files, wandb-csv, "
        "parquet (a dataset directory from `openrlb export --format parquet`).",
    ),
    project: str | None = typer.Option(
        None, "--project", help="Project of the runs (default: local). {stem}/{parent}: the file's name/folder."
    ),
    experiment: str | None = typer.Option(
        None, "--experiment", help="Experiment (algorithm) name; {stem}/{parent} as for --project."
    ),
    env: str | None = typer.Option(
        None, "--env", help="Environment id; {stem}/{parent}: the file's name/folder (one game per file)."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Seed."),
    tag: list[str] = typer.Option(None, "--tag", help="Tag to add (repeatable)."),
    set_: list[str] = typer.Option(None, "--set", help="Config key=value to set (repeatable)."),
    step_column: str | None = typer.Option(None, "--step-column", help="CSV/JSONL: the x-axis column."),
    value_column: list[str] = typer.Option(None, "--value-column", help="CSV/JSONL: metric column (repeatable)."),
    run_column: str | None = typer.Option(None, "--run-column", help="CSV/JSONL long format: run column."),
    experiment_column: str | None = typer.Option(None, "--experiment-column", help="CSV/JSONL: experiment column."),
    env_column: str | None = typer.Option(None, "--env-column", help="CSV/JSONL: environment column."),
    seed_column: str | None = typer.Option(None, "--seed-column", help="CSV/JSONL: seed column."),
    wall_time_column: str | None = typer.Option(None, "--wall-time-column", help="CSV/JSONL: wall-time column."),
    metric: str | None = typer.Option(None, "--metric", help="Wide per-seed CSV: metric name for the columns."),
    watch: bool = typer.Option(False, "--watch", help="Keep tailing the paths for new points until Ctrl-C."),
    interval: float = typer.Option(5.0, "--interval", help="Seconds between scans with --watch."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Ingest run logs; re-ingesting reads only what is new. Exit 2 if any file was skipped."""
    from openrlb_cli.ingest.base import ReadOptions
    from openrlb_cli.ingest.pipeline import Overrides, ingest, parse_set

    options = ReadOptions(
        step_column=step_column, value_columns=value_column or None, run_column=run_column,
        experiment_column=experiment_column, env_column=env_column, seed_column=seed_column,
        wall_time_column=wall_time_column, metric=metric,
    )
    overrides = Overrides(project=project, experiment=experiment, env=env, seed=seed, tags=list(tag or []),
                          config=parse_set(set_))
    with open_store() as store:
        summary = _ingest_once(store, paths, fmt, options, overrides)
        _report(summary, json_out)
        if watch:
            info(f"watching {len(paths)} path(s) every {interval:g}s; Ctrl-C to stop")
            try:
                while True:
                    time.sleep(interval)
                    with _gc_paused():
                        more = ingest(store, paths, fmt=fmt, options=options, overrides=overrides)
                    if more.points or more.skipped:
                        _report(more, json_out)
            except KeyboardInterrupt:
                info("stopped watching")
                return
    if summary.skipped:
        raise typer.Exit(EXIT_SKIPPED)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while ingesting. Why: an ingest allocates millions of small
    objects that never form cycles (rows for executemany, one record per run), and the collector
    walking them and every loaded module's objects was ~10% of a 25,000-run CSV ingest. Cycles
    left meanwhile are few (a parse error's traceback) and collected at the end."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
            gc.collect(0)


def _ingest_once(store: Store, paths: list[Path], fmt: str | None, options: ReadOptions,
                 overrides: Overrides) -> IngestSummary:
    from openrlb_cli.ingest.pipeline import discover, ingest

    units, skipped = discover(paths, fmt)
    total = 0
    for u in units:
        try:
            total += u.stat()[0]
        except OSError:
            pass
    with progress("bytes") as bar, _gc_paused():
        task = bar.add_task("ingesting", total=total or None)
        summary = ingest(store, paths, fmt=fmt, options=options, overrides=overrides, units=units,
                         on_unit=lambda unit, size: bar.advance(task, size))
    summary.skipped = skipped + summary.skipped
    return summary


def _report(summary: IngestSummary, json_out: bool) -> None:
    for path, reason in summary.skipped:
        warn(f"skipped {path}: {reason}")
    for w in summary.warnings:
        warn(w)
    if json_out:
        print_json(summary.to_dict())
    elif not state.quiet:
        info(
            f"{len(summary.runs)} runs ({summary.new_runs} new), {len(summary.series)} series, "
            f"{summary.points:,} points from {summary.units} files"
            + (f"; {summary.unchanged} unchanged" if summary.unchanged else "")
            + (f"; {len(summary.skipped)} skipped" if summary.skipped else "")
        )
