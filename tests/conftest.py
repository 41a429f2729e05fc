"""Shared fixtures: a fresh store path, the CLI runner, and the location of ../shared data."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def no_credentials(monkeypatch, tmp_path):
    """Tests must not depend on (or leak) the developer's W&B/MLflow credentials."""
    for var in ("WANDB_API_KEY", "WANDB_BASE_URL", "MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME",
                "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))


@pytest.fixture(scope="session")
def tempfile_folder(tmp_path_factory) -> Path:
    """Python's `tempfile` default folder for the session: inside pytest's own (cleaned) base temp, not /tmp."""
    folder = tmp_path_factory.mktemp("tempfile-default")
    previous, tempfile.tempdir = tempfile.tempdir, str(folder)
    yield folder
    tempfile.tempdir = previous


@pytest.fixture(autouse=True)
def no_stray_tempfiles(tempfile_folder: Path):
    """Fail a test that leaves `tempfile.mkdtemp()`-style files behind: tests write under `tmp_path`."""
    before = set(os.listdir(tempfile_folder))
    yield
    left = sorted(set(os.listdir(tempfile_folder)) - before)
    if left:
        pytest.fail(f"left {len(left)} temporary entries behind (use tmp_path): {', '.join(left[:5])}", pytrace=False)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


@pytest.fixture
def cli(db_path: Path, capsys: pytest.CaptureFixture[str]):
    """Run the CLI in-process against the test store: returns (exit_code, stdout, stderr)."""
    from openrlb_cli.cli import run

    def invoke(*args: str, db: Path | None = None) -> tuple[int, str, str]:
        capsys.readouterr()
        code = run(["--db", str(db or db_path), *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke


@pytest.fixture
def shared() -> Path:
    """`../shared/data`, or the test skips with the one shared-data message (tests/shared_data.py)."""
    from shared_data import need_shared

    return need_shared()


# Tests measured over ~5 s (on an idle 2-core machine; 10-20x that under load), marked `slow` here in one
# place rather than in each file: CI runs them, `-m 'not slow'` leaves them out of a quick loop.
# The MLflow server tests carry the mark in their module.
SLOW_TESTS = {
    "test_rliable_figures.py::test_cli_figures_are_byte_identical",
    "test_aggregate_cli.py::test_figures_from_worker_processes_are_the_in_process_bytes",
    "test_aggregate_cli.py::test_same_seed_same_bytes_other_seed_other_bounds",
    "test_aggregate_cli.py::test_tianshou_mujoco_against_pandas",
    "test_aggregate_cli.py::test_table_on_terminal_and_quiet",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.split("/")[-1].split("[")[0] in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
