"""A full disk is said plainly, the exit is non-zero and what was committed stays intact.

The disk is made "full" with SQLite's own `PRAGMA max_page_count` on the store's connection (SQLite
answers SQLITE_FULL exactly as when the file system has no room left); a rerun with room finishes the
ingest exactly (compared series by series with a clean ingest of the same folder).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from openrlb_cli.ingest import pipeline
from openrlb_cli.store import Store, database

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_runs"


def _all_series(db: Path) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    out = {}
    with Store(db) as store:
        for run in store.runs():
            for info in store.series_info([run.id]):
                s = store.load_series(run.id, info.key)
                out[(run.uid, info.key)] = (np.asarray(s.steps), np.asarray(s.values))
    return out


@pytest.fixture
def tiny_disk(monkeypatch):
    """Every store connection opened from now on may grow by `room[0]` pages only."""
    room = [1 << 20]
    real = database.connect

    def connect(path, *, create=True):
        conn = real(path, create=create)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + room[0]}")
        return conn

    monkeypatch.setattr(database, "connect", connect)
    monkeypatch.setattr("openrlb_cli.store.store.connect", connect)
    return room


def test_full_disk_is_one_plain_line_and_the_committed_data_stays(cli, db_path, tmp_path, tiny_disk, monkeypatch):
    ref = tmp_path / "ref.db"
    code, _, err = cli("ingest", str(SAMPLE), db=ref)
    assert code == 0, err
    expected = _all_series(ref)
    Store(db_path).close()  # created with room: the migrations are in
    tiny_disk[0] = 12
    monkeypatch.setattr(pipeline, "BATCH_POINTS", 0)  # a commit per file: some are in before the disk fills
    code, out, err = cli("ingest", str(SAMPLE))
    assert code == 1
    assert err.strip().splitlines() == [
        f"error: store {db_path} could not be written: the disk is full. This write was rolled back; what was "
        "committed before is kept. Free some space and rerun to continue"]
    with sqlite3.connect(db_path) as con:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    partial = _all_series(db_path)
    assert 0 < len(partial) < len(expected)
    for key, (steps, values) in partial.items():  # every committed series is whole and exact
        np.testing.assert_array_equal(steps, expected[key][0])
        np.testing.assert_array_equal(values, expected[key][1])
    tiny_disk[0] = 1 << 20  # room again: the rerun finishes the job, nothing twice
    code, _, err = cli("ingest", str(SAMPLE))
    assert code == 0, err
    got = _all_series(db_path)
    assert got.keys() == expected.keys()
    for key, (steps, values) in got.items():
        np.testing.assert_array_equal(steps, expected[key][0])
        np.testing.assert_array_equal(values, expected[key][1])


def test_full_disk_in_one_big_transaction(db_path, tiny_disk):
    """The batch's savepoint is gone when SQLite rolls the transaction back on SQLITE_FULL: the error is
    still the full disk (it used to be "no such savepoint")."""
    from openrlb_cli.errors import StoreError

    tiny_disk[0] = 8
    with Store(db_path) as store:
        with pytest.raises(StoreError, match="could not be written: the disk is full"):
            pipeline.ingest(store, [SAMPLE])
        assert store.info()["points"] == 0
        assert store.conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
