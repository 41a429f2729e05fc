"""One bad file never aborts an ingest: a fuzz test over real files of every format, and the hostile
files that used to abort everything (rc 1, nothing stored, the file not named).

Every log file of a corpus of real files (sample_runs/, and the real tools' logs in ../shared/data/formats
when present) is mutated in each of the ways crashed jobs and hostile inputs damage files: truncated,
a byte flipped, a zero-filled tail, garbage, a line nested 100,000 deep, a field of 200 KiB, invalid UTF-8.
Each mutant lives in a copy of its run folder beside untouched copies of every folder; one real
`openrlb ingest` process reads the whole tree. It must never exit 1 (or crash), the store must pass
`PRAGMA integrity_check`, and the untouched folders' points must equal a clean ingest of them alone.
The seed is fixed; the fuzz test costs ~12 s of CPU (two ingest processes and a re-ingest).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import random
import sqlite3
import struct
import subprocess
import sys
import zipfile
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

from openrlb_cli.store import Store

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_runs"
FORMATS = ROOT.parent / "shared" / "data" / "formats"
SEED = 18


def _copy(src: Path, dst: Path) -> None:
    """Bytes only (the shared files are read-only; their copies must be writable)."""
    if src.is_file():
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(src.read_bytes())
        return
    for path in sorted(src.rglob("*")):
        if path.is_file():
            _copy(path, dst / path.relative_to(src))


def _sacred_run(folder: Path) -> None:
    """A Sacred FileStorageObserver run folder, as its observer lays the JSON files out."""
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({
        "experiment": {"name": "ppo", "base_dir": "/x", "sources": [], "dependencies": [], "repositories": []},
        "status": "COMPLETED", "start_time": "2024-01-01T00:00:00.000000", "heartbeat": "2024-01-01T00:01:00.0",
        "stop_time": "2024-01-01T00:01:00.000000", "command": "main", "host": {}, "meta": {}, "resources": [],
        "artifacts": [], "captured_out": "", "result": None}, indent=2))
    (folder / "config.json").write_text(json.dumps({"lr": 0.1, "seed": 3, "env_id": "CartPole-v1"}, indent=2))
    steps = list(range(0, 2000, 20))
    (folder / "metrics.json").write_text(json.dumps({"episodic_return": {
        "steps": steps, "values": [float(i % 37) for i in range(len(steps))],
        "timestamps": [f"2024-01-01T00:00:{i % 60:02d}.000000" for i in range(len(steps))]}}, indent=2))


def _wandb_folder(folder: Path) -> None:
    """A W&B run folder without a `.wandb` log (wandb <= 0.9 layout): history, summary, config."""
    files = folder / "files"
    files.mkdir(parents=True)
    rows = [{"_step": i, "_runtime": i * 0.5, "_timestamp": 1_700_000_000 + i, "loss": 1.0 / (i + 1),
             "charts": {"episodic_return": float(i % 11)}} for i in range(150)]
    (files / "wandb-history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (files / "wandb-summary.json").write_text(json.dumps({"loss": rows[-1]["loss"], "_step": 149}))
    (files / "config.yaml").write_text("wandb_version: 1\nlr:\n  desc: null\n  value: 0.001\n")


def _corpus(root: Path) -> list[Path]:
    """Run folders of every format (each a separate folder under `root`)."""
    tb = SAMPLE / "cleanrl" / "runs" / "CartPole-v1__q_learning__1__1700000000"
    _copy(tb, root / "tb" / tb.name)
    event = next((root / "tb" / tb.name).glob("events.out.tfevents.*"))
    gz = root / "tbgz" / tb.name / (event.name + ".gz")
    gz.parent.mkdir(parents=True)
    gz.write_bytes(gzip.compress(event.read_bytes(), mtime=0))
    _copy(SAMPLE / "sb3" / "reinforce" / "CartPole-v1_1", root / "sb3" / "reinforce" / "CartPole-v1_1")
    _copy(SAMPLE / "csv" / "curves.csv", root / "csv" / "curves.csv")
    _copy(SAMPLE / "jsonl" / "curves.jsonl", root / "jsonl" / "curves.jsonl")
    rows = [json.loads(line) for line in (SAMPLE / "jsonl" / "curves.jsonl").read_text().splitlines()[:300]]
    (root / "records").mkdir()
    (root / "records" / "results.json").write_text(json.dumps(rows, indent=1))
    _sacred_run(root / "sacred" / "1")
    _wandb_folder(root / "wandbfiles" / "run-20240101_000000-abcd1234")
    offline = next((ROOT / "tests" / "data" / "formats" / "wandb" / "wandb").glob("offline-run-*"))
    _copy(offline, root / "wandboffline" / "wandb" / offline.name)  # a `.wandb` log the W&B SDK wrote
    if FORMATS.is_dir():
        _copy(FORMATS / "sb3" / "PPO_CartPole-v1_seed1", root / "ppo" / "PPO_CartPole-v1_seed1")
        _copy(FORMATS / "sb3" / "logs" / "a2c" / "Acrobot-v1_1", root / "zoo" / "logs" / "a2c" / "Acrobot-v1_1")
        _copy(FORMATS / "tf2-scalars", root / "tf2")
        _copy(FORMATS / "wandb-export" / "SnappierCape-ds-marl-air-cargo_wandb_export.csv", root / "wbcsv" / "x.csv")
        _copy(FORMATS / "mlflow-files" / "mlruns", root / "mlflow" / "mlruns")
    return sorted(p for p in root.iterdir() if p.is_dir())


# ---------------------------------------------------------------------------- mutations
def _line_start(data: bytes, rng: random.Random) -> int:
    at = rng.randrange(len(data)) if data else 0
    nl = data.rfind(b"\n", 0, at)
    return nl + 1


def _mutate(kind: str, data: bytes, rng: random.Random) -> bytes:
    n = len(data)
    if kind == "truncate":
        return data[: rng.randrange(1, n)] if n > 1 else b""
    if kind == "flip":
        i = rng.randrange(n)
        return data[:i] + bytes([data[i] ^ rng.randrange(1, 256)]) + data[i + 1:]
    if kind == "zero_tail":
        return data + b"\0" * 4096
    if kind == "garbage":
        return rng.randbytes(max(n, 64))
    if kind == "deep_nesting":
        at = _line_start(data, rng)
        return data[:at] + b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n" + data[at:]
    if kind == "huge_field":
        at = _line_start(data, rng)
        return data[:at] + b"1," + b"9" * (200 << 10) + b',"' + b"x" * (200 << 10) + b'"\n' + data[at:]
    if kind == "invalid_utf8":
        i = rng.randrange(n) if n else 0
        return data[:i] + b"\xff\xfe\xc3\x28\x80" + data[i:]
    raise AssertionError(kind)


KINDS = ("truncate", "flip", "zero_tail", "garbage", "deep_nesting", "huge_field", "invalid_utf8")
NOT_LOGS = {".py", ".txt", ".zip", ".pkl"}  # model artifacts, console logs: never read as logs


def _mutants(good: Path, out: Path, rng: random.Random) -> int:
    """Per corpus folder and mutation, a copy of the folder with one of its files (drawn at random)
    mutated; how many."""
    count = 0
    for folder in sorted(p for p in good.iterdir() if p.is_dir()):
        files = [p for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix not in NOT_LOGS]
        for kind in KINDS:
            for f in rng.sample(files, min(2, len(files))):
                count += 1
                dst = out / f"{folder.name}-{count}-{kind}"
                _copy(folder, dst)
                target = dst / f.relative_to(folder)
                target.write_bytes(_mutate(kind, target.read_bytes(), rng))
    return count


def _run(db: Path, *paths: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "openrlb_cli", "--db", str(db), "--quiet", "ingest",
                           *map(str, paths)], capture_output=True, text=True, timeout=240, env=env)


def _series(db: Path, ids: set[str] | None = None) -> dict[tuple[str, str, str], tuple[np.ndarray, ...]]:
    """(source, external_id, key) -> (steps, values, walls) of the runs (those with `ids`, else all).
    A run's identity comes from its content, so the good files' runs have the same ids in both stores
    (wherever a copy of them was last read from)."""
    out = {}
    with Store(db) as store:
        for run in store.runs():
            row = store.conn.execute("SELECT source, external_id FROM runs WHERE id = ?", (run.id,)).fetchone()
            if ids is not None and row[1] not in ids:
                continue
            for info in store.series_info([run.id]):
                s = store.load_series(run.id, info.key)
                out[(row[0], row[1], info.key)] = (np.asarray(s.steps), np.asarray(s.values),
                                                   np.asarray(s.wall_times))
    return out


def test_no_mutant_aborts_the_ingest_and_good_files_are_exact(tmp_path):
    rng = random.Random(SEED)
    tree = tmp_path / "tree"
    _corpus(tree / "good")
    count = _mutants(tree / "good", tree / "mutants", rng)
    assert count >= 7 * 8
    ref_db, db = tmp_path / "ref.db", tmp_path / "fuzz.db"
    ref = _run(ref_db, tree / "good")
    assert ref.returncode == 0, ref.stderr
    expected = _series(ref_db)
    good_ids = {k[1] for k in expected}
    assert len({k[1] for k in expected}) >= 9  # runs of every corpus folder

    got = _run(db, tree)
    assert got.returncode == 2, got.stderr[-3000:]  # some mutants are skipped (garbage is never a log)
    assert "Traceback" not in got.stderr and "unexpected" not in got.stderr
    for line in got.stderr.splitlines():  # one line per skipped file, naming it
        assert line.startswith(f"warning: skipped {tree}/") or line.startswith("warning: "), line
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    _assert_same(_series(db, good_ids), expected)
    again = _run(db, tree)  # skipped files are tried again; nothing already stored changes or doubles
    assert again.returncode in (0, 2), again.stderr[-3000:]
    _assert_same(_series(db, good_ids), expected)


def _assert_same(got: dict, expected: dict) -> None:
    assert got.keys() == expected.keys()
    for key, arrays in expected.items():
        for a, b in zip(got[key], arrays, strict=True):
            np.testing.assert_array_equal(a, b, err_msg=str(key))


# ---------------------------------------------------------------------------- the files the issue named
def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _evaluations() -> dict[str, np.ndarray]:
    return {"timesteps": np.array([100, 200, 300]), "results": np.ones((3, 2)), "ep_lengths": np.ones((3, 2))}


def _unknown_zip_version(data: bytes) -> bytes:
    """The npz with 'version needed to extract' 9.9 in every header (zipfile: NotImplementedError)."""
    out = bytearray(data)
    for sig, at in ((b"PK\x03\x04", 4), (b"PK\x01\x02", 6)):
        i = out.find(sig)
        while i >= 0:
            out[i + at:i + at + 2] = struct.pack("<H", 99)
            i = out.find(sig, i + 4)
    return bytes(out)


def _hostile_shape() -> bytes:
    """An npz whose `results` member declares 10^13 x 2 float64 (80 TB): numpy raises MemoryError."""
    from numpy.lib import format as npy

    header = io.BytesIO()
    npy.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**13, 2)})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z, zipfile.ZipFile(io.BytesIO(_npz(_evaluations()))) as src:
        for name in src.namelist():
            z.writestr(name, header.getvalue() + b"\0" * 48 if name == "results.npy" else src.read(name))
    return buf.getvalue()


HOSTILE = {
    "deep.jsonl": (b'{"step": 1, "x": 2}\n' + b"[" * 100_000 + b"]" * 100_000 + b"\n", "nested too deeply"),
    "progress.json": (b'{"time/total_timesteps": 1, "x": 2}\n' + b'{"a":' * 100_000 + b"\n", None),
    "0.monitor.csv": (b'#{"t_start": 1700000000.0, "env_id": "CartPole-v1"}\nr,l,t\n1.0,10,0.5\n'
                      + b"2.0," + b"9" * (140 << 10), None),
    "wide.csv": (b"step," + b"x" * (140 << 10) + b"\n1,2\n", "field larger than field limit"),
    "evaluations.npz": (_unknown_zip_version(_npz(_evaluations())), "zip file version"),
    "latin1.csv": ("step,r\xe9compense\n1,2\n".encode("latin-1"), "not UTF-8"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_file_is_one_skip_line_and_the_rest_ingest(cli, db_path, tmp_path, name):
    content, reason = HOSTILE[name]
    good = SAMPLE / "cleanrl" / "runs" / "CartPole-v1__q_learning__1__1700000000"
    ref = tmp_path / "ref.db"
    assert cli("ingest", str(good), db=ref)[0] == 0
    bad = tmp_path / "bad" / name
    bad.parent.mkdir()
    bad.write_bytes(content)
    code, _, err = cli("ingest", str(bad.parent), str(good))
    with Store(ref) as a, Store(db_path) as b:
        assert b.info()["points"] >= a.info()["points"] > 0
    if reason is None:  # read as far as it is valid (a torn tail, a line that is not JSON): no skip
        assert code in (0, 2) and "Traceback" not in err and "unexpected" not in err
        return
    assert code == 2
    skips = [ln for ln in err.splitlines() if ln.startswith("warning: skipped")]
    assert len(skips) == 1 and str(bad) in skips[0] and reason in skips[0], err


def test_an_npz_declaring_a_huge_array_is_skipped_not_fatal(cli, db_path, tmp_path):
    bad = tmp_path / "logs" / "evaluations.npz"
    bad.parent.mkdir()
    bad.write_bytes(_hostile_shape())
    good = SAMPLE / "cleanrl" / "runs" / "CartPole-v1__q_learning__1__1700000000"
    code, _, err = cli("ingest", str(bad.parent), str(good))
    assert code == 2, err
    (skip,) = [ln for ln in err.splitlines() if ln.startswith("warning: skipped")]
    assert str(bad) in skip and ("MemoryError" in skip or "too large" in skip)
    with Store(db_path) as store:
        assert store.info()["points"] > 0


def test_one_bad_file_in_a_group_of_small_event_files_costs_only_itself(cli, db_path, tmp_path):
    """Small event files are decoded together (`read_many`); a reader failure there used to be reported
    for every file of the group."""
    from openrlb_cli.ingest.tensorboard import reader as tb_reader

    runs = SAMPLE / "cleanrl" / "runs"
    for run in sorted(runs.iterdir())[:4]:
        _copy(run, tmp_path / "runs" / run.name)
    code, _, err = cli("ingest", str(tmp_path / "runs"), db=tmp_path / "ref.db")
    assert code == 0, err
    victim = next((tmp_path / "runs" / sorted(p.name for p in runs.iterdir())[1]).glob("events.*"))
    real = tb_reader.TENSORBOARD.read_many

    def failing(items, options):
        if any(path == victim for path, _ in items):
            raise RecursionError("maximum recursion depth exceeded")
        return real(items, options)

    def failing_iter_read(path, offset, state, options):
        if path == victim:
            raise RecursionError("maximum recursion depth exceeded")
        return real_iter_read(path, offset, state, options)

    real_iter_read = tb_reader.TENSORBOARD.iter_read
    with mock.patch.object(tb_reader.TENSORBOARD, "read_many", failing), \
            mock.patch.object(tb_reader.TENSORBOARD, "iter_read", failing_iter_read):
        code, _, err = cli("ingest", str(tmp_path / "runs"))
    assert code == 2
    (skip,) = [ln for ln in err.splitlines() if ln.startswith("warning: skipped")]
    assert str(victim) in skip and "nested too deeply" in skip
    with Store(db_path) as store:
        assert len(store.runs()) == 3
