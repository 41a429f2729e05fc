"""Chunk encodings: compact only when the round trip is bit for bit, and chosen by BLOB length."""

from __future__ import annotations

import sqlite3
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from openrlb_cli.model import RunRecord, Series
from openrlb_cli.store import Store, codec


def _bits(a: np.ndarray) -> list[int]:
    return np.ascontiguousarray(a, dtype="<f8").view(np.uint64).tolist()


@pytest.mark.parametrize(
    ("steps", "compact"),
    [
        (np.arange(10, dtype=float), True),
        (np.arange(5, 5 + 2048 * 7, 2048, dtype=float), True),
        (np.arange(3) * 0.1, True),  # the decoder's own formula
        (np.array([0.3, 0.6, 0.9]), False),  # evenly spaced in decimal, but 0.3 + 2 * 0.3 != 0.9 in binary
        (np.array([1.0, 2.0, 4.0]), False),
        (np.array([0.0, 1.0]), False),  # n = 2 is always plain: 16 bytes would be ambiguous
        (np.array([7.0]), False),
        (np.array([-0.0, 1.0, 2.0]), False),  # -0.0 + 0 * 1.0 is +0.0: not bit-exact
        (np.array([np.nan, np.nan, np.nan]), False),
        (np.array([1e308, 1.5e308, np.inf]), True),  # the formula overflows to inf too: bit-exact
        (np.array([1e308, 1.5e308, 1.7e308]), False),
        (np.array([5.0, 5.0, 5.0]), True),  # spacing 0
    ],
)
def test_steps_round_trip(steps, compact):
    blob = codec.encode_steps(steps)
    assert len(blob) == (16 if compact else 8 * len(steps))
    assert _bits(codec.decode_steps(blob, len(steps))) == _bits(steps)


def test_values_use_float32_only_when_exact():
    f32 = np.array([1.5, -0.0, np.inf, -np.inf, 3.4028234663852886e38, 1e-45], dtype=np.float32)
    assert len(codec.encode_values(f32.astype(float))) == 4 * len(f32)
    quiet_nan_with_payload = np.array([0x7FF8000020000000], dtype=np.uint64).view(np.float64)  # a float32 NaN's payload
    for vals in (np.array([0.1, 0.2]), np.array([1e300]), np.array([1.0, 1e-50]), quiet_nan_with_payload):
        blob = codec.encode_values(vals)
        assert _bits(codec.decode_values(blob, len(vals))) == _bits(vals)
    odd_nan = np.array([0x7FF8000000000001], dtype=np.uint64).view(np.float64)  # payload bits float32 lacks
    assert len(codec.encode_values(odd_nan)) == 8
    assert _bits(codec.decode_values(codec.encode_values(odd_nan), 1)) == _bits(odd_nan)


@settings(max_examples=200, deadline=None)
@given(
    hnp.arrays(np.float64, st.integers(1, 40), elements=st.floats(allow_nan=True, allow_infinity=True)),
    st.booleans(),
)
def test_property_any_array_round_trips(a, as_float32):
    if as_float32:
        with np.errstate(over="ignore"):
            a = a.astype(np.float32).astype(np.float64)
    for encode, decode in ((codec.encode_steps, codec.decode_steps), (codec.encode_values, codec.decode_values)):
        assert _bits(decode(encode(a), len(a))) == _bits(a)
    spaced = a[0] + np.arange(len(a)) * 3.0 if np.isfinite(a[0]) else a
    assert _bits(codec.decode_steps(codec.encode_steps(spaced), len(a))) == _bits(spaced)


def test_store_keeps_compact_chunks_and_names_them(db_path):
    steps = np.arange(0, 3000 * 8, 8, dtype=float)
    vals = np.sin(steps).astype(np.float32).astype(float)
    rec = RunRecord(source="local", external_id="a")
    rec.series["loss"] = Series(steps, vals, 1.7e9 + np.sqrt(steps))
    rec.series["irregular"] = Series(steps**1.5, np.sin(steps), np.full(len(steps), np.nan))
    with Store(db_path) as store:
        run_id = store.write_run(rec)
        for key in ("loss", "irregular"):
            got, want = store.load_series(run_id, key), rec.series[key]
            for field in ("steps", "values", "wall_times"):
                assert _bits(getattr(got, field)) == _bits(getattr(want, field)), (key, field)
    conn = sqlite3.connect(db_path)
    rows = conn.execute(
        "SELECT s.key, e.steps_encoding, e.vals_encoding, e.walls_encoding, length(c.steps), length(c.vals) "
        "FROM chunk_encodings e JOIN chunks c ON c.id = e.id JOIN series s ON s.id = e.series_id ORDER BY s.key"
    ).fetchall()
    assert rows == [
        ("irregular", "float64", "float64", "none", 8 * 3000, 8 * 3000),
        ("loss", "spaced", "float32", "float64", 16, 4 * 3000),
    ]
    blob = conn.execute("SELECT steps FROM chunks c JOIN series s ON s.id = c.series_id WHERE key='loss'").fetchone()
    assert struct.unpack("<dd", blob[0]) == (0.0, 8.0)  # documented layout, readable without openrlb


def test_readme_recipe_reads_compact_chunks(db_path):
    """The docs' read-a-series-by-hand snippet (the store's design page) decodes every encoding the store writes."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "docs" / "explanation" / "store.md").read_text()
    snippet = readme.split("To read a series by hand:", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    steps = np.concatenate([np.arange(0, 3000, 5, dtype=float), [4000.0, 4100.0, 4500.0]])
    with Store(db_path) as store:
        for chunk in np.array_split(steps, 3):  # two evenly spaced chunks, then a plain one
            rec = RunRecord(source="local", external_id="x")
            rec.series["m"] = Series(chunk, np.ones(len(chunk)), np.full(len(chunk), np.nan))
            run_id = store.write_run(rec)
        uid = store.conn.execute("SELECT uid FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
        want = store.load_series(run_id, "m").steps
        kinds = [r[0] for r in store.conn.execute("SELECT steps_encoding FROM chunk_encodings ORDER BY seq")]
    assert kinds == ["spaced", "spaced", "float64"]
    code = snippet.replace('"openrlb.db"', repr(str(db_path))).replace('"3f2a9c01de"', repr(uid))
    code = code.replace('"charts/episodic_return"', '"m"')
    scope: dict = {}
    exec(code, scope)  # noqa: S102 - the documented recipe itself
    assert scope["steps"].tolist() == want.tolist() == steps.tolist()
