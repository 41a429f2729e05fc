"""Small event files decoded together (tfbatch.read_many) give exactly what each gives read alone:
curves, texts, offsets, torn tails, and errors that name the right file and byte offset."""

from __future__ import annotations

import numpy as np
import pytest

from openrlb_cli.ingest import tfbatch, tfevents
from openrlb_cli.ingest.pipeline import ingest
from openrlb_cli.ingest.tensorboard import TensorBoardReader
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
