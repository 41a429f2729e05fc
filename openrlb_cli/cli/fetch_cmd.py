"""`openrlb fetch wandb|mlflow`, `openrlb sync`, `openrlb sources`: remote runs into the store.

The shell only parses options, takes the store's fetch lock, shows progress and prints the
summary; fetching, bookkeeping and naming sources live in `openrlb_cli.fetch`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import typer

from openrlb_cli.cli.context import app, error, info, open_store, out, print_json, progress, warn
from openrlb_cli.errors import InputError

if TYPE_CHECKING:  # the fetch package (requests, urllib3, numpy) is imported by the commands that fetch
    from openrlb_cli.fetch.http import RetryPolicy
    from openrlb_cli.fetch.sync import SyncResult
    from openrlb_cli.fetch.wandb import WandbQuery
    from openrlb_cli.store import Store

EXIT_HELP = (
    "Exit codes: 0 everything fetched; 3 partial failure (failed runs are listed, the rest are stored); "
    "4 total failure (nothing could be fetched); 5 another fetch holds the store's lock (see --wait)."
)
WAIT_HELP = "If another fetch/sync/ingest holds the store's lock, wait for it instead of exiting with code 5."
WORKERS_HELP = "Concurrent downloads (history pages / metric histories)."
RETRIES_HELP = "HTTP attempts per request before a run is reported as failed (429/5xx/timeouts are retried)."

fetch_app = typer.Typer(help="Fetch runs from remote trackers (W&B, MLflow) into the store.", no_args_is_help=True)
app.add_typer(fetch_app, name="fetch")


MAX_RESPONSE_HELP = ("Largest answer a server may send, in MB (default: $OPENRLB_MAX_RESPONSE_MB, else 256); a "
                     "larger one fails at once instead of filling memory.")
ALLOW_EMPTY_HELP = ("Save and run the fetch even if nothing on the server matches yet (cron jobs that expect runs "
                    "later); without it, a project, experiment or filter matching no run is an error.")


def _policy(retries: int, timeout: float, backoff: float, max_response_mb: int | None = None) -> RetryPolicy:
    if retries < 1:
        raise InputError("--retries must be at least 1")
    if max_response_mb is not None and max_response_mb < 1:
        raise InputError("--max-response-mb must be at least 1")
    from openrlb_cli.fetch.http import MB, RetryPolicy

    extra = {"max_response_bytes": max_response_mb * MB} if max_response_mb is not None else {}
    return RetryPolicy(max_attempts=retries, read_timeout=timeout, backoff=backoff, jitter=min(1.0, backoff),
                       **extra)


@contextmanager
def _events() -> Iterator[tuple[Callable[..., None], Callable[[str], None]]]:
    """A runs bar and a pages bar fed by the engine's events."""
    with progress() as bar:
        runs = bar.add_task("runs", total=None)
        pages = bar.add_task("pages", total=0)
        count = {"listed": 0, "pages": 0}

        def on_event(kind: str, **kw: Any) -> None:
            if kind == "run_listed":
                count["listed"] += 1
                count["pages"] += kw.get("tasks", 0)
                bar.update(runs, total=count["listed"])
                bar.update(pages, total=count["pages"])
            elif kind in ("run_done", "run_failed"):
                bar.advance(runs)
            elif kind == "task_done":
                bar.advance(pages)

        def on_source(name: str) -> None:
            bar.update(runs, description=f"runs of {name}")

        yield on_event, on_source


def _report(result: SyncResult, json_out: bool) -> None:
    if json_out:
        print_json(result.to_dict())
    else:
        for name, summary in result.results:
            d = summary.to_dict()
            r = d["runs"]
            out().print(
                f"{name}: {r['new']} new, {r['updated']} updated, {r['unchanged']} unchanged, {r['failed']} failed "
                f"runs; {d['points_added']:,} points added; {d['requests']:,} requests ({d['retries']} retries) "
                f"in {d['seconds']:.1f} s", highlight=False)
    for _, summary in result.results:
        for message in summary.warnings[:20]:
            warn(message)
        if len(summary.warnings) > 20:
            warn(f"... and {len(summary.warnings) - 20} more warnings (see --json)")
        if summary.deleted:
            warn(f"{summary.deleted} run(s) deleted on the server since the last sync: kept and marked "
                 "(hidden from runs/plot/table; `openrlb runs --deleted` lists them)")
        if summary.restored:
            info(f"{summary.restored} run(s) marked deleted are back on the server")
        if summary.rekeyed:
            info(f"{summary.rekeyed} stored run(s) moved onto their x axis (stored by an older openrlb on _step)")
        if summary.points_without_x:
            warn(f"{summary.points_without_x:,} point(s) logged in rows without an x-axis value left out "
                 "(as rlops does)")
        for failure in summary.failures[:20]:
            warn(f"run {failure['run']} failed: {failure['error']}")
        if len(summary.failures) > 20:
            warn(f"... and {len(summary.failures) - 20} more failed runs (see --json)")
        for message in summary.errors:
            error(message)
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def _locked(wait: bool, work: Callable[[Store], SyncResult]) -> SyncResult:
    from openrlb_cli.fetch.lock import StoreBusyError, fetch_lock

    try:
        with open_store() as store, fetch_lock(store.path, wait=wait,
                                               on_wait=lambda pid: info(f"waiting for another sync (pid {pid})...")):
            return work(store)
    except StoreBusyError as exc:
        raise StoreBusyError(f"{exc}. Pass --wait to wait for it to finish", exc.pid, exc.holder) from None


def _fetch(kind: str, spec: dict[str, Any], name: str | None, workers: int, max_rps: float | None,
           policy: RetryPolicy, wait: bool, json_out: bool, allow_empty: bool = False) -> None:
    if workers < 1:
        raise InputError("--workers must be at least 1")
    from openrlb_cli.fetch import state
    from openrlb_cli.fetch.http import NothingMatchedError
    from openrlb_cli.fetch.sync import FetchOptions, SyncResult, fetch_and_save

    def work(store: Store) -> SyncResult:
        with _events() as (on_event, _):
            opts = FetchOptions(workers=workers, max_rps=max_rps, policy=policy, on_event=on_event)
            try:
                saved, summary = fetch_and_save(store, kind, spec, opts, name, allow_empty=allow_empty)
            except NothingMatchedError as exc:
                raise NothingMatchedError(f"{exc}: nothing fetched or saved (--allow-empty saves the fetch "
                                          "anyway, for runs that come later)") from None
        if not any(s.name == saved for s in state.list_sources(store)):
            info(f"not saved as a source: nothing could be fetched for {saved}")
        return SyncResult([(saved, summary)])

    _report(_locked(wait, work), json_out)


def _wandb_queries(args: list[str], filter_json: str | None, metric: list[str] | None, env_key: str,
                   exp_key: str, x_axis: str | None = None) -> list[WandbQuery]:
    from openrlb_cli.fetch.wandb import WandbQuery, parse_project
    from openrlb_cli.fetch.wandb_filters import combine, parse_json_filter, words_to_filter
    from openrlb_cli.rlops.filters import parse_groups, split_option_groups

    plain, groups = split_option_groups(args, ("--filters", "--env-ids"))
    unknown = [t for t in plain if t.startswith("-")]
    if unknown:
        raise InputError(f"no such option: {unknown[0]} (see `openrlb fetch wandb --help`)")
    if groups["--filters"]:
        if plain or filter_json or metric:
            raise InputError("--filters (Open RL Benchmark syntax) replaces ENTITY/PROJECT, key=value words, "
                             "--filter and --metric; give one or the other")
        queries = [q for g in parse_groups(groups["--filters"], groups["--env-ids"]) for q in g.queries()]
        if x_axis:  # --x-axis overrides every group's xaxis=
            for q in queries:
                q.metrics = list(dict.fromkeys([*(q.metrics or []), *([x_axis] if x_axis != "_step" else [])]))
                q.x_axis = x_axis
        return queries
    if groups["--env-ids"]:
        raise InputError("--env-ids goes with --filters; for one project use env=ENV_ID words")
    if not plain:
        raise InputError("give ENTITY/PROJECT (e.g. openrlbenchmark/cleanrl) or --filters '?we=...&wpn=...' ...")
    entity, project = parse_project(plain[0])
    flt = combine([words_to_filter(plain[1:], env_key=env_key, exp_key=exp_key) or {},
                   parse_json_filter(filter_json) if filter_json else {}])
    return [WandbQuery(entity, project, flt, list(dict.fromkeys(metric)) if metric else None, env_key, exp_key,
                       x_axis or None)]


@fetch_app.command(
    "wandb",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    epilog="Open RL Benchmark syntax: --filters '?we=ENTITY&wpn=PROJECT&ceik=env_id&cen=exp_name&"
    "metric=charts/episodic_return' 'EXP?tag=T&user=U&cl=LABEL&seed=1' [...] --env-ids ENV [ENV ...] "
    "(repeat --filters for more groups, with one --env-ids list each or one for all). " + EXIT_HELP,
)
def fetch_wandb_cmd(
    args: list[str] = typer.Argument(None, metavar="[ENTITY/PROJECT] [KEY=VALUE]...",
                                     help="Project and filters: env=, exp=, seed=, tag= (all required), user=, "
                                          "state=, name=, or any config key."),
    filter_json: str | None = typer.Option(None, "--filter", help="W&B filter as JSON (Mongo-like), e.g. "
                                           "'{\"config.env_id.value\": \"Hopper-v4\"}'."),
    metric: list[str] = typer.Option(None, "--metric", help="Fetch only these history keys (repeatable; "
                                     "default: every key)."),
    env_key: str = typer.Option("env_id", "--env-key", help="Config key holding the environment id."),
    exp_key: str = typer.Option("exp_name", "--exp-key", help="Config key holding the experiment name."),
    x_axis: str | None = typer.Option(None, "--x-axis", metavar="KEY",
                                      help="History key the points are stored against (default: the filter's "
                                           "xaxis=, else global_step where a run logs it, else W&B's _step). "
                                           "Rows without it are left out, as rlops does."),
    workers: int = typer.Option(8, "--workers", help=WORKERS_HELP),
    page_size: int = typer.Option(1000, "--page-size", help="History rows per request (steps per window)."),
    base_url: str | None = typer.Option(None, "--base-url", help="W&B API (default: $WANDB_BASE_URL, else "
                                        "https://api.wandb.ai)."),
    max_rps: float = typer.Option(20.0, "--max-rps", help="Requests per second, all workers together (0 = no "
                                  "limit)."),
    name: str | None = typer.Option(None, "--name", help="Name to save this fetch under for `openrlb sync` "
                                    "(default: wandb:ENTITY/PROJECT[@hash])."),
    retries: int = typer.Option(6, "--retries", help=RETRIES_HELP),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for an answer."),
    backoff: float = typer.Option(1.0, "--backoff", hidden=True),
    wait: bool = typer.Option(False, "--wait", help=WAIT_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    allow_empty: bool = typer.Option(False, "--allow-empty", help=ALLOW_EMPTY_HELP),
    max_response_mb: int | None = typer.Option(None, "--max-response-mb", help=MAX_RESPONSE_HELP),
) -> None:
    """Fetch W&B runs (full, unsampled histories) into the store; saved as a source for `sync`.

    API key: $WANDB_API_KEY or ~/.netrc when present (never stored); public projects work without.
    """
    if page_size < 1:
        raise InputError("--page-size must be at least 1")
    if x_axis is not None and not x_axis.strip():
        raise InputError("--x-axis needs a history key (e.g. global_step)")
    from openrlb_cli.fetch.http import check_url
    from openrlb_cli.fetch.wandb import WandbSpec, default_base_url

    queries = _wandb_queries(list(args or []), filter_json, metric, env_key, exp_key, x_axis)
    url = check_url(base_url or default_base_url(), "--base-url")
    spec = WandbSpec(base_url=url, queries=queries, page_size=page_size).to_json()
    _fetch("wandb", spec, name, workers, max_rps, _policy(retries, timeout, backoff, max_response_mb), wait,
           json_out, allow_empty)


@fetch_app.command("mlflow", epilog=EXIT_HELP)
def fetch_mlflow_cmd(
    url: str = typer.Argument(..., help="Tracking server, e.g. http://127.0.0.1:5000."),
    experiment: list[str] = typer.Option(..., "--experiment", help="Experiment name (repeatable). (-e is --env-ids "
                                                                     "everywhere, so it is not a short name here.)"),
    filter_: str | None = typer.Option(None, "--filter", help="MLflow search filter, e.g. "
                                       "\"params.env_id = 'Hopper-v4'\"."),
    metric: list[str] = typer.Option(None, "--metric", help="Fetch only these metric keys (repeatable)."),
    env_key: str = typer.Option("env_id", "--env-key", help="Param (or tag) holding the environment id."),
    exp_key: str = typer.Option("exp_name", "--exp-key", help="Param (or tag) holding the experiment name."),
    workers: int = typer.Option(8, "--workers", help=WORKERS_HELP),
    max_rps: float = typer.Option(0.0, "--max-rps", help="Requests per second (0 = no limit)."),
    name: str | None = typer.Option(None, "--name", help="Name to save this fetch under for `openrlb sync`."),
    retries: int = typer.Option(6, "--retries", help=RETRIES_HELP),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for an answer."),
    backoff: float = typer.Option(1.0, "--backoff", hidden=True),
    wait: bool = typer.Option(False, "--wait", help=WAIT_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    allow_empty: bool = typer.Option(False, "--allow-empty", help=ALLOW_EMPTY_HELP),
    max_response_mb: int | None = typer.Option(None, "--max-response-mb", help=MAX_RESPONSE_HELP),
) -> None:
    """Fetch runs of an MLflow tracking server (REST API) into the store; saved as a source for `sync`.

    Credentials: $MLFLOW_TRACKING_TOKEN or $MLFLOW_TRACKING_USERNAME/$MLFLOW_TRACKING_PASSWORD (never stored).
    """
    from openrlb_cli.fetch.http import check_url
    from openrlb_cli.fetch.mlflow import MlflowSpec

    spec = MlflowSpec(base_url=check_url(url, "the MLflow URL"), experiments=list(dict.fromkeys(experiment)),
                      filter=filter_, metrics=list(dict.fromkeys(metric)) if metric else None,
                      env_key=env_key, exp_key=exp_key).to_json()
    _fetch("mlflow", spec, name, workers, max_rps, _policy(retries, timeout, backoff, max_response_mb), wait,
           json_out, allow_empty)


@app.command("sync", epilog=EXIT_HELP)
def sync_cmd(
    names: list[str] = typer.Argument(None, help="Sources to re-run (default: all; see `openrlb sources`)."),
    workers: int = typer.Option(8, "--workers", help=WORKERS_HELP),
    max_rps: float | None = typer.Option(None, "--max-rps", help="Requests per second (default: W&B 20, "
                                         "MLflow no limit; 0 = no limit)."),
    retries: int = typer.Option(6, "--retries", help=RETRIES_HELP),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for an answer."),
    backoff: float = typer.Option(1.0, "--backoff", hidden=True),
    wait: bool = typer.Option(False, "--wait", help=WAIT_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    max_response_mb: int | None = typer.Option(None, "--max-response-mb", help=MAX_RESPONSE_HELP),
) -> None:
    """Re-run saved fetches incrementally (for cron): unchanged runs cost no history request,
    finished runs are never downloaded again, running runs get only their new steps; a run whose
    state, summary, tags, config or name changed on the server is updated, and one deleted there is
    marked (kept, hidden by default). A fetch that was killed (status `incomplete`) is finished."""
    if workers < 1:
        raise InputError("--workers must be at least 1")
    from openrlb_cli.fetch.sync import FetchOptions, sync

    policy = _policy(retries, timeout, backoff, max_response_mb)

    def work(store: Store) -> SyncResult:
        with _events() as (on_event, on_source):
            opts = FetchOptions(workers=workers, max_rps=max_rps, policy=policy, on_event=on_event,
                                on_source=on_source)
            return sync(store, list(names or []), opts)

    result = _locked(wait, work)
    if not result.results and not json_out:
        info("no saved sources yet: `openrlb fetch wandb ...` or `openrlb fetch mlflow ...` saves one")
    _report(result, json_out)


def _when(ts: float | None) -> str:
    return "" if ts is None else datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


@app.command("sources")
def sources_cmd(
    remove: list[str] = typer.Option(None, "--remove", help="Forget a saved source (its runs stay in the store)."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List saved fetch sources (what `openrlb sync` re-runs) and how their last sync went."""
    from rich.table import Table

    from openrlb_cli.fetch import state

    with open_store() as store:
        for name in remove or []:
            state.remove_source(store, name)
            info(f"removed source {name}")
        if remove:
            return
        sources = state.list_sources(store)
        members = state.member_counts(store)
    if json_out:
        print_json([{**s.to_dict(), "runs": members.get(s.name, (0, 0))[0],
                     "runs_deleted_on_server": members.get(s.name, (0, 0))[1]} for s in sources])
        return
    table = Table(title=f"{len(sources)} sources", title_justify="left")
    for col in ("name", "kind", "last sync", "status", "runs", "deleted", "points added"):
        table.add_column(col, justify="right" if col in ("runs", "deleted", "points added") else "left")
    for s in sources:
        summary = s.last_summary or {}
        runs, deleted = members.get(s.name, (0, 0))
        table.add_row(s.name, s.kind, _when(s.last_sync_at), s.last_status or "never", str(runs),
                      str(deleted) if deleted else "", f"{summary.get('points_added', 0):,}")
    out().print(table)
    if any(s.last_status == state.INCOMPLETE for s in sources):
        info("incomplete: a fetch or sync that started and did not finish (killed?); `openrlb sync` finishes it")


RLOPS_EPILOG = (
    "Takes `python -m openrlbenchmark.rlops` arguments: --filters '?we=ENTITY&wpn=PROJECT&ceik=env_id&"
    "cen=exp_name&metric=charts/episodic_return&xaxis=global_step' 'EXP?tag=T&user=U&cl=LABEL&seed=1' ... "
    "--env-ids ENV ... (repeatable groups), --output-filename, --metric-last-n-average-window, "
    "--wandb-project-name (project of headers without wpn=), --pc.ncols, --pc.ncols-legend, --pc.xlabel, "
    "--pc.ylabel, --pc.rolling, --pc.max-steps (or None), --pc.time-unit (others of --pc.* are accepted), "
    "--scan-history (always on: histories are never sampled), --offline (store only), --check-empty-runs or "
    "--no-check-empty-runs, --rliable and --rc.* (nsubsamples, score-normalization-method, "
    "normalized-score-threshold, sample-efficiency-figsize W H, *-plots, *-num-bootstrap-reps, "
    "sample-efficiency-and-walltime-efficiency-method). --report is not supported. Computes rlops' numbers "
    "(population std in the score table, rolling over the interpolated grid, runtimes in --pc.time-unit) and "
    "writes its files: OUT.png|pdf|svg, OUT-time.*, OUT.md|csv, OUT_runtimes.md|csv, and with --rliable "
    "OUT_aggregate.png|pdf, OUT_performance_profile.*, OUT_sample_efficiency.*, "
    "OUT_sample_walltime_efficiency.* (+ OUT_aggregate.csv, OUT_rliable.json). "
    "Exit codes: 0 everything fetched and written; 3 written but the fetch partly failed or an output is "
    "not available; 4 nothing could be fetched and the store has no matching runs; 5 the store's fetch "
    "lock is held (see --wait)."
)


@app.command("rlops", context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
             epilog=RLOPS_EPILOG)
def rlops_cmd(
    args: list[str] = typer.Argument(None, metavar="RLOPS_ARGS...", help="Open RL Benchmark rlops arguments."),
    base_url: str | None = typer.Option(None, "--base-url", help="W&B API (default: $WANDB_BASE_URL, else "
                                        "https://api.wandb.ai)."),
    workers: int = typer.Option(8, "--workers", help=WORKERS_HELP),
    max_rps: float = typer.Option(20.0, "--max-rps", help="W&B requests per second (0 = no limit)."),
    retries: int = typer.Option(6, "--retries", help=RETRIES_HELP),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for an answer."),
    backoff: float = typer.Option(1.0, "--backoff", hidden=True),
    wait: bool = typer.Option(False, "--wait", help=WAIT_HELP),
    max_response_mb: int | None = typer.Option(None, "--max-response-mb", help=MAX_RESPONSE_HELP),
) -> None:
    """Open RL Benchmark's rlops, from the store: fetch what is missing (in full), then write its
    figures and tables. An experiment that matches no run on the server is an error."""
    from openrlb_cli.errors import OpenrlbError, SelectionError
    from openrlb_cli.fetch.http import check_url
    from openrlb_cli.fetch.sync import FetchOptions, SyncResult, fetch_and_save
    from openrlb_cli.fetch.wandb import WandbSpec, default_base_url
    from openrlb_cli.rlops import command as rlops

    parsed = rlops.parse_args(list(args or []))
    exit_code = 0
    fetch_failed = ""
    if not parsed.offline:
        url = check_url(base_url or default_base_url(), "--base-url")
        spec = WandbSpec(base_url=url, queries=rlops.wandb_queries(parsed)).to_json()

        def work(store: Store) -> SyncResult:
            with _events() as (on_event, _):
                opts = FetchOptions(workers=workers, max_rps=max_rps, on_event=on_event,
                                    policy=_policy(retries, timeout, backoff, max_response_mb))
                return SyncResult([fetch_and_save(store, "wandb", spec, opts)])

        result = _locked(wait, work)
        try:
            _report(result, json_out=False)
        except typer.Exit as exc:
            exit_code = 3
            fetch_failed = "the fetch failed" if exc.exit_code == 4 else ""
    with open_store() as store:
        try:
            curves = rlops.build_curves(store, parsed)
        except SelectionError as exc:
            if fetch_failed:
                raise OpenrlbError(f"{exc} ({fetch_failed}, see above)", exit_code=4, option=exc.options) from None
            raise
        rows = rlops.load_rows(store, curves, parsed)
    written = rlops.write_outputs(curves, rows, parsed)
    for path in written.files:
        print(path)
    for message in written.warnings:
        warn(message)
    for message in written.missing:
        error(message)
    if written.missing:
        exit_code = 3
    if exit_code:
        raise typer.Exit(exit_code)
