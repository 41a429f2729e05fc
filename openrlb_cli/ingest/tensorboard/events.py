"""Read scalar curves from TensorBoard event files without TensorFlow, tensorboard or protobuf.

Why: TensorBoard logs are the most common RL log format (CleanRL, SB3, RL Zoo, torch SummaryWriter,
TF2), and the official readers are slow (per-event protobuf objects, per-byte pure-python CRC) and
drag in TensorFlow-sized dependencies.  A chunk of the file is read in three steps, each vectorised
with numpy:

* framing (:mod:`.tfrecord`): where the complete records are;
* the template fast path (:mod:`.tftemplates`): simple-value records, grouped by size and template,
  are checked (CRC32C) and decoded column by column;
* the general path (:mod:`.tfdecode`, CRC in :mod:`.crc32c`): everything else, vectorised where the
  layout allows, per record otherwise.

A file still being written ends in a torn record: that is not an error, ``end_offset`` tells where
to resume.  Checksum, framing or protobuf errors raise :class:`CorruptEventFile` with the byte offset
of the first bad record.  Writing (for tests, benchmarks, sample runs) lives in :mod:`.writer`.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from openrlb_cli.errors import InputError
from openrlb_cli.ingest.base import zero_tail_start
from openrlb_cli.ingest.tensorboard import decode as tfdecode
from openrlb_cli.ingest.tensorboard import templates as tftemplates
from openrlb_cli.ingest.tensorboard import tfrecord
from openrlb_cli.ingest.tensorboard.crc32c import masked_record_crcs
from openrlb_cli.ingest.tensorboard.decode import Collector, Curve, EventProtoError, State
from openrlb_cli.ingest.tensorboard.writer import write_scalars

__all__ = [
    "CorruptEventFile",
    "Curve",
    "ScalarBatch",
    "is_event_file",
    "iter_scalar_batches",
    "parse_hparams_markdown",
    "read_scalars",
    "write_scalars",
]

_U64 = struct.Struct("<Q")
_SLICE = 1 << 18  # records checked and decoded per numpy pass on the general path


@dataclass
class ScalarBatch:
    """All scalars read from one file between two byte offsets."""

    tags: dict[str, Curve]  # tag -> (steps, values, wall_times), float64, in file order
    texts: dict[str, str] = field(default_factory=dict)  # text summaries, last value per tag
    end_offset: int = 0  # just after the last complete, valid record consumed
    n_records: int = 0
    torn_tail: bool = False  # the file ends inside a record (still being written)
    file_version: str | None = None
    restart_at: float | None = None  # lowest step of a restart marker: earlier points from there are preempted
    damage: CorruptEventFile | None = None  # the file is damaged at end_offset: the records before it are here


class CorruptEventFile(InputError, ValueError):
    """The bytes are not a valid TensorBoard event file; ``reason`` and byte ``offset`` say where."""

    def __init__(self, reason: str, offset: int, path: str | os.PathLike[str] | None = None):
        super().__init__(f"{reason} at byte offset {offset}")
        self.reason = reason
        self.offset = offset
        self.path = path


def is_event_file(path: str | os.PathLike[str]) -> bool:
    """True for TensorBoard event file names (``events.out.tfevents.*``; like TensorBoard, any name
    containing ``tfevents``)."""
    return "tfevents" in Path(path).name


def read_scalars(
    path: str | os.PathLike[str], start_offset: int = 0, check_crc: bool = True, max_bytes: int | None = None
) -> ScalarBatch:
    """Read every scalar from ``start_offset`` to the end of the file (or about ``max_bytes`` of it).

    With ``max_bytes`` the batch stops at the last record that fits (at least one record is read,
    however large).  Raises :class:`CorruptEventFile` on checksum, framing or protobuf errors.
    """
    if is_gzip(path):
        batches = list(iter_scalar_batches(path, start_offset, check_crc=check_crc))
        return _merge(batches)
    with open(path, "rb") as f:
        return _read_chunk(f, path, start_offset, check_crc, max_bytes, State())


def iter_scalar_batches(
    path: str | os.PathLike[str], start_offset: int = 0, chunk_bytes: int = 64 << 20, check_crc: bool = True,
    keep_prefix: bool = False,
) -> Iterator[ScalarBatch]:
    """Stream a file in batches of about ``chunk_bytes``; each batch's ``end_offset`` is the next's start.

    Memory stays bounded by the chunk size (plus the largest single record), so files larger than RAM
    can be read.  Stops at the end of the file or at a torn final record.  Gzipped files
    (``events.out.tfevents.*.gz``, recognised by their magic bytes) are decompressed as a stream; their
    offsets count decompressed bytes.

    With ``keep_prefix``, damage does not raise: the last batch holds the valid records before it
    (:func:`valid_prefix`), as TensorBoard keeps every record before a bad one.
    """
    state = State()
    if is_gzip(path):
        yield from _iter_gzip_batches(path, start_offset, chunk_bytes, check_crc, state)
        return
    offset = start_offset
    with open(path, "rb") as f:
        while True:
            try:
                batch = _read_chunk(f, path, offset, check_crc, chunk_bytes, state)
            except CorruptEventFile as exc:
                if not keep_prefix or exc.offset < offset or "beyond the end" in exc.reason:
                    raise
                yield valid_prefix(f, path, offset, exc, check_crc, state)
                return
            yield batch
            if batch.torn_tail or batch.end_offset == offset or batch.end_offset >= os.fstat(f.fileno()).st_size:
                return
            offset = batch.end_offset


def valid_prefix(f, path, start: int, exc: CorruptEventFile, check_crc: bool = True,
                 state: State | None = None) -> ScalarBatch:
    """The records from ``start`` up to the damage ``exc`` found (a record boundary), read again.

    A zero-filled tail (a crashed job's unwritten pages: zeros from a record's start, or from inside
    the last record, to the end of the file) is a torn tail, not damage: it is left for later, as a
    record still being written is. Otherwise the batch carries the damage, for the caller to report."""
    bad = exc.offset
    if bad > start:
        batch = _read_chunk(f, path, start, check_crc, bad - start, state or State())
    else:
        batch = ScalarBatch({}, {}, start)
    if batch.end_offset != bad:  # not a record boundary after all: report what was found
        return ScalarBatch({}, {}, start, damage=exc)
    size = os.fstat(f.fileno()).st_size
    f.seek(bad)
    head = f.read(12)
    end = bad + 12
    if len(head) == 12 and masked_crc32c_ok(head):
        end = bad + 16 + _U64.unpack_from(head)[0]
    if zero_tail_start(f, size) <= end:
        batch.torn_tail = True
    else:
        batch.damage = exc
    return batch


def masked_crc32c_ok(head: bytes) -> bool:
    """Whether a record header's length field passes its checksum."""
    from openrlb_cli.ingest.tensorboard.crc32c import masked_crc32c

    return masked_crc32c(head[:8]) == struct.unpack_from("<I", head, 8)[0]


def is_gzip(path: str | os.PathLike[str]) -> bool:
    """True when the file starts with the gzip magic bytes (an event file compressed after training)."""
    try:
        with open(path, "rb") as f:
            return f.read(2) == b"\x1f\x8b"
    except OSError:
        return False


def _gunzip(path: str | os.PathLike[str], piece: int = 1 << 20) -> Iterator[tuple[bytes, bool | None]]:
    """Decompressed pieces ``(bytes, None)`` of a (possibly multi-member) gzip file, then ``(b"", clean)``:
    ``clean`` is False when the stream was cut short (still being written, or truncated)."""
    d = zlib.decompressobj(wbits=47)
    with open(path, "rb") as f:
        while True:
            raw = f.read(piece)
            if not raw:
                yield b"", d.eof
                return
            while raw:
                if d.eof:
                    if not raw.strip(b"\0"):  # zero padding after the last member is allowed
                        break
                    d = zlib.decompressobj(wbits=47)
                try:
                    out = d.decompress(raw, piece)  # at most `piece` bytes out: memory stays bounded
                except zlib.error as exc:
                    raise CorruptEventFile(f"not a valid gzip stream ({exc})", f.tell(), path) from None
                raw = d.unused_data if d.eof else d.unconsumed_tail
                yield out, None


def _iter_gzip_batches(path, start_offset: int, chunk_bytes: int, check_crc: bool,
                       state: State) -> Iterator[ScalarBatch]:
    pos, skip, buf = 0, start_offset, bytearray()
    pieces = _gunzip(path, max(1 << 10, min(chunk_bytes, 1 << 20)))
    ended = clean = False
    while not ended:
        for out, status in pieces:
            if skip:
                cut = min(skip, len(out))
                out, skip, pos = out[cut:], skip - cut, pos + cut
            buf += out
            if status is not None:
                ended, clean = True, status
                break
            if len(buf) >= chunk_bytes:
                break
        if skip:
            raise CorruptEventFile(f"start offset beyond the end of the {pos}-byte stream (replaced?)",
                                   start_offset, path)
        batch = _decode_chunk(bytes(buf), path, pos, ended, len(buf) if ended else 1 << 62, check_crc, state)
        batch.torn_tail = batch.torn_tail or (ended and not clean)
        yield batch
        del buf[: batch.end_offset - pos]
        pos = batch.end_offset
        if batch.torn_tail:
            return


def _merge(batches: list[ScalarBatch]) -> ScalarBatch:
    tags: dict[str, list[Curve]] = {}
    texts: dict[str, str] = {}
    restart: float | None = None
    for b in batches:
        if b.restart_at is not None:  # the batches before it lose their points from there
            tags = {t: [_before(c, b.restart_at) for c in cs] for t, cs in tags.items()}
            restart = b.restart_at if restart is None else min(restart, b.restart_at)
        for tag, curve in b.tags.items():
            tags.setdefault(tag, []).append(curve)
        texts.update(b.texts)
    merged = {t: tuple(np.concatenate(parts) for parts in zip(*cs, strict=True)) for t, cs in tags.items()}
    last = batches[-1]
    return ScalarBatch(merged, texts, last.end_offset, sum(b.n_records for b in batches),  # type: ignore[arg-type]
                       last.torn_tail, next((b.file_version for b in batches if b.file_version), None), restart)


def _before(curve: Curve, step: float) -> Curve:
    """The points of ``curve`` that a restart marker at ``step`` leaves (steps below it, or NaN)."""
    keep = ~(curve[0] >= step)
    return (curve[0][keep], curve[1][keep], curve[2][keep])


def _read_chunk(f, path, start: int, check_crc: bool, max_bytes: int | None, state: State) -> ScalarBatch:
    size = os.fstat(f.fileno()).st_size
    if start < 0 or start > size:
        raise CorruptEventFile(f"start offset beyond the end of the {size}-byte file (replaced?)", start, path)
    f.seek(start)
    want = size - start if max_bytes is None else min(max(max_bytes, 12), size - start)
    data = f.read(want)
    if len(data) >= 12 and want < size - start:
        need = 16 + _U64.unpack_from(data)[0]  # a first record bigger than max_bytes is read whole
        if len(data) < need <= size - start:
            data += f.read(need - len(data))
    return _decode_chunk(data, path, start, start + len(data) >= size, size - start, check_crc, state)


def _decode_chunk(data: bytes, path, start: int, at_eof: bool, file_rest: int, check_crc: bool,
                  state: State) -> ScalarBatch:
    """Decode the complete records of ``data`` (the file's bytes from offset ``start``)."""
    arr = np.frombuffer(data, dtype=np.uint8)
    fr = tfrecord.frame(data, arr)
    torn, tail_error = tfrecord.check_tail(data, fr.stop, at_eof, file_rest)
    out = Collector()
    handled, bad, why = tftemplates.decode_templates(data, arr, fr, check_crc, out)
    errors = [] if bad is None else [(int(fr.starts[bad]), why)]
    rest_error = _decode_rest(data, fr, np.flatnonzero(~handled), check_crc, state, out)
    if rest_error is not None:
        errors.append(rest_error)
    if errors:
        offset, reason = min(errors)
        raise CorruptEventFile(reason, start + offset, path)
    if tail_error:
        raise CorruptEventFile(tail_error, start + fr.stop, path)
    tags, texts = out.finish(state)
    return ScalarBatch(tags, texts, start + fr.stop, len(fr.starts), torn, state.file_version, out.restart_at())


def _decode_rest(data: bytes, fr: tfrecord.Frame, rest: np.ndarray, check_crc: bool, state: State,
                 out: Collector) -> tuple[int, str] | None:  # fmt: skip
    """Check and decode records ``rest`` on the general path; return the first error (offset, reason).

    The records are copied back to back first when the fast path took records in between them."""
    if not len(rest):
        return None
    starts, lengths = fr.starts[rest], fr.lengths[rest]
    buf, at = _compact(data, rest, starts, lengths)
    arr = np.frombuffer(buf, dtype=np.uint8)
    for lo in range(0, len(rest), _SLICE):  # bounded temporaries: a few hundred bytes per record
        s, ln = at[lo : lo + _SLICE], lengths[lo : lo + _SLICE]
        bad_at, what = len(s), ""
        if check_crc:
            hdr, body = masked_record_crcs(buf, s, ln)
            bad_hdr = hdr != tfrecord.u32_at(arr, s + 8)
            bad = bad_hdr | (body != tfrecord.u32_at(arr, s + 12 + ln))
            if bad.any():
                bad_at = int(np.argmax(bad))
                what = "length checksum mismatch" if bad_hdr[bad_at] else "data checksum mismatch"
        try:
            tfdecode.decode(buf, arr, s[:bad_at] + 12, ln[:bad_at], rest[lo : lo + bad_at], state, out)
        except EventProtoError as e:
            return int(starts[lo + e.index]), e.reason
        if bad_at < len(s):
            return int(starts[lo + bad_at]), what
    return None


def _compact(data: bytes, rest: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> tuple[bytes, np.ndarray]:
    """The bytes of records ``rest`` back to back, and each record's offset in them."""
    breaks = np.flatnonzero(np.diff(rest) != 1) + 1
    if not len(breaks):
        return data, starts
    first = np.concatenate([[0], breaks])
    last = np.concatenate([breaks, [len(rest)]]) - 1
    src = starts[first]
    ends = starts[last] + 16 + lengths[last]
    dst = np.concatenate([[0], np.cumsum(ends - src)[:-1]])
    view = memoryview(data)
    buf = b"".join(view[a:b] for a, b in zip(src.tolist(), ends.tolist(), strict=True))
    return buf, starts - np.repeat(src - dst, last - first + 1)


def parse_hparams_markdown(text: str) -> dict[str, str]:
    """Parse CleanRL's ``|param|value|`` markdown table (its ``hyperparameters/text_summary``).

    Header and ``|-|-|`` separator rows are skipped; values stay strings (``"True"``, ``"0.00025"``).
    """
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) < 2 or not cells[0] or set("".join(cells)) <= set("-: "):
            continue
        if (cells[0], cells[1]) == ("param", "value"):
            continue
        out[cells[0]] = "|".join(cells[1:])
    return out
