"""W&B offline runs written by the real wandb SDK (a test dependency), read without wandb and compared
with wandb's own reader of the `.wandb` log (`wandb.sdk.internal.datastore.DataStore` + the
`wandb_internal_pb2.Record` protobuf classes).

The runs are written in a subprocess with `WANDB_MODE=offline` and every wandb directory under
pytest's tmp_path: no network, nothing outside tmp_path.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from openrlb_cli.ingest.base import ReadOptions
from openrlb_cli.ingest.pipeline import discover, ingest
from openrlb_cli.ingest.registry import detect
from openrlb_cli.ingest.wandb import log_framing as wandb_log
from openrlb_cli.ingest.wandb.offline import WANDB_OFFLINE
from openrlb_cli.store import Store

wandb = pytest.importorskip("wandb")
datastore = pytest.importorskip("wandb.sdk.internal.datastore")
pb = pytest.importorskip("wandb.proto.wandb_internal_pb2")

SCRIPT = textwrap.dedent("""
    import math, sys
    import wandb
    # run 1: long, with a config record bigger than a 32 KiB block (FIRST/MIDDLE/LAST chunks),
    # nested keys, non-finite values and a media item
    run = wandb.init(project="cartpole", name="ppo-seed1", tags=["baseline", "v2"],
                     config={"env_id": "CartPole-v1", "seed": 1, "exp_name": "ppo", "lr": 2.5e-4,
                             "net": {"hidden": [64, 64]}, "notes": "x" * 80000})
    for i in range(3000):
        row = {"charts/episodic_return": 500 * (1 - math.exp(-i / 400)), "global_step": 128 * i,
               "losses": {"value_loss": 1.0 / (i + 1)}}
        if i == 5:
            row["losses"]["value_loss"] = float("nan")
        if i == 6:
            row["charts/episodic_return"] = float("inf")
        if i % 500 == 0:
            row["hist"] = wandb.Histogram([1, 2, 3])
        run.log(row)
    run.config.update({"late_key": 7})
    run.summary["best"] = 499.5
    run.finish()
    # run 2: explicit steps, crashed
    run = wandb.init(project="cartpole", name="dqn-seed2", config={"env_id": "CartPole-v1", "seed": 2})
    for i in range(50):
        run.log({"td_loss": 0.5 * i}, step=10 * i)
    run.finish(exit_code=3)
""")


@pytest.fixture(scope="module")
def offline_runs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("wandb")
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_DIR": str(root), "WANDB_SILENT": "true",
           "WANDB_CONFIG_DIR": str(root / "cfg"), "WANDB_CACHE_DIR": str(root / "cache"),
           "WANDB_DATA_DIR": str(root / "data"), "WANDB_CONSOLE": "off", "HOME": str(root / "home")}
    env.pop("WANDB_API_KEY", None)
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    for d in ("cfg", "cache", "data", "home"):
        shutil.rmtree(root / d, ignore_errors=True)
    _wait_until_written(root / "wandb")
    return root / "wandb"


def _wait_until_written(root: Path, timeout: float = 20.0) -> None:
    """wandb's service process may still flush a log after the script returns (seen once under
    load): wait until every `.wandb` file keeps its size for half a second."""
    import time

    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        sizes = sorted((str(p), p.stat().st_size) for p in root.glob("offline-run-*/run-*.wandb"))
        if sizes and sizes == last:
            return
        last = sizes
        time.sleep(0.5)


def _files(root: Path) -> dict[str, Path]:
    """name -> .wandb file, the run's name read by wandb's own reader."""
    out = {}
    for p in sorted(root.glob("offline-run-*/run-*.wandb")):
        for rec, _ in _reference_records(p):
            if rec.WhichOneof("record_type") == "run":
                out[rec.run.display_name] = p
    return out


def _reference_records(path: Path) -> list[tuple[object, int]]:
    """Every Record as wandb's DataStore reads it, with the file offset after it."""
    ds = datastore.DataStore()
    ds.open_for_scan(str(path))
    out = []
    try:
        while True:
            data = ds.scan_data()
            if data is None:
                break
            rec = pb.Record()
            rec.ParseFromString(data)
            out.append((rec, ds.get_offset()))
    finally:
        ds._fp.close()
    return out


def _reference_rows(records) -> list[dict]:
    """History rows as wandb decodes them (nested keys dotted, W&B's non-finite strings as floats)."""
    rows = []
    for rec, _ in records:
        if rec.WhichOneof("record_type") != "history":
            continue
        row = {}
        for item in rec.history.item:
            key = ".".join(item.nested_key) if item.nested_key else item.key
            value = json.loads(item.value_json)
            if isinstance(value, str) and value in ("NaN", "Infinity", "-Infinity"):
                value = float(value.replace("Infinity", "inf"))
            row[key] = value
        row.setdefault("_step", rec.history.step.num)
        rows.append(row)
    return rows


def _reference_series(records, x_key: str | None = None) -> dict[str, list[tuple[float, float, float]]]:
    """(x, value, wall) per numeric key, from the history records as wandb decodes them. x is the
    fetch rule's axis, computed here row by row: `global_step` if any row logs it, else `_step`;
    rows without a finite x give no point; points ordered by x (stable)."""
    rows = _reference_rows(records)
    if x_key is None:
        x_key = "global_step" if any("global_step" in r for r in rows) else "_step"
    out: dict[str, list[tuple[float, float, float]]] = {}
    for row in rows:
        x = row.get(x_key)
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
            continue
        for key, value in row.items():
            if key in ("_step", "_timestamp") or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            out.setdefault(key, []).append((float(x), float(value), float(row["_timestamp"])))
    for pts in out.values():
        pts.sort(key=lambda p: p[0])
    return out


def _assert_store_matches(store: Store, run_id: int, expected) -> None:
    keys = {s.key for s in store.series_info([run_id])}
    assert keys == set(expected)
    for key, pts in expected.items():
        s = store.load_series(run_id, key)
        got = list(zip(s.steps.tolist(), s.values.tolist(), s.wall_times.tolist(), strict=True))
        assert len(got) == len(pts), key
        for g, e in zip(got, pts, strict=True):
            assert g[0] == e[0] and g[2] == e[2] and (g[1] == e[1] or (math.isnan(g[1]) and math.isnan(e[1]))), key


def test_offline_runs_match_wandbs_own_reader(offline_runs, tmp_path):
    files = _files(offline_runs)
    assert set(files) == {"ppo-seed1", "dqn-seed2"}
    assert all(detect(p) == "wandb-offline" for p in files.values())
    units, skipped = discover([offline_runs])
    assert sorted(u.fmt for u in units) == ["wandb-offline", "wandb-offline"], [(u.fmt, u.key) for u in units]
    big = files["ppo-seed1"].read_bytes()
    kinds = {big[o + 6] for o in range(wandb_log.BLOCK, len(big), wandb_log.BLOCK)}
    assert kinds & {wandb_log.MIDDLE, wandb_log.LAST}  # the big config really spans blocks
    with Store(tmp_path / "s.db") as store:
        summary = ingest(store, [offline_runs])
        assert not summary.skipped and summary.new_runs == 2
        runs = {r.name: r for r in store.runs()}
        for name, path in files.items():
            records = _reference_records(path)
            _assert_store_matches(store, runs[name].id, _reference_series(records))
            (run_rec,) = [r.run for r, _ in records if r.WhichOneof("record_type") == "run"]
            got = runs[name]
            assert got.project == run_rec.project == "cartpole" and got.tags == sorted(run_rec.tags)
            assert got.created_at == pytest.approx(run_rec.start_time.ToSeconds() + run_rec.start_time.nanos / 1e9)
            config = {}
            for r, _ in records:
                for part in ([r.run.config] if r.WhichOneof("record_type") == "run" else
                             [r.config] if r.WhichOneof("record_type") == "config" else []):
                    config.update({i.key: json.loads(i.value_json) for i in part.update if i.key != "_wandb"})
            assert {k: got.config[k] for k in config} == config
        ppo, dqn = runs["ppo-seed1"], runs["dqn-seed2"]
        assert (ppo.experiment, ppo.env, ppo.seed, ppo.state) == ("ppo", "CartPole-v1", 1, "finished")
        assert ppo.config["late_key"] == 7 and len(ppo.config["notes"]) == 80000
        assert ppo.summary["best"] == 499.5 and "hist" not in {s.key for s in store.series_info([ppo.id])}
        assert dqn.state == "crashed" and dqn.config["wandb_exit_code"] == 3
        td = store.load_series(dqn.id, "td_loss")
        assert td.steps.tolist() == [10.0 * i for i in range(50)] and td.values.tolist() == [0.5 * i for i in range(50)]
        ret = store.load_series(ppo.id, "charts/episodic_return")  # on global_step = 128 * _step
        assert len(ret) == 3000 and ret.values[6] == math.inf and ret.steps[-1] == 128 * 2999
        assert math.isnan(store.load_series(ppo.id, "losses.value_loss").values[5])
        again = ingest(store, [offline_runs])
        assert again.points == 0 and again.unchanged == 2


@pytest.mark.parametrize("frac", [0.13, 0.5, 0.77, 0.999])
def test_file_being_written_ingests_complete_records_then_resumes(offline_runs, tmp_path, frac):
    """A `.wandb` cut anywhere (torn chunk, unfinished multi-chunk record) ingests every record that
    wandb's reader finds complete before the cut, and the rest when the file has grown."""
    src = _files(offline_runs)["ppo-seed1"]
    whole = src.read_bytes()
    records = _reference_records(src)
    cut = int(len(whole) * frac)
    live = tmp_path / "offline-run-x" / src.name
    live.parent.mkdir()
    live.write_bytes(whole[:cut])
    res = WANDB_OFFLINE.read(live, 0, {}, ReadOptions())
    done = [(r, end) for r, end in records if end <= cut]
    assert res.offset == (done[-1][1] if done else 7) and not res.complete
    expected_prefix = _reference_series(done)
    got = res.runs[0].series
    assert {k: len(v) for k, v in got.items()} == {k: len(v) for k, v in expected_prefix.items()}
    with Store(tmp_path / "s.db") as store:
        ingest(store, [tmp_path])
        live.write_bytes(whole)
        second = ingest(store, [tmp_path])
        assert not second.skipped
        (run,) = store.runs()
        _assert_store_matches(store, run.id, _reference_series(records))
        assert run.state == "finished"


def test_corrupt_or_foreign_files(offline_runs, tmp_path):
    src = _files(offline_runs)["dqn-seed2"]
    data = bytearray(src.read_bytes())
    bad = tmp_path / "run-bad.wandb"
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    # damage mid-file keeps the records before it (as TensorBoard does for event files), and says where
    res = WANDB_OFFLINE.read(bad, 0, {}, ReadOptions())
    assert res.damage and res.damage.startswith("corrupt .wandb file: chunk checksum mismatch at byte offset")
    at = int(res.damage.rsplit(" ", 1)[1])
    assert res.offset <= at <= len(data) // 2 < at + wandb_log.BLOCK
    prefix = tmp_path / "run-prefix.wandb"
    prefix.write_bytes(src.read_bytes()[: res.offset])
    want = WANDB_OFFLINE.read(prefix, 0, {}, ReadOptions()).runs[0].series
    got = res.runs[0].series
    assert got.keys() == want.keys() and all(np.array_equal(got[k].values, want[k].values, equal_nan=True)
                                             for k in want)
    assert 0 < sum(len(v) for v in got.values())
    # a zero-filled tail (a killed job's unwritten pages) is a tail: kept for later, not damage
    zeros = tmp_path / "run-zeros.wandb"
    zeros.write_bytes(src.read_bytes()[: len(data) // 2] + b"\0" * 4096)
    res = WANDB_OFFLINE.read(zeros, 0, {}, ReadOptions())
    assert res.damage is None and not res.complete and res.offset <= len(data) // 2
    other = tmp_path / "notes.wandb"
    other.write_text("not a log")
    assert not WANDB_OFFLINE.detect(other) and detect(other) is None
    header_only = tmp_path / "run-new.wandb"
    header_only.write_bytes(src.read_bytes()[:7])
    res = WANDB_OFFLINE.read(header_only, 0, {}, ReadOptions())
    assert res.offset == 7 and res.complete and res.runs[0].series == {}


def test_framing_edge_cases():
    """Zero padding at block ends, zeroed block remainders and records split over blocks, built by hand
    with the writer's rules (CRC-32 of type byte + payload)."""
    import struct
    import zlib

    def chunk(kind: int, payload: bytes) -> bytes:
        return struct.pack("<IHB", zlib.crc32(payload, zlib.crc32(bytes([kind]))), len(payload), kind) + payload

    head = wandb_log.FILE_HEADER
    first = b"a" * (wandb_log.BLOCK - 7 - 7 - 3)  # file header + chunk header + payload leave 3 bytes: padding
    data = head + chunk(1, first) + b"\0\0\0" + chunk(2, b"b" * (wandb_log.BLOCK - 7))
    data += chunk(4, b"c" * 10)
    frames = wandb_log.split_records(data, 0, True)
    assert [len(r) for r in frames.records] == [len(first), wandb_log.BLOCK - 7 + 10]
    assert frames.end == len(data) and not frames.torn
    # a zeroed remainder of the block is skipped, as wandb's reader does
    zeroed = data + b"\0" * (3 * wandb_log.BLOCK - len(data)) + chunk(1, b"next")
    assert wandb_log.split_records(zeroed, 0, True).records[-1] == b"next"
    tail = wandb_log.split_records(data + b"\0" * 100, 0, True)
    assert tail.end == len(data) and tail.torn
    with pytest.raises(wandb_log.WandbLogError, match="without a FIRST"):
        wandb_log.split_records(head + chunk(4, b"x"), 0, True)


def test_item_decoding_paths():
    """History items through the inline parser (key, nested keys, a value_json that is not JSON: kept as
    text, the other values still decoded together) and through the generic one (an unknown field)."""
    from openrlb_cli.ingest.wandb import offline as wandb_offline

    rec = pb.Record()
    item = rec.history.item.add()
    item.key, item.value_json = "a", "1.5"
    item = rec.history.item.add()
    item.nested_key.extend(["n", "x"])
    item.value_json = "not json"
    item = rec.history.item.add()
    item.nested_key.extend(["d"])
    item.value_json = '{"y": 2, "z": {"_type": "histogram"}}'
    rec.history.step.num = 4
    odd_item = b"\x0a\x01b" + b"\x18\x05" + b"\x82\x01\x017"  # key "b", unknown varint field 3, value 7
    odd = b"\x12" + bytes([len(odd_item) + 2]) + b"\x0a" + bytes([len(odd_item)]) + odd_item
    decoded = wandb_offline._Decoded()
    decoded.add(rec.SerializeToString())
    decoded.add(odd)
    decoded.finish()
    assert decoded.rows == [{"a": 1.5, "n.x": "not json", "d.y": 2, "d.z": {"_type": "histogram"}, "_step": 4},
                            {"b": 7, "_step": 0}]
