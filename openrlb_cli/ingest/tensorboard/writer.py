"""Writing TensorBoard event files: test fixtures, benchmarks and sample runs without TensorFlow.

Why: tests need event files in every scalar encoding real writers use (torch/tensorboardX
``simple_value``, TensorBoard's tensor ``float_val``/``double_val``, TF2's raw ``tensor_content``),
including malformed and half-written ones, and the sample runs are written with it too.
"""

from __future__ import annotations

import itertools
import os
import struct
import time
from collections.abc import Iterable

import numpy as np

from openrlb_cli.ingest.tensorboard import protowire as pw
from openrlb_cli.ingest.tensorboard.crc32c import masked_record_crcs

_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")

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
