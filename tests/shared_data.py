"""The one way tests reach the reference data in `../shared/data` (real logs of real RL projects).

That folder sits beside the repository on development and CI machines, never in a clone or an
sdist: a test that needs it calls `need_shared(...)` (or takes the `shared` fixture, or is marked
`requires_shared`) and skips with the single message below when it is absent. The format tests
that matter for a clone run on the small samples in `tests/data/formats/` instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# OPENRLB_SHARED_DATA points elsewhere (e.g. at a missing folder, to see what a clone runs)
SHARED_DATA = Path(os.environ.get("OPENRLB_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
SKIP_REASON = "needs ../shared/data (reference RL data beside the repository; absent in a clone)"

requires_shared = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=SKIP_REASON)


def need_shared(*parts: str | Path) -> Path:
    """`../shared/data/<parts>`, or skip the calling test when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(SKIP_REASON)
    return path
