"""Named fetch sources and `sync`: every fetch is saved so cron can re-run it incrementally.

A source is a name, a kind (`wandb`, `mlflow`) and the JSON spec that reproduces the fetch (never
credentials: those come from the environment at every run). `sync` re-runs sources one after
another under the store's fetch lock; what makes it cheap is the per-run bookkeeping the fetchers
keep (see `wandb`/`mlflow`), not anything here.

Exit codes shared by the fetch commands: 0 everything fetched, 3 partial failure (some runs or
sources failed, the rest were stored), 4 total failure (nothing could be fetched), 5 another
fetch holds the store's lock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from openrlb_cli.errors import InputError
from openrlb_cli.fetch import state
from openrlb_cli.fetch.engine import EventCallback, Summary
from openrlb_cli.fetch.http import NothingMatchedError, RetryPolicy
from openrlb_cli.fetch.mlflow import MlflowSpec, fetch_mlflow
from openrlb_cli.fetch.wandb import WandbSpec, fetch_wandb
from openrlb_cli.store import Store

EXIT_OK, EXIT_PARTIAL, EXIT_FAILED = 0, 3, 4
WANDB_DEFAULT_RPS = 20.0


@dataclass
class FetchOptions:
    workers: int = 8
    max_rps: float | None = None  # None: the kind's default (W&B: 20/s; MLflow: no limit)
    policy: RetryPolicy | None = None
    on_event: EventCallback | None = None
    on_source: Callable[[str], None] | None = None  # called with each source's name before it starts


@dataclass
class SyncResult:
    results: list[tuple[str, Summary]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        statuses = [s.status for _, s in self.results]
        if not statuses or all(s == "ok" for s in statuses):
            return EXIT_OK
        if all(s == "failed" for s in statuses):
            return EXIT_FAILED
        return EXIT_PARTIAL

    def to_dict(self) -> dict[str, Any]:
        per_source = [{"name": name, **summary.to_dict()} for name, summary in self.results]
        total: dict[str, Any] = {"runs": {"new": 0, "updated": 0, "unchanged": 0, "failed": 0},
                                 "points_added": 0, "points_without_x": 0, "runs_rekeyed": 0, "requests": 0,
                                 "retries": 0, "seconds": 0.0}
        for item in per_source:
            for k in total["runs"]:
                total["runs"][k] += item["runs"][k]
            for k in ("points_added", "points_without_x", "runs_rekeyed", "requests", "retries", "seconds"):
                total[k] += item.get(k, 0)
        total["seconds"] = round(total["seconds"], 3)
        status = {EXIT_OK: "ok", EXIT_PARTIAL: "partial", EXIT_FAILED: "failed"}[self.exit_code]
        return {"status": status, "exit_code": self.exit_code, **total, "sources": per_source}


def _short_hash(spec: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:6]


def default_name(kind: str, spec: dict[str, Any]) -> str:
    """`wandb:entity/project` for a whole project, with a spec hash when it is narrowed."""
    if kind == "wandb":
        queries = spec.get("queries") or []
        paths = list(dict.fromkeys(f"{q['entity']}/{q['project']}" for q in queries))
        base = f"wandb:{'+'.join(paths)}"
        plain = len(queries) == 1 and not queries[0].get("filters") and not queries[0].get("metrics")
        custom_host = urlsplit(spec.get("base_url", "")).netloc not in ("api.wandb.ai", "")
        return base if plain and not custom_host else f"{base}@{_short_hash(spec)}"
    if kind == "mlflow":
        base = f"mlflow:{urlsplit(spec['base_url']).netloc}/{','.join(spec.get('experiments') or [])}"
        plain = not spec.get("filter") and not spec.get("metrics")
        return base if plain else f"{base}@{_short_hash(spec)}"
    raise InputError(f"unknown source kind {kind!r}")


def fetch_spec(store: Store, kind: str, spec: dict[str, Any], opts: FetchOptions, source: str | None = None,
               require_match: bool = False) -> Summary:
    """Run one fetch described by a spec. `source`: the saved source it runs for (membership and
    deleted-run marks are kept per source). `require_match`: every query must match a run on the
    server, checked before anything is downloaded (`NothingMatchedError` otherwise)."""
    if kind == "wandb":
        rps = opts.max_rps if opts.max_rps is not None else WANDB_DEFAULT_RPS
        return fetch_wandb(store, WandbSpec.from_json(spec), workers=opts.workers, on_event=opts.on_event,
                           policy=opts.policy, max_rps=rps or None, source=source, require_match=require_match)
    if kind == "mlflow":
        return fetch_mlflow(store, MlflowSpec.from_json(spec), workers=opts.workers, on_event=opts.on_event,
                            policy=opts.policy, max_rps=opts.max_rps or None, source=source,
                            require_match=require_match)
    raise InputError(f"unknown source kind {kind!r}")


def fetch_and_save(store: Store, kind: str, spec: dict[str, Any], opts: FetchOptions,
                   name: str | None = None, *, allow_empty: bool = False) -> tuple[str, Summary]:
    """Save the spec as a named source, fetch, and record how it went.

    The source is saved *before* anything is fetched, with status `incomplete` until the fetch
    returns, so a killed first fetch is finished by the next `sync`. A query that matches no run
    on the server raises `NothingMatchedError` before anything is downloaded (unless `allow_empty`:
    a cron job that expects runs later); a fetch that got nothing at all (a typo in the project,
    no access) is not kept as a new source either, so cron does not keep re-running it; an existing
    source records the failure.
    """
    name = name or default_name(kind, spec)
    previous = next((s for s in state.list_sources(store) if s.name == name), None)
    state.save_source(store, name, kind, spec)
    try:
        summary = fetch_spec(store, kind, spec, opts, source=name, require_match=not allow_empty)
    except NothingMatchedError:
        if previous is None:
            state.remove_source(store, name)
        else:
            state.put_back(store, previous)
        raise
    if summary.status == "failed" and previous is None:
        state.remove_source(store, name)
    else:
        state.record_sync(store, name, summary.status, summary.to_dict())
    return name, summary


def sync(store: Store, names: list[str] | None, opts: FetchOptions) -> SyncResult:
    """Re-run saved sources (all of them when `names` is empty), one after another; each is
    `incomplete` while it runs, so a killed sync shows in `openrlb sources`."""
    sources = state.list_sources(store, names or None)
    result = SyncResult()
    for source in sources:
        if opts.on_source is not None:
            opts.on_source(source.name)
        state.mark_incomplete(store, source.name)
        summary = fetch_spec(store, source.kind, source.spec, opts, source=source.name)
        state.record_sync(store, source.name, summary.status, summary.to_dict())
        result.results.append((source.name, summary))
    return result
