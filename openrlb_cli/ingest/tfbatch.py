"""Many small event files decoded as one: the template fast path run once over their records.

Why: a directory of CleanRL runs is a thousand event files of a few thousand records each, and
the fast path's cost is mostly per call (a few dozen numpy calls per size bucket), so decoding
file by file spent ~4x longer per record than one large file.  Here each file is framed on its
own (so torn tails and framing errors stay per file), their records are checked and decoded by
the template fast path in one pass over the files' bytes laid end to end, and the results are
split back per file by record number.  The general path (the few records no template takes, such
as the file-version event) runs per file with that file's own state, exactly as for one file.

The output is what :func:`tfevents.read_scalars` gives for each file read to its end.  If any
checksum fails in the shared pass, every file of the group is read again on its own, so the error
names the right file and byte offset.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import tfevents, tfrecord, tftemplates
from .tfdecode import Collector, State

MAX_FILE_BYTES = 8 << 20  # larger files stream in batches on their own (tfevents.iter_scalar_batches)


def read_many(files: list[tuple[Path, int]], check_crc: bool = True
              ) -> list[tfevents.ScalarBatch | tfevents.CorruptEventFile | OSError]:
    """Each ``(path, start_offset)`` read to its end: a ScalarBatch, or the error that file raises."""
    out: list[tfevents.ScalarBatch | tfevents.CorruptEventFile | OSError | None] = [None] * len(files)
    datas: list[bytes] = []
    frames: list[tfrecord.Frame] = []
    torn: list[bool] = []
    index: list[int] = []  # position in `files` of each file decoded together
    for i, (path, start) in enumerate(files):
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if start < 0 or start > size:
                    raise tfevents.CorruptEventFile(
                        f"start offset beyond the end of the {size}-byte file (replaced?)", start, path)
                f.seek(start)
                data = f.read(size - start)
        except (OSError, tfevents.CorruptEventFile) as exc:
            out[i] = exc
            continue
        arr = np.frombuffer(data, dtype=np.uint8)
        fr = tfrecord.frame(data, arr)
        is_torn, tail_error = tfrecord.check_tail(data, fr.stop, True, len(data))
        if tail_error:  # reported after any decoding error before it, as a lone read does
            out[i] = _read_alone(path, start, check_crc)
            continue
        datas.append(data)
        frames.append(fr)
        torn.append(is_torn)
        index.append(i)
    if index:
        decoded = _decode_together(files, index, datas, frames, torn, check_crc)
        for i, result in zip(index, decoded, strict=True):
            out[i] = result
    return out  # type: ignore[return-value]


def _decode_together(files: list[tuple[Path, int]], index: list[int], datas: list[bytes],
                     frames: list[tfrecord.Frame], torn: list[bool], check_crc: bool
                     ) -> list[tfevents.ScalarBatch | tfevents.CorruptEventFile]:  # fmt: skip
    bases = np.cumsum([0, *(len(d) for d in datas)])
    counts = np.cumsum([0, *(len(fr.starts) for fr in frames)])
    data = b"".join(datas)
    arr = np.frombuffer(data, dtype=np.uint8)
    starts = np.concatenate([fr.starts + base for fr, base in zip(frames, bases.tolist(), strict=False)])
    lengths = np.concatenate([fr.lengths for fr in frames])
    shared = Collector()
    handled, bad, _ = tftemplates.decode_templates(data, arr, tfrecord.Frame(starts, lengths, len(data)),
                                                   check_crc, shared)
    if bad is not None:  # let each file report its own error, at its own offset
        return [_read_alone(*files[i], check_crc) for i in index]
    per = [Collector() for _ in datas]
    bounds = counts.tolist()
    for tag, pieces in shared.sure.items():
        for rec, steps, values, walls in pieces:  # one template's records, in file order
            cuts = np.searchsorted(rec, counts).tolist()
            for k in range(len(datas)):
                a, b = cuts[k], cuts[k + 1]
                if a < b:
                    per[k].add(True, tag, rec[a:b] - bounds[k], steps[a:b], values[a:b], walls[a:b])
    results: list[tfevents.ScalarBatch | tfevents.CorruptEventFile] = []
    for k, (data_k, fr) in enumerate(zip(datas, frames, strict=True)):
        path, start = files[index[k]]
        state = State()
        rest = np.flatnonzero(~handled[bounds[k] : bounds[k + 1]])
        error = tfevents._decode_rest(data_k, fr, rest, check_crc, state, per[k])
        if error is not None:
            results.append(tfevents.CorruptEventFile(error[1], start + error[0], path))
            continue
        tags, texts = per[k].finish(state)
        results.append(tfevents.ScalarBatch(tags, texts, start + fr.stop, len(fr.starts), torn[k],
                                            state.file_version))
    return results


def _read_alone(path: Path, start: int, check_crc: bool) -> tfevents.ScalarBatch | tfevents.CorruptEventFile:
    try:
        return tfevents.read_scalars(path, start_offset=start, check_crc=check_crc)
    except tfevents.CorruptEventFile as exc:
        return exc
