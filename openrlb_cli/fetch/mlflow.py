"""MLflow tracking servers over REST (`/api/2.0/mlflow/...`), fetched in full into the store.

Runs come from `runs/search` (page tokens, oldest first); each metric's points from
`metrics/get-history`. That endpoint's paging is opt-in: without `max_results` a server returns
everything (and some versions mishandle the unset field), so openrlb always sends an explicit page
size and follows `next_page_token`; servers that ignore paging simply answer with one page.

MLflow has no "history since step N" query, so incremental sync works per key: `runs/search`
reports each key's latest point; a key whose latest point is the one recorded at the last fetch
costs no request, and a changed key is re-read and only the points past the `n` already stored
(in the server's (timestamp, step) order) are appended.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import requests

from openrlb_cli.fetch import state
from openrlb_cli.fetch.engine import Chunk, EventCallback, Job, Summary
from openrlb_cli.fetch.http import FetchError, HttpClient, NotFoundError, RequestStats, RetryPolicy
from openrlb_cli.model import RunRecord, Series

SOURCE = "mlflow"
API = "/api/2.0/mlflow"
HISTORY_PAGE = 25_000  # the largest page MLflow servers accept for metric history
STATES = {"RUNNING": "running", "FINISHED": "finished", "FAILED": "failed", "KILLED": "killed",
          "SCHEDULED": "scheduled"}


class _Bearer(requests.auth.AuthBase):
    def __init__(self, token: str):
        self.token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.token}"
        return r


def _auth() -> Any:
    """As the MLflow client: a token, or a username/password, from the environment (never stored)."""
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if token:
        return _Bearer(token)
    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if user and password:
        return requests.auth.HTTPBasicAuth(user, password)
    return None


@dataclass
class MlflowSpec:
    base_url: str
    experiments: list[str] = field(default_factory=list)
    filter: str | None = None  # MLflow search syntax, e.g. "params.env_id = 'Hopper-v4'"
    metrics: list[str] | None = None  # None: every metric key
    env_key: str = "env_id"
    exp_key: str = "exp_name"
    runs_per_page: int = 1000

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MlflowSpec:
        return cls(**data)


class MlflowClient:
    def __init__(self, base_url: str, *, policy: RetryPolicy | None = None, max_rps: float | None = None,
                 stats: RequestStats | None = None):
        self.http = HttpClient(base_url, service="MLflow", auth=_auth(), policy=policy, max_rps=max_rps,
                               stats=stats, auth_hint=" (set MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME "
                                                      "and MLFLOW_TRACKING_PASSWORD)")
        self.base_url = self.http.base_url

    def close(self) -> None:
        self.http.close()

    def experiment(self, name: str) -> dict[str, Any]:
        body = self.http.request_json("GET", f"{API}/experiments/get-by-name", kind="experiments",
                                      what=f"experiment {name!r}", params={"experiment_name": name})
        experiment = body.get("experiment") if isinstance(body, dict) else None
        if not experiment:
            raise NotFoundError(f"MLflow at {self.base_url} has no experiment {name!r}")
        return experiment

    def search(self, experiment_ids: list[str], flt: str | None, per_page: int) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            payload: dict[str, Any] = {"experiment_ids": experiment_ids, "max_results": per_page,
                                       "order_by": ["attributes.start_time ASC"]}
            if flt:
                payload["filter"] = flt
            if token:
                payload["page_token"] = token
            body = self.http.request_json("POST", f"{API}/runs/search", kind="runs", json_body=payload,
                                          what=f"runs of experiments {', '.join(experiment_ids)}")
            yield from body.get("runs") or []
            token = body.get("next_page_token")
            if not token:
                return

    def history(self, run_id: str, key: str) -> list[dict[str, Any]]:
        points: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"run_id": run_id, "metric_key": key, "max_results": HISTORY_PAGE}
            if token:
                params["page_token"] = token
            body = self.http.request_json("GET", f"{API}/metrics/get-history", kind="history", params=params,
                                          what=f"history of {key!r} in run {run_id}")
            points += body.get("metrics") or []
            token = body.get("next_page_token")
            if not token:
                return points


# ------------------------------------------------------------------------------ mapping
def _number(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        return float(value)  # "NaN", "Infinity" as MLflow's JSON writes them
    except (TypeError, ValueError):
        return float("nan")


def _seed(value: str | None) -> int | None:
    if value is None:
        return None
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def _ms(value: Any) -> float | None:
    try:
        return int(value) / 1000.0 if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _latest(run: dict[str, Any]) -> dict[str, list[Any]]:
    metrics = (run.get("data") or {}).get("metrics") or []
    return {m["key"]: [m.get("step"), m.get("timestamp"), m.get("value")] for m in metrics}


def run_record(run: dict[str, Any], spec: MlflowSpec, base_url: str, exp_names: dict[str, str]) -> RunRecord:
    info = run["info"]
    data = run.get("data") or {}
    params = {p["key"]: p.get("value") for p in data.get("params") or []}
    tags = {t["key"]: t.get("value") for t in data.get("tags") or []}
    run_id = info.get("run_id") or info.get("run_uuid")
    exp_id = str(info.get("experiment_id"))
    latest = _latest(run)
    end = _ms(info.get("end_time"))
    last_metric = max((_ms(v[1]) or 0 for v in latest.values()), default=None)

    def pick(key: str) -> str | None:
        return params.get(key) if key in params else tags.get(key)

    return RunRecord(
        source=SOURCE,
        external_id=f"{base_url}#{run_id}",
        project=exp_names.get(exp_id, exp_id),
        name=info.get("run_name") or tags.get("mlflow.runName") or run_id,
        experiment=pick(spec.exp_key),
        env=pick(spec.env_key),
        seed=_seed(params.get("seed")),
        state=STATES.get(str(info.get("status")), str(info.get("status") or "").lower() or None),
        user=info.get("user_id") or tags.get("mlflow.user") or None,
        url=f"{base_url}/#/experiments/{exp_id}/runs/{run_id}",
        created_at=_ms(info.get("start_time")),
        updated_at=end if end is not None else last_metric,
        tags=[k if v in (None, "") else f"{k}={v}" for k, v in tags.items() if not k.startswith("mlflow.")],
        config=dict(params),
        summary={k: _number(v[2]) for k, v in latest.items()},
    )


def digest(run: dict[str, Any]) -> str:
    info = run["info"]
    data = run.get("data") or {}
    fields = [info.get("status"), info.get("end_time"), info.get("run_name"), sorted(_latest(run).items()),
              sorted((p["key"], p.get("value")) for p in data.get("params") or []),
              sorted((t["key"], t.get("value")) for t in data.get("tags") or [])]
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:32]


class _History:
    """A download task: one metric's full history, keeping only points past those stored."""

    def __init__(self, client: MlflowClient, run_id: str, key: str, skip: int, seen: list[Any]):
        self.client, self.run_id, self.key, self.skip, self.seen = client, run_id, key, skip, seen

    def __call__(self) -> Chunk:
        points = self.client.history(self.run_id, self.key)
        points.sort(key=lambda m: (int(m.get("timestamp") or 0), int(m.get("step") or 0)))
        fresh = points[self.skip:]
        series = Series(
            np.array([float(m.get("step") or 0) for m in fresh], dtype=np.float64),
            np.array([_number(m.get("value")) for m in fresh], dtype=np.float64),
            np.array([int(m.get("timestamp") or 0) / 1000.0 for m in fresh], dtype=np.float64),
        )
        return Chunk({self.key: series}, {self.key: {"n": max(self.skip, len(points)), "seen": self.seen}})


def plan(run: dict[str, Any], spec: MlflowSpec, client: MlflowClient, exp_names: dict[str, str],
         known: state.RunState | None) -> Job:
    record = run_record(run, spec, client.base_url, exp_names)
    run_id = record.external_id.split("#", 1)[1]
    progress = dict(known.progress) if known else {}
    latest = _latest(run)
    keys = sorted(latest) if spec.metrics is None else [k for k in spec.metrics if k in latest]
    tasks = []
    for key in keys:
        done = progress.get(key) or {}
        if done.get("seen") != latest[key]:
            tasks.append(_History(client, run_id, key, int(done.get("n", 0)), latest[key]))
    info = run["info"]
    steps = [v[0] for v in latest.values() if isinstance(v[0], (int, float))]
    remote = {"updated": str(info.get("end_time") or ""), "lines": len(latest),
              "last_step": max(steps) if steps else None, "state": record.state}
    d = digest(run)
    return Job(record=record, tasks=list(tasks), digest=d, remote=remote, existed=known is not None,
               changed=known is None or known.digest != d, run_id=known.run_id if known else None,
               progress=progress)


def jobs(store: Any, spec: MlflowSpec, client: MlflowClient, summary: Summary) -> Iterator[Job]:
    """Plan every listed run; an experiment that cannot be found is reported and the others go on."""
    exp_names: dict[str, str] = {}
    for name in spec.experiments:
        try:
            experiment = client.experiment(name)
        except FetchError as exc:
            summary.errors.append(str(exc))
            continue
        exp_names[str(experiment["experiment_id"])] = experiment["name"]
    if not exp_names:
        return
    known = state.load_states(store, SOURCE, f"{client.base_url}#")
    for run in client.search(list(exp_names), spec.filter, spec.runs_per_page):
        yield plan(run, spec, client, exp_names, known.get(f"{client.base_url}#{run['info'].get('run_id')}"))


def fetch_mlflow(store: Any, spec: MlflowSpec, *, workers: int = 8, on_event: EventCallback | None = None,
                 policy: RetryPolicy | None = None, max_rps: float | None = None,
                 summary: Summary | None = None, flush_points: int = 250_000) -> Summary:
    """Bring the selected runs of an MLflow server up to date in the store."""
    from openrlb_cli.fetch.engine import Engine

    summary = summary or Summary()
    client = MlflowClient(spec.base_url, policy=policy, max_rps=max_rps, stats=summary.stats)
    try:
        engine = Engine(store, workers=workers, on_event=on_event, summary=summary, flush_points=flush_points)
        return engine.run(jobs(store, spec, client, summary))
    finally:
        client.close()
