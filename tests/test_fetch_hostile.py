"""Servers that answer wrongly: wrong JSON types, JSON text that is not JSON, garbage with HTTP 200,
and answers too large to hold. Each is one line naming the server and what was wrong, and a large
answer fails as soon as it passes the size limit, without being read whole (measured on a child
process's peak RSS). Real HTTP on 127.0.0.1 only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fake_wandb import FakeRun, FakeWandb
from test_fetch_wandb import rows

from openrlb_cli.fetch.http import HttpClient, ResponseTooLarge, RetryPolicy

ROOT = Path(__file__).resolve().parents[1]
MB = 1 << 20


def one_clear_line(err: str, *needles: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.startswith("error:") or "failed:" in ln]
    assert lines, err
    for needle in needles:
        assert any(needle in ln for ln in lines), (needle, err)
    for word in ("unexpected", "Traceback", "TypeError", "KeyError", "AttributeError", "JSONDecodeError"):
        assert word not in err, err


# ------------------------------------------------------------------------------ W&B
@pytest.fixture
def fake():
    with FakeWandb() as server:
        for i in range(3):
            server.add("ent", "proj", FakeRun(f"r{i}", config={"seed": i}, created_at=f"2024-01-01T00:00:0{i}",
                                              rows=rows(20)))
        yield server


@pytest.mark.parametrize(("field", "value", "said"), [
    ("tags", "paper-final", 'its tags are a string "paper-final", expected a list of strings'),
    ("config", "{bad json", "its config is not valid JSON (Expecting property name"),
    ("config", "[1, 2]", "its config is a list [1, 2], expected an object"),
    ("summaryMetrics", 7, "its summaryMetrics is a number 7, expected an object"),
    ("user", "bob", 'its user is a string "bob", expected an object'),
    ("historyLineCount", "20", 'its historyLineCount is a string "20", expected a count'),
    ("historyKeys", {"lastStep": "19"}, 'its historyKeys.lastStep is a string "19", expected a number'),
    ("state", ["finished"], "its state is a list"),
])
def test_a_run_with_wrongly_typed_fields_fails_alone_with_one_line(fake, cli, field, value, said):
    fake.projects[("ent", "proj")][1].overrides[field] = value
    code, out, err = cli("fetch", "wandb", "ent/proj", "--base-url", fake.url, "--max-rps", "0")
    assert code == 3, err  # partial: the other runs are stored
    assert "2 new" in out and "1 failed" in out
    one_clear_line(err, f"run ent/proj/r1 failed: W&B at {fake.url} sent run ent/proj/r1 in a shape openrlb "
                        f"cannot read: {said}")


def test_garbage_history_rows_and_listings(fake, cli):
    fake.projects[("ent", "proj")][0].raw_history = [5, "{oops"]
    fake.projects[("ent", "proj")][2].raw_history = [5]
    code, _, err = cli("fetch", "wandb", "ent/proj", "--base-url", fake.url, "--max-rps", "0")
    assert code == 3
    one_clear_line(err, f"W&B at {fake.url} answered run ent/proj/r0 (steps 0..19) with a history row that is "
                        "not JSON", "with a history row that is a number 5, expected an object")
    fake.fault("body", op="HistoryPage", body={"data": {"project": {"run": {"history": "rows"}}}}, times=None)
    code, _, err = cli("fetch", "wandb", "ent/proj", "--base-url", fake.url, "--max-rps", "0", "--name", "h")
    one_clear_line(err, 'with run.history that is a string "rows", expected a list')
    fake.faults.clear()
    for body, said in [({"data": {"project": {"runs": {"edges": ["x"]}}}}, 'an edge that holds no run object'),
                       ({"data": {"project": {"runs": []}}}, "project.runs that is a list [], expected an object"),
                       ({"data": {"project": {"runs": {"edges": [{"node": {"name": 5}}]}}}}, "has no usable id")]:
        fake.fault("body", op="Runs", body=body, times=None)
        code, _, err = cli("fetch", "wandb", "ent/proj", "--base-url", fake.url, "--max-rps", "0", "--name", "x")
        assert code == 4, err
        one_clear_line(err, f"W&B at {fake.url} answered the run listing of project ent/proj with", said)
        fake.faults.clear()


def test_garbage_json_is_named_with_the_server_and_what_it_looked_like():
    calls = []

    def html(handler: BaseHTTPRequestHandler) -> None:
        calls.append(handler.path)
        handler.send_response(200)
        body = b"<html><body>Please log in</body></html>"
        handler.send_header("Content-Type", "text/html; charset=utf-8")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    with serve(html) as url:
        client = HttpClient(url, service="MLflow", policy=RetryPolicy(max_attempts=2, backoff=0.01, jitter=0))
        with pytest.raises(Exception) as info:
            client.request_json("GET", "/x", kind="k", what="experiment 'cartpole'")
        assert str(info.value) == (f"MLflow at {url} kept failing (experiment 'cartpole') after 2 attempts: an answer "
                                   "that is not JSON (text/html, 39 bytes: '<html><body>Please log in</body></html>')")
        assert len(calls) == 2


# ------------------------------------------------------------------------------ MLflow-shaped garbage
def mlflow_like(answers: dict[str, Any]) -> Callable[[BaseHTTPRequestHandler], None]:
    """A server answering each MLflow endpoint (by path suffix) with the given JSON value, HTTP 200."""
    def handle(handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        if length:
            handler.rfile.read(length)
        path = handler.path.split("?")[0]
        key = next((k for k in answers if path.endswith(k)), None)
        body = json.dumps(answers[key] if key else {"error_code": "RESOURCE_DOES_NOT_EXIST"}).encode()
        handler.send_response(200 if key else 404)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
    return handle


RUN = {"info": {"run_id": "abc", "experiment_id": "1", "status": "FINISHED", "start_time": 1, "end_time": 2},
       "data": {"metrics": [{"key": "r", "value": 1.0, "timestamp": 5, "step": 0}], "params": [], "tags": []}}


@pytest.mark.parametrize(("answers", "said"), [
    ({"get-by-name": {"foo": 1}},
     "answered experiment 'cartpole' with JSON that is not an MLflow answer (no 'experiment'): {\"foo\": 1}"),
    ({"get-by-name": [1, 2]}, "answered experiment 'cartpole' with a list [1, 2], not an MLflow answer"),
    ({"get-by-name": {"experiment": {"experiment_id": "1", "name": "cartpole"}}, "runs/search": {"runs": "x"}},
     "answered the run search of experiments 1 with a 'runs' that is a string \"x\", expected a list"),
    ({"get-by-name": {"experiment": {"experiment_id": "1", "name": "cartpole"}},
      "runs/search": {"runs": [{**RUN, "data": {"params": [{"key": "lr", "value": 0.1}]}}]}},
     "sent run abc in a shape openrlb cannot read: its param 'lr' is a number 0.1, expected a string"),
    ({"get-by-name": {"experiment": {"experiment_id": "1", "name": "cartpole"}}, "runs/search": {"runs": [RUN]},
      "get-history": {"metrics": [{"key": "r", "value": 1.0, "timestamp": "soon", "step": 0}]}},
     "answered the history of 'r' in run abc with a metric 'r' whose timestamp is a string \"soon\""),
])
def test_mlflow_answers_of_the_wrong_shape(cli, answers, said):
    with serve(mlflow_like(answers)) as url:
        code, _, err = cli("fetch", "mlflow", url, "--experiment", "cartpole", "--retries", "1")
        assert code == 4, err  # nothing could be fetched
        one_clear_line(err, f"MLflow at {url} {said}")


# ------------------------------------------------------------------------------ size limit
class _Big(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    total = 1 << 30  # 1 GiB
    declare = False
    served: list[int]

    def log_message(self, *a: Any) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if self.declare:
            self.send_header("Content-Length", str(self.total))
        else:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        block = b'{"a": ' + b" " * (MB - 8) + b"1},"
        sent = 0
        try:
            while sent < self.total:
                piece = block[: self.total - sent]
                if self.declare:
                    self.wfile.write(piece)
                else:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                sent += len(piece)
            if not self.declare:
                self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.served.append(sent)
        self.close_connection = True

    do_GET = do_POST = _answer


class serve:
    """A 127.0.0.1 HTTP server running `handler(request)` (a function) or a handler class."""

    def __init__(self, handler: Any, **attrs: Any):
        if isinstance(handler, type):
            self.cls = type("H", (handler,), {"served": [], **attrs})
        else:
            self.cls = type("H", (BaseHTTPRequestHandler,), {
                "protocol_version": "HTTP/1.1", "log_message": lambda *a: None,
                "do_GET": lambda h: handler(h), "do_POST": lambda h: handler(h)})

    def __enter__(self) -> str:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self.cls)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def run_child(args: list[str], db: Path) -> tuple[int, str, float, float]:
    """`openrlb ARGS` in a child process: exit code, stderr, seconds, and its peak RSS in MB."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "openrlb_cli", "--db", str(db), "--quiet", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, err, time.monotonic() - started, usage.ru_maxrss / 1024


def test_a_huge_answer_fails_fast_without_being_read(tmp_path):
    fetch = ["fetch", "mlflow", "--experiment", "x", "--retries", "1"]
    with serve(mlflow_like({})) as small:  # the same command on a small answer: the baseline
        code, err, _, base_rss = run_child([*fetch[:2], small, *fetch[2:]], tmp_path / "a.db")
        assert code == 1 and "no experiment 'x'" in err
    with serve(_Big) as url:  # 1 GiB, chunked: no length announced, so it must be streamed
        code, err, seconds, rss = run_child([*fetch[:2], url, *fetch[2:], "--max-response-mb", "16"],
                                            tmp_path / "b.db")
        assert code == 4, err
        assert f"MLflow at {url} sent an answer larger than the 16 MB limit for experiment 'x' (more)" in err
        assert err.count("\n") == 1
        assert rss < base_rss + 48, (rss, base_rss)  # 16 MB read at most, never the whole GiB
        assert seconds < 30
    with serve(_Big, declare=True) as url:  # announced: refused before reading anything
        code, err, _, rss = run_child([*fetch[:2], url, *fetch[2:]], tmp_path / "c.db")
        assert code == 4 and "larger than the 256 MB limit" in err and "(1,024 MB)" in err
        assert rss < base_rss + 32, (rss, base_rss)


def test_the_limit_is_configurable_by_environment(monkeypatch):
    monkeypatch.setenv("OPENRLB_MAX_RESPONSE_MB", "3")
    assert RetryPolicy().max_response_bytes == 3 * MB
    with serve(_Big, total=4 * MB) as url:
        client = HttpClient(url, service="W&B", policy=RetryPolicy(max_attempts=3, backoff=0.01))
        with pytest.raises(ResponseTooLarge, match="larger than the 3 MB limit"):
            client.request_json("POST", "/graphql", kind="runs", what="project a/b")
        assert client.stats.requests == 1  # not retried: the same answer would come again
    with serve(_Big, total=2 * MB + 5) as url:  # under the limit: read (and found to be no JSON object)
        client = HttpClient(url, service="W&B", policy=RetryPolicy(max_attempts=1))
        with pytest.raises(Exception, match="not JSON"):
            client.request_json("POST", "/graphql", kind="runs", what="project a/b")
    monkeypatch.setenv("OPENRLB_MAX_RESPONSE_MB", "lots")
    with pytest.raises(Exception, match="OPENRLB_MAX_RESPONSE_MB must be a whole number"):
        RetryPolicy()
