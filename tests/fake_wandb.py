"""A local W&B GraphQL server on 127.0.0.1 for tests and benchmarks.

It speaks the shapes openrlb uses (run listing with cursor paging and Mongo-like filters, `history`
step windows, `sampledHistory` per-key specs), counts every request, and injects faults on demand:
HTTP statuses (429 with Retry-After, 500, 401, ...), malformed JSON, GraphQL errors in a 200,
slow answers (client timeouts), a connection dropped mid-body, and a connection closed without an
answer. `inclusive_max_step` serves `maxStep` as W&B's backend does for `sampledHistory` (the
last step included), and `samples_cap` answers at most that many rows however many were asked.
Queries are recognised by operation name, not parsed: the fake checks the client's
variables, not its GraphQL text.

Run standalone (for benchmarks) with `python tests/fake_wandb.py --runs 200 --points 10000
--latency 0.05 --port-file PATH`; `GET /_stats` returns the counters, `POST /_reset` clears them.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

_OP = re.compile(r"query\s+(\w+)")


# ------------------------------------------------------------------------------ data
class FakeRun:
    """A run: metadata plus history rows (dicts with `_step`, `_timestamp` and metric keys)."""

    def __init__(self, name: str, *, config: dict[str, Any] | None = None, tags: list[str] | None = None,
                 state: str = "finished", user: str = "alice", display_name: str | None = None,
                 created_at: str = "2024-01-01T00:00:00", rows: list[dict[str, Any]] | None = None):
        self.name = name
        self.display_name = display_name or f"run-{name}"
        self.config = dict(config or {})
        self.tags = list(tags or [])
        self.state = state
        self.user = user
        self.created_at = created_at
        self.heartbeat = 1_700_000_000
        self.rows: list[dict[str, Any]] = []
        self.summary: dict[str, Any] = {}
        # node fields served as given instead of computed (a broken or hostile server), and history
        # rows served as given (JSON values, not rows) instead of the run's rows
        self.overrides: dict[str, Any] = {}
        self.raw_history: list[Any] | None = None
        self.extend(rows or [])

    def extend(self, rows: list[dict[str, Any]]) -> None:
        """Append rows (as a running run logs) and move the heartbeat."""
        self.rows += rows
        self.rows.sort(key=lambda r: r["_step"])
        self.heartbeat += 60
        for row in rows:
            self.summary.update({k: v for k, v in row.items() if not k.startswith("_")})

    def last_step(self) -> int | None:
        return self.rows[-1]["_step"] if self.rows else None

    def line_count(self) -> int:
        return len(self.rows)

    def keys(self) -> list[str]:
        return sorted({k for r in self.rows for k in r})

    def rows_between(self, lo: int, hi: int) -> list[dict[str, Any]]:
        return [r for r in self.rows if lo <= r["_step"] < hi]

    def history_strings(self, lo: int, hi: int, samples: int) -> list[str]:
        """What `history(minStep, maxStep, samples)` returns: rows as JSON strings."""
        return [json.dumps(r) for r in _sample(self.rows_between(lo, hi), samples)]

    def node(self) -> dict[str, Any]:
        last = self.last_step()
        history_keys: dict[str, Any] = {"keys": {k: {"typeCounts": [{"type": "number"}]} for k in self.keys()}}
        if last is not None:
            history_keys["lastStep"] = last
        return {
            "id": base64.b64encode(f"Run:{self.name}".encode()).decode(),
            "name": self.name,
            "displayName": self.display_name,
            "state": self.state,
            "config": json.dumps({k: {"value": v, "desc": None} for k, v in
                                  {**self.config, "_wandb": {"cli_version": "0.16"}}.items()}),
            "summaryMetrics": json.dumps(self.summary),
            "tags": self.tags,
            "createdAt": self.created_at,
            "heartbeatAt": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.heartbeat)),
            "historyLineCount": self.line_count(),
            "historyKeys": history_keys,
            "user": {"name": self.user.title(), "username": self.user},
            **self.overrides,
        }

    def finish(self, tags: list[str] | None = None) -> None:
        """The run ends (as W&B marks it once the SDK's last heartbeat is in), maybe gaining tags."""
        self.state = "finished"
        self.tags += [t for t in tags or [] if t not in self.tags]
        self.heartbeat += 60

    def doc(self) -> dict[str, Any]:
        """What filters see: W&B's field names, config values wrapped in {"value": ...}."""
        return {"name": self.name, "displayName": self.display_name, "state": self.state, "username": self.user,
                "tags": self.tags, "createdAt": self.created_at,
                "config": {k: {"value": v} for k, v in self.config.items()}}


class GeneratedRun(FakeRun):
    """A big run whose rows are computed on demand (benchmarks): `n` rows, steps 0..n-1."""

    def __init__(self, name: str, n: int, **kw: Any):
        super().__init__(name, **kw)
        self.n = n
        self.summary = {"charts/episodic_return": self.value(n - 1)}

    def value(self, step: int) -> float:
        return math.sin(step / 50.0 + len(self.name)) * 100 + step / 100.0

    def row(self, step: int) -> dict[str, Any]:
        return {"_step": step, "_timestamp": 1_700_000_000 + step * 0.5, "charts/episodic_return": self.value(step)}

    def last_step(self) -> int | None:
        return self.n - 1 if self.n else None

    def line_count(self) -> int:
        return self.n

    def keys(self) -> list[str]:
        return ["_step", "_timestamp", "charts/episodic_return"]

    def rows_between(self, lo: int, hi: int) -> list[dict[str, Any]]:
        return [self.row(s) for s in range(max(lo, 0), min(hi, self.n))]

    def history_strings(self, lo: int, hi: int, samples: int) -> list[str]:
        steps = range(max(lo, 0), min(hi, self.n))
        if len(steps) > samples:
            return super().history_strings(lo, hi, samples)
        return [f'{{"_step": {s}, "_timestamp": {1_700_000_000 + s * 0.5!r}, '
                f'"charts/episodic_return": {self.value(s)!r}}}' for s in steps]


# ------------------------------------------------------------------------------ filters
def _lookup(doc: Any, path: str) -> Any:
    value = doc
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def _eq(value: Any, x: Any) -> bool:
    if isinstance(value, list) and not isinstance(x, list):
        return any(_same(v, x) for v in value)
    return _same(value, x)


def matches(doc: dict[str, Any], flt: dict[str, Any]) -> bool:
    """Mongo-like filter semantics as W&B applies them (the subset openrlb emits, and a bit more)."""
    for key, spec in flt.items():
        if key == "$and":
            if not all(matches(doc, f) for f in spec):
                return False
        elif key == "$or":
            if not any(matches(doc, f) for f in spec):
                return False
        elif key == "$nor":
            if any(matches(doc, f) for f in spec):
                return False
        else:
            value = _lookup(doc, key)
            if isinstance(spec, dict) and spec and all(k.startswith("$") for k in spec):
                if not all(_op(op, value, arg) for op, arg in spec.items()):
                    return False
            elif not _eq(value, spec):
                return False
    return True


def _op(op: str, value: Any, arg: Any) -> bool:
    if op == "$eq":
        return _eq(value, arg)
    if op == "$ne":
        return not _eq(value, arg)
    if op == "$in":
        return any(_eq(value, a) for a in arg)
    if op == "$nin":
        return not any(_eq(value, a) for a in arg)
    if op == "$exists":
        return (value is not None) == bool(arg)
    if op == "$regex":
        return isinstance(value, str) and re.search(arg, value) is not None
    if value is None or isinstance(value, (list, dict)):
        return False
    return {"$gt": value > arg, "$gte": value >= arg, "$lt": value < arg, "$lte": value <= arg}[op]


def _sample(rows: list[Any], n: int) -> list[Any]:
    """Server-side sampling when a window holds more rows than asked: evenly spaced, ends kept."""
    if len(rows) <= n:
        return rows
    if n <= 1:
        return rows[:n]
    idx = sorted({round(i * (len(rows) - 1) / (n - 1)) for i in range(n)})
    return [rows[i] for i in idx]


# ------------------------------------------------------------------------------ faults
@dataclass
class Fault:
    kind: str  # status | bad_json | body | graphql_error | timeout | drop | close
    op: str | None = None  # Runs | HistoryPage | SampledHistoryPage | None (any)
    times: int | None = 1  # None: forever
    when: Callable[[dict[str, Any]], bool] | None = None  # predicate on the request's variables
    status: int = 500
    retry_after: str | None = None
    headers: dict[str, str] = field(default_factory=dict)  # extra response headers (e.g. RateLimit-*)
    message: str = "internal server error"
    delay: float = 1.0
    body: Any = None  # kind "body": this JSON value answered with HTTP 200, whatever was asked
    hits: int = 0

    def applies(self, op: str, variables: dict[str, Any]) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.op is not None and self.op != op:
            return False
        return self.when is None or bool(self.when(variables))


@dataclass
class FakeWandb:
    """The server state; `start()` serves it on 127.0.0.1 (a free port) in a background thread."""

    latency: float = 0.0
    api_key: str | None = None  # when set, requests must carry HTTP basic api:<key>
    private: set[tuple[str, str]] = field(default_factory=set)  # projects needing the key
    max_per_page: int = 1000
    # W&B's backend treats sampledHistory's maxStep as inclusive; the SDK's scans assume it is not
    inclusive_max_step: bool = False
    samples_cap: int | None = None  # answer at most this many rows per history list, whatever was asked
    projects: dict[tuple[str, str], list[FakeRun]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    history_by_run: Counter = field(default_factory=Counter)
    history_log: list[tuple[str, int, int]] = field(default_factory=list)  # (run, minStep, maxStep)
    auth_seen: list[str | None] = field(default_factory=list)
    record: bool = False  # keep every (query, variables) the client sent, for schema validation
    payloads: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.httpd: ThreadingHTTPServer | None = None
        self.cache: dict[tuple, bytes] = {}  # precomputed history answers (see prewarm)

    # -------------------------------------------------------------- setup
    def add(self, entity: str, project: str, run: FakeRun) -> FakeRun:
        self.projects.setdefault((entity, project), []).append(run)
        return run

    def delete(self, entity: str, project: str, name: str) -> FakeRun:
        """Delete a run on the server (it is no longer listed nor found by id)."""
        runs = self.projects[(entity, project)]
        run = next(r for r in runs if r.name == name)
        runs.remove(run)
        return run

    def fault(self, kind: str, **kw: Any) -> Fault:
        f = Fault(kind, **kw)
        with self.lock:
            self.faults.append(f)
        return f

    def bounds(self, lo: int, hi: int, samples: int) -> tuple[int, int, int]:
        """[lo, hi) and the sample count this server really serves for a request (minStep, maxStep, samples)."""
        return lo, hi + 1 if self.inclusive_max_step else hi, min(samples, self.samples_cap or samples)

    def prewarm(self, page: int) -> int:
        """Serialise every public run's history windows of `page` steps ahead of time (benchmarks).

        A real server does its work on its own machine; precomputing keeps the fake's CPU out of
        the client's measurements. Returns the number of cached answers.
        """
        self.cache = {}
        for (entity, project), runs in self.projects.items():
            if (entity, project) in self.private:
                continue
            for run in runs:
                last = run.last_step()
                for lo in range(0, (last + 1) if last is not None else 0, page):
                    # what openrlb asks: maxStep = the window's end, one sample more than the window holds
                    rows = run.history_strings(*self.bounds(lo, lo + page, page + 1))
                    doc = {"data": {"project": {"run": {"history": rows}}}}
                    self.cache[(entity, project, run.name, lo, lo + page, page + 1)] = json.dumps(doc).encode()
        return len(self.cache)

    def cached(self, op: str, variables: dict[str, Any]) -> bytes | None:
        if op != "HistoryPage" or not self.cache:
            return None
        return self.cache.get((variables.get("entity"), variables.get("project"), variables.get("run"),
                               variables.get("minStep"), variables.get("maxStep"), variables.get("pageSize")))

    def note_history(self, op: str, variables: dict[str, Any]) -> None:
        """Count a history request per run and log its step window (caller holds the lock)."""
        if op == "HistoryPage":
            self.history_log.append((variables.get("run"), variables["minStep"], variables["maxStep"]))
        elif op == "SampledHistoryPage":
            specs = [json.loads(t) for t in variables["specs"]]
            self.history_log.append((variables.get("run"), min(sp.get("minStep", 0) for sp in specs),
                                     specs[0].get("maxStep", 0)))
        else:
            return
        self.history_by_run[variables.get("run")] += 1

    def reset_counts(self) -> None:
        with self.lock:
            self.counts.clear()
            self.history_by_run.clear()
            self.history_log.clear()

    @property
    def requests(self) -> int:
        return self.counts["total"]

    @property
    def history_requests(self) -> int:
        return self.counts["HistoryPage"] + self.counts["SampledHistoryPage"]

    def start(self) -> FakeWandb:
        fake = self

        class Handler(_Handler):
            server_state = fake

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()

    @property
    def url(self) -> str:
        assert self.httpd is not None
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> FakeWandb:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -------------------------------------------------------------- GraphQL
    def answer(self, op: str, variables: dict[str, Any], auth: str | None) -> tuple[int, dict[str, Any]]:
        key = (variables.get("entity"), variables.get("project"))
        authorised = self.api_key is not None and auth == "Basic " + base64.b64encode(
            f"api:{self.api_key}".encode()).decode()
        if key in self.private and not authorised:
            return 401, {"errors": [{"message": "user is not logged in"}]}
        runs = self.projects.get(key)
        if runs is None:
            return 200, {"data": {"project": None}}
        if op == "Runs":
            return 200, {"data": {"project": self._runs(runs, variables)}}
        run = next((r for r in runs if r.name == variables.get("run")), None)
        if run is None:
            return 200, {"data": {"project": {"run": None}}}
        if op == "HistoryPage" and run.raw_history is not None:
            return 200, {"data": {"project": {"run": {"history": run.raw_history}}}}
        if op == "HistoryPage":
            rows = run.history_strings(*self.bounds(variables["minStep"], variables["maxStep"], variables["pageSize"]))
            return 200, {"data": {"project": {"run": {"history": rows}}}}
        if op == "SampledHistoryPage":
            out = []
            for text in variables["specs"]:
                spec = json.loads(text)
                keys = spec["keys"]
                lo, hi, samples = self.bounds(spec.get("minStep", 0), spec.get("maxStep", 2**62),
                                              spec.get("samples", 500))
                rows = [r for r in run.rows_between(lo, hi) if all(k in r for k in keys)]
                out.append([{k: r[k] for k in keys} for r in _sample(rows, samples)])
            return 200, {"data": {"project": {"run": {"sampledHistory": out}}}}
        return 200, {"errors": [{"message": f"unknown operation {op}"}], "data": None}

    def _runs(self, runs: list[FakeRun], variables: dict[str, Any]) -> dict[str, Any]:
        flt = json.loads(variables.get("filters") or "{}")
        selected = [r for r in runs if matches(r.doc(), flt)]
        selected.sort(key=lambda r: r.created_at)
        start = int(base64.b64decode(variables["cursor"]).decode()) if variables.get("cursor") else 0
        per_page = min(int(variables.get("perPage") or 50), self.max_per_page)
        page = selected[start:start + per_page]
        edges = [{"node": r.node(), "cursor": base64.b64encode(str(start + i + 1).encode()).decode()}
                 for i, r in enumerate(page)]
        end = start + len(page)
        return {"runs": {"edges": edges, "pageInfo": {
            "endCursor": edges[-1]["cursor"] if edges else None, "hasNextPage": end < len(selected)}}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_state: FakeWandb

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        fake = self.server_state
        if self.path == "/_stats":
            with fake.lock:
                body = json.dumps({"counts": dict(fake.counts), "history_by_run": dict(fake.history_by_run)})
            self._send(200, body.encode())
        else:
            self._send(404, b'{"error": "not found"}')

    def do_POST(self) -> None:
        fake = self.server_state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path == "/_reset":
            fake.reset_counts()
            self._send(200, b"{}")
            return
        if self.path != "/graphql":
            self._send(404, b'{"error": "not found"}')
            return
        try:
            payload = json.loads(raw)
            op = _OP.search(payload["query"]).group(1)  # type: ignore[union-attr]
            variables = payload.get("variables") or {}
        except (ValueError, KeyError, AttributeError):
            self._send(400, b'{"errors": [{"message": "bad request"}]}')
            return
        with fake.lock:
            fake.counts["total"] += 1
            fake.counts[op] += 1
            fake.auth_seen.append(self.headers.get("Authorization"))
            if fake.record:
                fake.payloads.append((payload["query"], variables))
            fake.note_history(op, variables)
            fault = next((f for f in fake.faults if f.applies(op, variables)), None)
            if fault is not None:
                fault.hits += 1
        if fake.latency:
            time.sleep(fake.latency)
        if fault is not None and self._inject(fault, op, variables):
            return
        cached = fake.cached(op, variables)
        if cached is not None:
            self._send(200, cached)
            return
        status, body = fake.answer(op, variables, self.headers.get("Authorization"))
        self._send(status, json.dumps(body).encode())

    def _inject(self, fault: Fault, op: str, variables: dict[str, Any]) -> bool:
        """Apply a fault; False means: answer normally afterwards (a slow answer)."""
        if fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            headers.update(fault.headers)
            self._send(fault.status, json.dumps({"errors": [{"message": fault.message}]}).encode(), headers)
        elif fault.kind == "bad_json":
            self._send(200, b'{"data": {"project": {"runs": {"edges": [')
        elif fault.kind == "body":
            self._send(200, json.dumps(fault.body).encode())
        elif fault.kind == "graphql_error":
            self._send(200, json.dumps({"errors": [{"message": fault.message}], "data": None}).encode())
        elif fault.kind == "timeout":
            time.sleep(fault.delay)
            return False
        elif fault.kind == "drop":
            _, body = self.server_state.answer(op, variables, self.headers.get("Authorization"))
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self._hang_up()
        elif fault.kind == "close":
            self._hang_up()
        else:
            raise ValueError(f"unknown fault {fault.kind}")
        return True

    def _hang_up(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


# ------------------------------------------------------------------------------ standalone
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--entity", default="bench")
    parser.add_argument("--project", default="proj")
    parser.add_argument("--port-file", type=Path, required=True)
    parser.add_argument("--prewarm", type=int, default=0, help="Precompute history windows of this many steps.")
    args = parser.parse_args()
    fake = FakeWandb(latency=args.latency)
    for i in range(args.runs):
        fake.add(args.entity, args.project, GeneratedRun(
            f"r{i:04d}", args.points, config={"env_id": f"Env{i % 4}-v0", "exp_name": "ppo", "seed": i},
            created_at=f"2024-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}"))
    if args.prewarm:
        fake.prewarm(args.prewarm)
    fake.start()
    args.port_file.write_text(fake.url)
    threading.Event().wait()


if __name__ == "__main__":
    main()


# ------------------------------------------------------------------------------ test helpers
def default_x_axis(run: FakeRun) -> str:
    """The x axis openrlb must store `run` against by default: global_step if logged, else _step."""
    return "global_step" if "global_step" in run.keys() else "_step"


def expected_points(run: FakeRun, x_key: str | None = None) -> dict[str, tuple[list[float], list[float], list[float]]]:
    """What a full fetch of `run` must store: numeric keys -> (steps, values, wall times).

    Computed row by row, independently of openrlb's column code: a point's step is its row's value
    of the x axis (default: `default_x_axis`); rows without a finite x value contribute nothing.
    Points are ordered by x (stable: rows in `_step` order).
    """
    x_key = x_key or default_x_axis(run)
    out: dict[str, list[tuple[float, float, float]]] = {}
    for row in run.rows_between(0, 2**62):
        x = row.get(x_key)
        if isinstance(x, str) and x.lower() in ("nan", "infinity", "-infinity"):
            x = float(x)
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
            continue
        for key, value in row.items():
            if key in ("_step", "_timestamp"):
                continue
            if isinstance(value, str) and value.lower() in ("nan", "infinity", "-infinity"):
                value = float(value)
            if not isinstance(value, (int, float)):
                continue
            out.setdefault(key, []).append((float(x), float(value), float(row.get("_timestamp", math.nan))))
    result = {}
    for key, points in out.items():
        points.sort(key=lambda p: p[0])  # stable: equal x keep row order
        result[key] = ([p[0] for p in points], [p[1] for p in points], [p[2] for p in points])
    return result
