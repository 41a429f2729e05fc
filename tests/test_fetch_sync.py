"""Resumable fetches, named sources, `sync`, the lock and the commands' exit codes and JSON."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from fake_wandb import FakeRun, FakeWandb
from test_fetch_wandb import FAST, assert_store_matches, fetch, rows, spec_for

from openrlb_cli.errors import StoreError
from openrlb_cli.fetch import state
from openrlb_cli.fetch.lock import fetch_lock
from openrlb_cli.fetch.sync import FetchOptions, default_name, fetch_and_save, sync
from openrlb_cli.fetch.wandb import WandbQuery
from openrlb_cli.store import Store


class Killed(BaseException):
    """Stands for SIGKILL/Ctrl-C: not an Exception, so nothing on the way may swallow it."""


@pytest.fixture
def fake():
    with FakeWandb() as server:
        for i in range(10):
            server.add("ent", "proj", FakeRun(f"r{i}", config={"seed": i, "env_id": "CartPole-v1"},
                                              created_at=f"2024-01-01T00:00:{i:02d}", rows=rows(300 + i)))
        yield server


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "s.db") as s:
        yield s


def kill_after(event: str, n: int):
    seen = {"n": 0}

    def on_event(kind: str, **kw) -> None:
        if kind == event:
            seen["n"] += 1
            if seen["n"] >= n:
                raise Killed()

    return on_event


def test_killed_after_some_runs_resumes_without_duplicates_or_redownloads(fake, store):
    spec = spec_for(fake, WandbQuery("ent", "proj"))
    with pytest.raises(Killed):
        fetch(store, spec, on_event=kill_after("run_done", 4))
    complete = [ext for ext, st in state.load_states(store, "wandb", "ent/proj/").items() if st.digest]
    assert len(complete) == 4
    fake.reset_counts()
    resumed = fetch(store, spec)
    assert resumed.status == "ok" and resumed.unchanged == 4
    for ext in complete:  # completed runs cost no history request
        assert fake.history_by_run[ext.rsplit("/", 1)[1]] == 0
    assert_store_matches(store, fake, "ent", "proj")


def test_killed_mid_run_resumes_from_the_committed_page(fake, store):
    spec = spec_for(fake, WandbQuery("ent", "proj"), page_size=50)
    # commit every window (flush_points=1) and die after 9 windows: r0 has 6, so r1 is half done
    with pytest.raises(Killed):
        fetch(store, spec, workers=1, flush_points=1, on_event=kill_after("task_done", 9))
    progress = state.load_states(store, "wandb", "ent/proj/")["ent/proj/r1"].progress
    assert 0 < progress["*"] < 301
    fake.reset_counts()
    resumed = fetch(store, spec, flush_points=1)
    assert resumed.status == "ok"
    assert min(lo for run, lo, _ in fake.history_log if run == "r1") == progress["*"]
    assert fake.history_by_run["r0"] == 0
    assert_store_matches(store, fake, "ent", "proj")


def test_sources_are_saved_and_synced_incrementally(fake, store):
    opts = FetchOptions(workers=4, max_rps=0, policy=FAST)
    spec = spec_for(fake, WandbQuery("ent", "proj")).to_json()
    name, summary = fetch_and_save(store, "wandb", spec, opts)
    assert name.startswith("wandb:ent/proj@") and summary.new == 10  # custom base URL -> hashed name
    assert default_name("wandb", {**spec, "base_url": "https://api.wandb.ai"}) == "wandb:ent/proj"
    fake.projects[("ent", "proj")][3].extend(rows(20, start=303))
    fake.reset_counts()
    result = sync(store, [], opts)
    assert result.exit_code == 0
    (synced, s), = result.results
    assert synced == name and (s.updated, s.unchanged, s.points_added) == (1, 9, 60)
    assert set(fake.history_by_run) == {"r3"}
    saved, = state.list_sources(store)
    assert saved.last_status == "ok" and saved.last_summary["points_added"] == 60
    with pytest.raises(Exception, match="no fetch source named 'nope'"):
        sync(store, ["nope"], opts)


def test_lock_refuses_a_second_fetch_and_names_the_holder(tmp_path):
    db = tmp_path / "s.db"
    with fetch_lock(db):
        with pytest.raises(StoreError, match=r"another sync is running \(pid \d+\)") as info:
            with fetch_lock(db):
                pass
        assert info.value.exit_code == 5
    with fetch_lock(db):  # released
        pass


def test_lock_wait_blocks_until_released(tmp_path):
    db = tmp_path / "s.db"
    order = []
    holder_ready = threading.Event()

    def hold():
        with fetch_lock(db):
            holder_ready.set()
            time.sleep(0.4)
            order.append("first done")

    t = threading.Thread(target=hold)
    t.start()
    holder_ready.wait()
    waited = []
    with fetch_lock(db, wait=True, on_wait=waited.append):
        order.append("second got it")
    t.join()
    assert order == ["first done", "second got it"] and waited and waited[0].isdigit()


# ------------------------------------------------------------------------------ the commands
def run_cli(cli, *args):
    return cli(*args)


def test_cli_fetch_then_sync_json_and_sources(fake, cli):
    code, out, err = cli("fetch", "wandb", "ent/proj", "seed=1", "seed=2", "--base-url", fake.url, "--json",
                         "--max-rps", "0", "--backoff", "0.01", "--name", "mine")
    assert code == 0, err
    data = json.loads(out)
    assert data["status"] == "ok" and data["runs"] == {"new": 2, "updated": 0, "unchanged": 0, "failed": 0}
    assert data["points_added"] == (301 + 302) * 3  # r1 and r2, 3 numeric keys each
    assert data["requests"] == fake.requests and data["sources"][0]["name"] == "mine"
    fake.reset_counts()
    code, out, err = cli("sync", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["runs"]["unchanged"] == 2 and data["points_added"] == 0
    assert fake.history_requests == 0
    code, out, _ = cli("sources", "--json")
    assert code == 0 and [s["name"] for s in json.loads(out)] == ["mine"]
    code, out, _ = cli("sources")
    assert code == 0 and "mine" in out
    code, _, _ = cli("sources", "--remove", "mine")
    assert code == 0
    code, out, _ = cli("sources", "--json")
    assert json.loads(out) == []


def test_cli_exit_codes_partial_total_and_lock(fake, cli, db_path):
    fake.fault("status", op="HistoryPage", status=500, times=None, when=lambda v: v["run"] == "r5")
    code, out, err = cli("fetch", "wandb", "ent/proj", "--base-url", fake.url, "--retries", "2", "--backoff",
                         "0.01", "--max-rps", "0")
    assert code == 3
    assert "run ent/proj/r5 failed" in err and "HTTP 500" in err
    assert "9 new" in out and "1 failed" in out
    fake.private.add(("ent", "other"))
    fake.projects[("ent", "other")] = []
    code, out, err = cli("fetch", "wandb", "ent/other", "--base-url", fake.url, "--json", "--backoff", "0.01")
    assert code == 4 and "this project needs an API key" in err
    assert json.loads(out)["status"] == "failed"
    with fetch_lock(db_path):
        code, _, err = cli("sync")
    assert code == 5 and "another sync is running (pid" in err and "--wait" in err


def test_cli_rejects_bad_input_clearly(fake, cli):
    code, _, err = cli("fetch", "wandb", "not-a-project", "--base-url", fake.url)
    assert code == 1 and "ENTITY/PROJECT" in err
    code, _, err = cli("fetch", "wandb", "ent/proj", "--filter", "{nope", "--base-url", fake.url)
    assert code == 1 and "filter is not valid JSON" in err and err.rstrip().endswith("(--filter)")
    code, _, err = cli("fetch", "wandb", "ent/proj", "--wrokers", "3", "--base-url", fake.url)
    assert code == 1 and "no such option: --wrokers" in err
    code, _, err = cli("fetch", "wandb", "ent/proj", "--base-url", "http://user:pw@127.0.0.1:9")
    assert code == 1 and "must not contain credentials" in err
    code, _, err = cli("fetch", "wandb", "--filters", "ppo?tag=x", "--env-ids", "A", "--base-url", fake.url)
    assert code == 1 and "project header" in err
    code, _, err = cli("sync", "nope")
    assert code == 1 and "no fetch source named 'nope'" in err


def test_cli_orlb_filters_fetch_only_the_selected_runs(cli):
    with FakeWandb() as fake:
        for i, (exp, env, tag) in enumerate([("ppo", "Hopper-v4", "v1"), ("ppo", "Hopper-v4", "v2"),
                                             ("ppo", "Ant-v4", "v1"), ("sac", "Hopper-v4", "v1"),
                                             ("ppo", "Walker2d-v4", "v1")]):
            run = rows(40)
            for r in run:
                r["losses/x"] = 1.0  # not asked for: must not be fetched
            fake.add("openrlbenchmark", "cleanrl", FakeRun(
                f"r{i}", config={"env_id": env, "exp_name": exp, "seed": 1 + i % 2}, tags=[tag], rows=run))
        code, out, err = cli(
            "fetch", "wandb", "--filters",
            "?we=openrlbenchmark&wpn=cleanrl&ceik=env_id&cen=exp_name&metric=charts/episodic_return",
            "ppo?tag=v1&cl=CleanRL PPO", "--env-ids", "Hopper-v4", "Ant-v4", "--base-url", fake.url, "--json",
            "--max-rps", "0")
        assert code == 0, err
        assert json.loads(out)["runs"]["new"] == 2
        code, out, _ = cli("runs", "--json")
        runs = json.loads(out)
        assert sorted(r["external_id"] for r in runs) == ["openrlbenchmark/cleanrl/r0", "openrlbenchmark/cleanrl/r2"]
        code, out, _ = cli("show", runs[0]["uid"], "--json")
        keys = sorted(s["key"] for s in json.loads(out)["series"])
        assert keys == ["_runtime", "charts/episodic_return", "global_step"]
        assert fake.counts["SampledHistoryPage"] == 2


def test_a_fetch_that_got_nothing_is_not_saved_as_a_source(fake, cli):
    code, _, err = cli("fetch", "wandb", "ent/typo", "--base-url", fake.url, "--max-rps", "0")
    assert code == 1 and "no project ent/typo" in err and "nothing fetched or saved" in err
    assert err.count("\n") == 1
    code, out, _ = cli("sources", "--json")
    assert json.loads(out) == []
