"""A plain (non-editable) wheel carries the migrations and works from any directory."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_ships_migrations_and_opens_a_store(tmp_path):
    pytest.importorskip("hatchling")
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(wheels), str(ROOT)], check=True, timeout=300)
    (wheel,) = wheels.glob("openrlb-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(n for n in names if n.startswith("openrlb_cli/migrations/"))
    expected = sorted(f"openrlb_cli/migrations/{p.name}" for p in (ROOT / "migrations").glob("*.sql"))
    assert shipped == expected and expected
    assert "openrlb_cli/data/atari_scores.csv" in names
    assert "openrlb_cli/py.typed" in names  # PEP 561: users' type checkers read the package's hints
    # the web assets of `openrlb view` and the interactive report, uPlot with its license
    assert {f"openrlb_cli/render/static/{n}" for n in ("uPlot.iife.min.js", "uPlot.min.css", "uPlot.LICENSE",
                                                        "charts.js", "charts.css")} <= set(names)
    assert {f"openrlb_cli/view/static/{n}" for n in ("view.html", "view.js", "view.css")} <= set(names)
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
         "from openrlb_cli.cli import run; sys.exit(run(['--db', 'x.db', 'info', '--json']))", str(site)],
        cwd=elsewhere, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["schema_version"] == len(expected)
