"""Runs stay true as they change on the server: fetch and sync refresh a known run's metadata, mark
runs deleted on the server, save a fetch as a source from its start, and refuse selections that
match nothing. Against the W&B-shaped server of `fake_wandb` (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_wandb import FakeRun, FakeWandb
from test_fetch_wandb import FAST, assert_store_matches, fetch, rows, spec_for

from openrlb_cli.fetch import state
from openrlb_cli.fetch.http import NothingMatchedError
from openrlb_cli.fetch.sync import FetchOptions, fetch_and_save, sync
from openrlb_cli.fetch.wandb import WandbQuery, describe_filter
from openrlb_cli.store import Store

ROOT = Path(__file__).resolve().parents[1]
OPTS = FetchOptions(workers=4, max_rps=0, policy=FAST)


class Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so nothing on the way may swallow it."""


def kill_after(event: str, n: int):
    seen = {"n": 0}

    def on_event(kind: str, **kw) -> None:
        if kind == event:
            seen["n"] += 1
            if seen["n"] >= n:
                raise Killed()

    return on_event


def training(n_runs: int = 8, n_rows: int = 50) -> FakeWandb:
    """A project whose runs are still training (state running, `n_rows` logged so far)."""
    fake = FakeWandb()
    for i in range(n_runs):
        fake.add("ent", "proj", FakeRun(
            f"r{i}", config={"exp_name": "ppo" if i % 2 else "dqn", "env_id": "CartPole-v1", "seed": i // 2},
            tags=["v1"], state="running", created_at=f"2024-01-01T00:00:{i:02d}", rows=rows(n_rows)))
    return fake.start()


@pytest.fixture
def fake():
    server = training()
    yield server
    server.stop()


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "s.db") as s:
        yield s


def server_view(run: FakeRun) -> dict:
    """What the store must hold of a run once synced, computed from the fake's own state."""
    return {"state": run.state, "name": run.display_name, "tags": sorted(run.tags), "summary": run.summary,
            "config": run.config, "updated_at": float(run.heartbeat)}


def stored(store: Store, name: str):
    (info,) = [r for r in store.runs(deleted=True) if r.external_id == f"ent/proj/{name}"]
    return info


def store_view(store: Store, name: str) -> dict:
    info = stored(store, name)
    return {"state": info.state, "name": info.name, "tags": sorted(info.tags), "summary": info.summary,
            "config": info.config, "updated_at": info.updated_at}


# ------------------------------------------------------------------------------ refresh
def test_sync_refreshes_state_summary_tags_config_and_name_until_runs_finish(fake, store):
    name, first = fetch_and_save(store, "wandb", spec_for(fake, WandbQuery("ent", "proj")).to_json(), OPTS)
    assert first.new == 8
    runs = fake.projects[("ent", "proj")]
    assert all(store_view(store, r.name) == server_view(r) for r in runs)
    for round_ in range(3):  # runs keep training; some finish each round and gain a tag
        for i, run in enumerate(runs):
            if run.state == "running":
                run.extend(rows(50, start=len(run.rows)))
                if i % 3 == round_:
                    run.finish(tags=["paper-final"])
        runs[5].config["lr"] = 0.001 * (round_ + 1)  # config edited on the server
        runs[6].display_name = f"renamed-{round_}"
        result = sync(store, [], OPTS)
        assert result.exit_code == 0
        for run in runs:
            assert store_view(store, run.name) == server_view(run), run.name
    runs[0].tags.remove("v1")  # a tag removed on the server goes
    runs[0].heartbeat += 1
    sync(store, [], OPTS)
    assert store_view(store, "r0")["tags"] == ["paper-final"]
    assert {stored(store, r.name).state for r in runs} == {"finished"}
    assert all(stored(store, r.name).summary["global_step"] == (len(r.rows) - 1) * 128 for r in runs)
    assert_store_matches(store, fake, "ent", "proj")
    fake.reset_counts()
    last = sync(store, [], OPTS)
    assert last.results[0][1].unchanged == 8 and fake.history_requests == 0


def test_metadata_lands_with_the_last_points_of_the_run(fake, store):
    """A sync killed half-way through a run's new points leaves the run `running` (its old metadata),
    so no store state shows a finished run with missing points; the next sync completes both."""
    spec = spec_for(fake, WandbQuery("ent", "proj"), page_size=20)
    fetch_and_save(store, "wandb", spec.to_json(), OPTS)
    run = fake.projects[("ent", "proj")][0]
    run.extend(rows(100, start=50))
    run.finish(tags=["paper-final"])
    with pytest.raises(Killed):  # every window committed on its own (flush_points=1), killed after two
        fetch(store, spec, workers=1, flush_points=1, on_event=kill_after("task_done", 2))
    info = stored(store, "r0")
    assert info.state == "running" and "paper-final" not in info.tags
    assert 50 < next(s.n_points for s in store.series_info([info.id]) if s.key == "global_step") < 150
    sync(store, [], OPTS)
    assert store_view(store, "r0") == server_view(run)
    assert_store_matches(store, fake, "ent", "proj")


def test_rlops_over_runs_synced_to_completion(fake, cli, tmp_path):
    header = "?we=ent&wpn=proj&ceik=env_id&cen=exp_name&metric=charts/episodic_return"
    code, _, err = cli("fetch", "wandb", "ent/proj", "--base-url", fake.url, "--max-rps", "0")
    assert code == 0, err
    out = tmp_path / "fig"
    code, _, err = cli("rlops", "--filters", header, "ppo?tag=v1", "dqn?tag=v1", "--env-ids", "CartPole-v1",
                       "--output-filename", str(out), "--offline")
    assert code == 1 and "no finished run" in err  # all still running: rlops leaves them out
    for run in fake.projects[("ent", "proj")]:
        run.extend(rows(30, start=50))
        run.finish(tags=["paper-final"])
    code, _, err = cli("sync", "--max-rps", "0")
    assert code == 0, err
    code, stdout, err = cli("rlops", "--filters", header, "ppo?tag=paper-final", "dqn?tag=paper-final",
                            "--env-ids", "CartPole-v1", "--output-filename", str(out), "--offline")
    assert code == 0, err
    assert "running run" not in err
    table = Path(f"{out}.csv").read_text()
    assert "ppo" in table and "dqn" in table
    code, out_json, _ = cli("runs", "--json", "tag=paper-final", "state=finished")
    assert len(json.loads(out_json)) == 8


# ------------------------------------------------------------------------------ deleted on the server
def test_runs_deleted_on_the_server_are_marked_hidden_and_kept(fake, store, cli, db_path):
    store.close()
    code, _, err = cli("fetch", "wandb", "ent/proj", "tag=v1", "--base-url", fake.url, "--max-rps", "0",
                       "--name", "mine")
    assert code == 0, err
    fake.delete("ent", "proj", "r1")
    fake.delete("ent", "proj", "r2")
    fake.projects[("ent", "proj")][0].tags = ["v2"]  # still there, no longer selected: not deleted
    fake.reset_counts()
    code, out, err = cli("sync", "--json", "--max-rps", "0")
    assert code == 0, err
    data = json.loads(out)
    assert data["sources"][0]["runs_deleted_on_server"] == 2
    assert fake.counts["Runs"] == 2  # the listing, and one lookup of the 3 missing runs by id
    code, out, _ = cli("runs", "--json")
    assert sorted(r["name"] for r in json.loads(out)) == [f"run-r{i}" for i in (0, 3, 4, 5, 6, 7)]
    code, out, _ = cli("runs", "--json", "--deleted")
    gone = {r["name"]: r["deleted_on_server_at"] for r in json.loads(out)}
    assert len(gone) == 8 and gone["run-r1"] and gone["run-r2"] and gone["run-r3"] is None
    assert {r["n_points"] for r in json.loads(out)} == {50 * 3}  # points kept
    code, out, _ = cli("runs", "--deleted", "seed=0")
    assert "(deleted on server)" in out
    code, out, _ = cli("show", "run-r1")
    assert "deleted on its server" in out
    code, out, _ = cli("show", "run-r3", "--json")
    assert json.loads(out)["deleted_on_server_at"] is None
    code, out, _ = cli("table", "?project=ent/proj", "--format", "csv", "--metric", "charts/episodic_return")
    assert code == 0
    cells = [line.split(",") for line in out.splitlines()[1:]]
    assert sorted((c[1], c[3]) for c in cells) == [("dqn", "3"), ("ppo", "3")]  # of 4 seeds each, 1 deleted
    code, out, _ = cli("sources", "--json")
    assert json.loads(out)[0]["runs"] == 7 and json.loads(out)[0]["runs_deleted_on_server"] == 2  # r0 left
    code, _, err = cli("rm", "seed=0", "--yes")  # r1 (seed 0) is deleted: not selected without --deleted
    assert code == 0 and "deleted 1 runs" in err
    code, out, _ = cli("runs", "--json", "--deleted")
    assert "run-r1" in {r["name"] for r in json.loads(out)}
    # a run back on the server is live again
    fake.add("ent", "proj", FakeRun("r2", config={"exp_name": "ppo", "env_id": "CartPole-v1", "seed": 1},
                                    tags=["v1"], rows=rows(50)))
    code, out, err = cli("sync", "--json", "--max-rps", "0")
    assert code == 0 and json.loads(out)["sources"][0]["runs_restored_on_server"] == 1
    code, _, err = cli("rm", "seed=0", "--deleted", "--yes")
    assert code == 0 and "deleted 1 runs" in err
    with sqlite3.connect(db_path) as con:
        assert con.execute("SELECT count(*) FROM fetch_source_runs").fetchone()[0] == 6


# ------------------------------------------------------------------------------ saved from the start
def test_a_killed_first_fetch_is_a_saved_source_that_sync_finishes(fake, store, cli):
    spec = spec_for(fake, WandbQuery("ent", "proj"), page_size=20).to_json()
    opts = FetchOptions(workers=2, max_rps=0, policy=FAST, on_event=kill_after("run_done", 3))
    with pytest.raises(Killed):
        fetch_and_save(store, "wandb", spec, opts, "mine")
    (saved,) = state.list_sources(store)
    assert saved.name == "mine" and saved.last_status == "incomplete"
    code, out, err = cli("sources", db=store.path)
    assert code == 0 and "incomplete" in out and "openrlb sync" in err
    result = sync(store, [], OPTS)
    assert result.exit_code == 0 and result.results[0][1].new == 5 and result.results[0][1].unchanged == 3
    assert state.list_sources(store)[0].last_status == "ok"
    assert_store_matches(store, fake, "ent", "proj")


def test_killing_a_real_fetch_process_then_sync(tmp_path, cli, db_path):
    fake = FakeWandb(latency=0.1)
    for i in range(12):
        fake.add("ent", "proj", FakeRun(f"r{i}", config={"seed": i}, created_at=f"2024-01-01T00:00:{i:02d}",
                                        rows=rows(300)))
    fake.start()
    try:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "openrlb_cli", "--db", str(db_path), "--quiet", "fetch", "wandb", "ent/proj",
             "--base-url", fake.url, "--max-rps", "0", "--workers", "2", "--page-size", "50"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        done = 0
        while done < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
            try:
                with sqlite3.connect(db_path, timeout=5) as con:
                    done = con.execute("SELECT count(*) FROM fetch_runs WHERE remote_digest IS NOT NULL").fetchone()[0]
            except sqlite3.OperationalError:  # not created yet
                pass
        assert proc.poll() is None, proc.stderr.read().decode()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        code, out, _ = cli("sources", "--json")
        (source,) = json.loads(out)
        assert source["last_status"] == "incomplete" and 3 <= source["runs"] < 12
        code, out, err = cli("sync", "--json", "--max-rps", "0")
        assert code == 0, err
        data = json.loads(out)
        assert data["runs"]["new"] + data["runs"]["updated"] + data["runs"]["unchanged"] == 12
        with Store(db_path) as store:
            assert_store_matches(store, fake, "ent", "proj")
            assert state.list_sources(store)[0].last_status == "ok"
    finally:
        fake.stop()


# ------------------------------------------------------------------------------ nothing matched
def test_nothing_matched_is_an_error_and_saves_nothing(fake, cli):
    base = ("--base-url", fake.url, "--max-rps", "0")
    code, _, err = cli("fetch", "wandb", "ent/proj", "exp=td33", *base)
    assert code == 1 and err.count("\n") == 1
    assert f"W&B project ent/proj at {fake.url} has no run matching exp_name=td33" in err and "--allow-empty" in err
    header = "?we=ent&wpn=proj&ceik=env_id&cen=exp_name&metric=charts/episodic_return"
    code, _, err = cli("fetch", "wandb", "--filters", header, "ppo?tag=v1", "td33?tag=v1", "--env-ids",
                       "CartPole-v1", *base)
    assert code == 1 and "exp_name=td33, env_id=CartPole-v1, tag=v1" in err
    code, _, err = cli("fetch", "wandb", "ent/proj", "--filter", '{"state": "crashed"}', *base)
    assert code == 1 and "matching state=crashed" in err
    code, _, err = cli("rlops", "--filters", header, "ppo?tag=v1", "td33", "--env-ids", "CartPole-v1",
                       "--output-filename", "x", *base)
    assert code == 1 and "exp_name=td33" in err
    code, out, _ = cli("runs", "--json")
    assert json.loads(out) == []  # nothing downloaded, not even the experiments that matched
    code, out, _ = cli("sources", "--json")
    assert json.loads(out) == []
    code, out, err = cli("fetch", "wandb", "ent/proj", "exp=td33", "--allow-empty", "--name", "later", *base)
    assert code == 0, err
    code, out, _ = cli("sources", "--json")
    assert [s["name"] for s in json.loads(out)] == ["later"]
    # a typo under a saved source's name leaves the source as it was
    code, _, _ = cli("fetch", "wandb", "ent/proj", "exp=td3", "--name", "later", *base)
    assert code == 1
    (source,) = json.loads(cli("sources", "--json")[1])
    assert "td33" in json.dumps(source["spec"]) and source["last_status"] == "ok"
    # sync with nothing matched is fine (the cron job expects runs later), and picks them up once they exist
    fake.add("ent", "proj", FakeRun("t0", config={"exp_name": "td33", "seed": 0}, rows=rows(10)))
    code, out, err = cli("sync", "--json", "--max-rps", "0")
    assert code == 0 and json.loads(out)["runs"]["new"] == 1


def test_nothing_matched_in_the_library(tmp_path):
    with FakeWandb() as fake:
        fake.add("ent", "proj", FakeRun("a", config={"seed": 1}, rows=rows(5)))
        with Store(tmp_path / "s.db") as store:
            spec = spec_for(fake, WandbQuery("ent", "proj", {"config.seed.value": 2})).to_json()
            with pytest.raises(NothingMatchedError, match="has no run matching seed=2$"):
                fetch_and_save(store, "wandb", spec, OPTS)
            assert state.list_sources(store) == []
            assert fake.history_requests == 0


def test_describe_filter():
    assert describe_filter({"$and": [{"config.exp_name.value": "ppo"}, {"tags": {"$in": ["v1"]}},
                                     {"config.env_id.value": {"$in": ["A", "B"]}}]}) == \
        "exp_name=ppo, tag=v1, env_id in (A, B)"
    assert describe_filter({"$or": [{"state": "x"}, {"username": "u"}]}) == "(state=x) or (username=u)"
    assert describe_filter({"summary_metrics.r": {"$gt": 1}}) == '{"summary_metrics.r": {"$gt": 1}}'
    assert describe_filter(None) == ""
