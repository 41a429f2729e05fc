"""Weights & Biases runs over the public GraphQL API, fetched in full and mapped onto the store.

Runs are listed with the `project { runs(filters, first, after, order) }` connection (cursor
paging, oldest first so pages are stable while new runs appear). History is never sampled: it is
read in step windows `[lo, hi)`; with `--metric` keys, `sampledHistory` is used instead with one
spec per key (its rows exist only where every key of a spec is present, so keys logged at
different steps must not share a spec) plus a `_step`-only spec that counts the window's rows.

W&B's servers do not agree on whether `maxStep` is inclusive (its backend says it is for
`sampledHistory`; the SDK's scans assume it is not), and a server may cap `samples` below what
was asked. So a window asks `maxStep = hi` and one more sample than the window can hold, drops
rows at `hi` itself, and is split and re-read when its answer could have been sampled: it came
back full, it reached a cap learned earlier in this fetch, or a run whose steps are all present
(`historyLineCount == lastStep + 1`) is missing some of the window's steps (which reveals the
cap). Every window's rows are counted, and a run whose count does not end up equal to the
server's `historyLineCount` fails instead of being stored as complete.

Incremental state per run (`progress`): the exclusive step bound committed for every key (`"*"`)
or per key, and `#rows` history rows counted below step `#rows_to`. A run whose remote digest
(heartbeat, history length, last step, metadata) has not changed and whose wanted keys are
covered up to its last step costs no history request.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from openrlb_cli.errors import InputError
from openrlb_cli.fetch import state
from openrlb_cli.fetch.engine import Chunk, EventCallback, Job, Summary
from openrlb_cli.fetch.http import (
    AuthError,
    FetchError,
    HttpClient,
    NotFoundError,
    NothingMatchedError,
    RequestStats,
    Retryable,
    RetryPolicy,
)
from openrlb_cli.fetch.wandb_axis import prepare_axis
from openrlb_cli.wandb_rows import (
    SOURCE,
    STEP,
    choose_x_axis,
    digest,
    last_step,
    load_json_field,
    rows_to_series,
    run_record,
)

PUBLIC_API = "https://api.wandb.ai"

RUNS_QUERY = """
query Runs($project: String!, $entity: String!, $cursor: String, $perPage: Int, $order: String, $filters: JSONString) {
  project(name: $project, entityName: $entity) {
    runs(filters: $filters, after: $cursor, first: $perPage, order: $order) {
      edges {
        node {
          id name displayName state config summaryMetrics tags createdAt heartbeatAt
          historyLineCount historyKeys user { name username }
        }
        cursor
      }
      pageInfo { endCursor hasNextPage }
    }
  }
}"""

HISTORY_QUERY = """
query HistoryPage($entity: String!, $project: String!, $run: String!, $minStep: Int64!, $maxStep: Int64!,
                  $pageSize: Int!) {
  project(name: $project, entityName: $entity) {
    run(name: $run) { history(minStep: $minStep, maxStep: $maxStep, samples: $pageSize) }
  }
}"""

SAMPLED_QUERY = """
query SampledHistoryPage($entity: String!, $project: String!, $run: String!, $specs: [JSONString!]!) {
  project(name: $project, entityName: $entity) {
    run(name: $run) { sampledHistory(specs: $specs) }
  }
}"""

_TRANSIENT = ("rate limit", "timeout", "timed out", "deadline", "unavailable", "try again", "internal",
              "temporar", "too many", "overloaded")
_AUTH = ("permission", "unauthorized", "not authorized", "authenticat", "forbidden", "access denied")


def default_base_url() -> str:
    """As the W&B SDK: `$WANDB_BASE_URL`, else the public API."""
    return os.environ.get("WANDB_BASE_URL") or PUBLIC_API


def api_key(base_url: str) -> str | None:
    """`$WANDB_API_KEY`, else the password netrc holds for the API host. Never logged or stored."""
    key = os.environ.get("WANDB_API_KEY")
    if key:
        return key
    auth = requests.utils.get_netrc_auth(base_url)
    return auth[1] if auth and auth[1] else None


@dataclass
class WandbQuery:
    """One listing: a project, an optional filter, which keys to fetch, how to read the config."""

    entity: str
    project: str
    filters: dict[str, Any] | None = None
    metrics: list[str] | None = None  # None: every history key
    env_key: str = "env_id"
    exp_key: str = "exp_name"
    x_axis: str | None = None  # the key points are stored against; None: global_step if logged, else _step

    @property
    def path(self) -> str:
        return f"{self.entity}/{self.project}"


@dataclass
class WandbSpec:
    """Everything a saved source needs to re-run (no credentials)."""

    base_url: str = PUBLIC_API
    queries: list[WandbQuery] = field(default_factory=list)
    page_size: int = 1000  # history rows per request (steps per window)
    runs_per_page: int = 50

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WandbSpec:
        queries = [WandbQuery(**q) for q in data.get("queries", [])]
        return cls(base_url=data.get("base_url", PUBLIC_API), queries=queries,
                   page_size=int(data.get("page_size", 1000)), runs_per_page=int(data.get("runs_per_page", 50)))


def parse_project(text: str) -> tuple[str, str]:
    parts = text.strip().strip("/").split("/")
    if len(parts) != 2 or not all(parts):
        raise InputError(f"{text!r} is not ENTITY/PROJECT (e.g. openrlbenchmark/cleanrl)")
    return parts[0], parts[1]


# ------------------------------------------------------------------------------ client
class WandbClient:
    """The three GraphQL operations openrlb needs."""

    def __init__(self, base_url: str, *, policy: RetryPolicy | None = None, max_rps: float | None = None,
                 stats: RequestStats | None = None, key: str | None = None):
        key = key if key is not None else api_key(base_url)
        host = urlsplit(base_url).netloc
        self.http = HttpClient(
            base_url, service="W&B", auth=requests.auth.HTTPBasicAuth("api", key) if key else None,
            auth_hint=f" (set WANDB_API_KEY, or add the key for {host} to ~/.netrc)",
            policy=policy, max_rps=max_rps, stats=stats,
        )
        self.base_url = self.http.base_url
        self._cap_lock = threading.Lock()
        self.samples_cap: int | None = None  # rows per answer this server was seen to cap at

    def learn_cap(self, rows: int) -> None:
        with self._cap_lock:
            if rows > 0 and (self.samples_cap is None or rows < self.samples_cap):
                self.samples_cap = rows

    def close(self) -> None:
        self.http.close()

    def graphql(self, query: str, variables: dict[str, Any], *, kind: str, what: str) -> dict[str, Any]:
        def check(body: Any) -> None:
            _check_graphql(body, what, self.http.has_auth)

        body = self.http.request_json("POST", "/graphql", kind=kind, what=what,
                                      json_body={"query": query, "variables": variables}, check=check)
        return body["data"]

    def malformed(self, what: str, problem: str) -> FetchError:
        """A well-formed HTTP answer whose content is not what W&B sends: one line naming both."""
        return FetchError(f"W&B at {self.base_url} answered {what} with {problem}")

    def list_runs(self, q: WandbQuery, per_page: int = 50) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        what = f"the run listing of project {q.path}"
        while True:
            variables = {"entity": q.entity, "project": q.project, "cursor": cursor, "perPage": per_page,
                         "order": "+created_at", "filters": json.dumps(q.filters or {})}
            project = self.graphql(RUNS_QUERY, variables, kind="runs", what=f"project {q.path}").get("project")
            if project is None:
                raise NotFoundError(f"W&B has no project {q.path} at {self.base_url}"
                                    + ("" if self.http.has_auth else " (or it is private: set WANDB_API_KEY)"))
            runs = _field(self, project, "runs", dict, what, "project")
            edges = _field(self, runs or {}, "edges", list, what, "runs") or []
            for edge in edges:
                node = edge.get("node") if isinstance(edge, dict) else None
                if not isinstance(node, dict):
                    raise self.malformed(what, f"an edge that holds no run object ({_kind(edge)})")
                yield node
            info = _field(self, runs or {}, "pageInfo", dict, what, "runs") or {}
            if not info.get("hasNextPage") or not info.get("endCursor"):
                return
            if not isinstance(info["endCursor"], str):
                raise self.malformed(what, f"a pageInfo.endCursor of type {_kind(info['endCursor'])}")
            cursor = info["endCursor"]

    def _run(self, data: dict[str, Any], what: str) -> dict[str, Any]:
        project = _field(self, data, "project", dict, what, "data")
        run = _field(self, project or {}, "run", dict, what, "project")
        if run is None:
            raise NotFoundError(f"W&B has no {what}")
        return run

    def history(self, entity: str, project: str, run: str, lo: int, hi: int, samples: int) -> list[dict[str, Any]]:
        """Rows of steps lo..hi (`maxStep` = hi: the caller drops step hi if the server includes it)."""
        what = f"run {entity}/{project}/{run} (steps {lo}..{hi - 1})"
        variables = {"entity": entity, "project": project, "run": run, "minStep": lo, "maxStep": hi,
                     "pageSize": samples}
        rows = _field(self, self._run(self.graphql(HISTORY_QUERY, variables, kind="history", what=what), what),
                      "history", list, what, "run")
        return _parse_rows(self, rows or [], what)

    def sampled(self, entity: str, project: str, run: str, keys: list[str], lo: dict[str, int], hi: int,
                samples: int, census_from: int | None = None, x_key: str = STEP) -> list[list[dict[str, Any]]]:
        """One list of rows per key (steps lo[key]..hi), plus, with `census_from`, a last list of
        every row's `_step` from that step on (the window's row count). With an x axis other than
        `_step` each key's spec also names it, so W&B returns only rows holding both (the row-wise
        join rlops does with `dropna`)."""
        what = f"run {entity}/{project}/{run} (steps ..{hi - 1})"
        specs = [json.dumps({"keys": list(dict.fromkeys(["_step", "_timestamp", x_key, k])), "minStep": lo[k],
                             "maxStep": hi, "samples": samples}) for k in keys]
        if census_from is not None:
            specs.append(json.dumps({"keys": ["_step"], "minStep": census_from, "maxStep": hi, "samples": samples}))
        variables = {"entity": entity, "project": project, "run": run, "specs": specs}
        out = self._run(self.graphql(SAMPLED_QUERY, variables, kind="history", what=what), what).get("sampledHistory")
        if not isinstance(out, list) or len(out) != len(specs):
            raise self.malformed(f"sampledHistory for {what}", f"{len(out) if isinstance(out, list) else _kind(out)} "
                                 f"lists, expected {len(specs)}")
        if not all(isinstance(rows, list) or rows is None for rows in out):
            raise self.malformed(f"sampledHistory for {what}", "an entry that is not a list of rows")
        return [_parse_rows(self, rows or [], what) for rows in out]


def _kind(value: Any) -> str:
    """How a wrong value is named in an error: its JSON type, and a short excerpt."""
    names = {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number",
             bool: "a boolean", type(None): "null"}
    text = json.dumps(value, default=str)
    return f"{names.get(type(value), type(value).__name__)} {text[:40]}{'...' if len(text) > 40 else ''}"


def _field(client: WandbClient, parent: dict[str, Any], key: str, kind: type, what: str, where: str) -> Any:
    """`parent[key]` when it is of `kind` or null; anything else is a malformed answer."""
    value = parent.get(key)
    if value is not None and not isinstance(value, kind):
        expected = "an object" if kind is dict else "a list"
        raise client.malformed(what, f"{where}.{key} that is {_kind(value)}, expected {expected}")
    return value


def _parse_rows(client: WandbClient, rows: list[Any], what: str) -> list[dict[str, Any]]:
    """History rows arrive as JSON strings: parse them in one go (one C-level call, not one each)."""
    try:
        try:
            parsed = json.loads("[" + ",".join(rows) + "]")
        except TypeError:  # not all strings
            parsed = [json.loads(r) if isinstance(r, str) else r for r in rows]
    except ValueError as exc:
        raise client.malformed(what, f"a history row that is not JSON ({exc})") from None
    if not all(type(row) is dict for row in parsed):
        bad = next(row for row in parsed if type(row) is not dict)
        raise client.malformed(what, f"a history row that is {_kind(bad)}, expected an object")
    return parsed


def _check_graphql(body: Any, what: str, has_auth: bool) -> None:
    if not isinstance(body, dict):
        raise Retryable("the answer is not a GraphQL response")
    errors = body.get("errors")
    if errors:
        messages = [e.get("message", str(e)) if isinstance(e, dict) else str(e) for e in errors[:3]]
        text = "; ".join(messages)
        low = text.lower()
        if any(w in low for w in _TRANSIENT):
            raise Retryable(f"W&B error: {text}")
        if any(w in low for w in _AUTH):
            hint = ("the API key has no access to it" if has_auth
                    else "this project needs an API key (set WANDB_API_KEY)")
            raise AuthError(f"W&B refused access to {what}: {hint} ({text})")
        if "not found" in low or "does not exist" in low:
            raise NotFoundError(f"W&B has no {what} ({text})")
        raise FetchError(f"W&B answered {what} with an error: {text}")
    if not isinstance(body.get("data"), dict):
        raise Retryable("the GraphQL answer has no data")


# ------------------------------------------------------------------------------ run nodes
def _node_name(node: dict[str, Any], path: str) -> str:
    name = node.get("name")
    if not isinstance(name, str) or not name or "/" in name:
        raise FetchError(f"a run of project {path} has no usable id (name is {_kind(name)})")
    return name


_TEXT_FIELDS = ("displayName", "state", "createdAt", "heartbeatAt")
_JSON_FIELDS = ("config", "summaryMetrics", "historyKeys")


def node_problem(node: dict[str, Any]) -> str | None:
    """What is wrong with a listed run's fields (wrong JSON types, JSON text that is not JSON), or None.

    Checked once per listed run so that the mapping code can trust the shapes, and a hostile or
    broken server gets one line naming the run and the field instead of a Python exception.
    """
    for key in _TEXT_FIELDS:
        if node.get(key) is not None and not isinstance(node[key], str):
            return f"its {key} is {_kind(node[key])}, expected a string"
    for key in _JSON_FIELDS:
        value = node.get(key)
        if isinstance(value, (str, bytes)):
            try:
                value = load_json_field(value)
            except ValueError as exc:
                return f"its {key} is not valid JSON ({exc}): {str(node[key])[:40]!r}"
        if value is not None and not isinstance(value, dict):
            return f"its {key} is {_kind(value)}, expected an object"
        if key == "historyKeys" and value:
            last = value.get("lastStep")
            if last is not None and (type(last) not in (int, float) or last != last):
                return f"its historyKeys.lastStep is {_kind(last)}, expected a number"
            if value.get("keys") is not None and not isinstance(value["keys"], dict):
                return f"its historyKeys.keys is {_kind(value['keys'])}, expected an object"
    tags = node.get("tags")
    if tags is not None and (not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)):
        return f"its tags are {_kind(tags)}, expected a list of strings"
    lines = node.get("historyLineCount")
    if lines is not None and (type(lines) is not int or lines < 0):
        return f"its historyLineCount is {_kind(lines)}, expected a count"
    user = node.get("user")
    if user is not None and (not isinstance(user, dict) or not all(
            v is None or isinstance(v, str) for v in (user.get("name"), user.get("username")))):
        return f"its user is {_kind(user)}, expected an object with name/username strings"
    return None


# ------------------------------------------------------------------------------ planning
def windows(start: int, end: int, page_size: int, lines: int, last: int) -> list[tuple[int, int]]:
    """Step windows covering [start, end). Sparse histories (steps >> rows) get wider windows;
    a window that comes back full is split when read, so width only affects the request count."""
    if start >= end:
        return []
    width = page_size
    density = lines / (last + 1) if last >= 0 and lines > 0 else 1.0
    if density < 0.5:
        width = max(page_size, int(page_size * 0.5 / density))
    return [(lo, min(lo + width, end)) for lo in range(start, end, width)]


def _floor(progress: dict[str, Any], key: str) -> int:
    return int(max(progress.get(key, 0), progress.get("*", 0)))


_BOOKKEEPING = ("#rows", "#rows_to")  # progress entries that are not key floors


@dataclass
class _Shape:
    """What the listing says about a run's history, and where this fetch starts counting rows."""

    lines: int  # historyLineCount
    last: int  # lastStep (-1: no history)
    census_from: int | None  # count rows from this step on (None: the count cannot be checked)

    @property
    def dense(self) -> bool:
        """Every step 0..last has a row (W&B's `_step` is a row counter unless steps were given)."""
        return self.lines > 0 and self.lines == self.last + 1


def _steps_in(rows: list[dict[str, Any]], lo: int, hi: int) -> set[int]:
    return {int(s) for r in rows if (s := r.get("_step")) is not None and type(s) in (int, float) and lo <= s < hi}


def _inside(rows: list[dict[str, Any]], lo: int, hi: int) -> list[dict[str, Any]]:
    return [r for r in rows if (s := r.get("_step")) is not None and type(s) in (int, float) and lo <= s < hi]


class _Window:
    """A download task: one step window of one run, split while its answer may be incomplete."""

    def __init__(self, client: WandbClient, q: WandbQuery, run: str, lo: int, hi: int, page_size: int,
                 floors: dict[str, int], shape: _Shape, x_key: str = STEP):
        self.client, self.q, self.run, self.lo, self.hi = client, q, run, lo, hi
        self.page_size, self.floors, self.shape, self.x_key = page_size, floors, shape, x_key

    def __call__(self) -> Chunk:
        census_from = self.shape.census_from
        counted = max(self.lo, census_from) if census_from is not None else None
        by_key, count = self._read(self.lo, self.hi, counted)
        counts = {"#rows": count} if counted is not None else {}
        bookkeeping = {"#rows_to": max(self.hi, census_from)} if census_from is not None else {}
        if self.q.metrics is None:
            series, dropped = rows_to_series(by_key.get("*", []), self.floors, self.floors.get("*", 0), self.x_key)
            return Chunk(series, {"*": self.hi, **bookkeeping}, dropped, counts)
        # each key's rows also hold the x axis: keep only the key its spec was for (no point twice)
        series, dropped = {}, 0
        for key, rows in by_key.items():
            got, n = rows_to_series(rows, self.floors, 0, self.x_key)
            dropped += n
            if key in got:
                series[key] = got[key]
        return Chunk(series, {**{k: max(self.floors[k], self.hi) for k in self.q.metrics}, **bookkeeping},
                     dropped, counts)

    def _ask(self, lo: int, hi: int, samples: int) -> tuple[dict[str, list[dict]], list[dict]]:
        """Rows for steps lo..hi by key ("*": every key), and the list that holds every row (the census)."""
        q = self.q
        if q.metrics is None:
            rows = self.client.history(q.entity, q.project, self.run, lo, hi, samples)
            return {"*": rows}, rows
        keys = [k for k in q.metrics if self.floors[k] < hi]
        starts = {k: max(lo, self.floors[k]) for k in keys}
        # the census spec also tells whether the window is complete, so it always covers the window
        lists = self.client.sampled(q.entity, q.project, self.run, keys, starts, hi, samples, lo, self.x_key)
        return dict(zip(keys, lists[:-1], strict=True)), lists[-1]

    def _read(self, lo: int, hi: int, counted: int | None) -> tuple[dict[str, list[dict[str, Any]]], int]:
        """Rows with steps in [lo, hi) by key, and how many history rows lie in [counted, hi)."""
        samples = min(hi - lo, self.page_size) + 1  # one more than fits if maxStep is exclusive
        cap = self.client.samples_cap
        if cap is not None and samples > cap and self.shape.dense:  # known to come back short: split first
            return self._split(lo, hi, counted)
        by_key, census = self._ask(lo, hi, samples)
        if self._incomplete(lo, hi, samples, max(len(rows) for rows in [census, *by_key.values()]), census):
            return self._split(lo, hi, counted)
        inside = {k: _inside(rows, lo, hi) for k, rows in by_key.items()}
        count = len(_steps_in(census, counted, hi)) if counted is not None else 0
        return inside, count

    def _incomplete(self, lo: int, hi: int, samples: int, n: int, census: list[dict[str, Any]]) -> bool:
        """Could the server have left rows of [lo, hi) out of this answer?"""
        if n >= hi - lo + 1:  # a row for every step the answer may hold: nothing is missing
            return False
        if n >= samples:  # full: the server may have sampled
            return True
        cap = self.client.samples_cap
        if cap is not None and n >= cap:
            return True
        if self.shape.dense:
            expected = min(hi, self.shape.last + 1) - lo
            if len(_steps_in(census, lo, hi)) < expected:  # steps that exist are missing: a cap
                self.client.learn_cap(n)
                return True
        return False

    def _split(self, lo: int, hi: int, counted: int | None) -> tuple[dict[str, list[dict[str, Any]]], int]:
        if hi - lo <= 1:
            raise FetchError(f"W&B leaves rows of step {lo} of run {self.q.path}/{self.run} out of every answer")
        cap = self.client.samples_cap
        # a dense run's window holds a row per step: pieces that just fit the cap; else halves
        width = cap - 1 if cap is not None and self.shape.dense and 1 < cap - 1 < hi - lo else None
        cuts = list(range(lo, hi, width)) + [hi] if width else [lo, (lo + hi) // 2, hi]
        by_key: dict[str, list[dict[str, Any]]] = {}
        count = 0
        for a, b in zip(cuts, cuts[1:], strict=False):
            part, n = self._read(a, b, max(a, counted) if counted is not None else None)
            for key, rows in part.items():
                by_key.setdefault(key, []).extend(rows)
            count += n
        return by_key, count


def _verifier(path: str, shape: _Shape) -> Any:
    """The run-level check: every history row the server reports was counted, no more, no fewer."""
    def verify(progress: dict[str, Any]) -> str | None:
        if shape.census_from is None or progress.get("#rows_to", 0) < shape.last + 1:
            return None
        got = int(progress.get("#rows", 0))
        if got == shape.lines:
            return None
        return (f"W&B reports {shape.lines:,} history rows for run {path} but its answers held {got:,} "
                f"(the server sampled or capped them): the points are kept but the run is not marked complete; "
                f"`openrlb rm` it and fetch again with a smaller page size")
    return verify


def plan(node: dict[str, Any], q: WandbQuery, spec: WandbSpec, client: WandbClient,
         known: state.RunState | None, x_key: str | None = None) -> Job:
    """The download tasks that bring one run up to date. `x_key`: the axis chosen for it (and any
    stored points already re-keyed onto it, see `wandb_axis.prepare_axis`)."""
    x_key = x_key or choose_x_axis(node, q.x_axis)[0]
    record = run_record(node, q, spec.base_url)
    progress = dict(known.progress) if known else {}
    last = last_step(node)
    lines = int(node.get("historyLineCount") or 0)
    if q.metrics is None:
        floors: dict[str, int] = {k: int(v) for k, v in progress.items() if k not in _BOOKKEEPING}
        floors["*"] = int(progress.get("*", 0))
        start = floors["*"]
    else:
        floors = {k: _floor(progress, k) for k in q.metrics}
        start = min(floors.values()) if floors else last + 1
    # rows are counted from where the last count stopped; a store written before counting began
    # (progress without "#rows_to") cannot be checked
    fresh = not any(k for k in progress if k not in _BOOKKEEPING)
    census_from = int(progress["#rows_to"]) if "#rows_to" in progress else (0 if fresh else None)
    shape = _Shape(lines, last, census_from)
    tasks = [_Window(client, q, node["name"], lo, hi, spec.page_size, floors, shape, x_key)
             for lo, hi in windows(start, last + 1, spec.page_size, lines, last)]
    remote = {"updated": node.get("heartbeatAt"), "lines": lines, "last_step": last, "state": node.get("state")}
    return Job(record=record, tasks=list(tasks), digest=digest(node), remote=remote, existed=known is not None,
               changed=known is None or known.digest != digest(node), run_id=known.run_id if known else None,
               progress=progress, x_axis=x_key, verify=_verifier(f"{q.path}/{node['name']}", shape))


def merge_queries(queries: list[WandbQuery]) -> list[WandbQuery]:
    """Queries on the same project and keys become one listing whose filter ORs theirs."""
    groups: dict[tuple, list[WandbQuery]] = {}
    for q in queries:
        groups.setdefault((q.entity, q.project, q.env_key, q.exp_key, q.x_axis), []).append(q)
    merged = []
    for (entity, project, env_key, exp_key, x_axis), group in groups.items():
        metrics: list[str] | None = []
        for q in group:
            if q.metrics is None or metrics is None:
                metrics = None
            else:
                metrics += [m for m in q.metrics if m not in metrics]
        filters = [q.filters for q in group]
        if any(f is None for f in filters):
            combined = None
        else:
            unique = [json.loads(t) for t in dict.fromkeys(json.dumps(f, sort_keys=True) for f in filters)]
            combined = unique[0] if len(unique) == 1 else {"$or": unique}
        merged.append(WandbQuery(entity, project, combined, metrics, env_key, exp_key, x_axis))
    return merged


def jobs(store: Any, spec: WandbSpec, client: WandbClient, summary: Summary,
         listed_whole: dict[str, bool] | None = None) -> Iterator[Job]:
    """Plan every listed run; a project whose listing fails is reported and the others go on.

    `listed_whole` receives, per project path, whether every listing of it went to the end (only
    then can a run missing from it have been deleted on the server)."""
    seen: set[str] = set()
    whole = listed_whole if listed_whole is not None else {}
    for q in merge_queries(spec.queries):
        known = state.load_states(store, SOURCE, f"{q.path}/")
        whole.setdefault(q.path, True)
        try:
            for node in client.list_runs(q, spec.runs_per_page):
                try:
                    ext = f"{q.path}/{_node_name(node, q.path)}"
                except FetchError as exc:
                    raise client.malformed(f"the run listing of project {q.path}", str(exc)) from None
                if ext in seen:
                    continue
                seen.add(ext)
                problem = node_problem(node)
                if problem is not None:  # this run cannot be read; the others can
                    whole[q.path] = False
                    message = f"W&B at {client.base_url} sent run {ext} in a shape openrlb cannot read: {problem}"
                    summary.failed += 1
                    summary.failures.append({"run": ext, "error": message})
                    continue
                x_key, warning = choose_x_axis(node, q.x_axis)
                if warning and warning not in summary.warnings:
                    summary.warnings.append(warning)
                run_state = prepare_axis(store, known.get(ext), x_key, summary, ext)
                yield plan(node, q, spec, client, run_state, x_key)
        except FetchError as exc:
            whole[q.path] = False
            summary.errors.append(str(exc))


def describe_filter(flt: Any) -> str:
    """A W&B filter as a user reads it: `exp_name=td3, env_id in (Hopper-v4, Ant-v4), tag=v1`."""
    if not flt:
        return ""
    if isinstance(flt, dict) and set(flt) == {"$and"} and isinstance(flt["$and"], list):
        return ", ".join(describe_filter(c) for c in flt["$and"])
    if isinstance(flt, dict) and set(flt) == {"$or"} and isinstance(flt["$or"], list):
        return " or ".join(f"({describe_filter(c)})" for c in flt["$or"])
    if isinstance(flt, dict) and len(flt) == 1:
        (path, cond), = flt.items()
        name = path[len("config."):] if path.startswith("config.") else path
        name = name[:-len(".value")] if name.endswith(".value") else name
        if path == "tags" and isinstance(cond, dict) and list(cond) == ["$in"] and len(cond["$in"]) == 1:
            return f"tag={cond['$in'][0]}"
        if isinstance(cond, dict) and list(cond) == ["$in"] and isinstance(cond["$in"], list):
            return f"{name} in ({', '.join(str(v) for v in cond['$in'])})"
        if not isinstance(cond, (dict, list)):
            return f"{name}={cond}"
    return json.dumps(flt, sort_keys=True)


def require_matches(client: WandbClient, spec: WandbSpec) -> None:
    """Every query of the spec matches at least one run, else `NothingMatchedError` naming it.

    One listing request of one run per query, before anything is downloaded or saved: a typo in
    a project, experiment or filter is an error, not a fetch of nothing. Other failures (no access,
    a server down) are left to the fetch itself, which reports them run by run.
    """
    for q in spec.queries:
        try:
            first = next(iter(client.list_runs(q, 1)), None)
        except NotFoundError as exc:
            raise NothingMatchedError(str(exc)) from None
        except FetchError:
            return
        if first is None:
            what = describe_filter(q.filters)
            raise NothingMatchedError(f"W&B project {q.path} at {client.base_url} has no run"
                                      + (f" matching {what}" if what else ""))


def check_deleted(store: Any, client: WandbClient, source: str, listed: dict[str, Any],
                  listed_whole: dict[str, bool], summary: Summary) -> None:
    """Runs of the source that a whole listing left out: deleted on the server, or no longer selected.

    Each is looked up by id (100 per request); those W&B no longer has are marked deleted, the
    others simply stop being members of the source (their filters no longer match them).
    """
    for path, whole in listed_whole.items():
        if not whole:
            continue
        missing = {ext: run_id for ext, run_id in state.live_members(store, source, f"{path}/").items()
                   if ext not in listed}
        if not missing:
            continue
        entity, project = path.split("/", 1)
        names = sorted(ext.rsplit("/", 1)[1] for ext in missing)
        still: set[str] = set()
        try:
            for start in range(0, len(names), 100):
                q = WandbQuery(entity, project, {"name": {"$in": names[start:start + 100]}})
                still.update(f"{path}/{_node_name(node, path)}" for node in client.list_runs(q, 100))
        except FetchError as exc:
            summary.warnings.append(f"could not check whether {len(missing)} run(s) of {path} were deleted on the "
                                    f"server: {exc}")
            continue
        gone = [run_id for ext, run_id in missing.items() if ext not in still]
        if gone:
            state.mark_deleted(store, gone)
            summary.deleted += len(gone)
        moved = [run_id for ext, run_id in missing.items() if ext in still]
        if moved:
            state.drop_members(store, source, moved)


def fetch_wandb(store: Any, spec: WandbSpec, *, workers: int = 8, on_event: EventCallback | None = None,
                policy: RetryPolicy | None = None, max_rps: float | None = 20.0, key: str | None = None,
                summary: Summary | None = None, flush_points: int = 250_000, source: str | None = None,
                require_match: bool = False) -> Summary:
    """Bring every run the spec selects up to date in the store; returns what was done.

    `source`: the saved source this fetch runs for (its runs are recorded, and those the server
    deleted since are marked). `require_match`: see `require_matches`."""
    from openrlb_cli.fetch.engine import Engine

    summary = summary or Summary()
    callback = on_event or (lambda *a, **k: None)
    client = WandbClient(spec.base_url, policy=policy, max_rps=max_rps, stats=summary.stats, key=key)
    try:
        engine = Engine(store, workers=workers, on_event=callback, summary=summary, flush_points=flush_points,
                        source=source)
        if require_match:
            require_matches(client, spec)
        listed_whole: dict[str, bool] = {}
        engine.run(jobs(store, spec, client, summary, listed_whole))
        if source is not None:
            check_deleted(store, client, source, engine.listed, listed_whole, summary)
        return summary
    finally:
        client.close()
