"""Read scalar curves from TensorBoard event files without TensorFlow, tensorboard or protobuf.

Why: TensorBoard logs are the most common RL log format (CleanRL, SB3, RL Zoo, torch SummaryWriter,
TF2), and the official readers are slow (per-event protobuf objects, per-byte pure-python CRC) and
drag in TensorFlow-sized dependencies.  This module reads the TFRecord framing and the few
``tensorflow.Event`` fields we need directly:

* record framing is found by a short exact walk that learns the cycle of record sizes, then guesses
  many starts at once and verifies their length fields with numpy; records are checked and decoded
  with numpy over up to 2^18 at once (CRC32C included, see :mod:`.crc32c`);
* the overwhelmingly common record ``Event{wall_time, step, summary{value{tag, simple_value}}}``
  is decoded by vectorised byte-offset arithmetic.  Other one-value events (TF2 tensor scalars)
  are grouped by tag and size; one per group is parsed to learn where its scalar's bytes are, and
  every record byte-identical to it elsewhere is read from there.  The rest (multi-value summaries,
  text, images, ...) go through the per-record :mod:`.protowire` parser;
* as in TensorBoard, the first metadata seen for a tag decides whether its tensors are scalars;
* a file still being written ends in a torn record: that is not an error, ``end_offset`` tells
  where to resume.  Checksum, framing or protobuf errors raise :class:`CorruptEventFile` with the
  byte offset of the record.
"""

from __future__ import annotations

import itertools
import os
import struct
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import InputError
from . import protowire as pw
from .crc32c import masked_crc32c, masked_record_crcs

_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")
_I64 = np.dtype("<i8")
Curve = tuple[np.ndarray, np.ndarray, np.ndarray]
_HASH_MUL = np.uint64(0x9E3779B97F4A7C15)
_SLICE = 1 << 18  # records checked and decoded per numpy pass


@dataclass
class ScalarBatch:
    """All scalars read from one file between two byte offsets."""

    tags: dict[str, Curve]  # tag -> (steps, values, wall_times), float64, in file order
    texts: dict[str, str] = field(default_factory=dict)  # text summaries, last value per tag
    end_offset: int = 0  # just after the last complete, valid record consumed
    n_records: int = 0
    torn_tail: bool = False  # the file ends inside a record (still being written)
    file_version: str | None = None


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


# ------------------------------------------------------------------------------------------ reading


@dataclass
class _State:
    """What carries over between the chunks of one file: tag -> (plugin_name, data_class)."""

    plugins: dict[str, tuple[str, int]] = field(default_factory=dict)
    file_version: str | None = None


def read_scalars(
    path: str | os.PathLike[str], start_offset: int = 0, check_crc: bool = True, max_bytes: int | None = None
) -> ScalarBatch:
    """Read every scalar from ``start_offset`` to the end of the file (or about ``max_bytes`` of it).

    With ``max_bytes`` the batch stops at the last record that fits (at least one record is read,
    however large).  Raises :class:`CorruptEventFile` on checksum, framing or protobuf errors.
    """
    with open(path, "rb") as f:
        return _read_chunk(f, path, start_offset, check_crc, max_bytes, _State())


def iter_scalar_batches(
    path: str | os.PathLike[str], start_offset: int = 0, chunk_bytes: int = 64 << 20, check_crc: bool = True
) -> Iterator[ScalarBatch]:
    """Stream a file in batches of about ``chunk_bytes``; each batch's ``end_offset`` is the next's start.

    Memory stays bounded by the chunk size (plus the largest single record), so files larger than RAM
    can be read.  Stops at the end of the file or at a torn final record.
    """
    state = _State()
    offset = start_offset
    with open(path, "rb") as f:
        while True:
            batch = _read_chunk(f, path, offset, check_crc, chunk_bytes, state)
            yield batch
            if batch.torn_tail or batch.end_offset == offset or batch.end_offset >= os.fstat(f.fileno()).st_size:
                return
            offset = batch.end_offset


def _read_chunk(f, path, start: int, check_crc: bool, max_bytes: int | None, state: _State) -> ScalarBatch:
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
    at_eof = start + len(data) >= size
    arr = np.frombuffer(data, dtype=np.uint8)
    starts, lengths, stop = _frame(data, arr)
    torn, error = _check_tail(data, stop, at_eof, size - start)
    out = _Collector()
    for lo in range(0, len(starts), _SLICE):  # bounded temporaries: a few hundred bytes per record
        s, ln = starts[lo : lo + _SLICE], lengths[lo : lo + _SLICE]
        bad_at, what = len(s), ""
        if check_crc:
            hdr, body = masked_record_crcs(data, s, ln)
            bad_hdr = hdr != _u32_at(arr, s + 8)
            bad = bad_hdr | (body != _u32_at(arr, s + 12 + ln))
            if bad.any():
                bad_at = int(np.argmax(bad))
                what = "length checksum mismatch" if bad_hdr[bad_at] else "data checksum mismatch"
        _decode(data, arr, s[:bad_at] + 12, ln[:bad_at], lo, state, out, start, path)
        if bad_at < len(s):
            raise CorruptEventFile(what, start + int(s[bad_at]), path)
    if error:
        raise CorruptEventFile(error, start + stop, path)
    tags, texts = out.finish(state)
    return ScalarBatch(tags, texts, start + stop, len(starts), torn, state.file_version)


def _rows(arr: np.ndarray, idx: np.ndarray, width: int) -> np.ndarray:
    """``arr[i : i + width]`` for each ``i`` in ``idx`` as a (len(idx), width) array, in one gather.

    Indices are clipped into the buffer, so callers must only trust rows they know are in range."""
    if len(arr) < width:
        arr = np.concatenate([arr, np.zeros(width - len(arr), dtype=np.uint8)])
    return sliding_window_view(arr, width)[np.clip(idx, 0, len(arr) - width)]


def _u32_at(arr: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return _rows(arr, idx, 4).view("<u4").ravel()


def _u64_at(arr: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return _rows(arr, idx, 8).view("<u8").ravel()


def _walk(b: bytes, pos: int, starts: list[int], limit: int) -> int:
    """Append up to ``limit`` record starts from ``pos`` while whole records fit; return where it stopped.

    The exact reference walk: a record at ``pos`` is complete when its 12-byte header is present and
    ``pos + 16 + length`` is within ``b``."""
    n = len(b)
    unpack = _U64.unpack_from
    for _ in range(limit):
        if pos + 12 > n:
            break
        end = pos + 16 + unpack(b, pos)[0]
        if end > n:
            break
        starts.append(pos)
        pos = end
    return pos


def _period(sizes: list[int]) -> list[int] | None:
    """The shortest cycle ``sizes`` ends with (phase-aligned so it predicts the next records), if any."""
    for p in range(1, len(sizes) // 2 + 1):
        if sizes[p:] == sizes[:-p]:
            return sizes[-p:]
    return None


def _speculate(arr: np.ndarray, pos: int, cycle: list[int], count: int) -> tuple[np.ndarray, int]:
    """Guess that about ``count`` records from ``pos`` repeat the record sizes ``cycle``; verify the
    guesses' length fields all at once.  Returns the verified starts (a prefix of the guesses, each one
    exactly where the exact walk would put it) and the offset after them."""
    sizes = np.array(cycle, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    reps = -(-count // len(sizes))
    guess = (pos + np.arange(reps, dtype=np.int64)[:, None] * int(sizes.sum()) + offsets).ravel()
    size = np.tile(sizes, reps)
    fits = int(np.searchsorted(guess + size, len(arr), side="right"))  # ends are increasing
    guess, size = guess[:fits], size[:fits]
    wrong = np.flatnonzero(_u64_at(arr, guess) != (size - 16).astype(np.uint64))
    k = int(wrong[0]) if len(wrong) else fits
    return guess[:k], (int(guess[k - 1] + size[k - 1]) if k else pos)


_PROBE = 64  # records walked exactly before guessing a cycle of record sizes


def _frame(b: bytes, arr: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Start offsets and data lengths of the complete records in ``b``, and the offset after them.

    Identical to walking record by record, but vectorised: loggers write a fixed cycle of tags, so
    record sizes repeat with a short period.  After a short exact walk finds such a cycle, the starts
    of many more records are guessed from it and all their length fields are checked in one numpy
    pass; the exact walk resumes at the first wrong guess (or the end of the buffer)."""
    parts: list[np.ndarray] = []
    pos, count = 0, 1024
    while True:
        found: list[int] = []
        nxt = _walk(b, pos, found, _PROBE)
        if found:
            parts.append(np.array(found, dtype=np.int64))
        if len(found) < _PROBE:
            pos = nxt
            break
        cycle = _period([y - x for x, y in zip(found, [*found[1:], nxt], strict=True)])
        pos = nxt
        if cycle is None:
            continue
        good, pos = _speculate(arr, pos, cycle, count)
        parts.append(good)
        count = min(count * 4, _SLICE) if len(good) >= count else 1024
    starts = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    lengths = np.diff(starts, append=pos) - 16
    return starts, lengths, pos


def _check_tail(b: bytes, pos: int, at_eof: bool, file_rest: int) -> tuple[bool, str | None]:
    """Classify the bytes after the last complete record: (torn_tail, corruption reason or None).

    ``file_rest`` is how many bytes the file holds from the start of ``b``.  A final record cut short
    by the end of the file is torn (still being written), unless its length field fails its checksum."""
    rest = len(b) - pos
    if rest == 0:
        return False, None
    if rest < 12:
        return at_eof, None
    if masked_crc32c(b[pos : pos + 8]) != _U32.unpack_from(b, pos + 8)[0]:
        return False, "length checksum mismatch"
    return pos + 16 + _U64.unpack_from(b, pos)[0] > file_rest, None


class _Collector:
    """What one chunk holds.  Tensor values stay candidates until the tag's plugin is known: like
    TensorBoard, the first metadata seen for a tag decides what kind of data the tag is."""

    def __init__(self) -> None:
        self.sure: dict[str, list[tuple[np.ndarray, ...]]] = {}  # simple_value: (records, steps, values, walls)
        self.maybe: dict[str, list[tuple[np.ndarray, ...]]] = {}  # numeric one-element tensors
        self.meta: dict[str, tuple[int, str, int]] = {}  # tag -> (first record, plugin_name, data_class)
        self.text: dict[str, str] = {}  # string tensors, last one per tag
        self.rows: dict[tuple[bool, str], list[tuple[int, float, float, float]]] = {}  # per-record finds

    def add(self, sure: bool, tag: str, rec: np.ndarray, steps, values, walls) -> None:
        (self.sure if sure else self.maybe).setdefault(tag, []).append((rec, steps, values, walls))

    def add_meta(self, tag: str, rec: int, meta: tuple[str, int]) -> None:
        if tag not in self.meta or rec < self.meta[tag][0]:
            self.meta[tag] = (rec, *meta)

    def finish(self, state: _State) -> tuple[dict[str, Curve], dict[str, str]]:
        for (sure, tag), rows in self.rows.items():
            rec, steps, values, walls = np.array(rows, dtype=np.float64).T
            self.add(sure, tag, rec.astype(np.int64), steps, values, walls)
        for tag, (_, plugin, data_class) in self.meta.items():
            state.plugins.setdefault(tag, (plugin, data_class))
        parts = self.sure
        for tag, pieces in self.maybe.items():
            plugin, data_class = state.plugins.get(tag, ("", 0))
            if data_class not in (2, 3) and (data_class == 1 or plugin in ("", "scalars")):  # not TENSOR/BLOB
                parts.setdefault(tag, []).extend(pieces)
        merged: list[tuple[int, str, Curve]] = []
        for tag, pieces in parts.items():
            rec, steps, values, walls = (np.concatenate(c) for c in zip(*pieces, strict=True))
            if len(pieces) > 1 and not (rec[1:] > rec[:-1]).all():
                order = np.argsort(rec, kind="stable")
                rec, steps, values, walls = rec[order], steps[order], values[order], walls[order]
            merged.append((int(rec[0]), tag, (steps, values, walls)))
        merged.sort(key=lambda m: m[0])
        texts = {t: s for t, s in self.text.items() if state.plugins.get(t, ("", 0))[0] == "text"}
        return {tag: curve for _, tag, curve in merged}, texts


def _decode(b: bytes, arr: np.ndarray, d: np.ndarray, lens: np.ndarray, first: int, state: _State,
            out: _Collector, base: int, path) -> None:  # fmt: skip
    """Decode the Event protos at offsets ``d`` (lengths ``lens``), records number ``first`` on:
    vectorised first, then the rest one by one."""
    with np.errstate(invalid="ignore", over="ignore"):  # float32 -> float64 of signalling NaNs
        done = _vectorised(b, arr, d, lens, first, out) if len(d) else np.zeros(0, dtype=bool)
    for i in np.flatnonzero(~done).tolist():
        a = int(d[i])
        try:
            _slow_event(b, a, a + int(lens[i]), first + i, state, out)
        except pw.ProtoError as e:
            raise CorruptEventFile(f"malformed Event protobuf ({e.reason})", base + a - 12, path) from None


def _vectorised(b: bytes, arr: np.ndarray, d: np.ndarray, lens: np.ndarray, first: int, out: _Collector) -> np.ndarray:
    """Decode, all at once, records laid out as ``Event{1: wall_time, [2: step], 5: {1: Value}}``.

    ``Value{1: tag, 2: simple_value}`` is read at fixed offsets.  Other one-value records are grouped
    by (tag, size); one record per group is parsed and tells where its scalar's bytes are; every
    record identical to it outside those bytes is read from the same place.  Returns the mask of
    records handled; the rest are left to the per-record parser."""
    n = len(arr)
    head = _rows(arr, np.where(lens >= 20, d, 0), 20)  # every such record has >= 20 bytes
    ok = (lens >= 20) & (head[:, 0] == 0x09)
    has_step = head[:, 9] == 0x10
    step = np.zeros(len(d), dtype=np.uint64)
    nstep = np.zeros(len(d), dtype=np.int64)
    going = has_step.copy()
    for k in range(10):  # the step varint, vectorised over records
        byte = head[:, 10 + k]
        step |= np.where(going, (byte & 0x7F).astype(np.uint64) << np.uint64(7 * k), np.uint64(0))
        nstep += going
        going &= byte >= 0x80
        if not going.any():
            break
    ok &= ~going
    q = d + 9 + np.where(has_step, 1 + nstep, 0)  # the summary field's key byte
    summ = _rows(arr, q, 6).astype(np.int16)
    slen, vlen, tlen = summ[:, 1], summ[:, 3], summ[:, 5]
    ok &= (summ[:, 0] == 0x2A) & (slen < 0x80) & (q + 2 + slen == d + lens) & (summ[:, 2] == 0x0A)
    ok &= (vlen + 2 == slen) & (summ[:, 4] == 0x0A) & (tlen < 0x80) & (tlen + 2 <= vlen)
    value_rows = _rows(arr, q + 6 + tlen, 5)
    simple = ok & (vlen == tlen + 7) & (value_rows[:, 0] == 0x15)
    steps = step.view(_I64).astype(np.float64)
    walls = _rows(arr, d + 1, 8).copy().view("<f8").ravel()
    values = value_rows[:, 1:].copy().view("<f4").ravel().astype(np.float64)
    done = np.zeros(len(d), dtype=bool)
    for is_simple, idx in ((True, np.flatnonzero(simple)), (False, np.flatnonzero(ok & ~simple))):
        for tag, sel in _group_by_tag(arr, n, q[idx] + 6, tlen[idx], np.where(is_simple, 0, vlen[idx])):
            sel = idx[sel]
            if is_simple:
                out.add(True, tag, first + sel, steps[sel], values[sel], walls[sel])
                done[sel] = True
            else:
                _template(b, arr, sel, q[sel] + 4, int(vlen[sel[0]]), first, steps, walls, out, done)
    return done


def _group_by_tag(arr: np.ndarray, n: int, start: np.ndarray, tlen: np.ndarray, salt: np.ndarray):
    """Yield (tag, member positions) for records with equal tag bytes and ``salt``, in file order.

    Hashes the zero-padded tags as 8-byte words, then checks every member against its group exactly."""
    if not len(start):
        return
    width = int(tlen.max() + 7) // 8 * 8 or 8
    fits = np.flatnonzero(start + width <= n)  # rows that _rows would clip go to the per-record parser
    rows = _rows(arr, start[fits], width)
    rows[np.arange(width) >= tlen[fits, None]] = 0
    key = np.column_stack([rows.view("<u8"), tlen[fits].astype(np.uint64), salt[fits].astype(np.uint64)])
    h = np.zeros(len(fits), dtype=np.uint64)
    for k in range(key.shape[1]):
        h = (h ^ key[:, k]) * _HASH_MUL
        h ^= h >> np.uint64(29)
    order = np.argsort(h, kind="stable")
    hs = h[order]
    group_start = np.flatnonzero(np.concatenate([[True], hs[1:] != hs[:-1]]))
    first = order[group_start]  # the sort is stable: each group's earliest record
    sizes = np.diff(np.append(group_start, len(h)))
    if not np.array_equal(key[order], np.repeat(key[first], sizes, axis=0)):  # a hash collision
        _, first, inv = np.unique(key, axis=0, return_index=True, return_inverse=True)
        order, sizes = np.argsort(inv.ravel(), kind="stable"), np.bincount(inv.ravel())
    for g, members in enumerate(np.split(order, np.cumsum(sizes)[:-1])):
        yield bytes(rows[first[g], : tlen[fits[first[g]]]]).decode("utf-8", "replace"), fits[members]


def _template(b: bytes, arr: np.ndarray, sel: np.ndarray, vs: np.ndarray, vlen: int, first: int,
              steps: np.ndarray, walls: np.ndarray, out: _Collector, done: np.ndarray) -> None:  # fmt: skip
    """Records ``sel`` share a tag and Value size (Values at ``vs``): parse the first, read the rest alike."""
    try:
        tag, kind, _, loc, meta, _ = pw.parse_summary_value(b, int(vs[0]), int(vs[0]) + vlen)
    except pw.ProtoError:
        return  # the per-record parser reports it
    if kind not in (_SIMPLE, _TENSOR) or loc is None:
        return
    dt = np.dtype(loc[1])
    off, stop = loc[0] - int(vs[0]), loc[0] - int(vs[0]) + dt.itemsize
    rows = _rows(arr, vs, vlen)
    same = (rows[:, :off] == rows[0, :off]).all(axis=1) & (rows[:, stop:] == rows[0, stop:]).all(axis=1)
    good = sel[same]
    values = rows[same, off:stop].copy().view(dt).ravel().astype(np.float64)
    out.add(kind == _SIMPLE, tag, first + good, steps[good], values, walls[good])
    if meta is not None:
        out.add_meta(tag, first + int(good[0]), meta)
    done[good] = True


_NONE, _SIMPLE, _TENSOR, _TEXT = pw.NONE, pw.SIMPLE, pw.TENSOR, pw.TEXT
_F64 = struct.Struct("<d")


def _slow_event(b: bytes, start: int, end: int, rec: int, state: _State, out: _Collector) -> None:
    wall, step, summary = 0.0, 0, None
    for num, wt, x, y in pw.iter_spans(b, start, end):
        if num == 1 and wt == pw.I64:
            wall = _F64.unpack_from(b, x)[0]
        elif num == 2 and wt == pw.VARINT:
            step = pw.to_int64(x)
        elif num == 3 and wt == pw.LEN:
            state.file_version = b[x:y].decode("utf-8", "replace")
        elif num == 5 and wt == pw.LEN:
            summary = (x, y)
    if summary is None:
        return
    for num, wt, x, y in pw.iter_spans(b, *summary):
        if num != 1 or wt != pw.LEN:
            continue
        tag, kind, value, _, meta, text = pw.parse_summary_value(b, x, y)
        if meta is not None:
            out.add_meta(tag, rec, meta)
        if kind == _TEXT:
            out.text[tag] = text  # type: ignore[assignment]
        elif kind != _NONE:
            out.rows.setdefault((kind == _SIMPLE, tag), []).append((rec, float(step), value, wall))


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


# ------------------------------------------------------------------------------------------ writing

_SCALARS_META = pw.encode_len(1, pw.encode_len(1, b"scalars"))  # SummaryMetadata{plugin_data{"scalars"}}
_TENSOR_ENCODINGS = {  # name -> (dtype, TensorProto field of the value, packer, SummaryMetadata)
    "tensor_float": (1, 5, pw.pack_f32, _SCALARS_META + pw.encode_int(4, 1)),  # tensorboard's Writer
    "tensor_double": (2, 6, struct.Struct("<d").pack, _SCALARS_META + pw.encode_int(4, 1)),
    "tensor_content": (1, 4, pw.pack_f32, _SCALARS_META),  # tf.summary.scalar in TF 2: raw bytes
}


def _value_bytes(tag: str, value: float, encoding: str) -> bytes:
    t = pw.encode_len(1, tag.encode("utf-8"))
    if encoding == "simple_value":
        return t + pw.encode_float(2, value)
    if encoding not in _TENSOR_ENCODINGS:
        raise ValueError(f"unknown scalar encoding {encoding!r}")
    dtype, field_number, pack, meta = _TENSOR_ENCODINGS[encoding]
    tensor = pw.encode_int(1, dtype) + pw.encode_len(2, b"") + pw.encode_len(field_number, pack(value))
    return t + pw.encode_len(8, tensor) + pw.encode_len(9, meta)


def _event_bytes(wall: float, step: int = 0, summary: bytes | None = None, version: str | None = None) -> bytes:
    out = pw.encode_double(1, wall) if struct.pack("<d", wall) != bytes(8) else b""  # proto3 omits zeros
    if step:
        out += pw.encode_int(2, step)
    if version is not None:
        out += pw.encode_len(3, version.encode("utf-8"))
    if summary is not None:
        out += pw.encode_len(5, summary)
    return out


def _records(events: list[bytes]) -> bytes:
    """Frame serialized events as TFRecords, checksumming the whole batch at once."""
    heads = [_U64.pack(len(e)) for e in events]
    parts = [x for h, e in zip(heads, events, strict=True) for x in (h, b"\0\0\0\0", e, b"\0\0\0\0")]
    buf = b"".join(parts)
    lengths = np.array([len(e) for e in events], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths + 16)[:-1]]).astype(np.int64)
    hcrc, dcrc = masked_record_crcs(buf, starts, lengths)
    for i, (h, c) in enumerate(zip(hcrc.tolist(), dcrc.tolist(), strict=True)):
        parts[4 * i + 1] = _U32.pack(h)
        parts[4 * i + 3] = _U32.pack(c)
    return b"".join(parts)


def write_scalars(
    path: str | os.PathLike[str],
    scalars: Iterable[tuple[str, int, float, float]],
    *,
    encoding: str = "simple_value",
    file_version: str = "brain.Event:2",
    append: bool = False,
) -> int:
    """Write ``(tag, step, value, wall_time)`` scalars as a TensorBoard event file; return bytes written.

    ``encoding`` picks how values are stored, as different writers do: ``simple_value`` (torch
    SummaryWriter, SB3, CleanRL), ``tensor_float`` / ``tensor_double`` (rank-0 tensor with
    ``float_val`` / ``double_val``, plugin ``scalars``) or ``tensor_content`` (TF2's raw bytes).
    A new (or empty) file starts with the ``file_version`` event, as real writers do."""
    _value_bytes("", 0.0, encoding)  # validate the encoding before touching the file
    items = iter(scalars)
    first = next(items, None)
    written = 0
    with open(path, "ab" if append else "wb") as f:
        batch: list[bytes] = []
        if f.tell() == 0:
            batch.append(_event_bytes(float(first[3]) if first else time.time(), 0, None, file_version))
        for tag, step, value, wall in itertools.chain([first] if first else [], items):
            summary = pw.encode_len(1, _value_bytes(tag, float(value), encoding))
            batch.append(_event_bytes(float(wall), int(step), summary))
            if len(batch) >= 8192:
                written += f.write(_records(batch))
                batch = []
        if batch:
            written += f.write(_records(batch))
    return written
