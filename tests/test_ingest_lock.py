"""Concurrent writers of one store never store a point twice: ingest, --watch, track and sync share one lock.

The reference is a single clean ingest of the same folder (17,102 points for sample_runs); before the
lock, two `openrlb ingest` of sample_runs at once stored 31,174.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from openrlb_cli.fetch.lock import fetch_lock
from openrlb_cli.store import Store
from openrlb_cli.store.lock import StoreBusyError, lock_path, store_lock

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_runs"
SAMPLE_POINTS = 17_102


def _openrlb(db: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen([sys.executable, "-m", "openrlb_cli", "--db", str(db), "--quiet", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _points(db: Path) -> int:
    with sqlite3.connect(db, timeout=30) as con:
        return int(con.execute("SELECT coalesce(sum(n_points), 0) FROM series").fetchone()[0])


def _chunk_points(db: Path) -> int:
    """Points counted from the chunks themselves (not the series' counters)."""
    with sqlite3.connect(db, timeout=30) as con:
        return int(con.execute("SELECT coalesce(sum(n), 0) FROM chunks").fetchone()[0])


def test_two_concurrent_ingest_processes_store_each_point_once(tmp_path):
    db = tmp_path / "s.db"
    Store(db).close()
    # Both processes are started while the lock is held, so both really wait on it at the same time.
    with store_lock(db, holder="ingest"):
        procs = [_openrlb(db, "ingest", "--wait", str(SAMPLE)) for _ in range(2)]
        time.sleep(1.0)
        assert all(p.poll() is None for p in procs)  # waiting, not failing
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert _points(db) == SAMPLE_POINTS and _chunk_points(db) == SAMPLE_POINTS


def test_two_ingests_started_at_once_without_wait(tmp_path):
    """Without --wait the loser exits 5 at once (as fetch/sync do) or, if it starts after the winner
    finished, finds everything unchanged; the store is exact either way."""
    db = tmp_path / "s.db"
    Store(db).close()
    procs = [_openrlb(db, "ingest", str(SAMPLE)) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes in ([0, 0], [0, 5]), outs
    if codes == [0, 5]:
        err = next(e for p, (_, e) in zip(procs, outs, strict=True) if p.returncode == 5)
        assert "another ingest is running (pid" in err and "--wait" in err
    assert _points(db) == SAMPLE_POINTS


def test_ingest_refuses_while_a_sync_holds_the_lock(cli, db_path):
    with fetch_lock(db_path):
        code, _, err = cli("ingest", str(SAMPLE))
    assert code == 5 and f"another sync is running (pid {os.getpid()})" in err and "--wait" in err
    assert err.count("\n") == 1  # one line
    code, _, err = cli("ingest", str(SAMPLE))
    assert code == 0, err
    assert _points(db_path) == SAMPLE_POINTS


def test_sync_refuses_while_an_ingest_holds_the_lock(cli, db_path):
    Store(db_path).close()
    with store_lock(db_path, holder="ingest"):
        code, _, err = cli("sync")
    assert code == 5 and "another ingest is running (pid" in err and "--wait" in err


def test_ingest_wait_blocks_until_the_holder_is_done(cli, db_path):
    Store(db_path).close()
    got = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with store_lock(db_path, holder="sync"):
            got.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    got.wait(10)
    threading.Timer(0.5, release.set).start()
    began = time.monotonic()
    code, _, err = cli("ingest", "--wait", str(SAMPLE))
    t.join()
    assert code == 0, err
    assert time.monotonic() - began >= 0.4 and "waiting for another openrlb" in err
    assert _points(db_path) == SAMPLE_POINTS


def test_lock_file_names_the_holder_and_is_left_unlocked(tmp_path):
    db = tmp_path / "s.db"
    with store_lock(db, holder="track"):
        assert lock_path(db).read_text().split() == [str(os.getpid()), "track"]
        with pytest.raises(StoreBusyError, match=r"another tracked run's live ingest is running") as info:
            with store_lock(db):
                pass
        assert info.value.exit_code == 5 and info.value.pid == str(os.getpid())
    with store_lock(db):  # released
        pass


def test_watch_takes_the_lock_per_scan_so_a_cron_ingest_gets_its_turn(tmp_path):
    """A `--watch` holds the lock only while it scans; an `ingest --wait` started meanwhile finishes,
    and the two together store every point once."""
    db = tmp_path / "s.db"
    Store(db).close()
    watch = _openrlb(db, "ingest", "--watch", "--interval", "0.2", str(SAMPLE / "cleanrl"))
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            if _points(db) > 0:
                break
            time.sleep(0.1)
        cron = _openrlb(db, "ingest", "--wait", str(SAMPLE))
        out, err = cron.communicate(timeout=120)
        assert cron.returncode == 0, err
    finally:
        watch.send_signal(signal.SIGINT)
        _, werr = watch.communicate(timeout=60)
    assert watch.returncode == 0, werr
    assert _points(db) == SAMPLE_POINTS


def test_track_live_ingest_skips_a_tick_while_the_lock_is_held(tmp_path):
    from openrlb_cli.ingest.pipeline import Overrides
    from openrlb_cli.model import RunRecord
    from openrlb_cli.track.runner import LogTailer

    db = tmp_path / "s.db"
    logdir = SAMPLE / "cleanrl" / "runs" / "CartPole-v1__q_learning__1__1700000000"
    with Store(db) as store:
        run_id = store.write_run(RunRecord(source="track", external_id="x"))
        tailer = LogTailer(run_id, None, Overrides(), [logdir], logdir)
        with store_lock(db, holder="sync"):
            with pytest.raises(StoreBusyError):
                tailer.tick(store, wait=False)
        assert store.info()["points"] == 0
        first = tailer.tick(store, wait=False)
        assert first > 0 and tailer.tick(store) == 0
        assert store.info()["points"] == first
