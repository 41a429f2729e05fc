"""Point chunks: float64 arrays <-> BLOBs.

A chunk is three little-endian float64 arrays of equal length. Wall times are NULL when every one
is unknown (NaN) to save a third of the space for sources that have none (CSV tables).
"""

from __future__ import annotations

import numpy as np

CHUNK_POINTS = 1 << 18  # 262,144 points (6 MiB of BLOB) per chunk row at most
_LE = np.dtype("<f8")


def encode(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a, dtype=_LE).tobytes()


def encode_walls(a: np.ndarray) -> bytes | None:
    return None if np.isnan(a).all() else encode(a)


def decode(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=_LE)


def decode_walls(blob: bytes | None, n: int) -> np.ndarray:
    return np.full(n, np.nan) if blob is None else np.frombuffer(blob, dtype=_LE)


def finite_min_max(a: np.ndarray) -> tuple[float | None, float | None]:
    finite = a[np.isfinite(a)]
    if finite.size == 0:
        return None, None
    return float(finite.min()), float(finite.max())
