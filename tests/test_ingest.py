"""The ingest pipeline end to end on real logs (../shared) and on files made here: formats, run
merging, layout metadata, incremental re-ingest, bad files, and a killed ingest."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from openrlb_cli.ingest.pipeline import ingest
from openrlb_cli.ingest.tensorboard import events as tfevents
from openrlb_cli.store import Store, parse_filters


def _runs(db_path: Path, *filters: str):
    with Store(db_path) as store:
        return store.runs(parse_filters(list(filters)))


def _series(db_path: Path, run_id: int, key: str):
    with Store(db_path) as store:
        return store.load_series(run_id, key)


def _keys(db_path: Path, run_id: int) -> dict[str, int]:
    with Store(db_path) as store:
        return {s.key: s.n_points for s in store.series_info([run_id])}


# ------------------------------------------------------------------ real logs
def test_cleanrl_tensorboard_runs(cli, db_path, shared):
    code, out, err = cli("ingest", str(shared / "formats" / "cleanrl"), "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["runs"] == 2 and summary["skipped"] == []
    runs = _runs(db_path)
    assert [(r.env, r.experiment, r.seed) for r in runs] == [("CartPole-v1", "ppo", 1), ("CartPole-v1", "ppo", 2)]
    assert runs[0].created_at == 1795425662.0
    assert runs[0].config.get("total_timesteps") in (20000, "20000")  # from the hyperparameters table
    keys = _keys(db_path, runs[0].id)
    assert len(keys) == 11 and keys["charts/episodic_return"] == 423
    s = _series(db_path, runs[0].id, "charts/episodic_return")
    assert (s.steps[0], s.values[0], s.steps[-1], s.values[-1]) == (60, 15.0, 19940, 20.0)
    s2 = _series(db_path, runs[1].id, "charts/episodic_return")
    assert len(s2) == 406 and (s2.steps[-1], s2.values[-1]) == (19956, 87.0)
    assert all(n == 39 for k, n in keys.items() if k.startswith("losses/"))


def test_sb3_directory_is_one_run_without_duplicate_keys(cli, db_path, shared):
    code, _, err = cli("ingest", str(shared / "formats" / "sb3" / "PPO_CartPole-v1_seed1"))
    assert code == 0, err
    (run,) = _runs(db_path)
    assert run.env == "CartPole-v1"
    keys = _keys(db_path, run.id)
    # progress.csv's 16 columns (float64) win over progress.json and the event file's float32 copies
    s = _series(db_path, run.id, "rollout/ep_rew_mean")
    assert len(s) == 40 and s.values[0] == 21.476190476190474 and s.values[-1] == 114.67
    assert (s.steps[0], s.steps[-1]) == (512, 20480)
    assert keys["train/value_loss"] == 39 and keys["time/fps"] == 40
    # the monitor files: 4 workers, 336 episodes merged by absolute time
    r = _series(db_path, run.id, "r")
    assert len(r) == 336 and (r.values[0], r.values[-1]) == (15.0, 202.0)
    assert np.all(np.diff(r.steps) > 0) and np.all(np.diff(r.wall_times) >= 0)


def test_rl_zoo_layout_monitor_and_tensorboard_are_one_run(cli, db_path, shared):
    code, _, err = cli("ingest", str(shared / "formats" / "sb3" / "logs"))
    assert code == 0, err
    (run,) = _runs(db_path)
    assert (run.env, run.experiment, run.seed) == ("Acrobot-v1", "a2c", 1)
    keys = _keys(db_path, run.id)
    assert keys["r"] == 16 and keys["eval/mean_reward"] == 4 and keys["rollout/ep_rew_mean"] == 1
    ev = _series(db_path, run.id, "eval/mean_reward")
    assert (ev.steps[0], ev.steps[-1], ev.values[-1]) == (2496, 9984, -126.0)
    npz = _series(db_path, run.id, "evaluations/mean_reward")  # the Zoo's evaluations.npz, same run
    assert npz.steps.tolist() == [2496, 4992, 7488, 9984]
    assert npz.values == pytest.approx([-320.6, -145.8, -138.0, -126.0], abs=1e-9)
    assert keys["evaluations/episode_reward"] == 20 and keys["evaluations/episode_length"] == 20


def test_rl_zoo_monitor_collection(cli, db_path, shared):
    code, _, err = cli("ingest", str(shared / "sb3-monitor"))
    assert code == 0, err
    runs = _runs(db_path)
    found = {(r.experiment, r.env): r for r in runs}
    assert {("a2c", "Acrobot-v1"), ("td3", "Walker2d-v3"), ("dqn", "CartPole-v1")} <= set(found)
    # the seed is the one args.yml records (the `_1` suffix is the Zoo's experiment counter)
    assert found[("a2c", "Acrobot-v1")].seed == 951484142
    assert found[("a2c", "Acrobot-v1")].config["n_envs"] == 16  # hyperparameters from config.yml


def test_tf2_tensor_scalars(cli, db_path, shared):
    code, _, err = cli("ingest", str(shared / "formats" / "tf2-scalars"))
    assert code == 0, err
    runs = _runs(db_path)
    assert len(runs) == 2
    found = {}
    for r in runs:
        found.update(_keys(db_path, r.id))
    assert found["my_metric"] == 100 and found["charts/episodic_return"] == 200 and found["losses/value_loss"] == 100


def test_mlflow_file_store(cli, db_path, shared):
    code, _, err = cli("ingest", str(shared / "formats" / "mlflow-files"))
    assert code == 0, err
    runs = _runs(db_path)
    assert sorted(r.seed for r in runs) == [1, 2]
    assert {r.project for r in runs} == {"CartPole-v1-ppo"} and {r.env for r in runs} == {"CartPole-v1"}
    seed1 = next(r for r in runs if r.seed == 1)
    s = _series(db_path, seed1.id, "episodic_return")
    assert len(s) == 200 and s.values[-1] == 490.657
    assert _keys(db_path, seed1.id)["charts/sps"] == 20


def test_wandb_exports(cli, db_path, shared):
    code, _, err = cli("ingest", str(shared / "formats" / "wandb-export"))
    assert code == 0, err
    gpt2 = [r for r in _runs(db_path) if r.name == "gpt2"]
    assert len(gpt2) == 1
    s = _series(db_path, gpt2[0].id, "train/loss")
    assert len(s) == 386 and s.values[0] == 10.95404052734375


def test_tianshou_wide_csv_one_run_per_seed(cli, db_path, shared):
    path = shared / "tianshou-mujoco" / "Hopper-v3" / "sac" / "test_rew_10seeds.csv"
    code, _, err = cli("ingest", str(path), "--project", "tianshou", "--experiment", "sac", "--env", "Hopper-v3")
    assert code == 0, err
    runs = _runs(db_path)
    assert sorted(r.seed for r in runs) == list(range(10))
    import pandas as pd

    df = pd.read_csv(path)
    seed_cols = [c for c in df.columns if "seed_" in c]
    with Store(db_path) as store:
        key = store.series_info([runs[0].id])[0].key
        for r in runs:
            s = store.load_series(r.id, key)
            col = next(c for c in seed_cols if f"seed_{r.seed}_" in c or c.endswith(f"seed_{r.seed}"))
            expected = df[["env_step", col]].dropna()
            np.testing.assert_array_equal(s.steps, expected["env_step"].to_numpy(dtype=float))
            np.testing.assert_allclose(s.values, expected[col].to_numpy(dtype=float))


# ------------------------------------------------------------------ idempotence and growth
def _write_events(path: Path, n: int, start: int = 0, append: bool = False) -> None:
    tfevents.write_scalars(path, [("charts/episodic_return", i, float(i) / 2, 1e9 + i) for i in range(start, n)],
                           append=append)


def test_reingest_unchanged_adds_nothing_and_growth_adds_only_new(cli, db_path, tmp_path):
    run_dir = tmp_path / "runs" / "CartPole-v1__dqn__7__1700000000"
    run_dir.mkdir(parents=True)
    ev = run_dir / "events.out.tfevents.1700000000.host.1.0"
    _write_events(ev, 100)
    assert cli("ingest", str(tmp_path / "runs"))[0] == 0
    code, out, _ = cli("ingest", str(tmp_path / "runs"), "--json")
    assert json.loads(out)["points"] == 0 and json.loads(out)["units_unchanged"] == 1
    _write_events(ev, 250, start=100, append=True)
    code, out, _ = cli("ingest", str(tmp_path / "runs"), "--json")
    assert json.loads(out)["points"] == 150
    (run,) = _runs(db_path)
    assert (run.env, run.experiment, run.seed) == ("CartPole-v1", "dqn", 7)
    s = _series(db_path, run.id, "charts/episodic_return")
    np.testing.assert_array_equal(s.steps, np.arange(250))


def test_torn_tail_is_ingested_later(cli, db_path, tmp_path):
    full = tmp_path / "full" / "events.out.tfevents.1.h"
    full.parent.mkdir()
    _write_events(full, 50)
    data = full.read_bytes()
    live = tmp_path / "live" / "events.out.tfevents.1.h"
    live.parent.mkdir()
    live.write_bytes(data[: len(data) - 7])  # the writer is mid-record
    code, out, err = cli("ingest", str(live.parent), "--json")
    assert code == 0, err
    assert json.loads(out)["points"] == 49
    live.write_bytes(data)
    code, out, _ = cli("ingest", str(live.parent), "--json")
    assert json.loads(out)["points"] == 1
    (run,) = _runs(db_path)
    assert len(_series(db_path, run.id, "charts/episodic_return")) == 50


def test_rewritten_file_replaces_its_points(cli, db_path, tmp_path):
    ev = tmp_path / "r" / "events.out.tfevents.1.h"
    ev.parent.mkdir()
    _write_events(ev, 100)
    cli("ingest", str(ev.parent))
    _write_events(ev, 10)  # smaller: a new file under the same name
    cli("ingest", str(ev.parent))
    (run,) = _runs(db_path)
    assert len(_series(db_path, run.id, "charts/episodic_return")) == 10


# ------------------------------------------------------------------ bad input
def test_corrupt_file_is_skipped_with_reason_and_others_ingest(cli, db_path, tmp_path):
    good = tmp_path / "logs" / "good" / "events.out.tfevents.1.h"
    bad = tmp_path / "logs" / "bad" / "events.out.tfevents.1.h"
    for p in (good, bad):
        p.parent.mkdir(parents=True)
        _write_events(p, 30)
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    code, out, err = cli("ingest", str(tmp_path / "logs"))
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.startswith("warning: skipped")]
    assert len(lines) == 1 and "bad" in lines[0] and "Traceback" not in err
    at = int(lines[0].split("at byte offset ")[1].split(";")[0])
    runs = _runs(db_path)
    assert [r.name for r in runs] == ["bad", "good"]
    prefix = tmp_path / "prefix" / "events.out.tfevents.1.h"  # the records before the damage, read alone
    prefix.parent.mkdir()
    prefix.write_bytes(bytes(data[:at]))
    want = tfevents.read_scalars(prefix).tags["charts/episodic_return"]
    assert 0 < len(want[0]) < 30
    got = _series(db_path, runs[0].id, "charts/episodic_return")
    assert got.steps.tolist() == want[0].tolist() and got.values.tolist() == want[1].tolist()
    code, _, err = cli("ingest", str(tmp_path / "logs"))  # looked at again: still damaged, nothing doubled
    assert code == 2 and "at byte offset" in err
    assert len(_series(db_path, runs[0].id, "charts/episodic_return")) == len(want[0])


@pytest.mark.parametrize("content", [b"", b"\x00" * 5, os.urandom(4096)])
def test_garbage_event_files_never_crash(cli, db_path, tmp_path, content):
    p = tmp_path / "events.out.tfevents.9.h"
    p.write_bytes(content)
    code, _, err = cli("ingest", str(p))
    assert code in (0, 2) and "Traceback" not in err
    with Store(db_path) as store:
        assert store.info()["points"] == 0


def test_missing_path_and_unknown_file(cli, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    code, _, err = cli("ingest", str(tmp_path / "nope"), str(tmp_path / "notes.txt"))
    assert code == 4 and "no such file" in err and "not a recognised log format" in err
    assert "to force one) (--format)" in err  # the library's words, the CLI's flag
    assert err.splitlines()[-1].startswith("error: no log file found in ")


def test_a_folder_without_log_files_says_so(cli, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    code, out, err = cli("ingest", str(tmp_path))
    assert code == 4 and out == ""
    assert err == f"error: no log file found in {tmp_path} (force a format with --format)\n"
    (tmp_path / "empty").mkdir()
    code, _, err = cli("ingest", "--format", "csv", str(tmp_path / "empty"))
    assert code == 4 and f"no csv log file found in {tmp_path / 'empty'}" in err


def test_overrides_and_tags(cli, db_path, tmp_path):
    ev = tmp_path / "x" / "events.out.tfevents.1.h"
    ev.parent.mkdir()
    _write_events(ev, 5)
    code, _, _ = cli("ingest", str(ev.parent), "--project", "mine", "--experiment", "ppo", "--env", "Pong-v5",
                     "--seed", "3", "--tag", "a", "--tag", "b", "--set", "lr=0.001", "--set", "note=hi")
    assert code == 0
    (run,) = _runs(db_path, "tag=a", "tag=b")
    assert (run.project, run.experiment, run.env, run.seed) == ("mine", "ppo", "Pong-v5", 3)
    assert run.config["lr"] == 0.001 and run.config["note"] == "hi"


# ------------------------------------------------------------------ a killed ingest
def test_killed_ingest_leaves_consistent_store_and_rerun_completes(tmp_path):
    """Units commit in batches (here 3 files of 20,000 points per 50,000-point batch): a SIGKILL loses
    only the batch in flight, every committed file is a complete run, and a rerun completes the job."""
    logs = tmp_path / "logs"
    for i in range(40):
        d = logs / f"Env-v0__algo__{i}__1700000000"
        d.mkdir(parents=True)
        tfevents.write_scalars(d / "events.out.tfevents.1.h",  # distinct content: 40 runs, not 40 copies of one
                               [(f"m{k}", j, float(j + i), 1e9 + j) for j in range(5000) for k in range(4)])
    db = tmp_path / "s.db"
    cmd = [sys.executable, "-m", "openrlb_cli", "--db", str(db), "--quiet", "ingest", str(logs)]
    env = {**os.environ, "OPENRLB_INGEST_BATCH_POINTS": "50000"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 30
    while time.time() < deadline:  # kill it once some but not all batches are committed
        time.sleep(0.02)
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=5) as con:
                    n = con.execute("SELECT count(*) FROM ingest_files").fetchone()[0]
            except sqlite3.OperationalError:
                continue
            if n >= 6:
                break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    done = con.execute("SELECT count(*) FROM ingest_files").fetchone()[0]
    runs = con.execute("SELECT count(*) FROM runs").fetchone()[0]
    # whole batches of 3 files committed; every committed file is a complete run, none without its record
    assert 6 <= done < 40 and done % 3 == 0 and runs == done
    bad = con.execute("SELECT count(*) FROM series s WHERE n_points != "
                      "(SELECT coalesce(sum(n), 0) FROM chunks c WHERE c.series_id = s.id)").fetchone()[0]
    assert bad == 0 and con.execute("SELECT count(*) FROM series WHERE n_points != 5000").fetchone()[0] == 0
    con.close()
    subprocess.run(cmd, check=True, timeout=120, env=env)
    with Store(db) as store:
        info = store.info()
        assert sorted(s.n_points for s in store.series_info()) == [5000] * 160
    assert info["runs"] == 40 and info["points"] == 40 * 4 * 5000


def test_a_bad_unit_in_a_batch_is_rolled_back_alone(db_path, tmp_path):
    """Units share a transaction: a corrupt file between good ones is skipped, and neither its
    partial points nor the batch around it are lost or duplicated; a rerun reads nothing again."""
    for i in range(5):
        d = tmp_path / f"Env-v0__algo__{i}__1700000000"
        d.mkdir()
        tfevents.write_scalars(d / "events.out.tfevents.1.h",  # distinct content: 5 runs, not copies of one
                               [("m", j, float(j + i), 1e9 + j) for j in range(300)])
    bad = tmp_path / "Env-v0__algo__2__1700000000" / "events.out.tfevents.1.h"
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0xFF  # a data checksum fails halfway
    bad.write_bytes(bytes(data))
    with Store(db_path) as store:
        summary = ingest(store, [tmp_path])
        assert [p for p, _ in summary.skipped] == [str(bad.resolve())]
        assert len(summary.runs) == 5  # the damaged file's records before the damage are kept
        kept = summary.points - 4 * 300
        assert 0 < kept < 300
        assert sorted(s.n_points for s in store.series_info()) == [kept] + [300] * 4
        assert store.info()["files_tracked"] == 5
        again = ingest(store, [tmp_path])
    assert again.unchanged == 4 and again.points == 0 and len(again.skipped) == 1


def test_ingest_api_summary(db_path, tmp_path):
    ev = tmp_path / "a" / "events.out.tfevents.1.h"
    ev.parent.mkdir()
    _write_events(ev, 12)
    shutil.copy(ev, tmp_path / "a" / "events.out.tfevents.2.h")
    with Store(db_path) as store:
        summary = ingest(store, [tmp_path])
    assert summary.units == 2 and len(summary.runs) == 1 and summary.points == 24


def test_credentials_in_logged_config_are_not_stored(cli, db_path, tmp_path):
    csv = tmp_path / "run.csv"
    csv.write_text("step,ret\n0,1\n1,2\n")
    code, _, _ = cli("ingest", str(csv), "--set", "wandb_api_key=abcd1234", "--set", "commit=" + "a" * 40,
                     "--set", "note=sk-" + "x" * 30)
    assert code == 0
    (run,) = _runs(db_path)
    assert run.config["wandb_api_key"] == "[REDACTED]" and run.config["commit"] == "a" * 40
    assert "x" * 30 not in run.config["note"]
    assert b"abcd1234" not in db_path.read_bytes()


def test_wall_time_column_is_detected_in_csv_and_jsonl(cli, db_path, tmp_path):
    (tmp_path / "a.csv").write_text("step,ret,wall_time\n0,1,1700000000\n10,2,1700000005\n")
    (tmp_path / "b.jsonl").write_text('{"step": 0, "ret": 3, "wall_time": 1700000000}\n'
                                      '{"step": 10, "ret": 4, "wall_time": 1700000009}\n')
    code, _, err = cli("ingest", str(tmp_path))
    assert code == 0, err
    for run in _runs(db_path):
        assert set(_keys(db_path, run.id)) == {"ret"}
        s = _series(db_path, run.id, "ret")
        assert s.wall_times[0] == 1700000000 and s.wall_times[1] in (1700000005, 1700000009)


def test_watch_tails_growing_logs_until_interrupted(tmp_path):
    run_dir = tmp_path / "runs" / "CartPole-v1__ppo__1__1700000000"
    run_dir.mkdir(parents=True)
    ev = run_dir / "events.out.tfevents.1700000000.h.1.0"
    _write_events(ev, 10)
    db = tmp_path / "w.db"
    proc = subprocess.Popen([sys.executable, "-m", "openrlb_cli", "--db", str(db), "ingest", "--watch",
                             "--interval", "0.2", str(tmp_path / "runs")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def points() -> int:
        try:
            with sqlite3.connect(db, timeout=5) as con:
                return con.execute("SELECT coalesce(sum(n_points), 0) FROM series").fetchone()[0]
        except sqlite3.OperationalError:
            return 0

    try:
        deadline = time.time() + 30
        while points() < 10 and time.time() < deadline:
            time.sleep(0.1)
        _write_events(ev, 40, start=10, append=True)
        while points() < 40 and time.time() < deadline:
            time.sleep(0.1)
        assert points() == 40
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_a_warning_names_its_file_once(cli, tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("env_step,rew,rew:seed_0,rew:seed_1\n0,1.5,1,2\n10,2.5,2,3\n")
    code, _, err = cli("ingest", str(path))
    (line,) = [ln for ln in err.splitlines() if "not stored" in ln]
    assert code == 0 and line.count(str(path)) == 1 and line.startswith(f"warning: {path}: ")
