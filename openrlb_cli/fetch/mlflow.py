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
from openrlb_cli.fetch.http import (
    FetchError,
    HttpClient,
    NotFoundError,
    NothingMatchedError,
    RequestStats,
    RetryPolicy,
)
from openrlb_cli.model import RunRecord, Series

SOURCE = "mlflow"
API = "/api/2.0/mlflow"
HISTORY_PAGE = 25_000  # the largest page MLflow servers accept for metric history
PARENT_TAG = "mlflow.parentRunId"  # set by MLflow on nested runs; kept as a config key of the child
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

    def malformed(self, what: str, problem: str) -> FetchError:
        """A well-formed HTTP answer whose content is not what MLflow sends: one line naming both."""
        return FetchError(f"MLflow at {self.base_url} answered {what} with {problem}")

    def _object(self, body: Any, what: str, key: str, kind: type, required: bool = False) -> Any:
        """`body[key]` when the body is a JSON object and the field is of `kind` (or absent)."""
        if not isinstance(body, dict):
            raise self.malformed(what, f"{_kind(body)}, not an MLflow answer")
        value = body.get(key)
        if value is None and required:
            raise self.malformed(what, f"JSON that is not an MLflow answer (no {key!r}): {_excerpt(body)}")
        if value is not None and not isinstance(value, kind):
            expected = "an object" if kind is dict else "a list" if kind is list else "a string"
            raise self.malformed(what, f"a {key!r} that is {_kind(value)}, expected {expected}")
        return value

    def experiment(self, name: str) -> dict[str, Any]:
        what = f"experiment {name!r}"
        body = self.http.request_json("GET", f"{API}/experiments/get-by-name", kind="experiments",
                                      what=what, params={"experiment_name": name})
        experiment = self._object(body, what, "experiment", dict, required=True)
        if not isinstance(experiment.get("experiment_id"), (str, int)) or isinstance(experiment["experiment_id"], bool):
            raise self.malformed(what, f"an experiment without an id: {_excerpt(experiment)}")
        if experiment.get("lifecycle_stage") == "deleted":
            raise NotFoundError(f"MLflow at {self.base_url} has experiment {name!r} only as deleted")
        return experiment

    def search(self, experiment_ids: list[str], flt: str | None, per_page: int) -> Iterator[dict[str, Any]]:
        token: str | None = None
        what = f"the run search of experiments {', '.join(experiment_ids)}"
        while True:
            payload: dict[str, Any] = {"experiment_ids": experiment_ids, "max_results": per_page,
                                       "order_by": ["attributes.start_time ASC"]}
            if flt:
                payload["filter"] = flt
            if token:
                payload["page_token"] = token
            body = self.http.request_json("POST", f"{API}/runs/search", kind="runs", json_body=payload, what=what)
            for run in self._object(body, what, "runs", list) or []:
                if not isinstance(run, dict) or not isinstance(run.get("info"), dict):
                    raise self.malformed(what, f"a run that is {_kind(run)}, expected an object with 'info'")
                if not isinstance(_run_id(run), str) or not _run_id(run):
                    raise self.malformed(what, f"a run without an id: {_excerpt(run)}")
                yield run
            token = self._object(body, what, "next_page_token", str)
            if not token:
                return

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """The run, or None when the server does not have it (or has it only as deleted)."""
        what = f"run {run_id}"
        try:
            body = self.http.request_json("GET", f"{API}/runs/get", kind="runs", what=what,
                                          params={"run_id": run_id})
        except NotFoundError:
            return None
        run = self._object(body, what, "run", dict, required=True)
        info = run.get("info") if isinstance(run.get("info"), dict) else {}
        return None if info.get("lifecycle_stage") == "deleted" else run

    def history(self, run_id: str, key: str) -> list[dict[str, Any]]:
        points: list[dict[str, Any]] = []
        token: str | None = None
        what = f"the history of {key!r} in run {run_id}"
        while True:
            params: dict[str, Any] = {"run_id": run_id, "metric_key": key, "max_results": HISTORY_PAGE}
            if token:
                params["page_token"] = token
            body = self.http.request_json("GET", f"{API}/metrics/get-history", kind="history", params=params,
                                          what=what)
            page = self._object(body, what, "metrics", list) or []
            for m in page:
                problem = _metric_problem(m)
                if problem:
                    raise self.malformed(what, problem)
            points += page
            token = self._object(body, what, "next_page_token", str)
            if not token:
                return points


# ------------------------------------------------------------------------------ shapes
def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number",
             bool: "a boolean", type(None): "null"}
    return f"{names.get(type(value), type(value).__name__)} {_excerpt(value)}"


def _excerpt(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text[:60] + ("..." if len(text) > 60 else "")


def _run_id(run: dict[str, Any]) -> Any:
    info = run.get("info") or {}
    return info.get("run_id") or info.get("run_uuid")


def _integer(value: Any) -> bool:
    """MLflow's int64 fields arrive as JSON numbers or as decimal strings."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int) or value is None:
        return True
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, str) and value.strip().lstrip("-").isdigit()


def _metric_problem(m: Any) -> str | None:
    if not isinstance(m, dict) or not isinstance(m.get("key", ""), str):
        return f"a metric that is {_kind(m)}, expected an object with key, value, timestamp, step"
    for field_name in ("step", "timestamp"):
        if not _integer(m.get(field_name)):
            return f"a metric {m.get('key', '')!r} whose {field_name} is {_kind(m.get(field_name))}"
    value = m.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float, str, type(None))):
        return f"a metric {m.get('key', '')!r} whose value is {_kind(value)}"
    return None


def run_problem(run: dict[str, Any]) -> str | None:
    """What is wrong with a listed run's fields, or None: checked once so the mapping can trust them."""
    info = run["info"]
    for key in ("status", "run_name", "user_id", "lifecycle_stage"):
        if info.get(key) is not None and not isinstance(info[key], str):
            return f"its info.{key} is {_kind(info[key])}, expected a string"
    for key in ("start_time", "end_time"):
        if not _integer(info.get(key)) and info.get(key) != "":
            return f"its info.{key} is {_kind(info[key])}, expected a time in ms"
    data = run.get("data")
    if data is None:
        return None
    if not isinstance(data, dict):
        return f"its data is {_kind(data)}, expected an object"
    for part in ("params", "tags", "metrics"):
        items = data.get(part)
        if items is None:
            continue
        if not isinstance(items, list):
            return f"its data.{part} is {_kind(items)}, expected a list"
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("key"), str):
                return f"its data.{part} holds {_kind(item)}, expected objects with a key"
            if part == "metrics":
                problem = _metric_problem(item)
                if problem:
                    return f"its data.metrics hold {problem[2:]}"
            elif item.get("value") is not None and not isinstance(item["value"], str):
                return f"its {part[:-1]} {item['key']!r} is {_kind(item['value'])}, expected a string"
    return None


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

    config = dict(params)
    if tags.get(PARENT_TAG):  # nested runs (hyperparameter searches): keep the link to the parent
        config[PARENT_TAG] = tags[PARENT_TAG]
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
        config=config,
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


def experiments(client: MlflowClient, spec: MlflowSpec, summary: Summary | None) -> dict[str, str]:
    """experiment id -> name of the spec's experiments; one that cannot be found is reported in
    `summary` and the others go on (or, without a summary, raised)."""
    exp_names: dict[str, str] = {}
    for name in spec.experiments:
        try:
            experiment = client.experiment(name)
        except FetchError as exc:
            if summary is None:
                raise
            summary.errors.append(str(exc))
            continue
        exp_names[str(experiment["experiment_id"])] = str(experiment.get("name") or name)
    return exp_names


def require_matches(client: MlflowClient, spec: MlflowSpec) -> None:
    """Every experiment of the spec exists and has a run matching the filter, else `NothingMatchedError`.

    One request per experiment for its first run, before anything is downloaded or saved. Other
    failures (no access, a server down) are left to the fetch, which reports them.
    """
    for name in spec.experiments:
        try:
            exp_id = next(iter(experiments(client, MlflowSpec(spec.base_url, [name]), None)))
            first = next(iter(client.search([exp_id], spec.filter, 1)), None)
        except NotFoundError as exc:
            raise NothingMatchedError(str(exc)) from None
        except FetchError:
            return
        if first is None:
            raise NothingMatchedError(f"MLflow experiment {name!r} at {client.base_url} has no run"
                                      + (f" matching {spec.filter!r}" if spec.filter else ""))


def jobs(store: Any, spec: MlflowSpec, client: MlflowClient, summary: Summary,
         listed_whole: list[bool] | None = None) -> Iterator[Job]:
    """Plan every listed run; an experiment that cannot be found is reported and the others go on.

    `listed_whole` gets False appended when the listing did not cover every run of the spec."""
    whole = listed_whole if listed_whole is not None else []
    exp_names = experiments(client, spec, summary)
    if len(exp_names) < len(spec.experiments):
        whole.append(False)
    if not exp_names:
        return
    known = state.load_states(store, SOURCE, f"{client.base_url}#")
    try:
        for run in client.search(list(exp_names), spec.filter, spec.runs_per_page):
            ext = f"{client.base_url}#{_run_id(run)}"
            problem = run_problem(run)
            if problem is not None:  # this run cannot be read; the others can
                whole.append(False)
                summary.failed += 1
                summary.failures.append({"run": ext, "error": f"MLflow at {client.base_url} sent run {_run_id(run)} "
                                                              f"in a shape openrlb cannot read: {problem}"})
                continue
            yield plan(run, spec, client, exp_names, known.get(ext))
    except FetchError:
        whole.append(False)
        raise


def check_deleted(store: Any, client: MlflowClient, source: str, listed: dict[str, Any], summary: Summary) -> None:
    """Runs of the source the listing left out: deleted on the server (marked), or no longer selected."""
    missing = {ext: run_id for ext, run_id in state.live_members(store, source, f"{client.base_url}#").items()
               if ext not in listed}
    gone: list[int] = []
    moved: list[int] = []
    try:
        for ext, run_id in missing.items():
            (moved if client.get_run(ext.split("#", 1)[1]) is not None else gone).append(run_id)
    except FetchError as exc:
        summary.warnings.append(f"could not check whether {len(missing)} run(s) were deleted on the server: {exc}")
        return
    if gone:
        state.mark_deleted(store, gone)
        summary.deleted += len(gone)
    if moved:
        state.drop_members(store, source, moved)


def fetch_mlflow(store: Any, spec: MlflowSpec, *, workers: int = 8, on_event: EventCallback | None = None,
                 policy: RetryPolicy | None = None, max_rps: float | None = None,
                 summary: Summary | None = None, flush_points: int = 250_000, source: str | None = None,
                 require_match: bool = False) -> Summary:
    """Bring the selected runs of an MLflow server up to date in the store.

    `source`: the saved source this fetch runs for (its runs are recorded, and those deleted on the
    server since are marked). `require_match`: see `require_matches`."""
    from openrlb_cli.fetch.engine import Engine

    summary = summary or Summary()
    client = MlflowClient(spec.base_url, policy=policy, max_rps=max_rps, stats=summary.stats)
    try:
        if require_match:
            require_matches(client, spec)
        engine = Engine(store, workers=workers, on_event=on_event, summary=summary, flush_points=flush_points,
                        source=source)
        listed_whole: list[bool] = []
        engine.run(jobs(store, spec, client, summary, listed_whole))
        if source is not None and all(listed_whole) and not summary.errors:
            check_deleted(store, client, source, engine.listed, summary)
        return summary
    finally:
        client.close()
