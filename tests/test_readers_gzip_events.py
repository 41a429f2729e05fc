"""Gzipped TensorBoard event files (`events.out.tfevents.*.gz`), checked against TensorBoard's own reader.

The event files are written by TensorBoard's TF-free `tensorboard.summary.Writer` (a test dependency),
compressed with gzip as users do before archiving logs, and compared with what `EventAccumulator`
reads from the uncompressed original.
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import pytest

from openrlb_cli.errors import InputError
from openrlb_cli.ingest.base import ReadOptions
from openrlb_cli.ingest.pipeline import ingest
from openrlb_cli.ingest.registry import detect
from openrlb_cli.ingest.tensorboard import events as tfevents
from openrlb_cli.ingest.tensorboard.reader import TENSORBOARD
from openrlb_cli.store import Store


def _write_real(directory: Path, n: int = 300) -> Path:
    summary = pytest.importorskip("tensorboard.summary")
    w = summary.Writer(str(directory))
    for i in range(n):
        w.add_scalar("charts/episodic_return", 500.0 * (1.0 - math.exp(-i / 50.0)), i * 500)
        if i % 3 == 0:
            w.add_scalar("losses/value_loss", 10.0 / (1 + i), i * 500)
    w.close()
    (path,) = directory.glob("events.out.tfevents.*")
    return path


def _reference(path: Path) -> dict[str, list[tuple[int, float]]]:
    ea = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    tensor_util = pytest.importorskip("tensorboard.util.tensor_util")
    acc = ea.EventAccumulator(str(path), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    out = {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}
    for t in acc.Tags()["tensors"]:
        out[t] = [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in acc.Tensors(t)]
    return out


def _gzip(src: Path, dst: Path, members: int = 1) -> Path:
    data = src.read_bytes()
    cut = len(data) // members
    parts = [data[i * cut: (i + 1) * cut if i < members - 1 else len(data)] for i in range(members)]
    dst.write_bytes(b"".join(gzip.compress(p) for p in parts))
    return dst


@pytest.mark.parametrize("members", [1, 3])
def test_gzipped_event_file_matches_tensorboard(tmp_path, members):
    plain = _write_real(tmp_path / "plain")
    (tmp_path / "run").mkdir()
    gz = _gzip(plain, tmp_path / "run" / (plain.name + ".gz"), members)
    assert detect(gz) == "tensorboard"
    expected = _reference(plain)
    batch = tfevents.read_scalars(gz)
    assert not batch.torn_tail and batch.end_offset == plain.stat().st_size
    assert {t: list(zip(*c[:2], strict=True)) for t, c in batch.tags.items()} == expected
    # streaming in small batches gives the same points, chained offsets
    batches = list(tfevents.iter_scalar_batches(gz, chunk_bytes=1000))
    assert len(batches) > 3
    steps = [s for b in batches for s in b.tags.get("charts/episodic_return", ([],))[0]]
    assert steps == [s for s, _ in expected["charts/episodic_return"]]


def test_gzipped_event_file_ingests_once(tmp_path):
    plain = _write_real(tmp_path / "plain", n=120)
    (tmp_path / "logs" / "run1").mkdir(parents=True)
    _gzip(plain, tmp_path / "logs" / "run1" / (plain.name + ".gz"))
    with Store(tmp_path / "s.db") as store:
        first = ingest(store, [tmp_path / "logs"])
        assert not first.skipped and first.points == 120 + 40
        again = ingest(store, [tmp_path / "logs"])
        assert again.points == 0 and again.unchanged == 1
        (run,) = store.runs()
        assert store.load_series(run.id, "losses/value_loss").steps.tolist() == [i * 500 for i in range(0, 120, 3)]


def test_truncated_gzip_keeps_complete_records_and_garbage_is_corrupt(tmp_path):
    plain = _write_real(tmp_path / "plain")
    gz = _gzip(plain, tmp_path / (plain.name + ".gz"))
    whole = gz.read_bytes()
    gz.write_bytes(whole[: len(whole) * 2 // 3])
    res = TENSORBOARD.read(gz, 0, {}, ReadOptions())
    assert not res.complete
    got = res.runs[0].series["charts/episodic_return"].steps.tolist()
    assert 0 < len(got) < 300 and got == [i * 500 for i in range(len(got))]
    bad = tmp_path / "events.out.tfevents.bad.gz"
    bad.write_bytes(whole[:20] + bytes(b ^ 0x55 for b in whole[20:200]) + whole[200:])
    with pytest.raises(InputError, match="bad.gz: corrupt event file"):
        TENSORBOARD.read(bad, 0, {}, ReadOptions())
