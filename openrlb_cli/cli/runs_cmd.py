"""Reading the store back: info, runs, show, rm, export."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from openrlb_cli.cli.context import app, info, open_store, out, print_json, progress, warn
from openrlb_cli.errors import InputError, SelectionError
from openrlb_cli.store import suggest

if TYPE_CHECKING:
    from openrlb_cli.model import RunInfo
    from openrlb_cli.store import Store
from openrlb_cli.store.filters import parse_filters

# A rich table costs ~0.5 ms a row: beyond this many runs `runs` prints plain aligned columns
# (25,000 runs: ~0.2 s instead of ~15 s).
RICH_TABLE_ROWS = 1000

FILTERS_HELP = ("Filters key=value (or !=, <, <=, >, >=): project, experiment, env, seed, tag, user, state, source, "
                "run, or a config key; e.g. lr<1e-3 seed>=3 state!=crashed.")

DELETED_HELP = "Also the runs a fetch or sync found deleted on their server (kept in the store, hidden by default)."


def _is_filter(word: str) -> bool:
    return any(op in word for op in ("=", "<", ">"))


def _when(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


@app.command("info")
def info_cmd(json_out: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Where the store is, its schema version and what it holds."""
    with open_store() as store:
        data = store.info()
    if json_out:
        print_json(data)
        return
    for key, value in data.items():
        out().print(f"[bold]{key}[/bold]: {value}", highlight=False)


@app.command("runs")
def runs_cmd(
    filters: list[str] = typer.Argument(None, help=FILTERS_HELP),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
    limit: int = typer.Option(0, "--limit", help="Show at most this many runs (0 = all)."),
    deleted: bool = typer.Option(False, "--deleted", help=DELETED_HELP),
) -> None:
    """List runs (runs deleted on their server only with --deleted)."""
    with open_store() as store:
        flt = parse_filters(filters)
        runs = suggest.select(store, flt, allow_empty=True, deleted=deleted)
        for message in suggest.unused_values(store, flt) if runs else []:
            warn(message)
        gone = store.deleted_at([r.id for r in runs]) if deleted else {}
        counts: dict[int, list[int]] = {}  # run id -> [series, points]
        for s in store.series_info([r.id for r in runs]):
            counts.setdefault(s.run_id, [0, 0])
            counts[s.run_id][0] += 1
            counts[s.run_id][1] += s.n_points
    if limit:
        runs = runs[:limit]
    if json_out:
        print_json([{**r.to_dict(), "n_series": counts.get(r.id, [0, 0])[0],
                     "n_points": counts.get(r.id, [0, 0])[1], "deleted_on_server_at": gone.get(r.id)} for r in runs])
        return
    columns = ("run", "project", "experiment", "env", "seed", "state", "series", "points", "tags", "created")
    right = {"seed", "series", "points"}
    rows: list[tuple[str, ...]] = []
    for r in runs:
        n_series, n_points = counts.get(r.id, [0, 0])
        rows.append((r.uid, r.project, r.experiment or "", r.env or "", "" if r.seed is None else str(r.seed),
                     (r.state or "") + (" (deleted on server)" if r.id in gone else ""), str(n_series),
                     f"{n_points:,}", ",".join(r.tags), _when(r.created_at)))
    title = f"{len(runs)} runs"
    if len(rows) > RICH_TABLE_ROWS:
        _plain_table(title, columns, right, rows)
        return
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col in columns:
        table.add_column(col, justify="right" if col in right else "left")
    for row in rows:
        table.add_row(*row)
    out().print(table)


def _plain_table(title: str, columns: tuple[str, ...], right: set[str], rows: list[tuple[str, ...]]) -> None:
    """Columns padded to their widest cell, two spaces apart: linear in rows, no markup."""
    widths = [max(len(col), *(len(row[i]) for row in rows)) for i, col in enumerate(columns)]
    pads = [str.rjust if col in right else str.ljust for col in columns]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(pad(cell, w) for pad, cell, w in zip(pads, cells, widths, strict=True)).rstrip()

    sys.stdout.write("\n".join([title, line(columns), *(line(row) for row in rows)]) + "\n")
    sys.stdout.flush()


@app.command("show")
def show_cmd(
    run: str = typer.Argument(..., help="Run uid (or unique prefix), id or name."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
    reproduce: bool = typer.Option(False, "--reproduce", help="Print how to rerun a tracked run."),
    output: Path | None = typer.Option(
        None, "-o", "--output", help="With --reproduce: write the pinned requirements to this file."
    ),
) -> None:
    """A run's metadata, config, tags, series (point counts and step ranges) and, for a tracked run,
    its provenance (command, working dir, exit code, git state, Python, duration, packages)."""
    from openrlb_cli.fetch.state import x_axes
    from openrlb_cli.store import edits
    from openrlb_cli.track.records import load_provenance

    with open_store() as store:
        r = store.get_run(run)
        if reproduce:
            from openrlb_cli.track.reproduce import write_reproduce

            sys.stdout.write(write_reproduce(store, r, output))
            return
        series = store.series_info([r.id])
        prov = load_provenance(store, r.id)
        gone = store.deleted_at([r.id]).get(r.id)
        user = edits.user_fields(store, [r.id]).get(r.id, {})
        x_axis = x_axes(store, [r.id]).get(r.id) if r.source == "wandb" else None
        if r.source == "wandb" and x_axis is None:
            x_axis = "_step"  # fetched before migration 0005 (re-keyed at the next fetch or sync)
    if json_out:
        extra: dict[str, str | float | None] = {"x_axis": x_axis} if r.source == "wandb" else {}
        extra["deleted_on_server_at"] = gone
        print_json({**r.to_dict(), **extra, "user_fields": user, "series": [s.__dict__ for s in series],
                    "provenance": prov.to_dict() if prov is not None else None})
        return
    from rich.table import Table

    console = out()
    for key in ("uid", "project", "name", "experiment", "env", "seed", "state", "user", "source",
                "external_id", "url"):
        value = getattr(r, key)
        if value is not None:
            console.print(f"[bold]{key}[/bold]: {value}", highlight=False)
    if gone is not None:
        console.print(f"[bold]deleted on its server[/bold]: seen {_when(gone)} (kept; hidden unless --deleted)",
                      highlight=False)
    console.print(f"[bold]tags[/bold]: {', '.join(r.tags)}", highlight=False)
    if user:
        shown = [k for k in sorted(user) if not k.startswith("tags_")]
        shown += [f"tags {' '.join('+' + t for t in user.get('tags_added', []))} "
                  f"{' '.join('-' + t for t in user.get('tags_removed', []))}".rstrip()] \
            if user.keys() & {"tags_added", "tags_removed"} else []
        console.print(f"[bold]set by the user[/bold]: {', '.join(shown)} (kept by later ingests and syncs)",
                      highlight=False)
    if r.note:
        from rich.markup import escape as rich_escape

        console.print(f"[bold]note[/bold]: {rich_escape(r.note)}", highlight=False, soft_wrap=True)
    console.print(f"[bold]created[/bold]: {_when(r.created_at)}  [bold]updated[/bold]: {_when(r.updated_at)}")
    if x_axis is not None:
        console.print(f"[bold]steps[/bold]: W&B history key {x_axis!r}", highlight=False)
    if prov is not None:
        from rich.markup import escape as rich_escape

        from openrlb_cli.track.summary import provenance_lines

        console.print("[bold]provenance[/bold] (openrlb track):")
        for label, text in provenance_lines(prov, r.state):
            console.print(f"  [bold]{label}[/bold]: {rich_escape(text)}", highlight=False, soft_wrap=True)
    if r.config:
        cfg = Table(title="config", title_justify="left")
        cfg.add_column("key")
        cfg.add_column("value")
        for k in sorted(r.config):
            cfg.add_row(k, str(r.config[k]))
        console.print(cfg)
    table = Table(title="series", title_justify="left")
    for col in ("key", "points", "first step", "last step", "last value"):
        table.add_column(col, justify="left" if col == "key" else "right")
    for s in series:
        table.add_row(s.key, f"{s.n_points:,}", _num(s.step_min), _num(s.step_max), _num(s.last_value))
    console.print(table)


def _num(x: float | None) -> str:
    if x is None:
        return ""
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:.6g}"


def select_targets(store: Store, targets: list[str], deleted: bool = False) -> list[RunInfo]:
    """Runs named by uids, or selected by filter words (not both); none is an error saying why.
    `deleted`: also runs their server deleted (hidden otherwise)."""
    if all(_is_filter(t) for t in targets):
        runs = suggest.select(store, parse_filters(targets), deleted=deleted)
    elif any(_is_filter(t) for t in targets):
        raise InputError("give either run ids or key=value filters, not both")
    else:
        runs = list({r.id: r for r in (store.get_run(t) for t in targets)}.values())
    if not runs:
        raise SelectionError(f"no runs match {' '.join(targets)}: the store has no runs")
    return runs


@app.command("rm")
def rm_cmd(
    targets: list[str] = typer.Argument(..., help="Run uids, or filters. " + FILTERS_HELP),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    deleted: bool = typer.Option(False, "--deleted", help="Filters also select the runs deleted on their "
                                 "server (by default they are left alone, as in `openrlb runs`)."),
) -> None:
    """Delete runs (and their points)."""
    with open_store() as store:
        runs = select_targets(store, targets, deleted=deleted)
        if not yes:
            if not sys.stdin.isatty():
                raise InputError(f"would delete {len(runs)} runs; pass --yes to confirm when not interactive")
            typer.confirm(f"Delete {len(runs)} runs?", abort=True)
        n = store.delete_runs([r.id for r in runs])
    info(f"deleted {n} runs")


@app.command("export")
def export_cmd(
    filters: list[str] = typer.Argument(None, help=FILTERS_HELP),
    metric: str | None = typer.Option(None, "--metric", "-m",
                                      help="Metric key to export (csv/jsonl: required; parquet: default all)."),
    fmt: str = typer.Option("csv", "--format", "-f", help="csv, jsonl, or parquet (a dataset directory)."),
    output: Path | None = typer.Option(None, "-o", "--output",
                                       help="File to write (default stdout); for parquet a new directory."),
) -> None:
    """Export points in long format: project, experiment, env, seed, run, step, value, wall_time.

    --format parquet writes a Hive-partitioned dataset (DIR/points/project=P/env=E/*.parquet with a metric
    column, and DIR/runs/ with config as JSON) that DuckDB, Polars and Spark read; `openrlb ingest DIR`
    reads it back. Needs pyarrow (openrlb's parquet extra).
    """
    if fmt not in ("csv", "jsonl", "parquet"):
        raise InputError(f"--format must be csv, jsonl or parquet, not {fmt!r}")
    if fmt == "parquet":
        _export_parquet(filters, metric, output)
        return
    if metric is None:
        raise InputError(f"--format {fmt} exports one metric: give --metric KEY")
    if fmt == "jsonl":
        _export_jsonl(filters, metric, output)
        return
    from openrlb_cli.api import frame_for_runs

    with open_store() as store:
        runs = suggest.select(store, parse_filters(filters))
        if not runs:
            raise SelectionError("the store has no runs")
        df = frame_for_runs(store, runs, metric)
        if df.empty:
            keys = store.keys([r.id for r in runs])
            raise SelectionError(f"none of the {len(runs)} selected runs has metric {metric!r}"
                                 f"{suggest.close(metric, keys)}")
    target = sys.stdout if output is None else output
    try:
        df.to_csv(target, index=False)
    except OSError as exc:
        raise InputError(f"cannot write {output}: {exc.strerror}") from exc
    if output is not None:
        info(f"wrote {len(df):,} points of {df['run'].nunique()} runs to {output}")


def _export_jsonl(filters: list[str] | None, metric: str, output: Path | None) -> None:
    """JSON lines with exact doubles and NaN/Infinity/-Infinity as strings (see `dataset.jsonl`)."""
    from openrlb_cli.dataset import jsonl

    with open_store() as store:
        runs = store.runs(parse_filters(filters))
        if not runs:
            raise SelectionError(f"no runs match {' '.join(filters or []) or 'the store'}")
        try:
            if output is None:
                points, n_runs = jsonl.write_points(store, runs, metric, sys.stdout)
            else:
                tmp = output.with_name(f".{output.name}.partial")
                try:
                    with open(tmp, "w", encoding="utf-8") as fh:
                        points, n_runs = jsonl.write_points(store, runs, metric, fh)
                    tmp.replace(output)
                except BaseException:
                    tmp.unlink(missing_ok=True)
                    raise
        except OSError as exc:
            raise InputError(f"cannot write {output}: {exc.strerror}") from exc
    if n_runs == 0:
        if output is not None:
            output.unlink(missing_ok=True)
        raise SelectionError(f"none of the {len(runs)} selected runs has metric {metric!r}")
    if output is not None:
        info(f"wrote {points:,} points of {n_runs} runs to {output}")


def _export_parquet(filters: list[str] | None, metric: str | None, output: Path | None) -> None:
    from openrlb_cli.dataset import export as dataset_export
    from openrlb_cli.dataset import pyarrow_modules

    if output is None:
        raise InputError("--format parquet writes a directory: give -o DIR")
    pyarrow_modules()  # the missing-pyarrow error before any work
    with open_store() as store:
        runs = suggest.select(store, parse_filters(filters))
        if not runs:
            raise SelectionError("the store has no runs")
        total = sum(s.n_points for s in store.series_info([r.id for r in runs], key=metric))
        if metric is not None and total == 0:
            raise SelectionError(f"none of the {len(runs)} selected runs has metric {metric!r}")
        with progress() as bar:
            task = bar.add_task("exporting points", total=total or None)
            summary = dataset_export.write_dataset(store, runs, output, metric=metric,
                                                   on_points=lambda n: bar.advance(task, n))
    info(f"wrote {summary.points:,} points of {summary.runs} runs ({len(summary.metrics)} metrics, "
         f"{summary.partitions} partitions) to {output} in {summary.seconds:.1f} s")
