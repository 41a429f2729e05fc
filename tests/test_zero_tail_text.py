"""Text logs a killed job leaves with zero-filled last pages (its size extended before the data
reached the disk): the text before the zeros is stored and the zeros are a tail, as they are for
event files — exit 0, read again when the file changes. Logs are SB3's own (tests/data/formats/sb3),
a single-run CSV and JSON lines."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from openrlb_cli.store import Store

SB3 = Path(__file__).parent / "data" / "formats" / "sb3" / "PPO_CartPole-v1_seed1"
ZEROS = b"\0" * 8192


def _points(db: Path) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """(run name, key) -> stored points, for comparing two stores."""
    with Store(db) as s:
        out = {}
        for run in s.runs():
            for info in s.series_info([run.id]):
                series = s.load_series(run.id, info.key)
                pairs = zip(series.steps.tolist(), series.values.tolist(), strict=True)
                out[(run.name or run.uid, info.key)] = list(pairs)
        return out


def _sb3_copy(root: Path, names: tuple[str, ...]) -> Path:
    run = root / "PPO_CartPole-v1_seed1"
    run.mkdir(parents=True)
    for name in names:
        shutil.copy(SB3 / name, run / name)
    return run


def _write_log(tmp_path: Path, name: str, data: bytes) -> Path:
    """`data` as the one log of a run folder under tmp_path/runs; returns the file."""
    log = tmp_path / "runs" / "ppo_CartPole-v1_1" / name
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_bytes(data)
    return log


def _ingest(cli, log: Path) -> tuple[int, str]:
    code, _, err = cli("ingest", str(log.parent.parent), "--project", "p")
    return code, err


@pytest.mark.parametrize("name", ["progress.csv", "0.monitor.csv", "progress.json"])
def test_sb3_logs_with_a_zero_tail_store_what_they_hold(cli, tmp_path, name):
    clean = _sb3_copy(tmp_path / "clean", (name,))
    code, _, err = cli("ingest", str(clean.parent), db=tmp_path / "clean.db")
    assert code == 0, err
    crashed = _sb3_copy(tmp_path / "crashed", (name,))
    with open(crashed / name, "ab") as f:
        f.write(ZEROS)
    code, _, err = cli("ingest", str(crashed.parent), db=tmp_path / "crashed.db")
    assert code == 0, err
    assert _points(tmp_path / "crashed.db") == _points(tmp_path / "clean.db") != {}


def test_a_torn_line_before_the_zeros_waits_and_the_rest_is_read_when_written(cli, tmp_path, db_path):
    log = _write_log(tmp_path, "log.csv", b"step,episodic_return\n0,1.5\n100,2.5\n200," + ZEROS)
    code, err = _ingest(cli, log)
    assert code == 0, err
    (key, points), = _points(db_path).items()
    assert points == [(0.0, 1.5), (100.0, 2.5)]
    # the disk caught up: the zeros were the rest of the file
    log.write_bytes(b"step,episodic_return\n0,1.5\n100,2.5\n200,3.5\n300,4.5\n")
    code, err = _ingest(cli, log)
    assert code == 0, err
    assert list(_points(db_path).values()) == [[(0.0, 1.5), (100.0, 2.5), (200.0, 3.5), (300.0, 4.5)]]


def test_jsonl_with_a_zero_tail(cli, tmp_path, db_path):
    log = _write_log(tmp_path, "metrics.jsonl",
                     b'{"step": 0, "episodic_return": 1.5}\n{"step": 100, "episodic_return": 2.5}\n' + ZEROS)
    code, err = _ingest(cli, log)
    assert code == 0, err
    assert list(_points(db_path).values()) == [[(0.0, 1.5), (100.0, 2.5)]]


def test_text_written_after_the_zeros_is_reported_and_the_prefix_kept(cli, tmp_path, db_path):
    """A resumed writer that appends after the zeros leaves NUL bytes inside the log: that file is
    reported with the offset (exit 2), what was stored stays, the store stays consistent."""
    log = _write_log(tmp_path, "log.csv", b"step,episodic_return\n0,1.5\n100,2.5\n" + ZEROS)
    assert _ingest(cli, log)[0] == 0
    with open(log, "ab") as f:
        f.write(b"200,3.5\n")
    code, err = _ingest(cli, log)
    assert code == 2 and "NUL byte" in err, err
    assert list(_points(db_path).values()) == [[(0.0, 1.5), (100.0, 2.5)]]
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
