"""`openrlb_cli` type-checks clean under mypy with the configuration in pyproject.toml ([tool.mypy]).

Why a test: the type hints are only worth their cost if they stay true, and CI runs the test suite
(slow tests included), so a change that makes a hint lie fails here, with mypy's own report.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_package_is_clean_under_mypy(tmp_path: Path) -> None:
    pytest.importorskip("mypy", reason="mypy is not installed (it is in the `test` extra)")
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
         "--cache-dir", str(tmp_path / "mypy-cache"), "--no-error-summary", "--hide-error-context"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, f"mypy found errors:\n{proc.stdout}{proc.stderr}"


def test_package_ships_py_typed() -> None:
    """PEP 561: the marker that tells type checkers of the library's users to read its hints."""
    assert (ROOT / "openrlb_cli" / "py.typed").is_file()
