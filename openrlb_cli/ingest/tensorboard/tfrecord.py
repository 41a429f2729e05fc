"""TFRecord framing of TensorBoard event files: where the records are, without reading them one by one.

Why: a record is ``u64 length | u32 masked crc(length) | data | u32 masked crc(data)``, so finding
record ``n`` needs the lengths of all records before it -- a sequential walk, slow in Python for files
of millions of short records.  Loggers write a fixed cycle of tags, so record sizes repeat with a
short period: after a short exact walk finds such a cycle, the starts of many more records are
guessed from it and all their length fields are checked in one numpy pass.  The walk resumes at the
first wrong guess; irregular stretches are walked (in longer steps, so cycle searches stay rare).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from openrlb_cli.ingest.tensorboard.crc32c import masked_crc32c

_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")
PROBE = 64  # records walked exactly before guessing a cycle of record sizes
FIRST_GUESS = 4096  # records guessed after a fresh cycle; grows x4 while guesses keep being right
MAX_GUESS = 1 << 18
MAX_WALK = 4096  # records walked at most between two looks for a cycle


@dataclass
class Frame:
    starts: np.ndarray  # int64 offset of each complete record
    lengths: np.ndarray  # int64 data length of each complete record
    stop: int  # offset just after the last complete record


def rows(arr: np.ndarray, idx: np.ndarray, width: int) -> np.ndarray:
    """``arr[i : i + width]`` for each ``i`` in ``idx`` as a (len(idx), width) array, in one gather.

    Indices are clipped into the buffer, so callers must only trust rows they know are in range."""
    if len(arr) < width:
        arr = np.concatenate([arr, np.zeros(width - len(arr), dtype=np.uint8)])
    idx = np.clip(idx, 0, len(arr) - width)
    if not arr.flags.c_contiguous:
        return sliding_window_view(arr, width)[idx]
    # the `width` bytes at every offset as one opaque item: gathering items copies each row in one
    # go, about twice as fast as fancy indexing a sliding window byte by byte
    items = np.ndarray((len(arr) - width + 1,), dtype=f"V{width}", buffer=arr, strides=(1,))
    return items[idx].view(np.uint8).reshape(-1, width)


def u32_at(arr: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return rows(arr, idx, 4).view("<u4").ravel()


def u64_at(arr: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return rows(arr, idx, 8).view("<u8").ravel()


def _walk(b: bytes | bytearray | memoryview, pos: int, starts: list[int], limit: int) -> int:
    """Append up to ``limit`` record starts from ``pos`` while whole records fit; return where it stopped.

    The exact reference walk: a record at ``pos`` is complete when its 12-byte header is present and
    ``pos + 16 + length`` is within ``b``."""
    n = len(b)
    last, unpack, append = n - 12, _U64.unpack_from, starts.append  # locals: this loop is the hot path
    for _ in range(limit):
        if pos > last:
            break
        end = pos + 16 + unpack(b, pos)[0]
        if end > n:
            break
        append(pos)
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
    exactly where the exact walk would put it) and the offset after them.

    Only whole cycles that fit in the buffer are guessed; viewed as a (cycles, cycle bytes) matrix,
    each position's length field is a strided column, so checking it is one comparison."""
    width = sum(cycle)
    reps = min(-(-count // len(cycle)), (len(arr) - pos) // width)
    if reps <= 0:
        return np.zeros(0, dtype=np.int64), pos
    mat = arr[pos : pos + reps * width].reshape(reps, width)
    offsets = np.concatenate([[0], np.cumsum(cycle)[:-1]]).astype(np.int64)
    wrong = np.zeros((reps, len(cycle)), dtype=bool)
    for j, (off, size) in enumerate(zip(offsets.tolist(), cycle, strict=True)):
        wrong[:, j] = mat[:, off : off + 8].view("<u8")[:, 0] != size - 16
    bad = np.flatnonzero(wrong.ravel())
    k = int(bad[0]) if len(bad) else wrong.size
    guess = (pos + np.arange(reps, dtype=np.int64)[:, None] * width + offsets).ravel()[:k]
    end = pos + (k // len(cycle)) * width + int(sum(cycle[: k % len(cycle)]))
    return guess, end


def frame(b: bytes | bytearray | memoryview, arr: np.ndarray) -> Frame:
    """The complete records in ``b``: identical to walking record by record, but vectorised."""
    parts: list[np.ndarray] = []
    pos, count, walk = 0, FIRST_GUESS, PROBE
    while True:
        found: list[int] = []
        nxt = _walk(b, pos, found, walk)
        if found:
            parts.append(np.array(found, dtype=np.int64))
        if len(found) < walk:
            pos = nxt
            break
        tail = found[-PROBE:]
        cycle = _period([y - x for x, y in zip(tail, [*tail[1:], nxt], strict=True)])
        pos = nxt
        if cycle is None:  # irregular sizes: walk longer before looking for a cycle again
            walk = min(walk * 2, MAX_WALK)
            continue
        walk = PROBE
        good, pos = _speculate(arr, pos, cycle, count)
        parts.append(good)
        count = min(count * 4, MAX_GUESS) if len(good) >= count else FIRST_GUESS
    starts = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    lengths = np.diff(starts, append=pos) - 16
    return Frame(starts, lengths, pos)


def check_tail(b: bytes | bytearray | memoryview, pos: int, at_eof: bool, file_rest: int) -> tuple[bool, str | None]:
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


# fewer files still being walked (a numpy step costs ~30 records walked in Python): each finishes on
# its own (`frame`, which also guesses cycles)
LOCKSTEP_MIN = 32
_STEPS = 256  # lockstep steps between two looks at which files have finished
_HUGE = np.uint64(1 << 62)  # length fields above this are cut to it: no record is that long
SLACK = 16  # bytes read past the last file's end


def frame_many(b: bytes | bytearray | memoryview, arr: np.ndarray, bases: np.ndarray, ends: np.ndarray
               ) -> list[Frame]:  # fmt: skip
    """:func:`frame` of each file ``b[bases[k]:ends[k]]`` of a buffer holding many, walked side by side.

    Why: a CleanRL event file mixes episode records between its update records, so its record sizes
    follow no cycle that :func:`frame` could guess from, and it walks record by record in Python.
    Files are independent, so one numpy step moves every file of a group to its next record at
    once: ``pos += 16 + length at pos``, capped at one past the file's end.  A record is complete
    exactly when its end is within the file (a torn or missing header makes the end pass it too),
    and a file that has passed its end stays there.  Starts in the returned frames are offsets in
    ``b``; when few files are left, they finish with :func:`frame` from where they are.  ``arr``
    (``b`` as uint8) should extend ``SLACK`` bytes past the last file, or it is copied to do so."""
    bases = np.asarray(bases, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    parts: list[list[np.ndarray]] = [[np.asarray(bases[k : k + 1])] for k in range(len(bases))]
    if len(ends) and len(arr) < int(ends.max()) + SLACK:  # caps are read too: 1 past an end
        arr = np.concatenate([arr, np.zeros(SLACK, dtype=np.uint8)])
    u64 = np.ndarray((len(arr) - 7,), dtype="<u8", buffer=arr, strides=(1,))  # the u64 at every byte
    ids = np.arange(len(bases))
    pos, end = bases.copy(), ends.copy()
    while len(ids) >= LOCKSTEP_MIN:
        cap = end + 1
        seen = np.empty((_STEPS, len(ids)), dtype=np.int64)  # where each step leaves each file
        for row in seen:
            length = u64[pos]
            np.minimum(length, _HUGE, out=length)
            np.add(pos, length.view(np.int64), out=row)
            row += 16
            np.minimum(row, cap, out=row)
            pos = row
        complete = (seen <= end).sum(axis=0)  # record ends within the file: a prefix of each column
        for j, k in enumerate(ids.tolist()):
            if complete[j]:
                parts[k].append(seen[: complete[j], j])
        going = complete == _STEPS
        ids, pos, end = ids[going], pos[going], end[going]
    for k, at in zip(ids.tolist(), pos.tolist(), strict=True):  # the few long ones left: on their own
        lo, hi = at, int(ends[k])
        rest = frame(memoryview(b)[lo:hi], arr[lo:hi])
        parts[k].append(rest.starts[1:] + lo)
        if len(rest.starts):
            parts[k].append(np.array([rest.stop + lo]))
    out = []
    for p in parts:
        bounds = np.concatenate(p)  # each record's start, then where the last one ends
        out.append(Frame(bounds[:-1], np.diff(bounds) - 16, int(bounds[-1])))
    return out
