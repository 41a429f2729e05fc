"""Each log format declares itself in its own package (`ingest.formats.FormatSpec`); the registry finds them.

The tables the pipeline used to keep by hand are written out here as they were, so the declarations
reproduce them exactly; a toy format kept outside the package (one file) is ingested by the real CLI.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from openrlb_cli.ingest import registry
from openrlb_cli.ingest.formats import load_attr

# The central tables as they were before the formats declared themselves (registry.py, resolve.py,
# pipeline.py, identity.py, selection.py).
OLD_FORMATS = ("tensorboard", "sb3-monitor", "sb3-progress-csv", "sb3-progress-json", "sb3-evaluations", "csv",
               "jsonl", "mlflow-files", "mlflow-sqlite", "sacred", "wandb-offline", "wandb-files", "wandb-csv",
               "parquet")
OLD_DETECT_ORDER = ("tensorboard", "wandb-offline", "mlflow-sqlite", "sb3-monitor", "sb3-progress-csv",
                    "sb3-progress-json", "sb3-evaluations", "wandb-csv", "csv", "jsonl")
OLD_KEY_PRIORITY = ("sb3-progress-csv", "sb3-progress-json", "tensorboard")
# A parquet dataset was tested first, then `directory_format`: MLflow, Sacred, W&B (with logs: offline).
OLD_FOLDER_ORDER = ("parquet", "mlflow-files", "sacred", "wandb-offline", "wandb-files")
OLD_DIRECTORY_FORMATS = ("mlflow-files", "sacred", "wandb-files")
OLD_PER_DIRECTORY = {"tensorboard", "sb3-monitor", "sb3-progress-csv", "sb3-progress-json", "sb3-evaluations",
                     "mlflow-files", "sacred", "wandb-files"}
OLD_KEEPS_IDENTITY = {"parquet"}
OLD_SQLITE_FORMATS = {"mlflow-sqlite"}
OLD_PREEMPTS = {"tensorboard", "sb3-progress-csv", "sb3-progress-json", "mlflow-files", "mlflow-sqlite"}
OLD_PREEMPTS_SINGLE_RUN = {"csv", "jsonl"}
OLD_NO_OFFSET = {"sb3-monitor", "sacred", "mlflow-sqlite", "parquet"}
OLD_FORMAT_AXES = {"sb3-monitor": "env_steps", "sb3-evaluations": "env_steps", "tensorboard": "step",
                   "mlflow-files": "step", "mlflow-sqlite": "step", "sacred": "step"}


def _names(test) -> set[str]:
    return {s.name for s in registry.specs() if test(s)}


def test_the_declarations_reproduce_the_old_tables():
    assert sorted(registry.FORMATS) == sorted(OLD_FORMATS)
    assert registry.FORMATS == tuple(sorted(OLD_FORMATS))  # listed by name: independent of discovery
    assert registry.DETECT_ORDER == OLD_DETECT_ORDER
    assert registry.KEY_PRIORITY == OLD_KEY_PRIORITY
    assert registry.FOLDER_ORDER == OLD_FOLDER_ORDER
    # the folder formats: the old three, and the dataset, which was special-cased before them
    assert registry.DIRECTORY_FORMATS == ("parquet", *OLD_DIRECTORY_FORMATS)
    assert _names(lambda s: s.per_directory) == OLD_PER_DIRECTORY
    assert _names(lambda s: s.keeps_identity) == OLD_KEEPS_IDENTITY
    assert _names(lambda s: s.sqlite) == OLD_SQLITE_FORMATS
    assert _names(lambda s: s.preempts == "always") == OLD_PREEMPTS
    assert _names(lambda s: s.preempts == "single-run") == OLD_PREEMPTS_SINGLE_RUN
    assert _names(lambda s: s.rereads_whole) == OLD_NO_OFFSET
    assert {s.name: s.step_axis for s in registry.specs() if s.step_axis} == OLD_FORMAT_AXES
    assert {s.name: s.group for s in registry.specs() if s.group} == {"sb3-monitor": "*.monitor.csv"}
    assert {s.name: s.yields_to for s in registry.specs() if s.yields_to} == {"sb3-progress-json": "sb3-progress-csv"}


def test_the_declarations_are_consistent():
    specs = registry.specs()
    assert len({s.name for s in specs}) == len(specs)
    for ranked in ("detect_rank", "folder_rank", "key_rank"):
        ranks = [getattr(s, ranked) for s in specs if getattr(s, ranked) is not None]
        assert len(set(ranks)) == len(ranks), f"two formats share a {ranked}: the order would rest on their names"
    names = {s.name for s in specs}
    for s in specs:
        found = load_attr(s.reader)
        assert found.name == s.name, s.reader  # type: ignore[attr-defined]
        assert registry.reader(s.name) is found
        assert callable(found.detect) and callable(found.read)  # type: ignore[attr-defined]
        if s.group:
            assert callable(found.read_group)  # type: ignore[attr-defined]
        for hook in (s.folder_test, s.folder_units):
            if hook is not None:
                assert callable(load_attr(hook)), hook
        assert (s.folder_test is None) == (s.folder_rank is None), s.name
        assert s.folder_units is None or s.folder_test is not None, s.name
        assert s.yields_to is None or s.yields_to in names, s.name
        assert s.key_rank is None or s.per_directory, s.name  # keys are shared within one run folder
        assert s.preempts in ("never", "always", "single-run"), s.name


def test_an_unknown_format_is_one_clear_error():
    from openrlb_cli.errors import InputError

    with pytest.raises(InputError, match=r"unknown format 'bogus'; known: csv, jsonl, "):
        registry.reader("bogus")


def test_a_format_declared_twice_is_refused(monkeypatch, tmp_path):
    _plugin(monkeypatch, tmp_path, "dupfmt", 'FORMATS = (FormatSpec("csv", "openrlb_cli.ingest.tabular.readers:CSV"),)')
    with pytest.raises(ValueError, match="format 'csv' is declared twice"):
        registry.specs()


def test_finding_the_formats_imports_no_reader():
    """The declarations are data in the packages' `__init__` files: no numpy, no pandas, no reader module."""
    probe = ("import json, sys; from openrlb_cli.ingest import registry; registry.specs(); registry.detect_order(); "
             "registry.folder_order(); print(json.dumps(sorted(m for m in sys.modules if m.startswith(("
             "'openrlb_cli.ingest', 'numpy', 'pandas')))))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    loaded = json.loads(proc.stdout)
    packages = {f"openrlb_cli.ingest.{p}" for p in ("mlflow", "parquet", "sacred", "sb3", "tabular", "tensorboard",
                                                    "wandb")}
    assert set(loaded) == {"openrlb_cli.ingest", "openrlb_cli.ingest.base", "openrlb_cli.ingest.formats",
                           "openrlb_cli.ingest.registry", *packages}


# ---------------------------------------------------------------------------- a new format is one file
TOY = '''
"""A toy log format: `<step> <value>` lines in a `*.toy` file, one run per file, metric `loss`."""

from pathlib import Path

from openrlb_cli.errors import InputError
from openrlb_cli.ingest.base import ReadResult
from openrlb_cli.ingest.formats import FormatSpec
from openrlb_cli.model import RunRecord, Series

FORMATS = (FormatSpec("toy-lines", "openrlb_cli.ingest.toyfmt:TOY", detect_rank=60, rereads_whole=True),)


class ToyReader:
    name = "toy-lines"

    def detect(self, path: Path) -> bool:
        return path.suffix == ".toy"

    def read(self, path, offset, state, options):
        steps, values = [], []
        for n, line in enumerate(path.read_text().splitlines(), 1):
            try:
                step, value = line.split()
                steps.append(float(step))
                values.append(float(value))
            except ValueError:
                raise InputError(f"{path}: line {n} is not '<step> <value>'") from None
        return ReadResult([RunRecord(source="toy", external_id="", series={"loss": Series(steps, values)})],
                          offset=path.stat().st_size, replace=True)


TOY = ToyReader()
'''


def _plugin(monkeypatch, tmp_path: Path, name: str, source: str) -> None:
    """A format package `name` in its own folder, put on the discovery path (`openrlb_cli.ingest.__path__`)."""
    import openrlb_cli.ingest as ingest

    folder = tmp_path / "plugins"
    (folder / name).mkdir(parents=True)
    (folder / name / "__init__.py").write_text(
        "from openrlb_cli.ingest.formats import FormatSpec\n" + textwrap.dedent(source))
    monkeypatch.setattr(ingest, "__path__", [*ingest.__path__, str(folder)])
    monkeypatch.delitem(sys.modules, f"openrlb_cli.ingest.{name}", raising=False)
    registry.refresh()
    _forget.append(name)


_forget: list[str] = []


@pytest.fixture(autouse=True)
def _rediscover():
    """After each test (and after monkeypatch has put `__path__` back): forget the plug-ins, find the formats again."""
    yield
    for name in _forget:
        sys.modules.pop(f"openrlb_cli.ingest.{name}", None)
    _forget.clear()
    registry.refresh()


def test_a_new_format_is_one_file(monkeypatch, tmp_path, cli, db_path):
    _plugin(monkeypatch, tmp_path, "toyfmt", TOY)
    logs = tmp_path / "logs" / "CartPole-v1"
    logs.mkdir(parents=True)
    (logs / "run1.toy").write_text("0 1.5\n10 1.25\n20 0.5\n")
    (logs / "notes.txt").write_text("0 1\n")  # no format claims it
    assert registry.detect(logs / "run1.toy") == "toy-lines"

    code, out, err = cli("ingest", str(tmp_path / "logs"))
    assert code == 0, err

    from openrlb_cli.store import Store

    with Store(db_path) as store:
        (run,) = store.runs()
        assert run.source == "local" and run.external_id.startswith("fp:")  # a file's identity: its content
        series = store.load_series(run.id, "loss")
        assert series.steps.tolist() == [0, 10, 20] and series.values.tolist() == [1.5, 1.25, 0.5]
        assert store.file_state(str(logs / "run1.toy"))["format"] == "toy-lines"

    # named on the command line, and read again: the whole file replaces what it stored
    (logs / "run1.toy").write_text("0 1.5\n10 1.25\n20 0.5\n30 0.25\n")
    code, _, err = cli("ingest", "--format", "toy-lines", str(logs / "run1.toy"))
    assert code == 0, err
    with Store(db_path) as store:
        (run,) = store.runs()
        assert store.load_series(run.id, "loss").steps.tolist() == [0, 10, 20, 30]

    # its reader's errors are reported like any other's: the file skipped with the reason, exit code 2
    (logs / "bad.toy").write_text("0 1\nnot a number\n")
    code, _, err = cli("ingest", str(logs))
    assert code == 2 and "bad.toy: line 2 is not '<step> <value>'" in err
