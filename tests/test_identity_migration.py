"""Stores written before migration 0006 (runs keyed by path) open without losing or doubling runs,
and the runs such a store holds twice (its logs were ingested again after a move) are merged.

The fixture `data/legacy_store_0005.db` was written by openrlb at schema 0005 (see
`data/make_legacy_store.py`): five sample units ingested from `/legacy-root/a`, the folder moved to
`/legacy-root/b` and ingested again, so every run is stored twice. Here its paths are pointed at this
test's folder, where the files are laid out again with the same contents and modification times.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
from pathlib import Path

from openrlb_cli.ingest.pipeline import ingest
from openrlb_cli.store import Store, dedupe

DATA = Path(__file__).resolve().parent / "data"
sys.path.insert(0, str(DATA))
from make_legacy_store import lay_out  # noqa: E402

RUNS_PER_COPY = 6


def _legacy(tmp_path: Path) -> Path:
    db = tmp_path / "legacy.db"
    shutil.copyfile(DATA / "legacy_store_0005.db", db)
    con = sqlite3.connect(db)
    with con:
        for table, col in (("ingest_files", "path"), ("runs", "external_id")):
            con.execute(f"UPDATE {table} SET {col} = replace({col}, '/legacy-root', ?)", (str(tmp_path),))
    con.close()
    return db


def _points(store: Store) -> dict[str, tuple]:
    out = {}
    for run in store.runs():
        for info in store.series_info([run.id]):
            s = store.load_series(run.id, info.key)
            key = f"{run.experiment}|{run.env}|{run.seed}|{info.key}"
            out.setdefault(key, []).append((s.steps.tolist(), s.values.tolist()))
    return out


def test_migrated_store_carries_on_without_new_runs_then_dedupe_merges(tmp_path, cli):
    db = _legacy(tmp_path)
    lay_out(tmp_path / "b")  # the folder as the old version last read it
    with Store(db) as store:
        assert store.info()["schema_version"] >= 6
        assert len(store.runs()) == 2 * RUNS_PER_COPY
        again = ingest(store, [tmp_path / "b"])
        assert again.new_runs == 0 and again.units == 0 and again.points == 0, again.to_dict()
        assert len(store.runs()) == 2 * RUNS_PER_COPY
        report = dedupe.find(store)
        assert sorted(len(m.dropped) for m in report.merges) == [1] * RUNS_PER_COPY and not report.conflicts
        before = _points(store)
    code, out, _ = cli("dedupe", db=db)  # dry run by default
    assert code == 0 and out.count("would merge") == RUNS_PER_COPY
    with Store(db) as store:
        assert len(store.runs()) == 2 * RUNS_PER_COPY
    code, out, _ = cli("dedupe", "--apply", "--json", db=db)
    assert code == 0 and json.loads(out)["removed"] == RUNS_PER_COPY
    with Store(db) as store:
        after = _points(store)
        assert len(store.runs()) == RUNS_PER_COPY
        assert dedupe.find(store).merges == []
        # every point kept once: each key had two equal copies, now one
        assert after == {k: v[:1] for k, v in before.items()} and all(v[0] == v[1] for v in before.values())
        # the kept runs' logs are at b (their a rows were the old copies): read again, nothing new
        later = ingest(store, [tmp_path / "b"])
        assert later.new_runs == 0 and later.points == 0, later.to_dict()
        # and moved once more, they are still the same runs
        (tmp_path / "b").rename(tmp_path / "c")
        moved = ingest(store, [tmp_path / "c"])
        assert moved.new_runs == 0 and moved.units == 0 and moved.points == 0, moved.to_dict()
        assert len(store.runs()) == RUNS_PER_COPY
        clean = Store(tmp_path / "clean.db")
        ingest(clean, [tmp_path / "c"])
        assert _points(clean) == _points(store)
        clean.close()


def test_legacy_rows_moved_before_the_upgrade_are_found_by_name_size_and_time(tmp_path):
    """Logs moved while the store was still at 0005: matched by name, size and modification time."""
    db = _legacy(tmp_path)
    lay_out(tmp_path / "moved-before-upgrade")
    with Store(db) as store:
        got = ingest(store, [tmp_path / "moved-before-upgrade"])
        assert got.new_runs == 0 and got.points == 0 and got.units == 0, got.to_dict()
        assert len(store.runs()) == 2 * RUNS_PER_COPY
