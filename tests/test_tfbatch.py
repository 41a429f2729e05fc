"""Small event files decoded together (tfbatch.read_many) give exactly what each gives read alone:
curves, texts, offsets, torn tails, and errors that name the right file and byte offset."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from openrlb_cli.ingest.pipeline import ingest
from openrlb_cli.ingest.tensorboard import batch as tfbatch
from openrlb_cli.ingest.tensorboard import events as tfevents
from openrlb_cli.ingest.tensorboard import protowire as pw
from openrlb_cli.ingest.tensorboard import tfrecord
from openrlb_cli.ingest.tensorboard.crc32c import masked_crc32c
from openrlb_cli.ingest.tensorboard.reader import TensorBoardReader
from openrlb_cli.store import Store


def _irregular(path, seed: int, n: int = 400, encoding: str = "simple_value") -> None:
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n // 4):
        for _ in range(int(rng.poisson(1))):
            step = u * 64 + int(rng.integers(64))
            rows.append(("charts/episodic_return", step, float(rng.normal()), 1.7e9 + step))
        rows += [(f"losses/{k}", u * 64, float(rng.normal()), 1.7e9 + u) for k in ("a", "bb", "ccc")]
    tfevents.write_scalars(path, rows, encoding=encoding)


def _same(a: tfevents.ScalarBatch, b: tfevents.ScalarBatch) -> None:
    assert list(a.tags) == list(b.tags)
    for tag in a.tags:
        for x, y in zip(a.tags[tag], b.tags[tag], strict=True):
            assert x.tobytes() == y.tobytes()
    assert (a.texts, a.end_offset, a.n_records, a.torn_tail, a.file_version) == \
        (b.texts, b.end_offset, b.n_records, b.torn_tail, b.file_version)


def test_read_many_equals_reading_each_file_alone(tmp_path):
    files = []
    for i in range(12):
        p = tmp_path / f"events.out.tfevents.{i}.h"
        _irregular(p, i, encoding="tensor_float" if i == 5 else "simple_value")
        files.append(p)
    torn = files[3].read_bytes()
    files[3].write_bytes(torn[:-7])  # still being written
    starts = [0] * 12
    starts[7] = tfevents.read_scalars(files[7], max_bytes=3000).end_offset  # resumes mid-file
    got = tfbatch.read_many(list(zip(files, starts, strict=True)))
    for path, start, batch in zip(files, starts, got, strict=True):
        _same(batch, tfevents.read_scalars(path, start_offset=start))
    assert got[3].torn_tail and not got[0].torn_tail


def test_a_corrupt_file_reports_its_own_error_and_the_others_still_read(tmp_path):
    files = []
    for i in range(6):
        p = tmp_path / f"events.out.tfevents.{i}.h"
        _irregular(p, i)
        files.append(p)
    data = bytearray(files[2].read_bytes())
    data[len(data) // 2] ^= 0x40
    files[2].write_bytes(bytes(data))
    got = tfbatch.read_many([(p, 0) for p in files])
    with pytest.raises(tfevents.CorruptEventFile) as alone:
        tfevents.read_scalars(files[2])
    assert isinstance(got[2], tfevents.CorruptEventFile)
    assert (got[2].reason, got[2].offset) == (alone.value.reason, alone.value.offset)
    for i in (0, 1, 3, 4, 5):
        _same(got[i], tfevents.read_scalars(files[i]))
    missing = tfbatch.read_many([(tmp_path / "events.out.tfevents.gone", 0), (files[0], 0)])
    assert isinstance(missing[0], OSError) and missing[1].n_records == got[0].n_records


def test_ingest_of_many_small_files_matches_one_file_at_a_time(tmp_path, monkeypatch):
    for i in range(20):
        d = tmp_path / "runs" / f"Env-v0__algo__{i}__1700000000"
        d.mkdir(parents=True)
        _irregular(d / "events.out.tfevents.1.h", i)
    stores = {}
    for name, limit in (("together", tfbatch.MAX_FILE_BYTES), ("alone", 0)):
        monkeypatch.setattr(TensorBoardReader, "READ_MANY_BYTES", limit)
        with Store(tmp_path / f"{name}.db") as store:
            summary = ingest(store, [tmp_path / "runs"])
            assert not summary.skipped and len(summary.runs) == 20
            stores[name] = {(r.external_id, k): store.load_series(r.id, k).values.tobytes()
                            for r in store.runs() for k in store.keys([r.id])}
    assert stores["together"] == stores["alone"] and len(stores["alone"]) == 20 * 4


# ------------------------------------------------------------------ tricky groups, record by record
def _rec(data: bytes) -> bytes:
    head = struct.pack("<Q", len(data))
    return head + struct.pack("<I", masked_crc32c(head)) + data + struct.pack("<I", masked_crc32c(data))


def _ev(wall: float, step: int, *values: bytes, version: str | None = None) -> bytes:
    out = pw.encode_double(1, wall) + (pw.encode_int(2, step) if step else b"")
    if version is not None:
        out += pw.encode_len(3, version.encode())
    if values:
        out += pw.encode_len(5, b"".join(pw.encode_len(1, v) for v in values))
    return out


def _simple(tag: str, value: float) -> bytes:
    return pw.encode_len(1, tag.encode()) + pw.encode_float(2, value)


def _tensor(tag: str, value: float, plugin: str | None) -> bytes:
    tensor = pw.encode_int(1, 1) + pw.encode_len(2, b"") + pw.encode_len(5, struct.pack("<f", value))
    out = pw.encode_len(1, tag.encode()) + pw.encode_len(8, tensor)
    if plugin is not None:
        out += pw.encode_len(9, pw.encode_len(1, pw.encode_len(1, plugin.encode())))
    return out


def _text(tag: str, text: str) -> bytes:
    tensor = pw.encode_int(1, 7) + pw.encode_len(2, b"") + pw.encode_len(8, text.encode())
    return pw.encode_len(1, tag.encode()) + pw.encode_len(8, tensor) + \
        pw.encode_len(9, pw.encode_len(1, pw.encode_len(1, b"text")))


def _tricky(seed: int, n: int) -> bytes:
    """A file of every kind of record the readers meet, in a random order: simple values of common
    and rare tags, steps of 1 to 5 varint bytes, a tag too long for the templates, two values in one
    summary, tensor scalars (plugin scalars, and a plugin that makes them not scalars), text, an
    event without a summary, NaN and infinite values, a second file-version event."""
    rng = np.random.default_rng(seed)
    out = [_ev(1.7e9, 0, version="brain.Event:2")]
    if seed % 3 == 0:
        out.append(_ev(1.7e9, 0, _text("hyperparameters/text_summary", f"|param|value|\n|-|-|\n|seed|{seed}|")))
    step = 0
    for i in range(n):
        step += int(rng.choice([1, 50, 5000, 300_000, 40_000_000]))
        wall = 1.7e9 + i * 0.25
        kind = rng.random()
        if kind < 0.75:
            tag = ("charts/episodic_return", "losses/value_loss", "charts/SPS", "rare/once")[int(rng.integers(4))]
            value = float(rng.choice([rng.normal(), np.nan, np.inf, -0.0])) if rng.random() < 0.05 else rng.normal()
            out.append(_ev(wall, step, _simple(tag if tag != "rare/once" or i % 97 == 0 else "charts/SPS", value)))
        elif kind < 0.8:
            out.append(_ev(wall, step, _simple("long/" + "x" * 300, rng.normal())))
        elif kind < 0.85:
            out.append(_ev(wall, step, _simple("pair/a", 1.0), _simple("pair/b", rng.normal())))
        elif kind < 0.9:
            out.append(_ev(wall, step, _tensor("tensor/scalar", rng.normal(), "scalars" if i < 50 else None)))
        elif kind < 0.93:
            out.append(_ev(wall, step, _tensor("tensor/not_scalar", rng.normal(), "histograms")))
        elif kind < 0.96:
            out.append(_ev(wall, step))
        elif kind < 0.98:
            out.append(_ev(wall, step, _text("notes", f"note {i}")))
        else:
            out.append(_ev(wall, step, version="brain.Event:3"))
    return b"".join(_rec(e) for e in out)


def _cleanrl_like(seed: int, n: int) -> bytes:
    """Only simple values and the file-version event, as CleanRL writes (the common case)."""
    rng = np.random.default_rng(seed)
    out = [_ev(1.7e9, 0, version="brain.Event:2")]
    for u in range(n // 10):
        out += [_ev(1.7e9 + u, u * 128 + 3, _simple("charts/episodic_return", rng.normal()))
                for _ in range(int(rng.poisson(1)))]
        out += [_ev(1.7e9 + u, (u + 1) * 128, _simple(f"losses/{k}", rng.normal())) for k in "abcdefghi"]
    return b"".join(_rec(e) for e in out)


def _corrupt_crc(data: bytes, record: int) -> bytes:
    """Flip a data byte of record number `record` (its checksum then fails)."""
    pos = 0
    for _ in range(record):
        pos += 16 + struct.unpack_from("<Q", data, pos)[0]
    out = bytearray(data)
    out[pos + 12 + 3] ^= 0x01
    return bytes(out)


def _check_group(paths, starts=None) -> list:
    starts = starts or [0] * len(paths)
    got = tfbatch.read_many(list(zip(paths, starts, strict=True)))
    for path, start, batch in zip(paths, starts, got, strict=True):
        try:
            alone = tfevents.read_scalars(path, start_offset=start)
        except tfevents.CorruptEventFile as exc:
            assert isinstance(batch, tfevents.CorruptEventFile), path
            assert (batch.reason, batch.offset, batch.path) == (exc.reason, exc.offset, exc.path)
            continue
        _same(batch, alone)
    return got


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tricky_groups_equal_the_one_file_path(tmp_path, seed, monkeypatch):
    """Groups mixing every record kind, torn tails, a resumed file, a corrupt checksum in the middle
    of a file, a corrupt file-version event and a malformed protobuf: each file's result (curves,
    texts, offsets, errors) is what reading it alone gives."""
    monkeypatch.setattr(tfrecord, "LOCKSTEP_MIN", 4)  # a few files fall back to walking on their own
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(40):
        n = int(rng.integers(0, 600)) if i % 9 else 3000
        n = max(n, 400) if 20 <= i < 28 else n  # long enough to be corrupted at record 150
        data = _tricky(seed * 100 + i, n) if i % 2 else _cleanrl_like(seed * 100 + i, n)
        if i == 7:
            data = data[: len(data) - 5]  # torn tail
        if i == 11:
            data = data[:9]  # torn in the first header
        if i == 13:
            data = b""
        p = tmp_path / f"events.out.tfevents.{i}.h"
        p.write_bytes(data)
        paths.append(p)
    got = _check_group(paths)
    assert got[7].torn_tail and got[11].torn_tail and got[13].n_records == 0
    assert sum(isinstance(g, tfevents.ScalarBatch) and bool(g.texts) for g in got) >= 3
    # errors in records no template takes: a file-version event's checksum, malformed protobufs
    paths[22].write_bytes(_corrupt_crc(paths[22].read_bytes(), 0))
    malformed = _rec(pw.encode_double(1, 1.7e9) + b"\x2a\x7f" + bytes(10))  # a summary longer than its event
    for i, maker in ((26, _cleanrl_like), (27, _tricky)):  # taken by the per-record path / the general path
        paths[i].write_bytes(maker(i, 300) + malformed + maker(i + 1, 300))
    got = _check_group(paths)
    assert [i for i, g in enumerate(got) if isinstance(g, tfevents.CorruptEventFile)] == [22, 26, 27]
    assert got[22].reason == "data checksum mismatch" and got[26].reason.startswith("malformed Event protobuf")
    # a checksum wrong in the middle of the shared template pass: those files alone fail, at their offsets
    for i, record in ((20, 150), (21, 150), (24, 2)):
        paths[i].write_bytes(_corrupt_crc(paths[i].read_bytes(), record))
    got = _check_group(paths)
    assert [i for i, g in enumerate(got) if isinstance(g, tfevents.CorruptEventFile)] == [20, 21, 22, 24, 26, 27]
    assert got[20].path == paths[20] and got[20].reason == "data checksum mismatch"
    # resumed reads: each file from a record boundary, or from its end
    starts = [tfevents.read_scalars(p, max_bytes=int(rng.integers(20, 4000))).end_offset
              if i not in (20, 21, 22, 24, 26, 27) and p.stat().st_size else 0 for i, p in enumerate(paths)]
    starts[5] = paths[5].stat().st_size
    _check_group(paths, starts)


def test_frame_many_equals_framing_each_file(monkeypatch):
    """Side-by-side framing finds exactly the records, stops and torn tails of the exact walk: random
    bytes, huge length fields, files ending inside a header or a record, empty files, and files far
    longer than the others (finished on their own)."""
    monkeypatch.setattr(tfrecord, "_STEPS", 7)
    rng = np.random.default_rng(3)
    datas = []
    for i in range(60):
        data = _cleanrl_like(i, int(rng.integers(0, 300)) * (40 if i % 17 == 0 else 1))
        cut = int(rng.integers(0, len(data) + 1)) if i % 3 == 0 else len(data)
        data = data[:cut]
        if i % 5 == 1:
            data += bytes(rng.integers(0, 256, int(rng.integers(1, 40)), dtype=np.uint8))
        if i % 7 == 2:
            data += struct.pack("<Q", 2**64 - 1) + bytes(20)
        datas.append(data)
    buf = b"".join(datas)
    bases = np.cumsum([0, *(len(d) for d in datas)])
    for arr in (np.frombuffer(buf, dtype=np.uint8), np.frombuffer(buf + bytes(tfrecord.SLACK), dtype=np.uint8)):
        got = tfrecord.frame_many(buf, arr, bases[:-1], bases[1:])
        for k, data in enumerate(datas):
            want = tfrecord.frame(data, np.frombuffer(data, dtype=np.uint8))
            assert got[k].starts.tolist() == (want.starts + bases[k]).tolist()
            assert got[k].lengths.tolist() == want.lengths.tolist()
            assert got[k].stop == want.stop + bases[k]
