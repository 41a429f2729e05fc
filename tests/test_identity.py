"""A run keeps its identity when its logs move (issue 23), and rewritten files are read again (issue 18).

Logs come from the real writers where they install (tensorboardX's SummaryWriter, MLflow's file
store, the W&B SDK offline) and from the shipped samples (SB3 monitor/progress, long CSV, JSON lines);
Sacred's FileStorageObserver layout is written by hand (Sacred does not import in this venv). Each
case is ingested, then moved, renamed, reached through a symlink or a relative path from another
working directory, and copied: the store must hold the same runs with the same points, and a move
must read nothing again (the pipeline's count of units read stays 0).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from openrlb_cli.ingest.pipeline import IngestSummary, ingest
from openrlb_cli.store import Store

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_runs"


# ---------------------------------------------------------------------------- log makers
def _samples(rel: str) -> Callable[[Path], None]:
    def make(dest: Path) -> None:
        src = SAMPLES / rel
        if src.is_dir():
            shutil.copytree(src, dest / src.name)
        else:
            (dest / src.parent.name).mkdir(parents=True)
            shutil.copy2(src, dest / src.parent.name / src.name)
    return make


def _tensorboardx(dest: Path) -> None:
    tbx = pytest.importorskip("tensorboardX")
    for seed in (1, 2):
        w = tbx.SummaryWriter(str(dest / f"CartPole-v1__ppo__{seed}__1700000000"))
        for step in range(50):
            w.add_scalar("charts/episodic_return", float(step * seed), step * 128)
        w.close()


def _mlflow(dest: Path) -> None:
    mlflow = pytest.importorskip("mlflow")
    was = os.environ.get("MLFLOW_ALLOW_FILE_STORE")
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"  # MLflow 3 keeps the file store behind this switch
    mlflow.set_tracking_uri((dest / "mlruns").as_uri())
    try:
        mlflow.set_experiment("cartpole")
        for seed in (1, 2):
            with mlflow.start_run(run_name=f"ppo-{seed}"):
                mlflow.log_params({"seed": seed, "env_id": "CartPole-v1"})
                for step in range(30):
                    mlflow.log_metric("episodic_return", float(step + seed), step=step)
    finally:
        mlflow.set_tracking_uri(None)
        if was is None:
            del os.environ["MLFLOW_ALLOW_FILE_STORE"]


def _sacred(dest: Path) -> None:
    """What Sacred's FileStorageObserver writes (run.json, config.json, metrics.json, cout.txt)."""
    for run_id in (1, 2):
        d = dest / "sacred" / str(run_id)
        d.mkdir(parents=True)
        (d / "run.json").write_text(json.dumps({
            "experiment": {"name": "cartpole_ppo", "base_dir": "/x", "sources": [], "dependencies": []},
            "command": "main", "host": {"hostname": "box", "python_version": "3.11"},
            "start_time": f"2024-01-0{run_id}T10:00:00.000000", "status": "COMPLETED", "result": 1.5,
            "heartbeat": "2024-01-01T10:05:00.000000", "meta": {}, "resources": [], "artifacts": []}))
        (d / "config.json").write_text(json.dumps({"seed": run_id, "env_id": "CartPole-v1", "lr": 0.001}))
        (d / "metrics.json").write_text(json.dumps({"loss": {
            "steps": list(range(20)), "values": [1.0 / (i + run_id) for i in range(20)],
            "timestamps": [f"2024-01-01T10:00:{i:02d}.000000" for i in range(20)]}}))
        (d / "cout.txt").write_text("")


if importlib.util.find_spec("wandb") is not None:  # imported at collection: its temporary folders are not ours
    from test_readers_wandb_axis import write_offline_runs
else:
    write_offline_runs = None


@pytest.fixture(scope="module")
def wandb_log(tmp_path_factory) -> Path:
    if write_offline_runs is None:
        pytest.skip("wandb is not installed")
    script = ("import wandb\nrun = wandb.init(project='p', name='ppo-1', config={'seed': 1})\n"
              "for i in range(40):\n    run.log({'ret': float(i), 'global_step': 128 * i})\nrun.finish()\n")
    root = write_offline_runs(tmp_path_factory.mktemp("wandb"), script)
    (folder,) = root.glob("offline-run-*")
    return folder


MAKERS: dict[str, Callable[[Path], None]] = {
    "tensorboard": _tensorboardx,
    "sb3": _samples("sb3/reinforce/CartPole-v1_1"),
    "csv": _samples("csv/curves.csv"),
    "jsonl": _samples("jsonl/curves.jsonl"),
    "mlflow": _mlflow,
    "sacred": _sacred,
}


def _snapshot(db: Path) -> dict:
    """Every run (by what it is, not its ids) with every point."""
    out = {}
    with Store(db) as store:
        for run in store.runs():
            series = {}
            for info in store.series_info([run.id]):
                s = store.load_series(run.id, info.key)
                series[info.key] = (s.steps.tolist(), [repr(v) for v in s.values.tolist()],
                                    [repr(w) for w in s.wall_times.tolist()])
            key = (run.experiment, run.env, run.seed, run.project, json.dumps(run.config, sort_keys=True, default=str))
            assert key not in out, f"two runs of {key}"
            out[key] = series
    return out


def _ingest(db: Path, path: Path | str, **kw) -> IngestSummary:
    with Store(db) as store:
        return ingest(store, [Path(path)], **kw)


def _lay_out(kind: str, dest: Path, wandb_folder: Path | None = None) -> None:
    dest.mkdir(parents=True)
    if kind == "wandb":
        assert wandb_folder is not None
        shutil.copytree(wandb_folder, dest / "wandb" / wandb_folder.name,
                        ignore=shutil.ignore_patterns("logs"))  # the SDK's debug logs: dangling symlinks
    else:
        MAKERS[kind](dest)


@pytest.fixture
def wandb_folder(request) -> Path | None:
    return request.getfixturevalue("wandb_log") if request.node.callspec.params.get("kind") == "wandb" else None


# ---------------------------------------------------------------------------- moves, symlinks, copies
@pytest.mark.parametrize("kind", [*MAKERS, "wandb"])
def test_moved_renamed_linked_relative_and_copied_logs(kind, tmp_path, wandb_folder, monkeypatch):
    db = tmp_path / "s.db"
    a = tmp_path / "logs" / "a"
    _lay_out(kind, a, wandb_folder)
    first = _ingest(db, a)
    assert first.new_runs >= 1 and not first.skipped, first.skipped
    stored = _snapshot(db)
    n_runs = len(stored)

    def nothing_new(summary: IngestSummary) -> None:
        assert summary.new_runs == 0 and summary.units == 0 and summary.points == 0, summary.to_dict()
        assert summary.unchanged == first.units and not summary.already_stored
        assert _snapshot(db) == stored

    moved = tmp_path / "elsewhere" / "b"  # a move to another folder (and name)
    moved.parent.mkdir()
    a.rename(moved)
    nothing_new(_ingest(db, moved))
    inner = next(p for p in sorted(moved.rglob("*")) if p.is_dir())  # rename a folder inside
    inner.rename(inner.with_name(inner.name + "-renamed"))
    nothing_new(_ingest(db, moved))
    link = tmp_path / "link"
    link.symlink_to(moved, target_is_directory=True)
    nothing_new(_ingest(db, link))  # the symlink resolves to the same files
    monkeypatch.chdir(tmp_path / "elsewhere")
    nothing_new(_ingest(db, "b"))
    monkeypatch.chdir(moved)
    nothing_new(_ingest(db, "."))
    monkeypatch.chdir(tmp_path)

    copy = tmp_path / "copy"
    shutil.copytree(moved, copy)
    again = _ingest(db, copy)
    assert again.new_runs == 0 and again.points == 0
    assert again.already_stored == [(str(copy), str(moved), n_runs)], again.already_stored
    assert _snapshot(db) == stored
    assert _ingest(db, copy).already_stored == [(str(copy), str(moved), n_runs)]  # said every time
    assert _ingest(db, moved).units == 0  # the original is still the stored one

    both = _ingest(db, copy, as_copy=True)  # the user really wants both
    assert both.new_runs == n_runs and not both.already_stored
    with Store(db) as store:
        assert len(store.runs()) == 2 * n_runs


def test_cli_reports_a_copy_and_as_copy_stores_it(cli, tmp_path):
    a = tmp_path / "a"
    _lay_out("csv", a)
    assert cli("ingest", str(a))[0] == 0
    shutil.copytree(a, tmp_path / "b")
    code, _, err = cli("ingest", str(tmp_path / "b"))
    assert code == 0
    assert f"3 runs already stored from {a}: {tmp_path / 'b'} holds a copy of them" in err and "--as-copy" in err
    code, _, err = cli("ingest", str(tmp_path / "b"), "--as-copy")
    assert code == 0 and "already stored" not in err
    code, out, _ = cli("runs", "--json")
    assert len(json.loads(out)) == 6


# ---------------------------------------------------------------------------- a move carries on
@pytest.mark.parametrize("name,line", [
    ("curves.csv", "q_learning,FrozenPond-v0,1,99999,1.0,1700099999.0\n"),
    ("curves.jsonl", json.dumps({"experiment": "expected_sarsa", "env": "FrozenPond-v0", "seed": 1, "step": 99999,
                                 "episodic_return": 1.0, "wall_time": 1700099999.0}) + "\n"),
])
def test_moved_file_that_grew_reads_only_what_is_new(tmp_path, name, line):
    db = tmp_path / "s.db"
    a = tmp_path / "a"
    _lay_out("csv" if name.endswith(".csv") else "jsonl", a)
    _ingest(db, a)
    b = tmp_path / "b"
    a.rename(b)
    (f,) = b.rglob(name)
    with f.open("a") as fh:
        fh.write(line)
    more = _ingest(db, b)
    assert more.new_runs == 0 and more.units == 1 and more.points == 1, more.to_dict()
    clean = tmp_path / "clean.db"
    _ingest(clean, b)
    assert _snapshot(db) == _snapshot(clean)


# ---------------------------------------------------------------------------- copies that went on
def _grow_events(path: Path, steps: range, scale: float) -> None:
    from openrlb_cli.ingest.tensorboard.events import write_scalars

    extra = path.with_name("extra")
    write_scalars(extra, [("r", s, s * scale, 1.7e9 + s) for s in steps])
    data = extra.read_bytes()
    extra.unlink()
    # append the records (without the new file's version record) to the existing file
    from openrlb_cli.ingest.tensorboard.tfrecord import iter_records

    first = next(iter(iter_records(data)))
    with path.open("ab") as f:
        f.write(data[first[1]:] if isinstance(first, tuple) else data)


def test_diverged_copies_csv(tmp_path):
    """A copy that kept growing is the same run carrying on; the older copy is then already stored;
    when both went on differently, the second is a run of its own (said in one line)."""
    db = tmp_path / "s.db"
    a = tmp_path / "a" / "progress.csv"
    a.parent.mkdir()
    rows = [f"{i},{i * 0.5},{1700000000 + i}\n" for i in range(1000)]  # past the 4 KiB fingerprint
    a.write_text("step,ret,wall_time\n" + "".join(rows[:400]))
    _ingest(db, a.parent)
    b = tmp_path / "b" / "progress.csv"
    b.parent.mkdir()
    shutil.copy2(a, b)
    with b.open("a") as fh:
        fh.write("".join(rows[400:600]))
    grew = _ingest(db, b.parent)
    assert grew.new_runs == 0 and grew.points == 200 * len(grew.series) and not grew.already_stored, grew.to_dict()
    old = _ingest(db, a.parent)
    assert old.already_stored == [(str(a.parent), str(b.parent), 1)] and old.points == 0
    with a.open("a") as fh:  # the old copy goes on differently
        fh.write("".join(r.replace(",", ",9", 1) for r in rows[400:500]))
    fork = _ingest(db, a.parent)
    assert fork.new_runs == 1 and any("differs" in w for w in fork.warnings), fork.to_dict()
    with Store(db) as store:
        runs = store.runs()
        assert len(runs) == 2
        lengths = sorted(store.load_series(r.id, "ret").steps.size for r in runs)
    assert lengths == [500, 600]


# ---------------------------------------------------------------------------- rewrites
def _csv_like(kind: str, dest: Path) -> Path:
    if kind == "events":
        _samples("cleanrl/runs/CartPole-v1__q_learning__1__1700000000")(dest)
        return next(dest.rglob("events.out.tfevents.*"))
    if kind == "sb3-json":  # SB3's own progress.json (JSON lines), alone in its run folder
        run = dest / "PPO_CartPole-v1_seed1"
        run.mkdir(parents=True)
        shutil.copy2(ROOT / "tests" / "data" / "formats" / "sb3" / run.name / "progress.json", run / "progress.json")
        return run / "progress.json"
    if kind == "mlflow-metric":  # one metric file of a real MLflow file store (read on by byte offset)
        _mlflow(dest)
        return sorted(dest.rglob("metrics/episodic_return"))[0]
    _lay_out(kind, dest)
    return next(p for p in dest.rglob("*") if p.is_file() and p.suffix in (".csv", ".jsonl") and
                "monitor" not in p.name)


def _mutants(data: bytes, cut: int) -> dict[str, bytes]:
    """Same-format variants of `data[:cut]`: shorter, an edited head, edited bytes just before the cut."""
    prefix = data[:cut]
    head_at = prefix.index(b"\n") + 5
    tail_at = cut - 8

    def edit(b: bytes, at: int) -> bytes:
        for i in range(at, len(b)):
            if 48 <= b[i] <= 56:  # a digit, made one larger
                return b[:i] + bytes([b[i] + 1]) + b[i + 1:]
        return b[:at] + bytes([b[at] ^ 1]) + b[at + 1:]  # (binary) one bit flipped

    header_edit = prefix.replace(b"step", b"stap", 1) if b"step" in prefix[:200] else edit(prefix, 0)
    return {"shorter": prefix[: cut // 3], "edited-head": edit(prefix, head_at), "edited-header": header_edit,
            "edited-before-offset": edit(prefix, tail_at), "edited-whole": data.replace(b"1", b"2")}


@pytest.mark.parametrize("kind", ["csv", "jsonl", "sb3", "events", "sb3-json", "mlflow-metric"])
@pytest.mark.parametrize("mutant", ["shorter", "edited-head", "edited-header", "edited-before-offset",
                                    "edited-whole"])
def test_rewritten_file_is_read_again_from_its_start(kind, mutant, tmp_path):
    """Ingest half a file, replace it by a mutant, ingest, put the whole original back, ingest: the
    store equals a clean ingest of the original (no stale points, runs or series left)."""
    db = tmp_path / "s.db"
    path = _csv_like(kind, tmp_path / "logs")
    original = path.read_bytes()
    cut = original.index(b"\n", len(original) // 2) + 1  # (in an event file: a torn record, kept for later)
    path.write_bytes(original[:cut])
    _ingest(db, tmp_path / "logs")
    path.write_bytes(_mutants(original, cut)[mutant])
    os.utime(path, (1, 1))
    _ingest(db, tmp_path / "logs")
    path.write_bytes(original)
    _ingest(db, tmp_path / "logs")
    clean = tmp_path / "clean.db"
    _ingest(clean, tmp_path / "logs")
    assert _snapshot(db) == _snapshot(clean)


def test_rewritten_progress_csv_replaces_the_old_run(tmp_path):
    """SB3 overwrote progress.csv with a new run (issue 18): not old points + the new file's tail."""
    db = tmp_path / "s.db"
    d = tmp_path / "run"
    d.mkdir()
    old = "".join(f"{i},{i}.0,{100 * i}\n" for i in range(100))
    (d / "progress.csv").write_text("time/fps,rollout/ep_rew_mean,time/total_timesteps\n" + old)
    _ingest(db, d)
    new = "".join(f"{i},{-i}.0,{100 * i}\n" for i in range(150))
    (d / "progress.csv").write_text("time/fps,rollout/ep_rew_mean,time/total_timesteps\n" + new)
    _ingest(db, d)
    with Store(db) as store:
        (run,) = store.runs()
        s = store.load_series(run.id, "rollout/ep_rew_mean")
    assert s.values.tolist() == [-float(i) for i in range(150)]


# ---------------------------------------------------------------------------- a file renamed in place
@pytest.mark.parametrize("kind,pattern,new_name", [
    ("csv", "curves.csv", "curves_old.csv"),
    ("jsonl", "curves.jsonl", "archive.jsonl"),
    ("tensorboard", "events.out.tfevents.*", "events.out.tfevents.1700000000.renamed"),
])
def test_a_renamed_file_is_the_same_run(kind, pattern, new_name, tmp_path):
    """`mv progress.csv progress_old.csv`: the same runs, nothing read again (it was a second run
    holding the same points, which a mean over seeds counts twice); grown after the rename, only the
    new points are read. With the old row from before migration 0009 (no name-less hash yet), the
    hash is taken the next time the unchanged file is seen."""
    db = tmp_path / "s.db"
    a = tmp_path / "a"
    _lay_out(kind, a)
    first = _ingest(db, a)
    stored = _snapshot(db)
    files = sorted(a.rglob(pattern))
    with Store(db) as store:  # as a store written before 0009 left it
        store.conn.execute("UPDATE ingest_files SET body_hash = NULL")
        store.conn.commit()
    assert _ingest(db, a).units == 0
    with Store(db) as store:
        assert store.conn.execute("SELECT count(*) FROM ingest_files WHERE body_hash IS NULL").fetchone()[0] == 0
    target = files[0]
    target.rename(target.with_name(new_name))
    again = _ingest(db, a)
    assert again.new_runs == 0 and again.units == 0 and again.points == 0, again.to_dict()
    assert _snapshot(db) == stored
    with Store(db) as store:
        paths = {r[0] for r in store.conn.execute("SELECT path FROM ingest_files")}
    assert str(target.with_name(new_name)) in paths and str(target) not in paths
    assert first.units == len(paths)


def test_a_renamed_file_that_grew_reads_only_what_is_new(tmp_path):
    db = tmp_path / "s.db"
    a = tmp_path / "a"
    _lay_out("csv", a)
    _ingest(db, a)
    (f,) = a.rglob("curves.csv")
    g = f.with_name("curves_2024.csv")
    f.rename(g)
    with g.open("a") as fh:
        fh.write("q_learning,FrozenPond-v0,1,99999,1.0,1700099999.0\n")
    more = _ingest(db, a)
    assert more.new_runs == 0 and more.units == 1 and more.points == 1, more.to_dict()
    clean = tmp_path / "clean.db"
    _ingest(clean, a)
    assert _snapshot(db) == _snapshot(clean)


def test_a_renamed_copy_beside_its_original_is_still_a_run_of_its_own(tmp_path):
    """Only a file whose original is gone is a rename; an identical file under another name beside
    its original stays what it was before (a run of its own, as two differently named files are)."""
    db = tmp_path / "s.db"
    a = tmp_path / "a"
    _lay_out("csv", a)
    n = _ingest(db, a).new_runs
    (f,) = a.rglob("curves.csv")
    shutil.copy2(f, f.with_name("curves_copy.csv"))
    assert _ingest(db, a).new_runs == n


def test_a_renamed_file_takes_the_run_of_its_own_folder(tmp_path):
    """The same bytes in two env folders (Tianshou ships one file for several envs); one deleted, the
    other renamed in place: the renamed file takes the run of its own folder, not its twin's."""
    db = tmp_path / "s.db"
    body = "step,episodic_return\n" + "".join(f"{s},{s / 100}\n" for s in range(0, 2000, 100))
    for env in ("Hopper-v3", "Walker2d-v3"):
        (tmp_path / "logs" / env / "ppo").mkdir(parents=True)
        (tmp_path / "logs" / env / "ppo" / "log.csv").write_text(body)
        os.utime(tmp_path / "logs" / env / "ppo" / "log.csv", (1.7e9, 1.7e9))  # as unpacked from one archive
    _ingest(db, tmp_path / "logs")
    with Store(db) as store:
        before = {r.env: r.uid for r in store.runs()}
    assert len(before) == 2
    (tmp_path / "logs" / "Hopper-v3" / "ppo" / "log.csv").unlink()  # its twin gone too: also a candidate
    f = tmp_path / "logs" / "Walker2d-v3" / "ppo" / "log.csv"
    f.rename(f.with_name("progress_old.csv"))
    again = _ingest(db, tmp_path / "logs")
    assert again.new_runs == 0 and again.points == 0, again.to_dict()
    with Store(db) as store:
        assert {r.env: r.uid for r in store.runs()} == before
        paths = {r[0] for r in store.conn.execute("SELECT path FROM ingest_files")}
    assert str(f.with_name("progress_old.csv")) in paths
    assert str(tmp_path / "logs" / "Hopper-v3" / "ppo" / "log.csv") in paths  # the gone one keeps its row
