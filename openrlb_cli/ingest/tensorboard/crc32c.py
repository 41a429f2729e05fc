"""CRC32C (Castagnoli) checksums for TensorBoard record framing, fast without a C extension.

Why: every TensorBoard record carries two masked CRC32C checksums, and a per-byte pure-python CRC
runs at ~5 MB/s, far too slow for multi-megabyte event files.  When the optional C package
``google_crc32c`` (extra ``fast``) or ``crc32c`` is importable we use it.  Otherwise we use a numpy
formulation that checks many records per call:

CRC is affine over GF(2).  With ``R(s, m)`` the raw register after feeding message ``m`` from state
``s``, ``R(s, m) = shift^len(m)(s) XOR (XOR_j P[d_j][m_j])`` where ``d_j`` is byte ``j``'s distance
from the end of the message and ``P[d][v]`` is the effect of byte value ``v`` followed by ``d`` zero
bytes.  So one table gather per byte (index ``d << 8 | byte`` fits in uint16 for ``d < 256``) plus a
segmented XOR (``np.bitwise_xor.reduceat``) checksums thousands of short records at once.  Segments
longer than 256 bytes are cut into end-aligned 256-byte pieces and folded with a Horner loop.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

_POLY = 0x82F63B78  # reflected Castagnoli polynomial
_ALL = 0xFFFFFFFF
_D = 256  # longest piece the distance table covers; keeps (d << 8 | byte) in uint16
_BATCH = 4 << 20  # bytes per numpy pass, bounds the temporaries (~8 bytes per input byte)


def _make_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        table.append(c)
    return table


_T0 = _make_table()
_T0_NP = np.array(_T0, dtype=np.uint32)


def _zero_byte(x: np.ndarray) -> np.ndarray:
    """Feed one zero byte to raw CRC registers ``x`` (multiplication by x^8 modulo the polynomial)."""
    return _T0_NP[x & 0xFF] ^ (x >> 8)


def _build_tables() -> tuple[np.ndarray, list[int], list[list[int]]]:
    dist = np.empty((_D, 256), dtype=np.uint32)
    dist[0] = _T0_NP
    for d in range(1, _D):
        dist[d] = _zero_byte(dist[d - 1])
    init = [_ALL]  # init[l] = shift^l(0xFFFFFFFF): the initial register's contribution after l bytes
    for _ in range(_D):
        c = init[-1]
        init.append(_T0[c & 0xFF] ^ (c >> 8))
    basis = np.array([[v << (8 * k) for v in range(256)] for k in range(4)], dtype=np.uint32)
    for _ in range(_D):
        basis = _zero_byte(basis)
    return dist.ravel(), init, basis.tolist()


_DIST, _INIT, _SHIFT_D = _build_tables()
_INIT_NP = np.array(_INIT, dtype=np.uint32)
_RAMP8 = ((np.arange(_BATCH + _D + 1, dtype=np.int64) + 1) << 8).astype(np.uint16)


def _load_c_backend() -> tuple[str, Callable[[bytes], int]] | None:
    try:
        import google_crc32c

        if getattr(google_crc32c, "implementation", "c") == "c":
            return "google_crc32c", google_crc32c.value
    except ImportError:
        pass
    try:
        import crc32c as _crc32c_pkg

        return "crc32c", _crc32c_pkg.crc32c
    except ImportError:
        return None


_C = _load_c_backend()
BACKEND: str = _C[0] if _C else "numpy"
"""Which implementation :func:`crc32c_segments` uses: ``google_crc32c``, ``crc32c`` or ``numpy``."""


def byte_effects() -> np.ndarray:
    """A read-only ``(256, 256)`` uint32 table: row ``d``, column ``v`` is what byte value ``v`` followed
    by ``d`` more bytes contributes to the raw CRC register.  CRC32C is affine over GF(2), so two
    messages of one length differ in CRC by the XOR of these effects over the bytes where they differ."""
    table = _DIST.reshape(_D, 256)
    table.flags.writeable = False
    return table


def mask(crc: int) -> int:
    """TensorBoard/TFRecord checksum masking: rotate right by 15 and add a constant."""
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & _ALL


def mask_array(crcs: np.ndarray) -> np.ndarray:
    """Vectorised :func:`mask` over a uint32 array (uint32 arithmetic wraps modulo 2^32)."""
    crcs = crcs.astype(np.uint32, copy=False)
    return ((crcs >> np.uint32(15)) | (crcs << np.uint32(17))) + np.uint32(0xA282EAD8)


def _crc_python(data: bytes | bytearray | memoryview) -> int:
    c = _ALL
    table = _T0
    for b in bytes(data):
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ _ALL


def crc32c(data: bytes | bytearray | memoryview) -> int:
    """Plain (unmasked) CRC32C of ``data``."""
    if _C is not None:
        return int(_C[1](bytes(data)))  # the C packages want read-only bytes, not memoryviews
    if len(data) < 64:
        return _crc_python(data)
    arr = np.frombuffer(data, dtype=np.uint8)
    return int(crc32c_segments(arr, np.array([0, len(arr)], dtype=np.int64))[0])


def masked_crc32c(data: bytes | bytearray | memoryview) -> int:
    """The checksum stored in TensorBoard/TFRecord files."""
    return mask(crc32c(data))


def _raw_pieces(arr: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Raw CRC register (initial state 0) of contiguous, back-to-back pieces of 1..256 bytes."""
    out = np.empty(len(starts), dtype=np.uint32)
    if not len(starts):
        return out
    cuts = np.searchsorted(starts, np.arange(int(starts[0]) + _BATCH, int(ends[-1]), _BATCH), side="right")
    lo = 0
    for hi in [*cuts.tolist(), len(starts)]:
        if hi <= lo:
            continue
        base = int(starts[lo])
        n = int(ends[hi - 1]) - base
        # key = (distance of the byte from the end of its piece) << 8 | byte; uint16 arithmetic wraps,
        # but the true distance is < 256 so the result is exact
        key = np.repeat(((ends[lo:hi] - base) << 8).astype(np.uint16), ends[lo:hi] - starts[lo:hi])
        key -= _RAMP8[:n]
        key |= arr[base : base + n]
        out[lo:hi] = np.bitwise_xor.reduceat(_DIST[key], starts[lo:hi] - base)
        lo = hi
    return out


def _numpy_segments(arr: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    starts, ends = bounds[:-1], bounds[1:]
    lens = ends - starts
    result = np.zeros(len(starts), dtype=np.uint32)
    if not len(lens) or lens.max() <= 0:
        return result
    if lens.max() <= _D:
        live = lens > 0
        if live.all():
            result[:] = _INIT_NP[lens] ^ _raw_pieces(arr, starts, ends) ^ np.uint32(_ALL)
        else:
            result[live] = _INIT_NP[lens[live]] ^ _raw_pieces(arr, starts[live], ends[live]) ^ np.uint32(_ALL)
        return result
    npieces = np.where(lens > 0, (lens + (_D - 1)) // _D, 0)
    seg = np.repeat(np.arange(len(starts)), npieces)
    first = np.cumsum(npieces) - npieces
    j = np.arange(len(seg)) - np.repeat(first, npieces)
    piece_end = ends[seg] - _D * (npieces[seg] - 1 - j)
    piece_start = np.where(j == 0, starts[seg], piece_end - _D)
    raw = _raw_pieces(arr, piece_start, piece_end)
    single = npieces == 1
    result[single] = _INIT_NP[lens[single]] ^ raw[first[single]] ^ np.uint32(_ALL)
    q0, q1, q2, q3 = _SHIFT_D
    for i in np.flatnonzero(npieces > 1).tolist():
        p = int(first[i])
        k = int(npieces[i])
        head = int(piece_end[p] - piece_start[p])
        acc = _INIT[head] ^ int(raw[p])
        for r in raw[p + 1 : p + k].tolist():
            acc = q0[acc & 0xFF] ^ q1[(acc >> 8) & 0xFF] ^ q2[(acc >> 16) & 0xFF] ^ q3[acc >> 24] ^ r
        result[i] = acc ^ _ALL
    return result


def _use_c(backend: str | None) -> bool:
    if backend not in (None, "numpy", *([_C[0]] if _C else [])):
        raise ValueError(f"CRC32C backend {backend!r} is not available")
    return _C is not None and backend != "numpy"


def crc32c_segments(data: bytes | np.ndarray, bounds: np.ndarray, backend: str | None = None) -> np.ndarray:
    """Unmasked CRC32C of each ``data[bounds[i]:bounds[i+1]]`` (consecutive segments), as uint32.

    ``bounds`` is a non-decreasing int64 array.  ``backend`` forces an implementation (``"numpy"`` or
    the name of an importable C package); default :data:`BACKEND`.
    """
    bounds = np.asarray(bounds, dtype=np.int64)
    if len(bounds) < 2:
        return np.zeros(0, dtype=np.uint32)
    if not _use_c(backend):
        return _numpy_segments(_as_array(data), bounds)
    fn, raw, b = _C[1], _as_bytes(data), bounds.tolist()  # type: ignore[index]
    return np.fromiter((fn(raw[b[i] : b[i + 1]]) for i in range(len(b) - 1)), np.uint32, len(b) - 1)


def masked_record_crcs(
    data: bytes | np.ndarray, starts: np.ndarray, lengths: np.ndarray, backend: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Masked CRC32C of each TFRecord's 8 length bytes and of its data, for back-to-back records.

    A record is ``u64 length | u32 crc(length) | data | u32 crc(data)``; ``lengths`` are data lengths.
    A C backend is only used when records are long on average: per-call overhead (~0.3 us) makes the
    vectorised numpy kernel faster for the short records that scalar logs are made of.
    """
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    if _use_c(backend) and (backend is not None or (len(lengths) and lengths.mean() > 1024)):
        fn, raw = _C[1], _as_bytes(data)  # type: ignore[index]
        s, ln = starts.tolist(), lengths.tolist()
        hdr = np.fromiter((fn(raw[a : a + 8]) for a in s), np.uint32, len(s))
        body = np.fromiter((fn(raw[a + 12 : a + 12 + n]) for a, n in zip(s, ln, strict=True)), np.uint32, len(s))
        return mask_array(hdr), mask_array(body)
    bounds = np.empty(4 * len(starts) + 1, dtype=np.int64)
    bounds[0:-1:4] = starts
    bounds[1:-1:4] = starts + 8
    bounds[2:-1:4] = starts + 12
    bounds[3:-1:4] = starts + 12 + lengths
    bounds[-1] = starts[-1] + 16 + lengths[-1] if len(starts) else 0
    if not np.array_equal(bounds[4::4], bounds[3::4] + 4):
        raise ValueError("records must be back to back")
    crcs = _numpy_segments(_as_array(data), bounds)
    return mask_array(crcs[0::4]), mask_array(crcs[2::4])


def _as_array(data: bytes | np.ndarray) -> np.ndarray:
    return data if isinstance(data, np.ndarray) else np.frombuffer(data, dtype=np.uint8)


def _as_bytes(data: bytes | np.ndarray) -> bytes:
    return data.tobytes() if isinstance(data, np.ndarray) else bytes(data)
