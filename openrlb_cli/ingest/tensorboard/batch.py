"""Many small event files decoded as one: framed side by side, one template fast pass, split back.

Why: a directory of CleanRL runs is a thousand event files of a few thousand records each, and
decoding file by file spent most of its time on per-file work: a Python walk over each file's
records (CleanRL's record sizes follow no cycle that framing could guess from), a few dozen numpy
calls per size bucket, and the general path for the one or two records no template takes.  Here
the files of a group are read into one buffer and

* framed together (:func:`tfrecord.frame_many`: one numpy step advances every file by a record),
  so torn tails and framing errors stay per file;
* checked and decoded by the template fast path in one pass over all their records;
* split back per file and tag with one sort of the decoded records (by file, tag, record);
* the few records no template took are parsed one by one with that file's own state (the general
  vectorised path per file only when a file has many such records).

The output is what :func:`tfevents.read_scalars` gives for each file read to its end.  If any
checksum fails in the shared pass, every file of the group is read again on its own, so the error
names the right file and byte offset.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from openrlb_cli.ingest.tensorboard import events as tfevents
from openrlb_cli.ingest.tensorboard import templates as tftemplates
from openrlb_cli.ingest.tensorboard import tfrecord
from openrlb_cli.ingest.tensorboard.crc32c import masked_crc32c
from openrlb_cli.ingest.tensorboard.decode import Collector, State, _slow_event
from openrlb_cli.ingest.tensorboard.protowire import ProtoError

MAX_FILE_BYTES = 8 << 20  # larger files stream in batches on their own (tfevents.iter_scalar_batches)
FEW_REST = 16  # records of a file that no template took, parsed one by one (more: the vectorised path)
_U32 = struct.Struct("<I")
Result = tfevents.ScalarBatch | tfevents.CorruptEventFile | OSError


def read_many(files: list[tuple[Path, int]], check_crc: bool = True) -> list[Result]:
    """Each ``(path, start_offset)`` read to its end: a ScalarBatch, or the error that file raises."""
    out: list[Result | None] = [None] * len(files)
    sizes: list[int] = []
    for path, start in files:
        try:
            sizes.append(max(0, os.stat(path).st_size - start))
        except OSError:
            sizes.append(0)
    buf = np.empty(sum(sizes) + tfrecord.SLACK, dtype=np.uint8)  # not zeroed: every file byte is read into it
    buf[len(buf) - tfrecord.SLACK :] = 0
    view = buf.data  # a memoryview of `buf`
    bases, ends, index = [], [], []  # where each file read together lies in `buf`; its place in `files`
    at = 0
    for i, ((path, start), want) in enumerate(zip(files, sizes, strict=True)):
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if start < 0 or start > size:
                    raise tfevents.CorruptEventFile(
                        f"start offset beyond the end of the {size}-byte file (replaced?)", start, path)
                if size - start != want:  # changed since it was sized: read it on its own
                    out[i] = _read_alone(path, start, check_crc)
                    continue
                f.seek(start)
                got = f.readinto(view[at : at + want])
        except (OSError, tfevents.CorruptEventFile) as exc:
            out[i] = exc
            continue
        if got != want:
            out[i] = _read_alone(path, start, check_crc)
            continue
        bases.append(at)
        ends.append(at + want)
        index.append(i)
        at += want
    arr = buf
    frames = tfrecord.frame_many(view, arr, np.array(bases, dtype=np.int64), np.array(ends, dtype=np.int64))
    keep: list[int] = []
    torn: list[bool] = []
    for k, fr in enumerate(frames):
        lo, hi = bases[k], ends[k]
        is_torn, tail_error = tfrecord.check_tail(view[lo:hi], fr.stop - lo, True, hi - lo)
        if tail_error:  # reported after any decoding error before it, as a lone read does
            out[index[k]] = _read_alone(*files[index[k]], check_crc)
            continue
        keep.append(k)
        torn.append(is_torn)
    if keep:
        decoded = _decode_together(files, [index[k] for k in keep], buf, arr, [bases[k] for k in keep],
                                   [frames[k] for k in keep], torn, check_crc)
        for k, result in zip(keep, decoded, strict=True):
            out[index[k]] = result
    return out  # type: ignore[return-value]


def _decode_together(files: list[tuple[Path, int]], index: list[int], buf: np.ndarray, arr: np.ndarray,
                     bases: list[int], frames: list[tfrecord.Frame], torn: list[bool], check_crc: bool
                     ) -> list[tfevents.ScalarBatch | tfevents.CorruptEventFile]:  # fmt: skip
    counts = np.cumsum([0, *(len(fr.starts) for fr in frames)])
    starts = np.concatenate([fr.starts for fr in frames])
    lengths = np.concatenate([fr.lengths for fr in frames])
    shared = Collector()
    handled, bad, _ = tftemplates.decode_templates(buf, arr, tfrecord.Frame(starts, lengths, len(buf)),
                                                   check_crc, shared)
    if bad is not None:  # let each file report its own error, at its own offset
        return [_read_alone(*files[i], check_crc) for i in index]
    per_file, recs, (steps, values, walls) = _split(shared, counts)
    bounds = counts.tolist()
    view = buf.data  # a memoryview of `buf`
    results: list[tfevents.ScalarBatch | tfevents.CorruptEventFile] = []
    for k, fr in enumerate(frames):
        path, start = files[index[k]]
        lo = bases[k]
        rest = np.flatnonzero(~handled[bounds[k] : bounds[k + 1]])
        state, tags, texts = State(), per_file[k], dict[str, str]()
        if len(rest):
            col = Collector()
            if len(rest) <= FEW_REST:
                error = _few(view, lo, fr, rest, check_crc, state, col)
            else:  # the general path on this file's own bytes, as a lone read
                local = tfrecord.Frame(fr.starts - lo, fr.lengths, fr.stop - lo)
                error = tfevents._decode_rest(bytes(view[lo : fr.stop]), local, rest, check_crc, state, col)
            if error is not None:
                results.append(tfevents.CorruptEventFile(error[1], start + error[0], path))
                continue
            if col.sure or col.maybe or col.rows or col.meta or col.text or col.restarts:  # in record order
                for tag, (a, b) in tags.items():
                    col.add(True, tag, recs[a:b] - bounds[k], steps[a:b], values[a:b], walls[a:b])
                tags_only, texts = col.finish(state)
                results.append(tfevents.ScalarBatch(tags_only, texts, start + fr.stop - lo, len(fr.starts),
                                                    torn[k], state.file_version, col.restart_at()))
                continue
        curves = {t: (steps[a:b], values[a:b], walls[a:b]) for t, (a, b) in tags.items()}
        results.append(tfevents.ScalarBatch(curves, texts, start + fr.stop - lo, len(fr.starts), torn[k],
                                            state.file_version))
    return results


def _split(shared: Collector, counts: np.ndarray
           ) -> tuple[list[dict[str, tuple[int, int]]], np.ndarray, list[np.ndarray]]:  # fmt: skip
    """The template pass's records regrouped by file, then tag, each in record order: the record
    numbers and the (steps, values, walls) columns, and per file tag -> its (start, stop) in them,
    tags in order of their first record (what `Collector.finish` gives)."""
    names = list(shared.sure)
    pieces = [(t, p) for t, name in enumerate(names) for p in shared.sure[name]]
    per: list[dict[str, tuple[int, int]]] = [{} for _ in range(len(counts) - 1)]
    if not pieces:
        return per, np.zeros(0, dtype=np.int64), [np.zeros(0)] * 3
    rec = np.concatenate([p[0] for _, p in pieces])
    tag = np.repeat(np.array([t for t, _ in pieces], dtype=np.int64), [len(p[0]) for _, p in pieces])
    by_rec = np.full(int(counts[-1]), -1, dtype=np.int64)  # record numbers are unique: order them by a scatter
    by_rec[rec] = np.arange(len(rec))
    order = by_rec[by_rec >= 0]
    file_of = np.repeat(np.arange(len(counts) - 1), np.diff(counts))  # of each record number
    key = file_of[rec[order]] * len(names) + tag[order]
    if int(key.max()) < 1 << 16:
        key = key.astype(np.uint16)  # a stable sort of 16-bit keys is a radix sort
    by_key = np.argsort(key, kind="stable")  # by file, then tag, each in record order
    order, key = order[by_key], key[by_key].astype(np.int64)
    rec = rec[order]
    cols = [np.concatenate([p[j] for _, p in pieces])[order] for j in (1, 2, 3)]
    first = np.concatenate([[0], np.flatnonzero(np.diff(key)) + 1])
    last = np.append(first[1:], len(key)).tolist()
    group_file, group_tag = np.divmod(key[first], len(names))
    group_file, group_tag, starts = group_file.tolist(), group_tag.tolist(), first.tolist()
    for g in np.argsort(rec[first], kind="stable").tolist():  # files in order, tags by first record
        per[group_file[g]][names[group_tag[g]]] = (starts[g], last[g])
    return per, rec, cols


def _few(view: memoryview, lo: int, fr: tfrecord.Frame, rest: np.ndarray, check_crc: bool, state: State,
         out: Collector) -> tuple[int, str] | None:  # fmt: skip
    """Check and decode records ``rest`` of the file at ``lo`` one by one (the general path's
    per-record parser); the first error in record order as (offset in the file's bytes, reason), as
    the general path finds it."""
    for r in rest.tolist():
        s, n = int(fr.starts[r]), int(fr.lengths[r])
        raw = bytes(view[s : s + 16 + n])
        if check_crc:
            if masked_crc32c(raw[:8]) != _U32.unpack_from(raw, 8)[0]:
                return s - lo, "length checksum mismatch"
            if masked_crc32c(raw[12 : 12 + n]) != _U32.unpack_from(raw, 12 + n)[0]:
                return s - lo, "data checksum mismatch"
        try:
            _slow_event(raw, 12, 12 + n, r, state, out)
        except ProtoError as e:
            return s - lo, f"malformed Event protobuf ({e.reason})"
    return None


def _read_alone(path: Path, start: int, check_crc: bool) -> tfevents.ScalarBatch | tfevents.CorruptEventFile:
    try:
        return tfevents.read_scalars(path, start_offset=start, check_crc=check_crc)
    except tfevents.CorruptEventFile as exc:
        return exc
