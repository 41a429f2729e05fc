"""Local W&B runs are stored on the x axis a fetch uses (`global_step` when logged, else `_step`).

The run is written by the real wandb SDK in a subprocess (`WANDB_MODE=offline`, everything under
tmp_path): `global_step` = 128 x `_step`, but only from row 40 on and not in every 9th row (rows
logged between env steps), and one key logged only in the first rows (before any `global_step`).
The same history rows, as wandb's own DataStore reads them from the log, are served by the local
fake W&B server and fetched: the offline ingest must give exactly the fetched series.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fake_wandb import FakeRun, FakeWandb
from test_fetch_wandb import fetch, spec_for
from test_readers_wandb_offline import _reference_records, _reference_rows, _reference_series

from openrlb_cli.fetch.wandb import WandbQuery
from openrlb_cli.ingest.base import ReadOptions
from openrlb_cli.ingest.pipeline import ingest
from openrlb_cli.ingest.wandb import offline as wandb_offline
from openrlb_cli.ingest.wandb.offline import WANDB_OFFLINE
from openrlb_cli.store import Store

pytest.importorskip("wandb")

SCRIPT = textwrap.dedent("""
    import math
    import wandb
    run = wandb.init(project="hopper", name="sac-seed0", config={"env_id": "Hopper-v4", "seed": 0, "exp_name": "sac"})
    for i in range(400):
        row = {"charts/episodic_return": 3000 * (1 - math.exp(-i / 100)), "losses/qf_loss": 1.0 / (i + 1)}
        if i >= 40 and i % 9 != 4:
            row["global_step"] = 128 * i
        if i < 20:
            row["early/only"] = float(i)
        run.log(row)
    run.finish()
""")


def write_offline_runs(root: Path, script: str | None = None, args: list[str] | None = None) -> Path:
    """Run `script` (or python `args` in `root`) with the wandb SDK offline, every wandb directory under
    `root`; returns root/wandb."""
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_DIR": str(root), "WANDB_SILENT": "true",
           "WANDB_CONFIG_DIR": str(root / "cfg"), "WANDB_CACHE_DIR": str(root / "cache"),
           "WANDB_DATA_DIR": str(root / "data"), "WANDB_CONSOLE": "off", "HOME": str(root / "home")}
    env.pop("WANDB_API_KEY", None)
    command = [sys.executable, *args] if args else [sys.executable, "-c", script or ""]
    out = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240,
                         cwd=root)
    assert out.returncode == 0, out.stderr[-2000:]
    for d in ("cfg", "cache", "data", "home"):
        shutil.rmtree(root / d, ignore_errors=True)
    return root / "wandb"


@pytest.fixture(scope="module")
def log_file(tmp_path_factory) -> Path:
    (path,) = write_offline_runs(tmp_path_factory.mktemp("wandb"), SCRIPT).glob("offline-run-*/run-*.wandb")
    return path


def _stored(store: Store, run_id: int) -> dict[str, list[tuple[float, float, float]]]:
    out = {}
    for info in store.series_info([run_id]):
        s = store.load_series(run_id, info.key)
        out[info.key] = list(zip(s.steps.tolist(), s.values.tolist(), s.wall_times.tolist(), strict=True))
    return out


def _nonempty(series: dict) -> dict:
    return {k: v for k, v in series.items() if v}


def test_offline_run_gives_the_series_of_the_same_run_fetched(log_file, tmp_path):
    records = _reference_records(log_file)
    rows = _reference_rows(records)
    assert sum("global_step" in r for r in rows) == 400 - 40 - 40  # rows 40.. minus every 9th
    with FakeWandb() as fake, Store(tmp_path / "s.db") as store:
        fake.add("ent", "hopper", FakeRun("r0", config={"env_id": "Hopper-v4", "seed": 0, "exp_name": "sac"},
                                          rows=rows))
        summary = fetch(store, spec_for(fake, WandbQuery("ent", "hopper")))
        assert summary.status == "ok"
        done = ingest(store, [log_file.parent.parent])
        assert not done.skipped and done.new_runs == 1
        fetched = _stored(store, store.run_id_for("wandb", "ent/hopper/r0"))
        (offline_run,) = [r for r in store.runs() if r.source == "local"]
        offline = _stored(store, offline_run.id)
    assert offline == fetched
    assert offline == _reference_series(records)  # and both are the rows on global_step, joined row-wise
    assert offline["charts/episodic_return"][0][0] == 128 * 41 and "early/only" not in offline
    dropped = 40 * 3 + 40 * 3 + 20  # rows without x: return, qf_loss, _runtime; early/only in 20 of them
    assert summary.points_without_x == dropped
    assert any(f"{dropped} points left out" in w and "'global_step'" in w for w in done.warnings)


@pytest.mark.parametrize("first_rows", [10, 60])
def test_axis_found_in_a_later_ingest_is_applied_to_the_whole_run(log_file, tmp_path, first_rows):
    """Cut after `first_rows` history records: with 10 the first ingest sees no global_step (stored on
    _step), and the next one re-reads the log onto global_step (replacing, nothing twice, the key
    without any global_step row emptied); with 60 global_step is there from the first ingest."""
    records = _reference_records(log_file)
    ends = [end for rec, end in records if rec.WhichOneof("record_type") == "history"]
    whole = log_file.read_bytes()
    live = tmp_path / "wandb" / log_file.parent.name / log_file.name
    live.parent.mkdir(parents=True)
    live.write_bytes(whole[:ends[first_rows - 1]])
    with Store(tmp_path / "s.db") as store:
        ingest(store, [tmp_path / "wandb"])
        (run,) = store.runs()
        first = _nonempty(_stored(store, run.id))
        prefix = [(r, e) for r, e in records if e <= ends[first_rows - 1]]
        assert first == _reference_series(prefix)
        assert store.file_state(str(live))["state"]["x_axis"] == ("_step" if first_rows == 10 else "global_step")
        live.write_bytes(whole)
        again = ingest(store, [tmp_path / "wandb"])
        assert not again.skipped
        assert _nonempty(_stored(store, run.id)) == _reference_series(records)
        assert store.file_state(str(live))["state"]["x_axis"] == "global_step"
        third = ingest(store, [tmp_path / "wandb"])
        assert third.points == 0 and third.unchanged == 1


def test_store_of_an_earlier_openrlb_on_step_is_moved_without_doubles(log_file, tmp_path):
    """Before the axis rule, offline runs were stored on `_step` with an empty reader state. Such a
    unit, grown since, is read again whole onto global_step, replacing what was stored."""
    records = _reference_records(log_file)
    ends = [end for rec, end in records if rec.WhichOneof("record_type") == "history"]
    whole = log_file.read_bytes()
    live = tmp_path / "wandb" / log_file.parent.name / log_file.name
    live.parent.mkdir(parents=True)
    live.write_bytes(whole[:ends[200]])
    with Store(tmp_path / "s.db") as store:
        ingest(store, [tmp_path / "wandb"], options=ReadOptions(step_column="_step"))
        (run,) = store.runs()
        prefix = [(r, e) for r, e in records if e <= ends[200]]
        assert _stored(store, run.id) == _reference_series(prefix, "_step")
        prior = store.file_state(str(live))
        with store.transaction():  # what the earlier reader left: its offset, an empty state
            store.set_file_state(str(live), run_id=prior["run_id"], fmt="wandb-offline", size=prior["size"],
                                 mtime=prior["mtime"], offset=prior["offset"], state={})
        live.write_bytes(whole)
        again = ingest(store, [tmp_path / "wandb"])
        assert not again.skipped
        assert _nonempty(_stored(store, run.id)) == _reference_series(records)


def test_axis_switch_inside_one_read_of_a_big_log(log_file, tmp_path, monkeypatch):
    """A log read in several pieces whose first piece has no global_step: the read starts over onto
    global_step, and what the pipeline stores is the run on global_step once."""
    records = _reference_records(log_file)
    monkeypatch.setattr(wandb_offline, "PIECE_BYTES", 4096)
    res = WANDB_OFFLINE.read(log_file, 0, {}, ReadOptions())
    got = {k: list(zip(s.steps.tolist(), s.values.tolist(), s.wall_times.tolist(), strict=True))
           for k, s in res.runs[0].series.items()}
    assert _nonempty(got) == _reference_series(records) and res.state == {"x_axis": "global_step"}
    with Store(tmp_path / "s.db") as store:
        summary = ingest(store, [log_file])
        assert not summary.skipped
        (run,) = store.runs()
        assert _nonempty(_stored(store, run.id)) == _reference_series(records)


def test_step_column_picks_another_axis(log_file, tmp_path):
    records = _reference_records(log_file)
    res = WANDB_OFFLINE.read(log_file, 0, {}, ReadOptions(step_column="_step"))
    assert res.state == {"x_axis": "_step"}
    ret = res.runs[0].series["charts/episodic_return"]
    assert ret.steps.tolist() == [float(i) for i in range(400)]
    assert ret.values.tolist() == [v for _, v, _ in _reference_series(records, "_step")["charts/episodic_return"]]
    assert not math.isnan(ret.wall_times[0])


def test_wanted_axis_the_run_does_not_log_is_said(log_file):
    res = WANDB_OFFLINE.read(log_file, 0, {}, ReadOptions(step_column="frames"))
    assert res.state == {"x_axis": "_step"} and len(res.runs[0].series["charts/episodic_return"]) == 400
    assert any("no row logs 'frames'" in w for w in res.warnings)
    assert not any("no row logs" in w for w in WANDB_OFFLINE.read(log_file, 0, {}, ReadOptions()).warnings)
