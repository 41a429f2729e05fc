"""`openrlb ingest`: local run logs into the store."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from openrlb_cli.cli.context import app, error, info, open_store, print_json, progress, state, warn

if TYPE_CHECKING:
    from openrlb_cli.ingest.base import ReadOptions
    from openrlb_cli.ingest.pipeline import IngestSummary, Overrides
    from openrlb_cli.store import Store

EXIT_SKIPPED = 2
EXIT_NOTHING = 4  # as fetch's "nothing could be fetched": no log file under the paths given
WAIT_HELP = "If another ingest/fetch/sync holds the store's lock, wait for it instead of exiting with code 5."


@app.command("ingest")
def ingest_cmd(
    paths: list[Path] = typer.Argument(..., help="Files or directories (walked recursively)."),
    fmt: str | None = typer.Option(
        None, "--format", "-f",
        help="Force a format by name, e.g. tensorboard, sb3-progress-csv, csv, jsonl, mlflow-files, wandb-offline, "
        "parquet (a dataset directory from `openrlb export --format parquet`); an unknown name lists them all "
        "(each log format declares itself, so this help does not).",
    ),
    project: str | None = typer.Option(
        None, "--project",
        help="Project of the runs (default: local). {stem}/{parent}/{grandparent}: the file's name/folder/"
        "the folder above."
    ),
    experiment: str | None = typer.Option(
        None, "--experiment", help="Experiment (algorithm) name; {stem}/{parent}/{grandparent} as for --project."
    ),
    env: str | None = typer.Option(
        None, "--env",
        help="Environment id; {stem}/{parent}/{grandparent} as for --project (--env '{stem}': one game per file)."
    ),
    seed: str | None = typer.Option(None, "--seed", help="Seed (an integer, or {stem}/{parent}/{grandparent})."),
    layout: str | None = typer.Option(
        None, "--layout",
        help="Path template below each PATH, e.g. '{env}/{experiment}/*' or '{experiment}/{env}/seed_{seed}': "
        "{project}/{experiment}/{env}/{seed}/{name} take fields from folder names, * matches within a name, "
        "** any folders. Explicit --env/--experiment/--seed win over it."),
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
    as_copy: bool = typer.Option(
        False, "--as-copy",
        help="Logs that are a copy of logs already stored (same content, another place) are stored as runs "
        "of their own; by default they are recognised, reported and not ingested again.",
    ),
    watch: bool = typer.Option(False, "--watch", help="Keep tailing the paths for new points until Ctrl-C."),
    interval: float = typer.Option(5.0, "--interval", help="Seconds between scans with --watch."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    wait: bool = typer.Option(False, "--wait", help=WAIT_HELP),
) -> None:
    """Ingest run logs; re-ingesting reads only what is new.

    Exit codes: 0 all read; 2 a file was skipped (each named with its reason, the rest stored); 4 no log
    file found under the paths; 5 another ingest/fetch/sync holds the store's lock (see --wait).
    """
    from openrlb_cli.ingest.base import ReadOptions
    from openrlb_cli.ingest.pipeline import Overrides, ingest, parse_set

    options = ReadOptions(
        step_column=step_column, value_columns=value_column or None, run_column=run_column,
        experiment_column=experiment_column, env_column=env_column, seed_column=seed_column,
        wall_time_column=wall_time_column, metric=metric,
    )
    if seed is not None and "{" not in seed:
        try:
            seed = str(int(seed))
        except ValueError:
            from openrlb_cli.errors import InputError

            raise InputError(f"--seed must be an integer or hold {{stem}}/{{parent}}/{{grandparent}}, got {seed!r}") \
                from None
    if layout is not None:
        from openrlb_cli.ingest.layout import compile_template

        compile_template(layout)  # a bad template is an error before anything is read
    overrides = Overrides(project=project, experiment=experiment, env=env, seed=seed, tags=list(tag or []),
                          layout=layout,
                          config=parse_set(set_))
    with open_store() as store:
        with _locked(store.path, wait):
            summary, found = _ingest_once(store, paths, fmt, options, overrides, as_copy)
        if found or watch or json_out:
            _report(summary, json_out)
        else:
            for path, reason in summary.skipped:
                warn(_skip_line(path, reason))
        if not found and not watch:
            error(_nothing_found(paths, fmt))
            raise typer.Exit(EXIT_NOTHING)
        if watch:
            if not found:
                info(_nothing_found(paths, fmt, yet=True))
            info(f"watching {len(paths)} path(s) every {interval:g}s; Ctrl-C to stop")
            try:
                while True:
                    time.sleep(interval)
                    # the lock is taken per scan and released while sleeping, so a cron ingest or a
                    # sync of the same store waits for at most one scan
                    with _locked(store.path, True, quiet=True), _gc_paused():
                        more = ingest(store, paths, fmt=fmt, options=options, overrides=overrides,
                                      as_copy=as_copy)
                    if more.points or more.skipped:
                        _report(more, json_out)
            except KeyboardInterrupt:
                info("stopped watching")
                return
    if summary.skipped:
        raise typer.Exit(EXIT_SKIPPED)


def _nothing_found(paths: list[Path], fmt: str | None, yet: bool = False) -> str:
    where = ", ".join(str(p) for p in paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
    if fmt or yet:
        return f"no {fmt + ' ' if fmt else ''}log file found in {where}{' yet' if yet else ''}"
    return f"no log file found in {where} (force a format with --format)"


@contextmanager
def _locked(store_path: Path, wait: bool, quiet: bool = False) -> Iterator[None]:
    """The store's lock (shared with fetch/sync) around one ingest: planning what is new and writing it
    must not interleave with another writer's, or both append the same points."""
    from openrlb_cli.store.lock import StoreBusyError, store_lock

    def waiting(pid: str) -> None:
        if not quiet:
            info(f"waiting for another openrlb writing this store (pid {pid})...")

    try:
        with store_lock(store_path, wait=wait, holder="ingest", on_wait=waiting):
            yield
    except StoreBusyError as exc:
        raise StoreBusyError(f"{exc}. Pass --wait to wait for it to finish", exc.pid, exc.holder) from None


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


def _ingest_once(store: Store, paths: list[Path], fmt: str | None, options: ReadOptions, overrides: Overrides,
                 as_copy: bool = False) -> tuple[IngestSummary, bool]:
    """The summary, and whether any log file was found at all."""
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
                         on_unit=lambda unit, size: bar.advance(task, size), as_copy=as_copy)
    summary.skipped = skipped + summary.skipped
    return summary, bool(units)


def _report(summary: IngestSummary, json_out: bool) -> None:
    for path, reason in summary.skipped:
        warn(_skip_line(path, reason))
    for w in summary.warnings:
        warn(w)
    for here, there, n in summary.already_stored:
        warn(f"{n} run{'s' if n != 1 else ''} already stored from {there}: {here} holds a copy of "
             f"{'them' if n != 1 else 'it'} and was not ingested again (--as-copy stores the copy as runs of its own)")
    if json_out:
        print_json(summary.to_dict())
    elif not state.quiet:
        info(
            f"{len(summary.runs)} runs ({summary.new_runs} new), {len(summary.series)} series, "
            f"{summary.points:,} points from {summary.units} files"
            + (f"; {summary.unchanged} unchanged" if summary.unchanged else "")
            + (f"; {len(summary.skipped)} skipped" if summary.skipped else "")
        )


def _skip_line(path: str, reason: str) -> str:
    """A skipped file's warning; an unrecognised format gets the flag that forces one."""
    hint = " (--format)" if reason.startswith("not a recognised log format") else ""
    return f"skipped {path}: {reason}{hint}"
