"""The fast path for the common case: long runs of one repeating cycle of same-shaped scalar records.

Why: a SummaryWriter that logs the same tags every step writes a file whose records repeat one cycle
of sizes and byte layouts, ``Event{1: wall_time, 2: step, 5: Summary{1: Value{1: tag, 2:
simple_value}}}`` with a fixed tag per position in the cycle.  Framing finds those cycles
(:class:`.tfrecord.Block`); here a block of ``reps`` cycles is viewed, without copying, as a
``(reps, cycle bytes)`` matrix, so each field of cycle position ``j`` is a column: a few numpy calls per
position decode every record of the block, with no per-record gathers.

Exactness does not rest on the guess.  The first record at each position is the template; a record
is taken here only if all its bytes other than wall time, step and value equal the template's, the
step varint ends where the template's does and its length checksum is right -- so it parses exactly
like the template.  Its data checksum is the template's CRC XOR the CRC effects of the bytes where it
differs from the template (CRC32C is affine), which is the record's true CRC32C, checked against the
stored one.  Records that do not match go to the general decoder (:mod:`.tfdecode`).
"""

from __future__ import annotations

import struct

import numpy as np

from .crc32c import byte_effects, crc32c, mask, mask_array
from .tfdecode import Collector
from .tfrecord import Block, Frame

MIN_REPS = 128  # fewer repetitions cost more in per-column numpy calls than they save
_SUB = 1 << 18  # records per pass: bounds the temporaries
_PROBE = 96  # records parsed to find a block's cycle of layouts
_EFFECTS = byte_effects()


def _layout(t: bytes) -> tuple[int, int, int] | None:
    """(step varint length, tag start, tag length) if ``t`` is a one-``simple_value`` Event, else None."""
    n = len(t)
    if n < 20 or t[0] != 0x09 or n > _EFFECTS.shape[0]:
        return None
    q, nstep = 9, 0
    if t[9] == 0x10:
        while nstep < 10 and 10 + nstep < n and t[10 + nstep] >= 0x80:
            nstep += 1
        nstep += 1
        q = 10 + nstep
    if q + 6 > n or nstep > 10 or t[q] != 0x2A or t[q + 2] != 0x0A or t[q + 4] != 0x0A:
        return None
    slen, vlen, tlen = t[q + 1], t[q + 3], t[q + 5]
    if slen >= 0x80 or q + 2 + slen != n or vlen + 2 != slen or tlen >= 0x80 or vlen != tlen + 7:
        return None
    return (nstep, q + 6, tlen) if t[q + 6 + tlen] == 0x15 else None


def decode_blocks(
    data: bytes, arr: np.ndarray, fr: Frame, check_crc: bool, out: Collector
) -> tuple[np.ndarray, int | None, str]:
    """Decode the records of ``fr``'s large blocks that match their template into ``out``.

    Returns the mask of records handled, and the number of the first record whose checksum is wrong
    (with the reason), or None.  Unhandled records are left to the general decoder."""
    handled = np.zeros(len(fr.starts), dtype=bool)
    for block in fr.blocks:
        cycle = _layout_cycle(data, fr, block)
        if cycle is None:
            continue
        p = len(cycle)
        block_reps = block.reps * len(block.cycle) // p
        if block_reps < MIN_REPS:
            continue
        step = max(1, _SUB // p)
        for r0 in range(0, block_reps, step):
            reps = min(step, block_reps - r0)
            first = block.first + r0 * p
            bad, why = _sub_block(data, arr, int(fr.starts[first]), cycle, reps, first, check_crc, out, handled)
            if bad is not None:
                return handled, bad, why
    return handled, None, ""


def _signature(t: bytes) -> bytes | None:
    """A record's bytes with wall time, step and value blanked: equal for records of one template."""
    shape = _layout(t)
    if shape is None:
        return None
    nstep = shape[0]
    return t[:1] + t[9 : 10] + bytes([nstep]) + t[10 + nstep : -4]


def _layout_cycle(data: bytes, fr: Frame, block: Block) -> tuple[int, ...] | None:
    """The block's cycle of record layouts: its cycle of sizes repeated until the tags repeat too (one
    size may carry several tags, e.g. ``x``, ``y``, ``z``).  None if the first records show no cycle."""
    n = min(_PROBE, block.reps * len(block.cycle))
    sigs = []
    for i in range(block.first, block.first + n):
        a = int(fr.starts[i]) + 12
        sigs.append(_signature(data[a : a + int(fr.lengths[i])]))
    for q in range(len(block.cycle), n // 2 + 1, len(block.cycle)):
        if None not in sigs[:q] and sigs[q:] == sigs[:-q]:
            return block.cycle * (q // len(block.cycle))
    return None


def _sub_block(data: bytes, arr: np.ndarray, base: int, cycle: tuple[int, ...], reps: int, first: int,
               check_crc: bool, out: Collector, handled: np.ndarray) -> tuple[int | None, str]:  # fmt: skip
    width = sum(cycle)
    blk = arr[base : base + reps * width].reshape(reps, width)
    errors: list[tuple[int, str]] = []
    offset = 0
    for j, size in enumerate(cycle):
        recs = first + np.arange(reps, dtype=np.int64) * len(cycle) + j
        err = _position(data, blk, base, offset, size - 16, recs, check_crc, out, handled)
        if err is not None:
            errors.append(err)
        offset += size
    return min(errors) if errors else (None, "")


def _equal(blk: np.ndarray, a: int, b: int, want: bytes) -> np.ndarray:
    """Rows whose bytes ``a:b`` equal ``want``, compared 8 (or 4, 2, 1) bytes at a time."""
    ok = np.ones(len(blk), dtype=bool)
    at = a
    for width, dtype in ((8, "<u8"), (4, "<u4"), (2, "<u2"), (1, "u1")):
        while b - at >= width:
            ok &= blk[:, at : at + width].view(dtype)[:, 0] == int.from_bytes(want[at - a : at - a + width], "little")
            at += width
    return ok


def _position(data: bytes, blk: np.ndarray, base: int, o: int, n: int, recs: np.ndarray, check_crc: bool,
              out: Collector, handled: np.ndarray) -> tuple[int, str] | None:  # fmt: skip
    """Decode cycle position ``o`` (data length ``n``) of every repetition in ``blk``.

    Multi-byte fields are read through strided views of ``blk`` (``view`` on a 2-D slice whose last
    axis holds the field's bytes): no gathers, one copy per output array."""
    blk = np.ascontiguousarray(blk[:, o : o + n + 16])  # this position's records: one pass, then cache-hot
    base, o = base + o, 0
    if check_crc:
        hdr = blk[:, o + 8 : o + 12].view("<u4")[:, 0]
        bad = np.flatnonzero(hdr != mask(crc32c(struct.pack("<Q", n))))
        if len(bad):
            return int(recs[bad[0]]), "length checksum mismatch"
    t = data[base + o + 12 : base + o + 12 + n]
    shape = _layout(t)
    if shape is None:
        return None
    nstep, tag_at, tlen = shape
    d = o + 12
    var = np.r_[1:9, n - 4 : n, 10 : 10 + nstep]  # wall time, value, step bytes
    tmpl = np.frombuffer(t, dtype=np.uint8)
    fixed = ((0, 1), (9, 10), (10 + nstep, n - 4)) if nstep else ((0, 1), (9, n - 4))  # not wall/step/value
    good = np.ones(len(blk), dtype=bool)
    for a, b in fixed:
        good &= _equal(blk, d + a, d + b, t[a:b])
    steps = np.zeros(len(blk), dtype=np.uint64)
    for k in range(nstep):  # the step varint: continuation bits as in the template, then its value
        byte = blk[:, d + 10 + k]
        good &= (byte >= 0x80) if k < nstep - 1 else (byte < 0x80)
        steps |= (byte & 0x7F).astype(np.uint64) << np.uint64(7 * k)
    if check_crc:
        effects = np.zeros(len(blk), dtype=np.uint32)
        for k in var.tolist():
            effects ^= _EFFECTS[n - 1 - k].take(blk[:, d + k])
        const = crc32c(t) ^ int(np.bitwise_xor.reduce(_EFFECTS[n - 1 - var, tmpl[var]]))
        stored = blk[:, d + n : d + n + 4].view("<u4")[:, 0]
        bad = np.flatnonzero(good & (mask_array(effects ^ np.uint32(const)) != stored))
        if len(bad):
            return int(recs[bad[0]]), "data checksum mismatch"
    walls = blk[:, d + 1 : d + 9].view("<f8")[:, 0].astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):  # float32 -> float64 of signalling NaNs
        values = blk[:, d + n - 4 : d + n].view("<f4")[:, 0].astype(np.float64)
    steps_f = steps.view(np.int64).astype(np.float64)
    tag = t[tag_at : tag_at + tlen].decode("utf-8", "replace")
    if not good.all():
        recs, steps_f, values, walls = recs[good], steps_f[good], values[good], walls[good]
    if len(recs):
        out.add(True, tag, recs, steps_f, values, walls)
        handled[recs] = True
    return None
