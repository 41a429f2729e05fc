"""Shared fixtures: a fresh store path, the CLI runner, and the location of ../shared data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def no_credentials(monkeypatch, tmp_path):
    """Tests must not depend on (or leak) the developer's W&B/MLflow credentials."""
    for var in ("WANDB_API_KEY", "WANDB_BASE_URL", "MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME",
                "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))


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
    if not SHARED.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED
