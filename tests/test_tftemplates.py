"""The template fast path of the event reader agrees exactly with the per-record protobuf parser.

Files here are written the way SummaryWriter loops write them (a cycle of tags, or irregular episode
records in between), so :mod:`openrlb_cli.ingest.tensorboard.templates` decodes most records; the reference
disables every vectorised decoder.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openrlb_cli.ingest.tensorboard import decode as tfdecode
from openrlb_cli.ingest.tensorboard import templates as tftemplates
from openrlb_cli.ingest.tensorboard.events import CorruptEventFile, iter_scalar_batches, read_scalars, write_scalars

HYP = settings(max_examples=40, deadline=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _reference(path: Path, **kw):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tfdecode, "vectorised", lambda b, arr, d, lens, recs, out: np.zeros(len(d), dtype=bool))
        mp.setattr(tftemplates, "MIN_GROUP", 1 << 62)
        return _outcome(path, **kw)


def _outcome(path: Path, **kw):
    """The batch, or the (reason, offset) of the error: what a reader's caller can observe."""
    try:
        return read_scalars(path, **kw)
    except CorruptEventFile as e:
        return (e.reason, e.offset)


def _same(a, b) -> None:
    if isinstance(a, tuple) or isinstance(b, tuple):
        assert a == b
        return
    assert list(a.tags) == list(b.tags)
    assert (a.end_offset, a.n_records, a.torn_tail) == (b.end_offset, b.n_records, b.torn_tail)
    for tag in a.tags:
        assert all(np.array_equal(x, y, equal_nan=True) for x, y in zip(a.tags[tag], b.tags[tag], strict=True)), tag


def _cyclic(n_steps: int, tags: list[str], start: int = 0, stride: int = 1, seed: int = 0):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(n_steps, len(tags))).astype(np.float32)
    values[rng.random(values.shape) < 0.01] = np.nan
    values[0, 0] = np.inf
    return [
        (tag, start + i * stride, float(values[i, k]), 1.7e9 + i * 0.25 + k * 1e-3)
        for i in range(n_steps)
        for k, tag in enumerate(tags)
    ]


def _spy_handled(monkeypatch) -> list[int]:
    counts: list[int] = []
    real = tftemplates.decode_templates

    def spy(*args, **kwargs):
        handled, bad, why = real(*args, **kwargs)
        counts.append(int(handled.sum()))
        return handled, bad, why

    monkeypatch.setattr(tftemplates, "decode_templates", spy)
    return counts


def test_large_cyclic_file_matches_reference(tmp_path, monkeypatch):
    """Steps cross the 1-, 2- and 3-byte varint sizes (record sizes change, cycles re-form)."""
    path = tmp_path / "events.out.tfevents.cyc"
    tags = ["charts/episodic_return", "losses/value_loss", "losses/policy_loss", "charts/SPS", "a"]
    write_scalars(path, _cyclic(6_000, tags, start=100, stride=7))
    counts = _spy_handled(monkeypatch)
    fast = read_scalars(path)
    assert counts and counts[0] > 0.9 * 6_000 * len(tags)  # the fast path did the work
    _same(fast, _reference(path))
    assert fast.tags["a"][0].tolist() == [100 + 7 * i for i in range(6_000)]
    assert np.isinf(fast.tags["charts/episodic_return"][1][0])


def test_irregular_records_between_cycles(tmp_path, monkeypatch):
    """An episodic tag logged now and then breaks cycles: the leftovers are copied back to back and
    decoded on the general path, and both paths' results merge in file order."""
    path = tmp_path / "events.out.tfevents.irr"
    rows = []
    for row in _cyclic(12_000, ["x", "y", "z"], seed=1):
        rows.append(row)
        if row[0] == "z" and row[1] % 997 == 0:
            rows.append(("episode/return", row[1], float(row[1]) / 10, row[3]))
    write_scalars(path, rows)
    for tensor_step in (3_000, 9_000):  # a different encoding mid-file is general-path only
        write_scalars(path, [("x", tensor_step, 1.5, 1.0)], encoding="tensor_float", append=True)
    write_scalars(path, _cyclic(3_000, ["x", "y", "z"], start=12_000, seed=2), append=True)
    counts = _spy_handled(monkeypatch)
    fast = read_scalars(path)
    assert counts[0] > 40_000
    _same(fast, _reference(path))
    assert fast.tags["episode/return"][0].tolist() == [s for s in range(12_000) if s % 997 == 0]
    assert fast.tags["x"][0][-3_001:-3_000].tolist() == [9_000]
    for chunk in (300_000, 1 << 20):  # batches cut templates and cycles at arbitrary records
        steps = np.concatenate([b.tags["y"][0] for b in iter_scalar_batches(path, chunk_bytes=chunk)])
        assert steps.tolist() == fast.tags["y"][0].tolist()


def _small_groups(mp: pytest.MonkeyPatch) -> None:
    """Let small hypothesis-sized files take the fast path."""
    mp.setattr(tftemplates, "MIN_GROUP", 1)


_tag = st.text(alphabet="abc/_é", min_size=0, max_size=6)


@HYP
@given(
    tags=st.lists(_tag, min_size=1, max_size=4),
    n=st.integers(2, 80),
    start=st.integers(-(2**40), 2**40),
    stride=st.integers(1, 2**20),
    flip=st.one_of(st.none(), st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255))),
    check_crc=st.booleans(),
)
def test_property_fast_path_is_exact(tags, n, start, stride, flip, check_crc, tmp_path):
    """Same curves as the per-record parser on any cyclic log, and on any single corrupted byte the
    same error at the same offset (a byte flip is always caught with checksums on)."""
    path = tmp_path / "events.out.tfevents.p"  # overwritten by each example
    write_scalars(path, _cyclic(n, tags, start, stride))
    if flip is not None:
        data = bytearray(path.read_bytes())
        data[int(flip[0] * len(data))] ^= flip[1]
        path.write_bytes(bytes(data))
    with pytest.MonkeyPatch.context() as mp:
        _small_groups(mp)
        fast = _outcome(path, check_crc=check_crc)
    _same(fast, _reference(path, check_crc=check_crc))
    if flip is not None and check_crc:
        assert isinstance(fast, tuple)


def test_template_mismatch_goes_to_the_general_path(tmp_path):
    """A record whose constant bytes differ from its position's template (here: one tag renamed to a
    same-length tag) is not decoded with the template's tag."""
    path = tmp_path / "events.out.tfevents.tpl"
    rows = _cyclic(200, ["aa", "bb"])
    rows[101] = ("cc", *rows[101][1:])  # same record size, other tag bytes
    write_scalars(path, rows)
    with pytest.MonkeyPatch.context() as mp:
        _small_groups(mp)
        fast = read_scalars(path)
    assert fast.tags["cc"][0].tolist() == [50.0]
    assert 50.0 not in fast.tags["bb"][0].tolist() and len(fast.tags["bb"][0]) == 199
    _same(fast, _reference(path))


def test_bad_data_checksum_on_the_fast_path_names_the_record(tmp_path):
    path = tmp_path / "events.out.tfevents.crc"
    write_scalars(path, _cyclic(5_000, ["m", "n"]))
    data = bytearray(path.read_bytes())
    starts = [0]
    while starts[-1] < len(data):
        starts.append(starts[-1] + 16 + struct.unpack_from("<Q", data, starts[-1])[0])
    victim = starts[7_777]
    data[victim + 12 + 3] ^= 0x40  # a wall-time byte: varies per record, so only the CRC can tell
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptEventFile, match="data checksum") as err:
        read_scalars(path)
    assert err.value.offset == victim
    assert read_scalars(path, check_crc=False).n_records == len(starts) - 1


def test_more_templates_than_tried_fall_back_to_the_general_path(tmp_path, monkeypatch):
    """150 tags of one size ending in the same byte share a bucket; past MAX_TEMPLATES the rest are
    decoded by the general path, with the same result."""
    path = tmp_path / "events.out.tfevents.many"
    tags = [f"t{i:03d}x" for i in range(150)]
    write_scalars(path, _cyclic(200, tags))
    counts = _spy_handled(monkeypatch)
    fast = read_scalars(path)
    assert counts[0] == tftemplates.MAX_TEMPLATES * 200  # exactly the first 64 templates' records
    _same(fast, _reference(path))
    assert len(fast.tags) == 150 and all(len(c[0]) == 200 for c in fast.tags.values())
