"""Fetching tracked runs from remote trackers (W&B over GraphQL, MLflow over REST) into the store.

Layers: `http` (retries, rate limit, error classification) -> `wandb` (+ `openrlb_cli.wandb_rows`,
`wandb_filters`) / `mlflow` (the trackers' shapes, mapped onto `RunRecord`) -> `engine` (a bounded
worker pool that downloads while the main thread alone writes, committing per run so a killed
fetch resumes; bookkeeping in `state`) -> `sync` (named sources that cron re-runs incrementally,
under the `lock`). Open RL Benchmark's command line lives in its own package, `openrlb_cli.rlops`.
The CLI lives in `openrlb_cli.cli.fetch_cmd`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["AuthError", "FetchError", "NotFoundError", "NothingMatchedError", "RetryPolicy"]


def __getattr__(name: str) -> Any:
    """The HTTP layer (requests, urllib3) loads on first use, so `openrlb sources` starts light."""
    if name in __all__:
        from openrlb_cli.fetch import http

        return getattr(http, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
