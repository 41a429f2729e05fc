"""The CLI starts without importing the heavy libraries its listing commands do not need.

A behaviour test, not a timing test: each command runs in a fresh interpreter, which then reports
which of the heavy modules ended up in `sys.modules`. Timings are in benchmarks/bench_startup.py.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from openrlb_cli.cli import coercion

# pydantic: typer >= 0.29 converts parameters with it (cli/coercion.py does the plain ones without);
# typer.rich_utils: typer's help renderer, which pulls in markdown-it and pygments (cli/help_render.py).
# typer <= 0.28 imports rich_utils itself (0.15 on `import typer`, 0.2x for any option's help line):
# its cost there is typer's own, as with any typer app.
HEAVY = ("numpy", "pandas", "scipy", "matplotlib", "sqlite_utils", "requests", "pyarrow", "pydantic",
         *(("typer.rich_utils",) if coercion.FAST_PATH else ()))

_PROBE = f"""
import json, sys
from openrlb_cli.cli import run
code = run(sys.argv[1:]) if len(sys.argv) > 1 else 0
print(json.dumps({{"code": code, "heavy": sorted(m for m in {HEAVY!r} if m in sys.modules)}}))
"""


def _probe(*argv: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A migrated store with one run (made in-process, so the probes only read it)."""
    from openrlb_cli.model import RunRecord, Series
    from openrlb_cli.store import Store

    path = tmp_path_factory.mktemp("startup") / "store.db"
    with Store(path) as s:
        s.write_run(RunRecord(source="test", external_id="r1", experiment="ppo", env="CartPole-v1", seed=1,
                              tags=["t"], config={"lr": 0.1},
                              series={"charts/episodic_return": Series([1, 2, 3], [0.5, 1.5, 2.5])}))
        uid = s.runs()[0].uid
    return path, uid


def test_importing_the_cli_imports_nothing_heavy():
    assert _probe()["heavy"] == []


@pytest.mark.parametrize("argv", [["--help"], ["plot", "--help"], ["fetch", "wandb", "--help"], ["track", "--help"],
                                  ["view", "--help"], ["sensitivity", "--help"]])
def test_help_imports_nothing_heavy(argv):
    result = _probe(*argv)
    assert result == {"code": 0, "heavy": []}


@pytest.mark.parametrize("argv", [["info"], ["info", "--json"], ["runs"], ["runs", "--json", "env=CartPole-v1"],
                                  ["show", "{uid}"], ["show", "{uid}", "--json"], ["sources"]])
def test_listing_commands_import_nothing_heavy(store, argv):
    path, uid = store
    result = _probe("--db", str(path), *(a.format(uid=uid) for a in argv))
    assert result == {"code": 0, "heavy": []}


def test_commands_that_need_the_libraries_still_load_them(store):
    """The probe can see a heavy import: `export` builds a pandas frame."""
    path, _ = store
    out = path.parent / "points.csv"
    result = _probe("--db", str(path), "export", "--metric", "charts/episodic_return", "-o", str(out))
    assert result["code"] == 0 and "pandas" in result["heavy"]
    assert out.read_text().count("\n") == 4


def test_a_new_store_still_gets_its_migrations(tmp_path):
    """sqlite-utils is imported only to migrate; a fresh store is migrated to the latest schema."""
    from openrlb_cli.store import database

    path = tmp_path / "new.db"
    result = _probe("--db", str(path), "info")
    assert result["code"] == 0 and "sqlite_utils" in result["heavy"]
    conn = database.connect(path, create=False)
    try:
        assert database.schema_version(conn) == len(database.migration_files())
    finally:
        conn.close()
    assert _probe("--db", str(path), "info")["heavy"] == []


def test_track_interval_default_matches_the_runner():
    from openrlb_cli.cli import track_cmd
    from openrlb_cli.track import runner

    assert track_cmd.DEFAULT_INTERVAL == runner.DEFAULT_INTERVAL


def test_ingesting_event_files_into_a_new_store_does_not_import_pandas(tmp_path):
    """sqlite-utils (for the migrations of a new store) would import pandas, and so would the
    readers of other formats: ingesting a directory of event files needs neither."""
    from openrlb_cli.ingest.tensorboard.events import write_scalars

    run = tmp_path / "runs" / "CartPole-v1__ppo__1__1700000000"
    run.mkdir(parents=True)
    write_scalars(run / "events.out.tfevents.1700000000.host", [("charts/episodic_return", 5, 1.0, 1.7e9)])
    result = _probe("--db", str(tmp_path / "new.db"), "--quiet", "ingest", str(tmp_path / "runs"))
    assert result["code"] == 0 and "sqlite_utils" in result["heavy"] and "pandas" not in result["heavy"]
    import sqlite3

    with sqlite3.connect(tmp_path / "new.db") as conn:
        assert conn.execute("SELECT count(*) FROM series").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0] > 0
