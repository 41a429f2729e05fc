"""Retries, faults and errors over real sockets: bounded, counted, honouring Retry-After, clear messages."""

from __future__ import annotations

import email.utils
import json
import time
from pathlib import Path

import pytest
from fake_wandb import FakeRun, FakeWandb
from test_fetch_wandb import assert_store_matches, fetch, rows, spec_for

from openrlb_cli.fetch.http import (
    AuthError,
    FetchError,
    HttpClient,
    NotFoundError,
    RateLimiter,
    RetryPolicy,
    _BudgetRetry,
)
from openrlb_cli.fetch.wandb import WandbQuery, fetch_wandb
from openrlb_cli.store import Store

FAST = RetryPolicy(max_attempts=4, backoff=0.01, jitter=0.01, read_timeout=2)


@pytest.fixture
def fake():
    with FakeWandb() as server:
        for i in range(4):
            server.add("ent", "proj", FakeRun(f"r{i}", config={"seed": i}, created_at=f"2024-01-01T00:00:0{i}",
                                              rows=rows(150 + i)))
        yield server


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "s.db") as s:
        yield s


def test_429_with_retry_after_seconds_is_honoured(fake, store):
    fake.fault("status", op="Runs", status=429, retry_after="1", times=1)
    started = time.monotonic()
    summary = fetch(store, spec_for(fake, WandbQuery("ent", "proj"), runs_per_page=10))
    assert time.monotonic() - started >= 0.95  # waited the server's 1 s, not our 10 ms backoff
    assert summary.status == "ok" and summary.new == 4
    assert summary.stats.retries == 1 and fake.counts["Runs"] == 2
    assert_store_matches(store, fake, "ent", "proj")


def test_retry_after_http_date_and_cap():
    retry = _BudgetRetry(retry_after_max=60)
    soon = email.utils.formatdate(time.time() + 3, usegmt=True)
    assert 1.5 <= retry.parse_retry_after(soon) <= 3.01
    later = email.utils.formatdate(time.time() + 3600, usegmt=True)
    assert retry.parse_retry_after(later) == 60  # capped
    assert retry.parse_retry_after("7") == 7
    assert retry.parse_retry_after(email.utils.formatdate(time.time() - 100, usegmt=True)) == 0


def test_retry_after_http_date_live(fake, store):
    fake.fault("status", op="HistoryPage", status=503,
               retry_after=email.utils.formatdate(time.time() + 2, usegmt=True), times=1)
    started = time.monotonic()
    summary = fetch(store, spec_for(fake, WandbQuery("ent", "proj")), workers=1)
    assert time.monotonic() - started >= 0.9
    assert summary.status == "ok" and summary.stats.retries == 1


@pytest.mark.parametrize("kind,kw", [
    ("status", {"status": 500}),
    ("status", {"status": 502}),
    ("bad_json", {}),
    ("graphql_error", {"message": "rate limit exceeded, try again later"}),
    ("timeout", {"delay": 0.6}),
    ("drop", {}),
    ("close", {}),
])
def test_transient_faults_are_retried_and_every_point_arrives_once(fake, store, kind, kw):
    fake.fault(kind, op="HistoryPage", times=2, **kw)
    fake.fault(kind, op="Runs", times=1, **kw)
    policy = RetryPolicy(max_attempts=4, backoff=0.01, jitter=0.01, read_timeout=0.3)
    summary = fetch(store, spec_for(fake, WandbQuery("ent", "proj")), policy=policy)
    assert summary.status == "ok", summary.to_dict()
    assert summary.new == 4 and summary.stats.retries == 3
    assert summary.stats.requests == fake.requests - (0 if kind != "timeout" else 0)
    assert_store_matches(store, fake, "ent", "proj")


def test_retries_are_bounded_and_a_failing_run_is_reported_while_the_rest_complete(fake, store):
    fake.fault("status", op="HistoryPage", status=500, times=None, when=lambda v: v["run"] == "r2")
    summary = fetch(store, spec_for(fake, WandbQuery("ent", "proj")),
                    policy=RetryPolicy(max_attempts=3, backoff=0.01, jitter=0.0))
    assert summary.status == "partial"
    assert (summary.new, summary.failed) == (3, 1)
    assert summary.failures[0]["run"] == "ent/proj/r2"
    assert "HTTP 500" in summary.failures[0]["error"] and "3 attempts" in summary.failures[0]["error"]
    # r2's first window was tried exactly 3 times; its other window was cancelled or also failed fast
    assert 3 <= fake.history_by_run["r2"] <= 6
    for name in ("r0", "r1", "r3"):
        assert store.run_id_for("wandb", f"ent/proj/{name}") is not None
    # r2 is retried on the next fetch (no digest recorded) once the server recovers
    fake.faults.clear()
    again = fetch(store, spec_for(fake, WandbQuery("ent", "proj")))
    assert again.status == "ok" and again.unchanged == 3 and again.failed == 0
    assert_store_matches(store, fake, "ent", "proj")


def test_non_transient_graphql_error_is_not_retried(fake, store):
    fake.fault("graphql_error", op="HistoryPage", times=None, message="invalid history spec",
               when=lambda v: v["run"] == "r1")
    summary = fetch(store, spec_for(fake, WandbQuery("ent", "proj"), page_size=1000))
    assert summary.failed == 1 and "invalid history spec" in summary.failures[0]["error"]
    assert fake.history_by_run["r1"] == 1


def test_private_project_says_it_needs_an_api_key_without_retrying(fake, store):
    fake.private.add(("ent", "proj"))
    fake.api_key = "SECRET-KEY-123"
    summary = fetch(store, spec_for(fake, WandbQuery("ent", "proj")))
    assert summary.status == "failed"
    assert "this project needs an API key" in summary.errors[0] and "WANDB_API_KEY" in summary.errors[0]
    assert fake.requests == 1  # 401 is not retried
    # with the key it works, sent as HTTP basic api:<key>
    ok = fetch(store, spec_for(fake, WandbQuery("ent", "proj")), key="SECRET-KEY-123")
    assert ok.status == "ok" and ok.new == 4
    # a wrong key is reported as rejected, and the key itself never appears anywhere
    bad = fetch(store, spec_for(fake, WandbQuery("ent", "proj")), key="WRONG-KEY-456")
    assert "rejected" in bad.errors[0] and "WRONG-KEY-456" not in bad.errors[0]
    db_bytes = b"".join(p.read_bytes() for p in store.path.parent.glob("s.db*"))
    assert b"SECRET-KEY-123" not in db_bytes and b"WRONG-KEY-456" not in db_bytes


def test_unknown_project_and_http_404_are_clear_and_not_retried(fake, store):
    summary = fetch(store, spec_for(fake, WandbQuery("ent", "nope")))
    assert summary.status == "failed" and "no project ent/nope" in summary.errors[0]
    fake.reset_counts()
    fake.fault("status", status=404, times=None)
    summary = fetch(store, spec_for(fake, WandbQuery("ent", "proj")))
    assert "HTTP 404" in summary.errors[0] and fake.requests == 1


def test_http_client_classifies_statuses(fake):
    client = HttpClient(fake.url, service="W&B", policy=FAST)
    fake.fault("status", status=403, times=1)
    with pytest.raises(AuthError, match="needs an API key"):
        client.request_json("POST", "/graphql", kind="x", what="thing", json_body={"query": "query Runs {}"})
    fake.fault("status", status=400, times=1, message="bad filter")
    with pytest.raises(FetchError, match="rejected.*HTTP 400.*bad filter"):
        client.request_json("POST", "/graphql", kind="x", what="thing", json_body={"query": "query Runs {}"})
    with pytest.raises(NotFoundError):
        client.request_json("GET", "/nowhere", kind="x", what="the thing")
    assert client.stats.retries == 0


def test_unreachable_server_fails_after_bounded_attempts(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = HttpClient(f"http://127.0.0.1:{port}", service="W&B", policy=RetryPolicy(max_attempts=3, backoff=0.01,
                                                                                        jitter=0))
    with pytest.raises(FetchError, match="did not answer.*3 attempts"):
        client.request_json("GET", "/x", kind="x", what="y")
    assert client.stats.requests == 3 and client.stats.retries == 2


def test_rate_limiter_spaces_requests_across_threads():
    import threading

    limiter = RateLimiter(50)
    started = time.monotonic()
    threads = [threading.Thread(target=lambda: [limiter.acquire() for _ in range(5)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert time.monotonic() - started >= 19 / 50 - 0.01  # 20 acquisitions at 50/s: >= 0.38 s
    assert RateLimiter(None).interval == 0


def test_backoff_is_exponential_capped_and_jittered():
    policy = RetryPolicy(backoff=1.0, backoff_max=60.0, jitter=0.5)
    for n, base in [(1, 1.0), (2, 2.0), (3, 4.0), (7, 60.0), (20, 60.0)]:
        delays = [policy.delay(n) for _ in range(50)]
        assert all(base <= d < base + 0.5 for d in delays)
        assert max(delays) > min(delays)


def test_fetch_with_workers_1_and_rate_limit(fake, store):
    summary = fetch_wandb(store, spec_for(fake, WandbQuery("ent", "proj")), workers=1, policy=FAST, max_rps=200,
                          key="")
    assert summary.status == "ok"
    assert_store_matches(store, fake, "ent", "proj")


def test_a_failing_project_does_not_stop_the_others(fake, store):
    fake.add("ent", "locked", FakeRun("x", rows=rows(10)))
    fake.private.add(("ent", "locked"))
    summary = fetch(store, spec_for(fake, WandbQuery("ent", "locked"), WandbQuery("ent", "proj")))
    assert summary.status == "partial" and summary.new == 4
    assert len(summary.errors) == 1 and "ent/locked" in summary.errors[0]
    assert_store_matches(store, fake, "ent", "proj")


def test_api_key_from_environment_or_netrc(fake, store, monkeypatch, tmp_path):
    fake.private.add(("ent", "proj"))
    fake.api_key = "ENV-KEY-789"
    spec = spec_for(fake, WandbQuery("ent", "proj"))
    monkeypatch.setenv("WANDB_API_KEY", "ENV-KEY-789")
    assert fetch_wandb(store, spec, policy=FAST, max_rps=None).new == 4
    monkeypatch.delenv("WANDB_API_KEY")
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1\n  login user\n  password ENV-KEY-789\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    fake.projects[("ent", "proj")][0].extend(rows(5, start=150))
    again = fetch_wandb(store, spec, policy=FAST, max_rps=None)
    assert again.status == "ok" and again.updated == 1
    spec_json = json.dumps(spec.to_json())
    assert "ENV-KEY-789" not in spec_json
