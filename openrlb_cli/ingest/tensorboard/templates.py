"""The fast path for scalar records: decoded and checksummed one template at a time.

Why: nearly every record of a scalar log is ``Event{1: wall_time, 2: step, 5: Summary{1: Value{1:
tag, 2: simple_value}}}``, and records of one tag and size are byte-identical except for wall time,
step and value.  So records are bucketed by size (and last tag byte), gathered into a ``(records,
size)`` matrix, and taken a template (the first record not yet taken) at a time: every record whose other bytes equal
the template's is decoded by reading the three fields as columns.  This works whether tags repeat in
a fixed cycle (SummaryWriter loops) or irregularly (CleanRL's episodic returns between updates).

Exactness does not rest on guessing.  A record is taken only if all its bytes other than wall time,
step and value equal the template's and its step varint ends where the template's does -- so it
parses exactly like the template.  Its data checksum is the template's CRC32C XOR the CRC effects of
the bytes where the two differ (CRC32C is affine over GF(2)), which is the record's true CRC32C,
compared with the stored one; its length checksum is the one of its size.  Records not taken go to
the general decoder (:mod:`.tfdecode`).
"""

from __future__ import annotations

import struct

import numpy as np

from openrlb_cli.ingest.tensorboard.crc32c import byte_effects, crc32c, mask, mask_array
from openrlb_cli.ingest.tensorboard.decode import Collector
from openrlb_cli.ingest.tensorboard.tfrecord import Frame, rows

MIN_GROUP = 64  # fewer records in a bucket: the per-column numpy calls cost more than they save
MAX_TEMPLATES = 64  # templates tried per bucket; the records left after them go to the general path
MAX_SIZE = 254  # larger records (long tags) go to the general path; keeps bucket keys in 16 bits
_SLICE = 1 << 18  # records of a bucket gathered at once: bounds the temporaries
_EFFECTS = byte_effects()


def decode_templates(
    data: bytes | memoryview | np.ndarray, arr: np.ndarray, fr: Frame, check_crc: bool, out: Collector
) -> tuple[np.ndarray, int | None, str]:
    """Decode the records of ``fr`` that match a simple-value template into ``out``.

    Returns the mask of records taken, and the number of the first record whose checksum is wrong
    (with the reason), or None.  Records not taken are left to the general decoder."""
    handled = np.zeros(len(fr.starts), dtype=bool)
    starts, lengths = fr.starts, fr.lengths
    if not len(starts):
        return handled, None, ""
    # bucket by (size, last tag byte): a radix sort on 16-bit keys, each bucket in file order; a bucket
    # is then usually one template.  Buckets span the whole frame (a tag written once per file still
    # fills one when many files are decoded together); each is gathered _SLICE records at a time
    size = np.minimum(lengths, MAX_SIZE + 1)
    last = arr[np.clip(starts + 6 + size, 0, len(arr) - 1)]  # data byte n - 6, if n >= 20
    keys = ((size << 8) | last).astype(np.uint16)
    order = np.argsort(keys, kind="stable")
    cuts = np.flatnonzero(np.diff(keys[order])) + 1
    errors = []
    for bucket in np.split(order, cuts):
        n = int(lengths[bucket[0]])
        if len(bucket) < MIN_GROUP or not 20 <= n <= MAX_SIZE:
            continue
        for lo in range(0, len(bucket), _SLICE):
            recs = bucket[lo : lo + _SLICE]
            err = _bucket(rows(arr, starts[recs], n + 16), n, recs, check_crc, out, handled)
            if err is not None:
                errors.append(err)
    if errors:
        bad, why = min(errors)
        return handled, bad, why
    return handled, None, ""


def _layout(t: bytes) -> tuple[int, int, int] | None:
    """(step varint length, tag start, tag length) if ``t`` is a one-``simple_value`` Event, else None."""
    n = len(t)
    if n < 20 or t[0] != 0x09:
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


def _equal(mat: np.ndarray, a: int, b: int, want: bytes) -> np.ndarray:
    """Rows whose bytes ``a:b`` equal ``want``, compared 8 (or 4, 2, 1) bytes at a time."""
    ok = np.ones(len(mat), dtype=bool)
    at = a
    for width, dtype in ((8, "<u8"), (4, "<u4"), (2, "<u2"), (1, "u1")):
        while b - at >= width:
            ok &= mat[:, at : at + width].view(dtype)[:, 0] == int.from_bytes(want[at - a : at - a + width], "little")
            at += width
    return ok


def _bucket(mat: np.ndarray, n: int, recs: np.ndarray, check_crc: bool, out: Collector,
            handled: np.ndarray) -> tuple[int, str] | None:  # fmt: skip
    """Records ``recs``, all with ``n`` data bytes, gathered as ``mat`` (framing included)."""
    if check_crc:
        bad = np.flatnonzero(mat[:, 8:12].view("<u4")[:, 0] != mask(crc32c(struct.pack("<Q", n))))
        if len(bad):
            return int(recs[bad[0]]), "length checksum mismatch"
    skipped = 0
    errors = []
    for _ in range(MAX_TEMPLATES):
        if skipped >= len(mat):
            break
        t = mat[skipped, 12 : 12 + n].tobytes()
        shape = _layout(t)
        if shape is None:  # not a simple value: the general path reads it
            skipped += 1
            continue
        good = _match(mat[:, 12 : 12 + n], t, shape[0])
        every = bool(good.all())
        taken = mat if every else mat[good]
        err = _take(taken[:, 12 : 12 + n], taken[:, 12 + n : 16 + n], t, shape, recs[good], check_crc, out)
        if err is not None:
            errors.append(err)
        handled[recs[good]] = True
        if every:
            break
        mat, recs = mat[~good], recs[~good]
    return min(errors) if errors else None


def _match(data: np.ndarray, t: bytes, nstep: int) -> np.ndarray:
    """Rows laid out as template ``t``: equal outside wall time, step and value, same varint length."""
    n = len(t)
    fixed = ((0, 1), (9, 10), (10 + nstep, n - 4)) if nstep else ((0, 1), (9, n - 4))
    good = np.ones(len(data), dtype=bool)
    for a, b in fixed:
        good &= _equal(data, a, b, t[a:b])
    for k in range(nstep):  # continuation bits as in the template
        byte = data[:, 10 + k]
        good &= (byte >= 0x80) if k < nstep - 1 else (byte < 0x80)
    return good


def _take(data: np.ndarray, crcs: np.ndarray, t: bytes, shape: tuple[int, int, int], recs: np.ndarray,
          check_crc: bool, out: Collector) -> tuple[int, str] | None:  # fmt: skip
    """Check and decode records ``data`` that all match template ``t``."""
    nstep, tag_at, tlen = shape
    n = len(t)
    var = np.r_[1:9, n - 4 : n, 10 : 10 + nstep]  # wall time, value, step bytes
    if check_crc:
        tmpl = np.frombuffer(t, dtype=np.uint8)
        effects = np.zeros(len(data), dtype=np.uint32)
        for k in var.tolist():
            effects ^= _EFFECTS[n - 1 - k].take(data[:, k])
        const = crc32c(t) ^ int(np.bitwise_xor.reduce(_EFFECTS[n - 1 - var, tmpl[var]]))
        bad = np.flatnonzero(mask_array(effects ^ np.uint32(const)) != crcs.view("<u4")[:, 0])
        if len(bad):
            return int(recs[bad[0]]), "data checksum mismatch"
    steps = np.zeros(len(data), dtype=np.uint64)
    for k in range(nstep):
        steps |= (data[:, 10 + k] & 0x7F).astype(np.uint64) << np.uint64(7 * k)
    walls = data[:, 1:9].view("<f8")[:, 0].astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):  # float32 -> float64 of signalling NaNs
        values = data[:, n - 4 : n].view("<f4")[:, 0].astype(np.float64)
    tag = t[tag_at : tag_at + tlen].decode("utf-8", "replace")
    out.add(True, tag, recs, steps.view(np.int64).astype(np.float64), values, walls)
    return None
