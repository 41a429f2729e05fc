"""MLflow fetching against a real `mlflow server` on 127.0.0.1, checked point by point against the
MLflow client's own reading of the same server. Slow (the server takes tens of seconds to start)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import requests

# one server per session: under pytest-xdist, `--dist loadfile` (README's test command) keeps these tests
# on one worker, so the server starts once
pytestmark = pytest.mark.slow

if importlib.util.find_spec("mlflow") is None or importlib.util.find_spec("flask") is None:
    pytest.skip("mlflow (with its server) is not installed: pip install mlflow", allow_module_level=True)

from mlflow.entities import Metric, Param, RunTag  # noqa: E402
from mlflow.tracking import MlflowClient as Reference  # noqa: E402

from openrlb_cli.fetch.http import RetryPolicy  # noqa: E402
from openrlb_cli.fetch.mlflow import HISTORY_PAGE, MlflowSpec, fetch_mlflow  # noqa: E402
from openrlb_cli.store import Store  # noqa: E402

FAST = RetryPolicy(max_attempts=3, backoff=0.05, jitter=0.01, read_timeout=60)
T0 = 1_700_000_000_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def mlflow_url(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("mlflow")
    port = _free_port()
    log = open(root / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
         "--default-artifact-root", str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, cwd=root,
        # MLflow 3 also starts a job executor (huey consumers) with the server: nothing here uses it, and
        # on a loaded 2-core machine it took ~60 of the ~105 s before the server answered /health
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited: {(root / 'server.log').read_text()[-2000:]}")
            try:
                if requests.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail("mlflow server did not start within 300 s")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def logged(mlflow_url):
    """Experiment `rl`: 3 finished runs (one with more points than a history page), plus `other`."""
    ref = Reference(tracking_uri=mlflow_url)
    exp = ref.create_experiment("rl")
    ids = []
    for i, (env, n) in enumerate([("Hopper-v4", HISTORY_PAGE + 1500), ("Hopper-v4", 300), ("Ant-v4", 200)]):
        run = ref.create_run(exp, run_name=f"ppo-{i}", tags={"team": "rl", "mlflow.note.content": "x"})
        rid = run.info.run_id
        ref.log_batch(rid, params=[Param("env_id", env), Param("exp_name", "ppo"), Param("seed", str(i))],
                      tags=[RunTag("stage", "final")])
        points = [Metric("charts/episodic_return", math.sin(s) * 100, T0 + s * 10, s) for s in range(n)]
        points[7] = Metric("charts/episodic_return", float("nan"), T0 + 70, 7)
        points.append(Metric("charts/episodic_return", -1.5, T0 + 10 * n, n - 1))  # a second value at a step
        for start in range(0, len(points), 1000):
            ref.log_batch(rid, metrics=points[start:start + 1000])
        ref.log_batch(rid, metrics=[Metric("losses/value", 0.5 / (s + 1), T0 + s * 10, s * 64) for s in range(50)])
        ref.set_terminated(rid)
        ids.append(rid)
    other = ref.create_experiment("other")
    ref.log_metric(ref.create_run(other).info.run_id, "x", 1.0)
    return {"url": mlflow_url, "ref": ref, "runs": ids, "experiment_id": exp}


def assert_matches_reference(store: Store, ref: Reference, url: str, run_ids: list[str], keys=None) -> int:
    compared = 0
    for rid in run_ids:
        run_id = store.run_id_for("mlflow", f"{url}#{rid}")
        assert run_id is not None
        wanted = keys or sorted(ref.get_run(rid).data.metrics)
        assert sorted(s.key for s in store.series_info([run_id])) == sorted(wanted)
        for key in wanted:
            history = sorted(ref.get_metric_history(rid, key), key=lambda m: (m.timestamp, m.step, m.value))
            got = store.load_series(run_id, key)
            order = np.lexsort((got.values, got.steps, got.wall_times))
            np.testing.assert_array_equal(got.steps[order], [m.step for m in history])
            np.testing.assert_array_equal(got.values[order], [m.value for m in history])
            np.testing.assert_array_equal(got.wall_times[order], [m.timestamp / 1000 for m in history])
            compared += len(history)
    return compared


def test_every_point_matches_the_mlflow_client(logged, tmp_path):
    with Store(tmp_path / "s.db") as store:
        summary = fetch_mlflow(store, MlflowSpec(logged["url"], ["rl"]), workers=4, policy=FAST)
        assert summary.status == "ok" and summary.new == 3, summary.to_dict()
        compared = assert_matches_reference(store, logged["ref"], logged["url"], logged["runs"])
        assert compared == summary.points_added == HISTORY_PAGE + 1500 + 300 + 200 + 3 + 150
        # the long history took two pages
        assert summary.stats.by_kind["history"] == 7
        info = next(r for r in store.runs() if r.name == "ppo-0")
        assert (info.project, info.experiment, info.env, info.seed) == ("rl", "ppo", "Hopper-v4", 0)
        assert info.state == "finished" and sorted(info.tags) == ["stage=final", "team=rl"]
        assert info.config == {"env_id": "Hopper-v4", "exp_name": "ppo", "seed": "0"}
        assert info.url == f"{logged['url']}/#/experiments/{logged['experiment_id']}/runs/{logged['runs'][0]}"
        assert info.summary["losses/value"] == pytest.approx(0.5 / 50)
        assert info.created_at is not None and info.updated_at >= info.created_at

        fetch_again = fetch_mlflow(store, MlflowSpec(logged["url"], ["rl"]), policy=FAST)
        assert fetch_again.unchanged == 3 and fetch_again.points_added == 0
        assert "history" not in fetch_again.stats.by_kind


def test_filter_and_metric_selection(logged, tmp_path):
    with Store(tmp_path / "s.db") as store:
        spec = MlflowSpec(logged["url"], ["rl"], filter="params.env_id = 'Hopper-v4'", metrics=["losses/value"])
        summary = fetch_mlflow(store, spec, policy=FAST)
        assert summary.new == 2 and summary.stats.by_kind["history"] == 2
        assert_matches_reference(store, logged["ref"], logged["url"], logged["runs"][:2], keys=["losses/value"])


def test_running_run_gets_only_new_points(logged, tmp_path):
    ref = logged["ref"]
    run = ref.create_run(logged["experiment_id"], run_name="live")
    rid = run.info.run_id
    ref.log_batch(rid, metrics=[Metric("ret", float(s), T0 + s, s) for s in range(100)]
                  + [Metric("static", 1.0, T0, 0)])
    with Store(tmp_path / "s.db") as store:
        spec = MlflowSpec(logged["url"], ["rl"], filter="attributes.run_name = 'live'")
        first = fetch_mlflow(store, spec, policy=FAST)
        assert first.new == 1 and first.points_added == 101
        ref.log_batch(rid, metrics=[Metric("ret", float(s), T0 + s, s) for s in range(100, 150)])
        second = fetch_mlflow(store, spec, policy=FAST)
        assert second.updated == 1 and second.points_added == 50
        assert second.stats.by_kind["history"] == 1  # `static` did not change: not read again
        ref.set_terminated(rid)
        third = fetch_mlflow(store, spec, policy=FAST)
        assert third.updated == 1 and third.points_added == 0 and "history" not in third.stats.by_kind
        assert_matches_reference(store, ref, logged["url"], [rid])


def test_cli_fetch_mlflow_and_unknown_experiment(logged, cli):
    code, out, err = cli("fetch", "mlflow", logged["url"], "--experiment", "rl", "--metric", "losses/value",
                         "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["runs"]["new"] >= 3 and data["sources"][0]["name"].startswith("mlflow:127.0.0.1:")
    code, out, err = cli("sync", "--json")
    assert code == 0 and json.loads(out)["points_added"] == 0
    code, _, err = cli("fetch", "mlflow", logged["url"], "--experiment", "nope")
    assert code == 1 and "no experiment 'nope'" in err


def test_sync_refreshes_a_run_that_terminates_marks_deleted_runs_and_keeps_parent_links(logged, tmp_path):
    """A run fetched while RUNNING becomes FINISHED (with its final summary and tags) at the next sync;
    a run deleted on the server is marked, not removed; a nested run keeps its parent's id."""
    from openrlb_cli.fetch.sync import FetchOptions, fetch_and_save, sync

    ref = logged["ref"]
    exp = ref.create_experiment("lifecycle")
    parent = ref.create_run(exp, run_name="sweep").info.run_id
    child = ref.create_run(exp, run_name="trial-0", tags={"mlflow.parentRunId": parent}).info.run_id
    doomed = ref.create_run(exp, run_name="doomed").info.run_id
    for rid in (parent, child, doomed):
        ref.log_batch(rid, metrics=[Metric("ret", float(s), T0 + s, s) for s in range(20)])
    ref.set_terminated(doomed)
    opts = FetchOptions(workers=2, policy=FAST)
    with Store(tmp_path / "s.db") as store:
        name, first = fetch_and_save(store, "mlflow", MlflowSpec(logged["url"], ["lifecycle"]).to_json(), opts)
        assert first.new == 3
        by_name = {r.name: r for r in store.runs()}
        assert by_name["trial-0"].state == "running"
        assert by_name["trial-0"].config == {"mlflow.parentRunId": parent}
        assert "mlflow.parentRunId" not in by_name["sweep"].config
        ref.log_batch(child, metrics=[Metric("ret", 99.0, T0 + 100, 20)], tags=[RunTag("verdict", "best")])
        ref.set_terminated(child)
        ref.set_terminated(parent, status="FAILED")
        ref.delete_run(doomed)
        result = sync(store, [], opts)
        assert result.exit_code == 0
        (_, summary), = result.results
        assert summary.deleted == 1 and summary.updated == 2
        by_name = {r.name: r for r in store.runs()}
        assert sorted(by_name) == ["sweep", "trial-0"]  # the deleted run is hidden...
        trial = by_name["trial-0"]
        assert trial.state == "finished" and trial.summary == {"ret": 99.0} and "verdict=best" in trial.tags
        assert trial.updated_at == ref.get_run(child).info.end_time / 1000
        assert by_name["sweep"].state == "failed"
        hidden = [r for r in store.runs(deleted=True) if r.name == "doomed"]
        assert len(hidden) == 1 and store.deleted_at([hidden[0].id])  # ...kept, and marked
        assert_matches_reference(store, ref, logged["url"], [parent, child])
        again = sync(store, [], opts)
        assert again.results[0][1].unchanged == 2 and again.results[0][1].deleted == 0


def test_nothing_matched_on_a_real_server(logged, cli):
    code, _, err = cli("fetch", "mlflow", logged["url"], "--experiment", "rl", "--filter",
                       "params.env_id = 'Hoper-v4'")
    assert code == 1 and "MLflow experiment 'rl'" in err and "has no run matching \"params.env_id = 'Hoper-v4'\"" in err
    code, _, err = cli("fetch", "mlflow", logged["url"], "--experiment", "rl", "--experiment", "nope")
    assert code == 1 and "no experiment 'nope'" in err and "nothing fetched or saved" in err
    code, out, _ = cli("runs", "--json")
    assert json.loads(out) == []
