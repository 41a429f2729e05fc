"""W&B run folders read from their files (`wandb-history.jsonl`, `config.yaml`, `wandb-summary.json`,
`wandb-metadata.json`), compared with the same run read from its `.wandb` log.

Where the files come from: no installable wandb writes `wandb-history.jsonl` to disk any more (the
client before wandb-ng, wandb <= 0.9, did: `wandb/history.py` appended `json.dumps(row)` lines with
nested dicts, media dicts, `_step`, `_runtime`, `_timestamp`). wandb 0.28.2 offline writes only the
`.wandb` log and `files/requirements.txt` (checked below); its online senders write `config.yaml`,
`wandb-summary.json` and `wandb-metadata.json` to `files/` and stream the history rows as
`wandb-history.jsonl` lines. So the folders here are made from a run the real SDK wrote offline,
record by record, with the code of wandb 0.28.2's own Python sender (`wandb/sdk/internal/sender.py`):
history lines = `json.dumps(proto_util.dict_from_proto_list(history.item))` (what `send_history`
pushes as `wandb-history.jsonl`, the row shape the old client wrote to disk); `config.yaml` =
`config_util.save_config_file_from_dict` of `ConfigState.to_backend_dict` (`_config_save`);
`wandb-summary.json` = `json.dumps` of the consolidated summary without `_wandb` (`_update_summary`);
`wandb-metadata.json` = `json.dumps(proto_util.message_to_dict(environment))` (`send_environment`).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from test_readers_wandb_axis import write_offline_runs
from test_readers_wandb_offline import _reference_records, _reference_series

from openrlb_cli.errors import InputError
from openrlb_cli.ingest import registry
from openrlb_cli.ingest.base import ReadOptions
from openrlb_cli.ingest.pipeline import discover, ingest
from openrlb_cli.ingest.wandb.run_folder import WANDB_FILES
from openrlb_cli.store import Store

pytest.importorskip("wandb")
pb = pytest.importorskip("wandb.proto.wandb_internal_pb2")
proto_util = pytest.importorskip("wandb.sdk.lib.proto_util")
config_util = pytest.importorskip("wandb.sdk.lib.config_util")
sender_config = pytest.importorskip("wandb.sdk.internal.sender_config")
telemetry_pb = pytest.importorskip("wandb.proto.wandb_telemetry_pb2")

TRAIN = """
import math, sys
import wandb
seed = int(sys.argv[2])
run = wandb.init(project="cartpole", name=f"ppo-seed{seed}", tags=["baseline"],
                 config={"env_id": "CartPole-v1", "seed": seed, "exp_name": "ppo", "net": {"hidden": [64, 64]}})
for i in range(500):
    row = {"charts/episodic_return": 500 * (1 - math.exp(-i / 100)), "global_step": 128 * i,
           "losses": {"value_loss": 1.0 / (i + 1), "entropy": 0.5}}
    if i == 5:
        row["losses"]["value_loss"] = float("nan")
    if i == 6:
        row["charts/episodic_return"] = float("inf")
    if i % 100 == 0:
        row["hist"] = wandb.Histogram([1, 2, 3])
    run.log(row)
run.config.update({"late_key": 7})
run.summary["best"] = 499.5
run.finish()
# a run whose global_step starts late (stored on _step until then)
run = wandb.init(project="cartpole", name="late-axis", config={"seed": 9})
for i in range(120):
    row = {"ret": float(i)}
    if i >= 30:
        row["global_step"] = 128 * i
    run.log(row)
run.finish()
"""


@pytest.fixture(scope="module")
def sdk_runs(tmp_path_factory) -> dict[str, Path]:
    """name -> the `.wandb` log the SDK wrote (run from a git checkout, with arguments)."""
    root = tmp_path_factory.mktemp("wandbfiles")
    (root / "train.py").write_text(TRAIN)
    git = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "HOME": str(root), "GIT_CONFIG_NOSYSTEM": "1"}
    for cmd in (["init", "-q"], ["remote", "add", "origin", "https://example.com/lab/cartpole.git"],
                ["add", "train.py"], ["commit", "-qm", "train"]):
        subprocess.run(["git", *cmd], cwd=root, env=git, check=True, capture_output=True)
    out = {}
    for path in write_offline_runs(root, args=["train.py", "--seed", "3"]).glob("offline-run-*/run-*.wandb"):
        for rec, _ in _reference_records(path):
            if rec.WhichOneof("record_type") == "run":
                out[rec.run.display_name] = path
    return out


def sender_files(log: Path, dest: Path, upto: int | None = None) -> list[str]:
    """Write the four files wandb's Python sender makes of the log's records (module docstring) into
    `dest`; returns the history lines. `upto`: only records ending at or before that byte offset."""
    config = sender_config.ConfigState()
    summary: dict = {}
    env = pb.EnvironmentRecord()
    telemetry = telemetry_pb.TelemetryRecord()
    lines, start_ms = [], 0
    for rec, end in _reference_records(log):
        if upto is not None and end > upto:
            break
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            config.update_from_proto(rec.run.config)
            start_ms = rec.run.start_time.ToMilliseconds()
        elif kind == "config":
            config.update_from_proto(rec.config)
        elif kind == "history":
            lines.append(json.dumps(proto_util.dict_from_proto_list(rec.history.item)))
        elif kind == "summary":
            update = proto_util.dict_from_proto_list(rec.summary.update)
            update.pop("_wandb", None)
            summary.update(update)
        elif kind == "environment":
            env.MergeFrom(rec.environment)
        elif kind == "telemetry":
            telemetry.MergeFrom(rec.telemetry)
    dest.mkdir(parents=True, exist_ok=True)
    config_util.save_config_file_from_dict(str(dest / "config.yaml"),
                                           config.to_backend_dict(telemetry, None, start_ms, [], env))
    (dest / "wandb-summary.json").write_text(json.dumps(summary))
    (dest / "wandb-metadata.json").write_text(json.dumps(proto_util.message_to_dict(env)))
    (dest / "wandb-history.jsonl").write_text("".join(line + "\n" for line in lines))
    return lines


def _stored(store: Store, run_id: int) -> dict[str, list[tuple[float, float, float]]]:
    out = {}
    for info in store.series_info([run_id]):
        s = store.load_series(run_id, info.key)
        if len(s):
            out[info.key] = list(zip(s.steps.tolist(), s.values.tolist(), s.wall_times.tolist(), strict=True))
    return out


def _same(a: dict, b: dict) -> bool:
    """Series equal point for point, NaN equal to NaN."""
    if a.keys() != b.keys():
        return False
    return all(len(a[k]) == len(b[k]) and all(
        x[0] == y[0] and x[2] == y[2] and (x[1] == y[1] or (math.isnan(x[1]) and math.isnan(y[1])))
        for x, y in zip(a[k], b[k], strict=True)) for k in a)


def test_wandb_0_28_offline_writes_only_the_log(sdk_runs):
    """What this reader exists for is not what the installed SDK writes offline: its run folder has the
    `.wandb` log and no config.yaml / wandb-summary.json / wandb-metadata.json / history in `files/`."""
    folder = sdk_runs["ppo-seed3"].parent
    present = {p.name for p in (folder / "files").iterdir()}
    assert not present & {"config.yaml", "wandb-summary.json", "wandb-metadata.json", "wandb-history.jsonl"}


@pytest.mark.parametrize("layout", ["old", "files"])
def test_run_folder_from_files_matches_the_log(sdk_runs, tmp_path, layout):
    """wandb <= 0.9 kept the files in `run-<time>-<id>/`, later SDKs in its `files/`; either way the
    run equals the one read from the `.wandb` log (itself checked against wandb's DataStore)."""
    log = sdk_runs["ppo-seed3"]
    run_id = log.stem.split("-", 1)[1]
    folder = tmp_path / "old" / "wandb" / f"run-20240102_030405-{run_id}"
    sender_files(log, folder / "files" if layout == "files" else folder)
    assert registry.directory_format(folder) == "wandb-files"
    units, _ = discover([tmp_path / "old"])
    assert [(u.fmt, u.paths) for u in units] == [("wandb-files", [folder])]
    with Store(tmp_path / "s.db") as store:
        summary = ingest(store, [tmp_path / "old"])
        assert not summary.skipped and summary.new_runs == 1
        (files_run,) = store.runs()  # (its id comes from its content, not the folder's path)
        ingest(store, [log])
        log_run = next(r for r in store.runs() if r.id != files_run.id)
        files_run = store.get_run(files_run.uid)
        from_files, from_log = _stored(store, files_run.id), _stored(store, log_run.id)
    assert _same(from_files, from_log) and _same(from_files, _reference_series(_reference_records(log)))
    assert "losses.value_loss" in from_files and "hist" not in from_files
    assert from_files["charts/episodic_return"][6][1] == math.inf and math.isnan(from_files["losses.value_loss"][5][1])
    user = {k: v for k, v in log_run.config.items() if not k.startswith("wandb_")}
    assert {k: files_run.config[k] for k in user} == user == {
        "env_id": "CartPole-v1", "seed": 3, "exp_name": "ppo", "net": {"hidden": [64, 64]}, "late_key": 7}
    assert "_wandb" not in files_run.config and files_run.config["wandb_run_id"] == run_id
    assert (files_run.experiment, files_run.env, files_run.seed) == ("ppo", "CartPole-v1", 3)
    assert files_run.summary["best"] == 499.5 and files_run.summary["losses.entropy"] == 0.5
    commit = subprocess.run(["git", "--git-dir", str(log.parents[2] / ".git"), "rev-parse", "HEAD"],
                            capture_output=True, text=True, check=True).stdout.strip()
    for run in (files_run, log_run):  # provenance: the same from the metadata file and the log's record
        assert run.config["wandb_git"] == {"remote": "https://example.com/lab/cartpole.git", "commit": commit}
        assert run.config["wandb_args"] == ["--seed", "3"] and run.config["wandb_program"].endswith("train.py")
        assert run.config["wandb_python"].startswith("CPython 3") and "wandb_email" not in run.config
    assert files_run.created_at == pytest.approx(log_run.created_at, abs=60)


def test_folder_with_log_and_files_is_one_run_from_the_log(sdk_runs, tmp_path):
    """An online run folder (and a synced offline one) has both the log and files/: one unit, the log;
    files/ only gives what the log lacks (here: a log cut before its environment record)."""
    log = sdk_runs["ppo-seed3"]
    folder = tmp_path / "wandb" / log.parent.name
    shutil.copytree(log.parent, folder, symlinks=True)
    sender_files(log, folder / "files")
    units, _ = discover([tmp_path / "wandb"])
    assert [(u.fmt, u.paths) for u in units] == [("wandb-offline", [folder / log.name])]
    with Store(tmp_path / "s.db") as store:
        summary = ingest(store, [tmp_path])
        assert not summary.skipped and summary.new_runs == 1
        (run,) = store.runs()
        assert _same(_stored(store, run.id), _reference_series(_reference_records(log)))
    records = _reference_records(log)
    kinds = [r.WhichOneof("record_type") for r, _ in records]
    before_env = records[kinds.index("environment") - 1][1]
    (folder / log.name).write_bytes(log.read_bytes()[:before_env])
    res = registry.reader("wandb-offline").read(folder / log.name, 0, {}, ReadOptions())
    meta = json.loads((folder / "files" / "wandb-metadata.json").read_text())
    assert res.runs[0].config["wandb_program"] == meta["program"] and res.runs[0].config["wandb_args"] == meta["args"]


def test_growing_history_resumes_and_torn_line_waits(sdk_runs, tmp_path):
    log = sdk_runs["ppo-seed3"]
    folder = tmp_path / "wandb" / "run-20240102_030405-abc"
    lines = sender_files(log, folder / "files")
    history = folder / "files" / "wandb-history.jsonl"
    whole = history.read_bytes()
    cut = len("".join(line + "\n" for line in lines[:200])) + len(lines[200]) // 2  # inside row 200
    history.write_bytes(whole[:cut])
    res = WANDB_FILES.read(folder, 0, {}, ReadOptions())
    assert not res.complete and res.offset == cut - len(lines[200]) // 2
    assert len(res.runs[0].series["charts/episodic_return"]) == 200
    with Store(tmp_path / "s.db") as store:
        ingest(store, [tmp_path / "wandb"])
        history.write_bytes(whole)
        again = ingest(store, [tmp_path / "wandb"])
        assert not again.skipped and again.points > 0
        (run,) = store.runs()
        assert _same(_stored(store, run.id), _reference_series(_reference_records(log)))
        assert ingest(store, [tmp_path / "wandb"]).points == 0


def test_history_whose_axis_appears_later(sdk_runs, tmp_path):
    """The shared axis rule on history lines: first ingest before any global_step (on _step), then
    the whole run again on global_step, as for the log."""
    log = sdk_runs["late-axis"]
    records = _reference_records(log)
    folder = tmp_path / "wandb" / "run-20240102_030405-late"
    lines = sender_files(log, folder)
    history = folder / "wandb-history.jsonl"
    history.write_text("".join(line + "\n" for line in lines[:20]))
    with Store(tmp_path / "s.db") as store:
        ingest(store, [tmp_path / "wandb"])
        (run,) = store.runs()
        assert _stored(store, run.id)["ret"][-1][0] == 19.0
        assert store.file_state(str(folder))["state"] == {"x_axis": "_step"}
        history.write_text("".join(line + "\n" for line in lines))
        again = ingest(store, [tmp_path / "wandb"])
        assert any("60 points left out" in w for w in again.warnings)  # ret and _runtime of rows 0-29
        assert _same(_stored(store, run.id), _reference_series(records))
        assert _stored(store, run.id)["ret"][0][0] == 128 * 30


def test_bad_files(sdk_runs, tmp_path):
    log = sdk_runs["ppo-seed3"]
    folder = tmp_path / "wandb" / "run-20240102_030405-bad"
    lines = sender_files(log, folder)
    history = folder / "wandb-history.jsonl"
    history.write_text("".join(line + "\n" for line in lines[:10]) + "{not json\n" + lines[10] + "\n")
    bad_at = len("".join(line + "\n" for line in lines[:10]).encode())
    with pytest.raises(InputError, match=rf"wandb-history.jsonl: line at byte {bad_at} is not JSON"):
        WANDB_FILES.read(folder, 0, {}, ReadOptions())
    with Store(tmp_path / "s.db") as store:
        summary = ingest(store, [tmp_path / "wandb"])
        assert [r for _, r in summary.skipped] and not store.runs()
        history.write_text("".join(line + "\n" for line in lines))
        (folder / "config.yaml").write_text("wandb_version: 1\nseed: {value: [unclosed\n")
        summary = ingest(store, [tmp_path / "wandb"])
        assert not summary.skipped and any("config.yaml: not valid YAML" in w for w in summary.warnings)
        (run,) = store.runs()
        assert len(store.load_series(run.id, "charts/episodic_return")) == 500


def test_history_ingested_before_as_json_lines_is_named(sdk_runs, tmp_path):
    """Before this reader, a run folder's wandb-history.jsonl was ingested as plain JSON lines: the
    folder run is added, and the warning names the old run to remove (nothing is deleted)."""
    folder = tmp_path / "wandb" / "run-20240102_030405-old"
    sender_files(sdk_runs["ppo-seed3"], folder)
    with Store(tmp_path / "s.db") as store:
        ingest(store, [folder / "wandb-history.jsonl"], fmt="jsonl")
        (old,) = store.runs()
        summary = ingest(store, [tmp_path / "wandb"])
        assert summary.new_runs == 1 and len(store.runs()) == 2
        assert any(f"openrlb rm {old.uid}" in w for w in summary.warnings)
        assert not any("openrlb rm" in w for w in ingest(store, [tmp_path / "wandb"]).warnings)


def test_history_lines_as_each_writer_wrote_them(tmp_path):
    """Non-finite numbers: wandb <= 0.9 wrote `json.dumps(row)` (bare NaN / Infinity tokens, Python's
    default), wandb-core's `ToExtendedJSON` writes the same tokens, and values W&B already turned into
    strings ("NaN", "Infinity") stay strings in the row: all are points. Media dicts are skipped."""
    import numpy as np

    rows = [{"_step": 0, "_runtime": 0.5, "_timestamp": 1.7e9, "a": float("nan"), "b": {"c": float("inf")}},
            {"_step": 1, "_runtime": 1.5, "_timestamp": 1.7e9 + 1, "a": "Infinity", "b": {"c": "-Infinity"},
             "img": {"_type": "image-file", "path": "media/images/x.png", "width": 8}}]
    folder = tmp_path / "wandb" / "dryrun-20190101_000000-abc123"
    folder.mkdir(parents=True)
    (folder / "wandb-history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "wandb-summary.json").write_text(json.dumps({"a": 1.0, "_wandb": {"runtime": 2}}))
    assert "NaN" in (folder / "wandb-history.jsonl").read_text()  # the bare token, as json.dumps writes it
    res = WANDB_FILES.read(folder, 0, {}, ReadOptions())
    series = res.runs[0].series
    assert set(series) == {"a", "b.c", "_runtime"} and res.state == {"x_axis": "_step"}
    np.testing.assert_array_equal(series["a"].values, [math.nan, math.inf])
    np.testing.assert_array_equal(series["b.c"].values, [math.inf, -math.inf])
    assert res.runs[0].summary == {"a": 1.0} and res.runs[0].config["wandb_run_id"] == "abc123"


def test_cli_ingest_of_run_folders(sdk_runs, cli, tmp_path):
    """`openrlb ingest wandb/`: a good folder ingests, a folder with a corrupt history line is one clear
    line on stderr (no traceback) and exit code 2; the good run is stored all the same."""
    good = tmp_path / "logs" / "wandb" / "run-20240102_030405-good"
    bad = tmp_path / "logs" / "wandb" / "run-20240102_030406-bad"
    lines = sender_files(sdk_runs["ppo-seed3"], good / "files")
    sender_files(sdk_runs["ppo-seed3"], bad / "files")
    (bad / "files" / "wandb-history.jsonl").write_text(lines[0] + "\n" + lines[1][:-5] + "\n" + lines[2] + "\n")
    code, out, err = cli("ingest", str(tmp_path / "logs"), "--json")
    assert code == 2 and "Traceback" not in err
    (skipped,) = [line for line in err.splitlines() if "skipped" in line]
    history = bad / "files" / "wandb-history.jsonl"
    assert skipped.startswith(f"warning: skipped {bad}: {history}: line at byte {len(lines[0]) + 1} is not JSON (")
    report = json.loads(out)
    assert report["new_runs"] == 1 and report["points"] > 0
    code, out, _ = cli("runs", "--json")
    assert code == 0 and [r["name"] for r in json.loads(out)] == ["run-20240102_030405-good"]
