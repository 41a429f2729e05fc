"""Tests for the TensorFlow-free TensorBoard event reader/writer (openrlb_cli.ingest.tensorboard.events).

Real files written by CleanRL, SB3/RL Zoo and TensorFlow 2 live in ../shared (skipped when absent);
the expected numbers come from shared/data/formats/README.md (computed with TensorBoard's reader).
"""

from __future__ import annotations

import math
import random
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shared_data import SHARED_DATA, need_shared

from openrlb_cli.errors import InputError
from openrlb_cli.ingest.tensorboard import crc32c as crcmod
from openrlb_cli.ingest.tensorboard import decode as tfdecode
from openrlb_cli.ingest.tensorboard import events as tfe
from openrlb_cli.ingest.tensorboard import protowire as pw
from openrlb_cli.ingest.tensorboard import templates as tftemplates
from openrlb_cli.ingest.tensorboard.events import (
    CorruptEventFile,
    ScalarBatch,
    is_event_file,
    iter_scalar_batches,
    parse_hparams_markdown,
    read_scalars,
    write_scalars,
)

FORMATS = SHARED_DATA / "formats"
ENCODINGS = ["simple_value", "tensor_float", "tensor_double", "tensor_content"]
HYP = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(params=["numpy", "c"])
def crc_backend(request, monkeypatch):
    """Run a test with the numpy CRC32C kernel and with the optional C package (if installed)."""
    if request.param == "numpy":
        monkeypatch.setattr(crcmod, "_C", None)
    elif crcmod._C is None:
        pytest.skip("no C CRC32C package (google-crc32c / crc32c) installed")
    return request.param


def _expected(points, encoding):
    out: dict[str, list[tuple[float, float, float]]] = {}
    for tag, step, value, wall in points:
        with np.errstate(over="ignore"):
            v = value if encoding == "tensor_double" else float(np.float32(value))
        out.setdefault(tag, []).append((float(step), v, wall))
    return out


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def _assert_batch(batch: ScalarBatch, expected) -> None:
    assert list(batch.tags) == list(expected)
    for tag, pts in expected.items():
        steps, values, walls = batch.tags[tag]
        assert steps.dtype == values.dtype == walls.dtype == np.float64
        assert steps.tolist() == [p[0] for p in pts]
        assert all(_same(a, p[1]) for a, p in zip(values.tolist(), pts, strict=True)), tag
        assert walls.tolist() == [p[2] for p in pts]


def _record(data: bytes) -> bytes:
    head = struct.pack("<Q", len(data))
    return head + struct.pack("<I", crcmod.masked_crc32c(head)) + data + struct.pack("<I", crcmod.masked_crc32c(data))


def _event(wall: float, step: int, *values: bytes) -> bytes:
    summary = b"".join(pw.encode_len(1, v) for v in values)
    return pw.encode_double(1, wall) + pw.encode_int(2, step) + pw.encode_len(5, summary)


def _tensor_value(tag: str, tensor: bytes, plugin: str | None = None, data_class: int = 0) -> bytes:
    out = pw.encode_len(1, tag.encode()) + pw.encode_len(8, tensor)
    if plugin is not None:
        meta = pw.encode_len(1, pw.encode_len(1, plugin.encode()))
        out += pw.encode_len(9, meta + (pw.encode_int(4, data_class) if data_class else b""))
    return out


def _shape(*dims: int) -> bytes:
    return pw.encode_len(2, b"".join(pw.encode_len(2, pw.encode_int(1, d)) for d in dims))


# --------------------------------------------------------------------------------------- real files


def _real(rel: str) -> ScalarBatch:
    need_shared(FORMATS)
    (path,) = (FORMATS / rel).glob("events.out.tfevents.*")
    return read_scalars(path)


def _first_last(batch: ScalarBatch, tag: str):
    steps, values, _ = batch.tags[tag]
    return len(steps), (steps[0], values[0]), (steps[-1], values[-1])


@pytest.mark.parametrize(
    "run,n,first,last",
    [
        ("CartPole-v1__ppo__1__1795425662", 423, (60, 15.0), (19940, 20.0)),
        ("CartPole-v1__ppo__2__1795425675", 406, (76, 19.0), (19956, 87.0)),
    ],
)
def test_cleanrl(run, n, first, last):
    batch = _real(f"cleanrl/runs/{run}")
    assert batch.file_version == "brain.Event:2" and not batch.torn_tail
    losses = ["value_loss", "policy_loss", "entropy", "old_approx_kl", "approx_kl", "clipfrac", "explained_variance"]
    per_update = ["charts/learning_rate", "charts/SPS"] + [f"losses/{x}" for x in losses]
    assert set(batch.tags) == {"charts/episodic_return", "charts/episodic_length", *per_update}
    for tag in ("charts/episodic_return", "charts/episodic_length"):
        assert _first_last(batch, tag) == (n, first, last)
    assert np.array_equal(batch.tags["charts/episodic_return"][1], batch.tags["charts/episodic_length"][1])
    for tag in per_update:
        count, (s0, _), (s1, _) = _first_last(batch, tag)
        assert (count, s0, s1) == (39, 512, 19968)
    assert list(batch.texts) == ["hyperparameters/text_summary"]
    assert batch.texts["hyperparameters/text_summary"].startswith("|param|value|")
    hp = parse_hparams_markdown(batch.texts["hyperparameters/text_summary"])
    assert hp["env_id"] == "CartPole-v1" and hp["seed"] == run.split("__")[2] and hp["total_timesteps"] == "20000"


@pytest.mark.parametrize(
    "seed,first,last", [(1, 21.4761905670166, 114.66999816894531), (2, 18.95833396911621, 114.29000091552734)]
)
def test_sb3_ppo(seed, first, last):
    batch = _real(f"sb3/PPO_CartPole-v1_seed{seed}")
    assert len(batch.tags) == 12 and not batch.texts
    assert _first_last(batch, "rollout/ep_rew_mean") == (40, (512, first), (20480, last))
    for tag in ("rollout/ep_len_mean", "time/fps"):
        assert _first_last(batch, tag)[0] == 40
    train = [t for t in batch.tags if t.startswith("train/")]
    assert len(train) == 9
    for tag in train:
        count, (s0, _), (s1, _) = _first_last(batch, tag)
        assert (count, s0, s1) == (39, 1024, 20480)


def test_rl_zoo_a2c():
    batch = _real("sb3/logs/tensorboard/Acrobot-v1/A2C_1")
    assert _first_last(batch, "eval/mean_reward") == (4, (2496, -320.6000061035156), (9984, -126.0))
    assert len(batch.tags["eval/mean_ep_length"][0]) == 4
    assert sorted(len(batch.tags[t][0]) for t in batch.tags if t.startswith("train/")) == [5] * 5
    assert _first_last(batch, "rollout/ep_rew_mean") == (1, (8000, -474.5), (8000, -474.5))
    assert len(batch.tags["rollout/ep_len_mean"][0]) == len(batch.tags["time/fps"][0]) == 1


def test_tf2_create_file_writer():
    batch = _real("tf2-scalars/tf2_create_file_writer")
    assert batch.n_records == 101 and batch.file_version == "brain.Event:2"
    assert list(batch.tags) == ["my_metric"]
    assert _first_last(batch, "my_metric") == (100, (0, 0.0), (99, 49.5))
    assert batch.tags["my_metric"][0].tolist() == list(range(100))


def test_tensorboard_summary_writer():
    batch = _real("tf2-scalars/tensorboard_summary_writer")
    ret = batch.tags["charts/episodic_return"]
    assert _first_last(batch, "charts/episodic_return") == (200, (0, 0.0), (99500, 490.65716552734375))
    assert ret[0].tolist() == [500.0 * i for i in range(200)]
    assert _first_last(batch, "losses/value_loss") == (100, (0, 10.0), (99000, 0.05025125667452812))


def test_real_files_match_tensorboard():
    """Every scalar of every real file equals what TensorBoard's own EventAccumulator reads."""
    need_shared(FORMATS)
    ea_mod = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    tensor_util = pytest.importorskip("tensorboard.util.tensor_util")
    for path in FORMATS.rglob("events.out.tfevents.*"):
        acc = ea_mod.EventAccumulator(str(path), size_guidance={"scalars": 0, "tensors": 0})
        acc.Reload()
        ours = read_scalars(path).tags
        expected = {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}
        for t in acc.Tags()["tensors"]:
            events = acc.Tensors(t)
            if events and events[0].tensor_proto.dtype != 7:
                expected[t] = [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in events]
        assert set(ours) == set(expected), path
        for tag, pts in expected.items():
            assert list(zip(*ours[tag][:2], strict=True)) == pts, (path, tag)


# ------------------------------------------------------------------------------ round trips & API

SCALARS = [
    ("a/x", 0, 1.5, 1000.0),
    ("b", 1, -2.25, 1001.0),
    ("a/x", 2, float("nan"), 1002.5),
    ("b", 3, float("inf"), 1003.0),
    ("a/x", -5, float("-inf"), 0.0),
    ("c", 2**40, 1e300, 1e9),
]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_round_trip_every_encoding(tmp_path, encoding, crc_backend):
    path = tmp_path / "events.out.tfevents.1.host"
    size = write_scalars(path, SCALARS, encoding=encoding)
    assert size == path.stat().st_size
    batch = read_scalars(path)
    assert batch.n_records == len(SCALARS) + 1 and batch.end_offset == size and not batch.torn_tail
    assert batch.file_version == "brain.Event:2" and batch.texts == {}
    _assert_batch(batch, _expected(SCALARS, encoding))
    if encoding != "tensor_double":
        assert batch.tags["c"][1][0] == math.inf  # beyond float32: rounds to inf like a C cast


def test_bad_encoding_raises_before_writing(tmp_path):
    with pytest.raises(ValueError):
        write_scalars(tmp_path / "x", SCALARS, encoding="bogus")
    assert not (tmp_path / "x").exists()


def test_empty_file_and_empty_writer(tmp_path):
    empty = tmp_path / "events.out.tfevents.empty"
    empty.write_bytes(b"")
    batch = read_scalars(empty)
    assert (batch.tags, batch.texts, batch.end_offset, batch.n_records, batch.torn_tail) == ({}, {}, 0, 0, False)
    assert [b.n_records for b in iter_scalar_batches(empty)] == [0]
    only_version = tmp_path / "events.out.tfevents.v"
    write_scalars(only_version, [])
    batch = read_scalars(only_version)
    assert batch.tags == {} and batch.n_records == 1 and batch.file_version == "brain.Event:2"


def test_resume_after_growth_reads_only_new_points(tmp_path):
    path = tmp_path / "events.out.tfevents.grow"
    write_scalars(path, [("loss", i, float(i), 10.0 + i) for i in range(50)])
    first = read_scalars(path)
    assert len(first.tags["loss"][0]) == 50
    write_scalars(path, [("loss", i, float(i), 10.0 + i) for i in range(50, 80)] + [("new", 1, 2.0, 3.0)], append=True)
    second = read_scalars(path, start_offset=first.end_offset)
    assert second.tags["loss"][0].tolist() == list(range(50, 80)) and second.tags["new"][1].tolist() == [2.0]
    assert second.file_version is None and second.end_offset == path.stat().st_size
    assert read_scalars(path, start_offset=second.end_offset).n_records == 0


def test_torn_tail_then_completed(tmp_path, crc_backend):
    path = tmp_path / "events.out.tfevents.torn"
    write_scalars(path, [("loss", i, float(i), 1.0) for i in range(10)])
    good = path.stat().st_size
    extra = tmp_path / "extra"
    write_scalars(extra, [("loss", 10, 10.0, 1.0), ("loss", 11, 11.0, 1.0)], append=True)
    tail = extra.read_bytes()
    for cut in (1, 11, 12, 20, len(tail) // 2 + 3, len(tail) - 1):
        path.write_bytes(path.read_bytes()[:good] + tail[:cut])
        batch = read_scalars(path)
        assert batch.torn_tail and batch.tags["loss"][0].tolist()[-1] <= 10
        resumed = batch.end_offset
        path.write_bytes(path.read_bytes()[:good] + tail)
        assert read_scalars(path, start_offset=resumed).tags["loss"][0].tolist()[-1] == 11
        assert not read_scalars(path).torn_tail


def test_iter_batches_bounded_and_chained(tmp_path):
    path = tmp_path / "events.out.tfevents.big"
    pts = [(f"tag{i % 7}", i, float(i) / 3, float(i)) for i in range(3000)]
    write_scalars(path, pts)
    batches = list(iter_scalar_batches(path, chunk_bytes=4096))
    assert len(batches) > 10
    offset = 0
    merged: dict[str, list[float]] = {}
    for b in batches:
        assert b.end_offset > offset and b.end_offset - offset <= 4096 and not b.torn_tail
        offset = b.end_offset
        for tag, (steps, _, _) in b.tags.items():
            merged.setdefault(tag, []).extend(steps.tolist())
    assert offset == path.stat().st_size
    whole = read_scalars(path)
    assert {t: whole.tags[t][0].tolist() for t in whole.tags} == merged


def test_max_bytes_smaller_than_one_record_still_progresses(tmp_path):
    path = tmp_path / "events.out.tfevents.m"
    write_scalars(path, [("a" * 500, 1, 1.0, 1.0), ("a" * 500, 2, 2.0, 1.0)])
    b1 = read_scalars(path, max_bytes=10)
    assert b1.n_records == 1 and not b1.torn_tail
    b2 = read_scalars(path, start_offset=b1.end_offset, max_bytes=10)
    b3 = read_scalars(path, start_offset=b2.end_offset, max_bytes=10)
    assert b2.tags["a" * 500][0].tolist() == [1.0] and b3.tags["a" * 500][0].tolist() == [2.0]
    assert [len(b.tags) for b in iter_scalar_batches(path, chunk_bytes=1)] == [0, 1, 1]


def test_start_offset_beyond_file(tmp_path):
    path = tmp_path / "events.out.tfevents.s"
    write_scalars(path, SCALARS)
    with pytest.raises(CorruptEventFile):
        read_scalars(path, start_offset=path.stat().st_size + 1)


def test_is_event_file():
    assert is_event_file("runs/x/events.out.tfevents.1795425662.vm.18860.0")
    assert is_event_file(Path("a/events.out.tfevents.1585499054.host.11684.5.v2"))
    assert not is_event_file("runs/x/progress.csv") and not is_event_file("tfevents_dir/log.txt")


def test_parse_hparams_markdown():
    text = "|param|value|\n|-|-|\n|exp_name|ppo|\n|seed| 1 |\n|env_id|CartPole-v1|\nnot a row\n|x|a|b|"
    assert parse_hparams_markdown(text) == {"exp_name": "ppo", "seed": "1", "env_id": "CartPole-v1", "x": "a|b"}
    assert parse_hparams_markdown("") == {}


def test_corrupt_event_file_is_a_user_error(tmp_path, crc_backend):
    path = tmp_path / "events.out.tfevents.c"
    write_scalars(path, SCALARS)
    data = bytearray(path.read_bytes())
    second = 16 + struct.unpack_from("<Q", data)[0]
    data[second + 20] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptEventFile) as err:
        read_scalars(path)
    assert isinstance(err.value, InputError) and isinstance(err.value, ValueError)
    assert err.value.offset == second and str(second) in str(err.value) and "checksum" in str(err.value)
    assert read_scalars(path, check_crc=False).n_records == len(SCALARS) + 1
    assert read_scalars(path, max_bytes=second).n_records == 1  # the valid prefix is still readable


# ------------------------------------------------------------------------ decoding of other layouts


def _write_events(path: Path, events: list[bytes]) -> None:
    version = pw.encode_double(1, 1.0) + pw.encode_len(3, b"brain.Event:2")
    path.write_bytes(b"".join(_record(e) for e in [version, *events]))


def test_tensor_variants(tmp_path):
    f32, f64 = struct.pack("<f", 1.5), struct.pack("<d", -2.5)
    cases = {  # tag -> (tensor bytes, plugin, data_class, expected value or None if skipped)
        "float_packed": (pw.encode_int(1, 1) + _shape() + pw.encode_len(5, f32), "scalars", 1, 1.5),
        "float_unpacked": (pw.encode_int(1, 1) + _shape() + pw.encode_float(5, 1.5), "scalars", 0, 1.5),
        "double_unpacked": (pw.encode_int(1, 2) + pw.encode_double(6, -2.5), None, 0, -2.5),
        "double_content": (pw.encode_int(1, 2) + _shape(1) + pw.encode_len(4, f64), None, 0, -2.5),
        "int32_negative": (pw.encode_int(1, 3) + pw.encode_int(7, -7), None, 0, -7.0),
        "int32_packed": (pw.encode_int(1, 3) + pw.encode_len(7, pw.encode_varint(9)), "scalars", 0, 9.0),
        "int64": (pw.encode_int(1, 9) + pw.encode_int(10, -(2**40)), None, 0, -(2.0**40)),
        "int64_content": (pw.encode_int(1, 9) + pw.encode_len(4, struct.pack("<q", 123)), None, 0, 123.0),
        "half": (pw.encode_int(1, 19) + pw.encode_int(13, 0x3C00), None, 0, 1.0),
        "half_content": (pw.encode_int(1, 19) + pw.encode_len(4, struct.pack("<e", -0.5)), None, 0, -0.5),
        "bfloat16": (pw.encode_int(1, 14) + pw.encode_int(13, 0x4040), None, 0, 3.0),
        "bool": (pw.encode_int(1, 10) + pw.encode_int(11, 1), None, 0, 1.0),
        "uint8_content": (pw.encode_int(1, 4) + pw.encode_len(4, b"\xff"), None, 0, 255.0),
        "empty_vals_is_zero": (pw.encode_int(1, 1) + _shape(), None, 0, 0.0),
        "vector": (pw.encode_int(1, 1) + _shape(2) + pw.encode_len(5, f32 * 2), None, 0, None),
        "unknown_dim": (pw.encode_int(1, 1) + _shape(-1) + pw.encode_len(5, f32), None, 0, None),
        "short_content": (pw.encode_int(1, 2) + pw.encode_len(4, b"\0\0"), None, 0, None),
        "complex": (pw.encode_int(1, 8) + pw.encode_len(9, f32 * 2), None, 0, None),
        "tensor_class": (pw.encode_int(1, 1) + pw.encode_len(5, f32), "custom", 2, None),
        "other_plugin": (pw.encode_int(1, 1) + pw.encode_len(5, f32), "pr_curves", 0, None),
        "_hparams_/session_start_info": (pw.encode_int(1, 3) + pw.encode_int(7, 0), "hparams", 0, None),
        "image": (pw.encode_int(1, 7) + _shape(3) + pw.encode_len(8, b"\x89PNG") * 3, "images", 0, None),
        "note": (pw.encode_int(1, 7) + pw.encode_len(8, "héllo".encode()), "text", 0, None),
    }
    events = [_event(5.0, 7, _tensor_value(tag, t, plugin, dc)) for tag, (t, plugin, dc, _) in cases.items()]
    events.append(_event(5.0, 8, _tensor_value("float_packed", pw.encode_int(1, 1) + pw.encode_len(5, f32))))
    events.append(_event(5.0, 9, _tensor_value("note", pw.encode_int(1, 7) + pw.encode_len(8, b"second"))))
    events.append(_event(5.0, 9, _tensor_value("tensor_class", pw.encode_int(1, 1) + pw.encode_len(5, f32))))
    path = tmp_path / "events.out.tfevents.t"
    _write_events(path, events)
    batch = read_scalars(path)
    expected = {tag: v for tag, (_, _, _, v) in cases.items() if v is not None}
    assert {t: c[1][0] for t, c in batch.tags.items()} == expected
    assert batch.tags["float_packed"][0].tolist() == [7.0, 8.0]  # plugin remembered from the first event
    assert batch.texts == {"note": "second"}


def test_multi_value_summaries_fields_out_of_order_and_mixed_paths(tmp_path):
    simple = [pw.encode_len(1, f"t{i}".encode()) + pw.encode_float(2, float(i)) for i in range(3)]
    reordered = pw.encode_len(5, pw.encode_len(1, simple[1])) + pw.encode_int(2, 4) + pw.encode_double(1, 9.0)
    hist = pw.encode_len(1, b"h") + pw.encode_len(5, b"\x09" + bytes(8))
    events = [
        _event(1.0, 1, simple[0]),  # fast path
        _event(2.0, 2, simple[0], simple[1], hist),  # multi-value: slow path
        reordered,  # step/wall after the summary: slow path
        pw.encode_int(2, 5) + pw.encode_len(5, pw.encode_len(1, simple[0])),  # no wall_time: slow path
        _event(3.0, 6, simple[0]),  # fast path again
        _event(4.0, 0, simple[2]) + pw.encode_len(99, b"unknown field"),
    ]
    path = tmp_path / "events.out.tfevents.mixed"
    _write_events(path, events)
    batch = read_scalars(path)
    assert list(batch.tags) == ["t0", "t1", "t2"]
    assert batch.tags["t0"][0].tolist() == [1, 2, 5, 6] and batch.tags["t0"][2].tolist() == [1.0, 2.0, 0.0, 3.0]
    assert batch.tags["t1"][0].tolist() == [2, 4] and batch.tags["t1"][2].tolist() == [2.0, 9.0]
    assert batch.tags["t2"][0].tolist() == [0]


def test_interleaved_encodings_keep_file_order(tmp_path):
    path = tmp_path / "events.out.tfevents.inter"
    for i in range(40):
        write_scalars(path, [("m", i, float(i), float(i))], encoding=ENCODINGS[i % 4], append=i > 0)
    batch = read_scalars(path)
    assert batch.tags["m"][0].tolist() == list(range(40)) and batch.tags["m"][1].tolist() == list(range(40))


def test_long_tags_and_big_records(tmp_path, crc_backend):
    tags = ["x" * 200, "é" * 70, "", "y" * 120, "z" * 121]
    pts = [(t, i, float(i), 1.0) for i in range(5) for t in tags]
    path = tmp_path / "events.out.tfevents.long"
    write_scalars(path, pts)
    big = pw.encode_int(1, 7) + pw.encode_len(8, ("|a|" + "b" * 100_000 + "|").encode())
    with open(path, "ab") as f:
        f.write(_record(_event(1.0, 9, _tensor_value("hyperparameters/text_summary", big, "text"))))
    batch = read_scalars(path)
    assert list(batch.tags) == tags and all(c[0].tolist() == list(range(5)) for c in batch.tags.values())
    assert len(batch.texts["hyperparameters/text_summary"]) == 100_004


def test_hash_collision_falls_back_to_exact_grouping(tmp_path, monkeypatch):
    monkeypatch.setattr(tfdecode, "_HASH_MUL", np.uint64(0))  # every tag hashes alike
    path = tmp_path / "events.out.tfevents.h"
    pts = [(t, i, float(i), 1.0) for i in range(10) for t in ("abcdefgh1", "abcdefgh2", "b")]
    write_scalars(path, pts)
    batch = read_scalars(path)
    assert list(batch.tags) == ["abcdefgh1", "abcdefgh2", "b"]
    assert all(c[0].tolist() == list(range(10)) for c in batch.tags.values())


def test_malformed_protobuf_with_valid_crc(tmp_path):
    path = tmp_path / "events.out.tfevents.bad"
    good = _record(_event(1.0, 1, pw.encode_len(1, b"a") + pw.encode_float(2, 1.0)))
    path.write_bytes(good + _record(b"\x0a\x05ab"))
    with pytest.raises(CorruptEventFile) as err:
        read_scalars(path)
    assert err.value.offset == len(good) and "protobuf" in str(err.value)


# ------------------------------------------------------------------------------- property tests

_tags = st.text(min_size=0, max_size=40).filter(lambda t: not t.startswith("_hparams_/"))  # skipped by design
_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e300, -1e300, 3.5e38, 1e-45, float("nan"), float("inf")]),
)
_points = st.lists(
    st.tuples(_tags, st.integers(-(2**63), 2**63 - 1), _values, st.floats(allow_nan=False, allow_infinity=False)),
    max_size=40,
)


def _tmp_file(folder: Path, data: bytes | None = None, name: str = "events.out.tfevents.prop") -> Path:
    """A file in the test's `tmp_path`, overwritten by each Hypothesis example (nothing left in /tmp)."""
    path = folder / name
    if data is not None:
        path.write_bytes(data)
    return path


@HYP
@given(points=_points, encoding=st.sampled_from(ENCODINGS))
def test_property_round_trip(points, encoding, tmp_path):
    path = _tmp_file(tmp_path)
    write_scalars(path, points, encoding=encoding)
    with pytest.MonkeyPatch.context() as mp:  # small files through the template fast path too
        mp.setattr(tftemplates, "MIN_GROUP", 1)
        batch = read_scalars(path)
    assert _same_batch(batch, read_scalars(path))
    expected = {}
    for tag, step, value, wall in points:
        with np.errstate(over="ignore"):
            v = value if encoding == "tensor_double" else float(np.float32(value))
        expected.setdefault(tag, []).append((float(step), v, wall))
    assert set(batch.tags) == set(expected)
    _assert_batch(ScalarBatch({t: batch.tags[t] for t in expected}), expected)
    slow = _read_per_record(path)  # the vectorised decoders agree with the per-record parser
    assert list(slow.tags) == list(batch.tags)
    for tag, curve in batch.tags.items():
        assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(curve, slow.tags[tag], strict=True))
    for chunk in (64, 1000):
        merged: dict[str, list[float]] = {}
        for b in iter_scalar_batches(path, chunk_bytes=chunk):
            for tag, (steps, _, _) in b.tags.items():
                merged.setdefault(tag, []).extend(steps.tolist())
        assert merged == {t: [p[0] for p in pts] for t, pts in expected.items()}


def _same_batch(a: ScalarBatch, b: ScalarBatch) -> bool:
    return list(a.tags) == list(b.tags) and all(
        np.array_equal(x, y, equal_nan=True) for t in a.tags for x, y in zip(a.tags[t], b.tags[t], strict=True)
    )


def _read_per_record(path: Path) -> ScalarBatch:
    """The reference: every record through the per-record protobuf parser (no vectorised decoders)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tfdecode, "vectorised", lambda b, arr, d, lens, recs, out: np.zeros(len(d), dtype=bool))
        mp.setattr(tftemplates, "MIN_GROUP", 1 << 62)
        return read_scalars(path)


def _boundaries(data: bytes) -> list[int]:
    out, pos = [0], 0
    while pos < len(data):
        pos += 16 + struct.unpack_from("<Q", data, pos)[0]
        out.append(pos)
    return out


@HYP
@given(points=_points.filter(bool), cut=st.floats(0, 1), check_crc=st.booleans())
def test_property_truncation_yields_a_prefix(points, cut, check_crc, tmp_path):
    path = _tmp_file(tmp_path)
    write_scalars(path, points)
    data = path.read_bytes()
    full = read_scalars(path)
    n = int(cut * len(data))
    path.write_bytes(data[:n])
    batch = read_scalars(path, check_crc=check_crc)
    bounds = _boundaries(data)
    complete = max(i for i, b in enumerate(bounds) if b <= n)
    assert batch.end_offset == bounds[complete] and batch.n_records == complete
    assert batch.torn_tail == (n not in bounds)
    for tag, (steps, values, _) in batch.tags.items():
        k = len(steps)
        assert steps.tolist() == full.tags[tag][0][:k].tolist()
        assert np.array_equal(values, full.tags[tag][1][:k], equal_nan=True)


@HYP
@given(points=_points.filter(bool), where=st.floats(0, 1), flip=st.integers(1, 255))
def test_property_any_flipped_byte_is_detected(points, where, flip, crc_backend, tmp_path):
    path = _tmp_file(tmp_path)
    write_scalars(path, points)
    data = bytearray(path.read_bytes())
    i = min(int(where * len(data)), len(data) - 1)
    data[i] ^= flip
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptEventFile):
        read_scalars(path)
    try:  # without checksums a flip may go unnoticed, but only CorruptEventFile may escape
        read_scalars(path, check_crc=False)
    except CorruptEventFile:
        pass


@HYP
@given(garbage=st.binary(max_size=300), prefix=st.booleans(), check_crc=st.booleans())
def test_property_garbage_only_raises_corrupt(garbage, prefix, check_crc, tmp_path):
    head = b""
    if prefix:
        head = _tmp_file(tmp_path, name="events.out.tfevents.head")
        write_scalars(head, SCALARS)
        head = head.read_bytes()
    path = _tmp_file(tmp_path, head + garbage)
    try:
        batch = read_scalars(path, check_crc=check_crc)
    except CorruptEventFile as e:
        assert e.offset >= 0
    else:
        assert batch.end_offset <= len(head + garbage)
    try:
        for _ in iter_scalar_batches(path, chunk_bytes=50, check_crc=check_crc):
            pass
    except CorruptEventFile:
        pass


@HYP
@given(payloads=st.lists(st.binary(max_size=120), min_size=1, max_size=6), seed=st.integers(0, 2**32))
def test_property_garbage_payload_with_valid_crc(payloads, seed, tmp_path):
    rng = random.Random(seed)
    valid = [_event(1.0, 3, pw.encode_len(1, b"t") + pw.encode_float(2, 1.0))]
    mutated = []
    for p in payloads:  # random bytes, and valid events with random bytes spliced in
        base = bytearray(rng.choice(valid))
        base[rng.randrange(len(base)) :] = p
        mutated += [p, bytes(base)]
    path = _tmp_file(tmp_path, b"".join(_record(p) for p in mutated))
    try:
        read_scalars(path)
    except CorruptEventFile:
        pass


@HYP
@given(data=st.binary(max_size=2000), cuts=st.lists(st.integers(0, 2000), max_size=6))
def test_property_crc32c_numpy_matches_reference(data, cuts):
    ref = crcmod._crc_python
    assert crcmod.crc32c(data) == ref(data)
    arr = np.frombuffer(data, dtype=np.uint8)
    bounds = np.array(sorted({0, len(data), *[min(c, len(data)) for c in cuts]}), dtype=np.int64)
    got = crcmod.crc32c_segments(arr, bounds, backend="numpy").tolist()
    assert got == [ref(data[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


@HYP
@given(value=st.integers(-(2**63), 2**64 - 1))
def test_property_varint_round_trip(value):
    enc = pw.encode_varint(value)
    dec, end = pw.decode_varint(enc, 0)
    assert end == len(enc) and pw.to_int64(dec) == pw.to_int64(value)


# ----------------------------------------------------------------------------------- unit checks


def test_crc32c_known_values():
    assert crcmod.crc32c(b"123456789") == 0xE3069283
    assert crcmod.crc32c(b"") == 0 and crcmod.mask(0) == 0xA282EAD8
    assert crcmod.crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720 B.4 test vectors
    assert crcmod.crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crcmod.crc32c(bytes(range(32))) == 0x46DD794E
    crcs = np.array([0, 1, 0xFFFFFFFF, 0x12345678], dtype=np.uint32)
    assert crcmod.mask_array(crcs).tolist() == [crcmod.mask(int(c)) for c in crcs]
    big = bytes(random.Random(1).getrandbits(8) for _ in range(70_000))
    assert crcmod.crc32c(big) == crcmod._crc_python(big)


def test_crc32c_matches_tensorboard():
    stub = pytest.importorskip("tensorboard.compat.tensorflow_stub.pywrap_tensorflow")
    for data in (b"", b"a", b"brain.Event:2" * 30):
        assert crcmod.masked_crc32c(data) == stub.masked_crc32c(data)


def test_protowire_errors():
    for bad in (b"\x80", b"\x08", b"\x08\x80", b"\x0a\x05ab", b"\x09\x00", b"\x0d\x00", b"\x0b", b"\x00", b"\x80" * 11):
        with pytest.raises(pw.ProtoError):
            list(pw.iter_fields(bad))
    assert list(pw.iter_fields(b"\x08\x96\x01\x12\x02hi")) == [(1, 0, 150), (2, 2, b"hi")]
    assert pw.repeated_fixed(pw.LEN, struct.pack("<2f", 1.0, 2.0), "f") == [1.0, 2.0]
    with pytest.raises(pw.ProtoError):
        pw.repeated_fixed(pw.LEN, b"\0\0\0", "f")
    assert pw.to_int32(pw.decode_varint(pw.encode_varint(-3), 0)[0]) == -3
    assert pw.pack_f32(1e300) == struct.pack("<f", math.inf)


def test_masked_record_crcs_backends_agree():
    rng = np.random.default_rng(3)
    lengths = rng.choice([0, 1, 7, 60, 255, 256, 257, 3000, 70_000], 40)
    starts = np.concatenate([[0], np.cumsum(lengths + 16)[:-1]]).astype(np.int64)
    data = rng.integers(0, 256, int(starts[-1] + 16 + lengths[-1]), dtype=np.uint8).tobytes()
    expect_h = [crcmod.masked_crc32c(data[a : a + 8]) for a in starts]
    expect_d = [crcmod.masked_crc32c(data[a + 12 : a + 12 + n]) for a, n in zip(starts, lengths, strict=True)]
    for backend in ["numpy"] + ([crcmod.BACKEND] if crcmod.BACKEND != "numpy" else []):
        hdr, body = crcmod.masked_record_crcs(data, starts, lengths, backend=backend)
        assert hdr.tolist() == expect_h and body.tolist() == expect_d, backend
    with pytest.raises(ValueError):
        crcmod.masked_record_crcs(data, starts, lengths, backend="nope")


def test_template_needs_identical_bytes_outside_the_value(tmp_path):
    """Tensor records of one tag and size whose other bytes differ (here a description) are still exact."""
    events = []
    for i in range(30):
        meta = pw.encode_len(1, pw.encode_len(1, b"scalars")) + pw.encode_len(3, f"desc{i % 3}".encode())
        tensor = pw.encode_int(1, 1) + _shape() + pw.encode_len(5, struct.pack("<f", i))
        events.append(_event(1.0 + i, i, pw.encode_len(1, b"m") + pw.encode_len(8, tensor) + pw.encode_len(9, meta)))
    path = tmp_path / "events.out.tfevents.tpl"
    _write_events(path, events)
    batch = read_scalars(path)
    assert batch.tags["m"][1].tolist() == list(range(30)) and batch.tags["m"][2].tolist() == [
        1.0 + i for i in range(30)
    ]
    assert _read_per_record(path).tags["m"][1].tolist() == list(range(30))


def test_absurd_lengths(tmp_path):
    path = tmp_path / "events.out.tfevents.len"
    write_scalars(path, SCALARS)
    data = path.read_bytes()
    huge = struct.pack("<Q", 1 << 60)
    torn = huge + struct.pack("<I", crcmod.masked_crc32c(huge)) + b"partial"
    path.write_bytes(data + torn)  # a valid header announcing more than the file holds: still being written
    batch = read_scalars(path)
    assert batch.torn_tail and batch.end_offset == len(data) and batch.n_records == len(SCALARS) + 1
    path.write_bytes(data + huge + b"\0\0\0\0" + b"x" * 40)  # the length's checksum is wrong: corruption
    with pytest.raises(CorruptEventFile, match="length checksum") as err:
        read_scalars(path, check_crc=False)
    assert err.value.offset == len(data)
    second = 16 + struct.unpack_from("<Q", data)[0]
    bad = bytearray(data)
    bad[second + 6] = 0x01  # a huge length in the middle of the file
    path.write_bytes(bytes(bad))
    with pytest.raises(CorruptEventFile, match="length checksum") as err:
        read_scalars(path)
    assert err.value.offset == second


def test_small_slices_give_the_same_answer(tmp_path, monkeypatch):
    path = tmp_path / "events.out.tfevents.slices"
    for i in range(60):
        write_scalars(path, [(f"m{i % 3}", i, float(i), float(i))], encoding=ENCODINGS[(i // 7) % 4], append=i > 0)
    whole = read_scalars(path)
    monkeypatch.setattr(tfe, "_SLICE", 4)
    sliced = read_scalars(path)
    assert list(sliced.tags) == list(whole.tags) == ["m0", "m1", "m2"]
    for tag in whole.tags:
        assert all(np.array_equal(a, b) for a, b in zip(whole.tags[tag], sliced.tags[tag], strict=True))
        assert sliced.tags[tag][0].tolist() == list(range(int(tag[1]), 60, 3))
    data = bytearray(path.read_bytes())
    data[-3] ^= 1  # the last record's data checksum
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptEventFile, match="data checksum"):
        read_scalars(path)


def test_memory_stays_bounded_by_the_chunk(tmp_path):
    import tracemalloc

    path = tmp_path / "events.out.tfevents.mem"
    write_scalars(path, [(f"t{i % 10}", i, float(i), 1.0) for i in range(60_000)])
    assert path.stat().st_size > 2_000_000
    tracemalloc.start()
    try:
        total = sum(len(c[0]) for b in iter_scalar_batches(path, chunk_bytes=256 << 10) for c in b.tags.values())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total == 60_000 and peak < 16 * (256 << 10) + (2 << 20)
