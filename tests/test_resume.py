"""Resumed runs read as TensorBoard reads them: a step going back preempts the points at that step
and after it (`store.preempt`), per series, across event files and incremental ingests.

Logs are written by torch's and tensorboardX's `SummaryWriter` (each test skips when its writer is
missing); the expected points come from TensorBoard's own `EventAccumulator` where it applies the
same rule (restart markers: `purge_step`), and otherwise from TensorBoard's own event loader read in
TensorBoard's order with the data server's rule (`reservoir.rs`) applied one record at a time."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from openrlb_cli.ingest.pipeline import ingest
from openrlb_cli.store import Store, codec
from openrlb_cli.store.preempt import preemption

TAG = "charts/episodic_return"
OTHER = "losses/value_loss"


# ------------------------------------------------------------------ the rule itself
def _one_at_a_time(steps: list[float], prior: list[float]) -> tuple[list[int], list[int]]:
    """TensorBoard's reservoir (unbounded), one record at a time, except that equal steps are kept:
    the surviving indices of `prior` (stored before) and of `steps`."""
    kept: list[tuple[bool, int, float]] = [(False, i, s) for i, s in enumerate(prior)]
    last = max([s for s in prior if s == s], default=None)
    for j, s in enumerate(steps):
        if s == s:
            if last is not None and s < last:
                kept = [k for k in kept if not k[2] >= s]
            last = s
        kept.append((True, j, s))
    return [i for new, i, _ in kept if not new], [i for new, i, _ in kept if new]


def test_preemption_matches_the_rule_one_point_at_a_time():
    rng = np.random.default_rng(0)
    for trial in range(3000):
        n = int(rng.integers(0, 12))
        steps = rng.integers(0, 8, n).astype(float)
        if trial % 5 == 0 and n:
            steps[rng.integers(0, n)] = np.nan
        prior = sorted(rng.integers(0, 8, int(rng.integers(0, 4))).astype(float).tolist())
        keep, cut = preemption(steps, prior[-1] if prior else None)
        want_prior, want_new = _one_at_a_time(steps.tolist(), prior)
        got_new = np.flatnonzero(keep).tolist() if keep is not None else list(range(n))
        got_prior = [i for i, s in enumerate(prior) if cut is None or s < cut]
        assert (got_new, got_prior) == (want_new, want_prior), (steps, prior)


def test_equal_steps_are_kept_but_a_lower_step_replaces_them():
    keep, cut = preemption(np.array([5.0, 5.0, 10.0, 10.0]))
    assert keep is None and cut is None  # several episodes ending at one global step
    keep, cut = preemption(np.array([5.0, 5.0, 10.0, 5.0]))
    assert keep.tolist() == [False, False, False, True] and cut == 5.0
    assert preemption(np.array([7.0]), 7.0) == (None, None)
    assert preemption(np.array([6.0, 8.0]), 7.0)[1] == 6.0


# ------------------------------------------------------------------ the store, chunk by chunk
def test_stored_points_are_cut_chunk_aware(tmp_path, monkeypatch):
    from openrlb_cli.model import RunRecord, Series

    monkeypatch.setattr(codec, "CHUNK_POINTS", 4)
    with Store(tmp_path / "s.db") as store:
        run_id = store.write_run(RunRecord("local", "r"))
        with store.transaction():
            steps = np.arange(0, 1000, 100.0)  # 10 points in chunks of 4, 4, 2
            store.append_points(run_id, "k", Series(steps, steps / 100, steps + 1e9))
            store.append_points(run_id, "other", Series([0.0, 900.0], [1.0, 2.0]))
            dropped = store.append_points(run_id, "k", Series([500.0, 600.0], [1005.0, 1006.0], [2e9, 2e9 + 1]),
                                          preempt=True)
        assert dropped == 5
        s = store.load_series(run_id, "k")
        assert s.steps.tolist() == [0, 100, 200, 300, 400, 500, 600]
        assert s.values.tolist() == [0, 1, 2, 3, 4, 1005, 1006]
        info = {i.key: i for i in store.series_info([run_id])}["k"]
        assert (info.n_points, info.step_min, info.step_max, info.last_value, info.last_wall_time) == \
            (7, 0, 600, 1006, 2e9 + 1)
        chunks = store.conn.execute("SELECT c.seq, c.n, c.step_min, c.step_max FROM chunks c JOIN series s ON "
                                    "s.id = c.series_id WHERE s.key = 'k' ORDER BY seq").fetchall()
        assert chunks == [(0, 4, 0, 300), (1, 1, 400, 400), (2, 2, 500, 600)]
        with store.transaction():  # a restart marker alone: every series of the run, stats from what is left
            assert store.truncate_run(run_id, 300.0) == 4 + 1
        info = {i.key: i for i in store.series_info([run_id])}
        assert (info["k"].n_points, info["k"].step_max, info["k"].last_value, info["k"].last_wall_time) == \
            (3, 200, 2, 1e9 + 200)
        assert (info["other"].n_points, info["other"].last_value) == (1, 1.0)
        with store.transaction():
            store.append_points(run_id, "k", Series([250.0], [7.0]), preempt=True)
        assert store.load_series(run_id, "k").steps.tolist() == [0, 100, 200, 250]
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# ------------------------------------------------------------------ real writers
def _writer(kind: str):
    if kind == "torch":
        pytest.importorskip("torch")
        from torch.utils.tensorboard import SummaryWriter
    else:
        pytest.importorskip("tensorboardX")
        from tensorboardX import SummaryWriter
    return SummaryWriter


_FILE_NO = [0]


def _job(kind: str, logdir: Path, steps, value, **kwargs) -> None:
    """One training job writing a new event file into `logdir` (as a process started after a crash
    does). The file is renamed to sort after the earlier ones, as its later start time makes it
    sort in a real run (jobs started within one second here would sort by a process counter)."""
    before = set(logdir.glob("*tfevents*")) if logdir.exists() else set()
    w = _writer(kind)(str(logdir), **kwargs)
    for step in steps:
        w.add_scalar(TAG, value(step), step)
        if step % 200 == 0:
            w.add_scalar(OTHER, -value(step), step)
    w.close()
    (new,) = set(logdir.glob("*tfevents*")) - before
    _FILE_NO[0] += 1
    new.rename(logdir / f"events.out.tfevents.{1700000000 + _FILE_NO[0]:010d}.host.1.{kind}")


def _dead(step: int) -> float:
    return step / 100.0  # the crashed job: 9.0 at step 900


def _resumed(step: int) -> float:
    return 1000.0 + step / 100.0  # the resumed job: 1007.0 at step 700


def _stored(db: Path, key: str = TAG) -> list[tuple[float, float]]:
    with Store(db) as store:
        (run,) = store.runs()
        s = store.load_series(run.id, key)
        info = {i.key: i for i in store.series_info([run.id])}[key]
        assert (info.n_points, info.step_max, info.last_value) == (len(s), max(s.steps), s.values[-1])
        return list(zip(s.steps.tolist(), s.values.tolist(), strict=True))


def _accumulator(logdir: Path, key: str = TAG) -> list[tuple[float, float]]:
    """TensorBoard's EventAccumulator (no sampling): it purges on restart markers, as we do."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0})
    acc.Reload()
    return [(float(e.step), e.value) for e in acc.Scalars(key)]


def _data_server_rule(logdir: Path, key: str = TAG) -> list[tuple[float, float]]:
    """Every record of `key`, read by TensorBoard's own event loader in TensorBoard's order (files by
    name, records in file order), with the data server's preemption applied one record at a time."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.util import tensor_util

    points: list[tuple[float, float]] = []
    for path in sorted(logdir.glob("*tfevents*")):
        for event in EventFileLoader(str(path)).Load():
            for v in event.summary.value:
                if v.tag == key:
                    value = v.simple_value if v.HasField("simple_value") else \
                        float(tensor_util.make_ndarray(v.tensor).item())
                    points.append((float(event.step), value))
    _, keep = _one_at_a_time([p[0] for p in points], [])
    return [points[i] for i in keep]


def _table_last(cli, db: Path) -> float:
    code, out, err = cli("table", "resumed", "-e", "Env", "--last-n", "1", "--format", "json", "-m", TAG, db=db)
    assert code == 0, err
    return json.loads(out)["rows"][0]["mean"]


def _ingest(cli, logdir: Path, db: Path) -> tuple[int, str]:
    code, _, err = cli("ingest", str(logdir), "--experiment", "resumed", "--env", "Env", "--seed", "1", db=db)
    return code, err


SCENARIOS = {
    # a new event file in the same folder after a crash; no marker (the data server's rule)
    "new-file": lambda kind, d: (_job(kind, d, range(0, 1000, 100), _dead),
                                 _job(kind, d, range(500, 1300, 100), _resumed)),
    # SummaryWriter(purge_step=500): a restart marker (SessionLog.START at 500) opens the new file
    "purge-step": lambda kind, d: (_job(kind, d, range(0, 1000, 100), _dead),
                                   _job(kind, d, range(600, 1300, 100), _resumed, purge_step=500)),
}


@pytest.mark.parametrize("kind", ["torch", "tensorboardX"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("incremental", [False, True], ids=["one-ingest", "two-ingests"])
def test_resumed_run_reads_as_tensorboard_reads_it(kind, scenario, incremental, cli, tmp_path):
    logdir, db = tmp_path / "run", tmp_path / "s.db"
    logdir.mkdir()
    SCENARIOS[scenario](kind, logdir)
    if incremental:  # ingest after the crash, then again after the resumed job: stored points are cut
        later = sorted(logdir.glob("*tfevents*"))[1]
        hidden = later.rename(tmp_path / later.name)
        code, err = _ingest(cli, logdir, db)
        assert code == 0 and "preempted" not in err
        assert _stored(db)[-1] == (900.0, 9.0)
        hidden.rename(later)
    code, err = _ingest(cli, logdir, db)
    assert code == 0, err
    assert "points preempted by a resumed run" in err
    stored = _stored(db)
    want = [(float(s), _dead(s)) for s in range(0, 500, 100)]
    want += [(float(s), _resumed(s)) for s in range(500 if scenario == "new-file" else 600, 1300, 100)]
    assert stored == want
    if scenario == "purge-step":  # TensorBoard's EventAccumulator purges on the marker: the same points
        assert stored == _accumulator(logdir)
        assert _stored(db, OTHER) == _accumulator(logdir, OTHER)
    else:  # the accumulator keeps both jobs (file_version 2 files purge on markers only); the data server preempts
        assert stored == _data_server_rule(logdir)
        assert len(_accumulator(logdir)) == 10 + 8
    assert _table_last(cli, db) == _resumed(1200)  # the resumed run's value, not the dead run's 9.0


@pytest.mark.parametrize("kind", ["torch", "tensorboardX"])
def test_step_going_back_inside_one_file(kind, cli, tmp_path):
    logdir, db = tmp_path / "run", tmp_path / "s.db"
    _job(kind, logdir, [*range(0, 1000, 100), *range(500, 800, 100)],
         lambda s: s / 100.0)
    assert _ingest(cli, logdir, db)[0] == 0
    assert _stored(db) == _data_server_rule(logdir) == [(float(s), s / 100.0) for s in [0, 100, 200, 300, 400,
                                                                                         500, 600, 700]]
    assert _stored(db, OTHER) == _data_server_rule(logdir, OTHER) == [(0.0, -0.0), (200.0, -2.0), (400.0, -4.0),
                                                                       (600.0, -6.0)]


def test_restart_marker_mid_file_and_repeated_steps(tmp_path, cli):
    """A restart marker inside one file (a writer that logs SessionLog.START itself, as TF1's
    Supervisor does) preempts every series, also one not written again; equal steps stay."""
    pytest.importorskip("tensorboardX")
    from tensorboardX import SummaryWriter
    from tensorboardX.proto.event_pb2 import Event, SessionLog

    logdir, db = tmp_path / "run", tmp_path / "s.db"
    w = SummaryWriter(str(logdir))
    for step in range(0, 1000, 100):
        w.add_scalar(TAG, step / 100.0, step)
        w.add_scalar(TAG, step / 100.0 + 0.5, step)  # a second episode ending at the same step
        w.add_scalar(OTHER, -1.0, step)
    w.file_writer.add_event(Event(step=500, session_log=SessionLog(status=SessionLog.START)))
    for step in range(500, 800, 100):
        w.add_scalar(TAG, 1000 + step / 100.0, step)
    w.close()
    assert _ingest(cli, logdir, db)[0] == 0
    want = [(float(s), v) for s in range(0, 500, 100) for v in (s / 100.0, s / 100.0 + 0.5)]
    want += [(float(s), 1000 + s / 100.0) for s in range(500, 800, 100)]
    assert _stored(db) == _accumulator(logdir) == want  # the Python accumulator keeps equal steps too
    assert _stored(db, OTHER) == _accumulator(logdir, OTHER) == [(float(s), -1.0) for s in range(0, 500, 100)]


def test_marker_in_a_later_ingest_cuts_stored_series(tmp_path, cli):
    """The marker arrives with the resumed job, in a later ingest than the dead job's points."""
    logdir, db = tmp_path / "run", tmp_path / "s.db"
    logdir.mkdir()
    _job("tensorboardX", logdir, range(0, 1000, 100), _dead)
    assert _ingest(cli, logdir, db)[0] == 0
    _job("tensorboardX", logdir, range(700, 900, 100), _resumed, purge_step=500)  # nothing at 500, 600
    code, err = _ingest(cli, logdir, db)
    assert code == 0 and "preempted" in err
    assert _stored(db) == _accumulator(logdir) == [(float(s), _dead(s)) for s in range(0, 500, 100)] + \
        [(700.0, _resumed(700)), (800.0, _resumed(800))]
    assert _stored(db, OTHER) == _accumulator(logdir, OTHER) == [(0.0, -0.0), (200.0, -2.0), (400.0, -4.0),
                                                                  (800.0, -_resumed(800))]


# ------------------------------------------------------------------ appended tables
def test_appended_single_run_tables_preempt_but_long_tables_do_not(tmp_path):
    jsonl = tmp_path / "a" / "log.jsonl"
    jsonl.parent.mkdir()
    rows = [{"step": s, "r": s / 100} for s in range(0, 1000, 100)]
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    db = tmp_path / "s.db"
    with Store(db) as store:
        ingest(store, [jsonl.parent])
        with jsonl.open("a") as f:  # the resumed job appends from its step-500 checkpoint
            f.write("".join(json.dumps({"step": s, "r": 1000 + s / 100}) + "\n" for s in range(500, 700, 100)))
        summary = ingest(store, [jsonl.parent])
        assert any("5 points preempted" in w for w in summary.warnings)
    assert _stored(db, "r") == [(float(s), s / 100) for s in range(0, 500, 100)] + [(500.0, 1005.0), (600.0, 1006.0)]
    long = tmp_path / "b" / "long.csv"
    long.parent.mkdir()
    long.write_text("run,step,r\n" + "".join(f"x,{s},{s}\n" for s in (0, 1, 2, 0, 1)))
    with Store(tmp_path / "l.db") as store:
        summary = ingest(store, [long.parent])
        (run,) = store.runs()
        assert store.load_series(run.id, "r").steps.tolist() == [0, 1, 2, 0, 1]
        assert not any("preempted" in w for w in summary.warnings)


def test_sb3_monitor_is_not_preempted(tmp_path):
    """A monitor file's x axis is the cumulative step count, which never goes back."""
    from openrlb_cli.ingest import registry

    assert registry.spec("sb3-monitor").preempts == registry.spec("wandb-offline").preempts == "never"



# ------------------------------------------------------------------ damage keeps the valid prefix
def _references(logdir: Path, key: str) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """What TensorBoard's EventAccumulator and tbparse read from a (damaged) folder."""
    tbparse = pytest.importorskip("tbparse")
    df = tbparse.SummaryReader(str(logdir)).scalars
    df = df[df["tag"] == key]
    return _accumulator(logdir, key), [(float(s), float(v)) for s, v in zip(df["step"], df["value"], strict=True)]


@pytest.mark.parametrize("damage", ["flipped-byte", "zero-tail", "zero-tail-mid-record", "torn-tail"])
def test_damaged_event_file_keeps_the_records_before_the_damage(damage, cli, tmp_path):
    logdir, db = tmp_path / "run", tmp_path / "s.db"
    logdir.mkdir()
    _job("tensorboardX", logdir, range(0, 3000, 10), _dead)
    (path,) = logdir.glob("*tfevents*")
    good = path.read_bytes()
    data = bytearray(good)
    if damage == "flipped-byte":
        data[len(data) // 2] ^= 0x01
    elif damage == "zero-tail":
        data += b"\0" * 4096
    elif damage == "zero-tail-mid-record":
        data[-20:] = b"\0" * 20
        data += b"\0" * 4096
    else:
        data = data[:-7]
    path.write_bytes(bytes(data))
    code, err = _ingest(cli, logdir, db)
    for key in (TAG, OTHER):
        ea, tbp = _references(logdir, key)
        assert _stored(db, key) == ea == tbp
    assert 0 < len(_stored(db)) < (300 if damage == "flipped-byte" else 301)
    if damage == "flipped-byte":  # one line with the byte offset, exit 2
        assert code == 2 and len([ln for ln in err.splitlines() if "at byte offset" in ln]) == 1
        path.write_bytes(good)  # the copy completes: the next ingest reads on from the damage
    else:  # a tail, not damage: kept for when the file grows (or is written again)
        assert code == 0 and "skipped" not in err
        path.write_bytes(good + b"\0" * 8 if damage != "torn-tail" else good)
    code, err = _ingest(cli, logdir, db)
    if damage in ("flipped-byte", "torn-tail"):
        assert code == 0, err
        assert _stored(db) == [(float(s), float(np.float32(_dead(s)))) for s in range(0, 3000, 10)]


def test_mlflow_run_resumed_into_the_same_run(tmp_path, monkeypatch):
    """`MlflowClient.log_metric` into the same run after a resume (as `start_run(run_id=...)` does):
    the file store's metric file gets steps going back; the resumed points win."""
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # mlflow 3 keeps the file store behind this
    client = mlflow.tracking.MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    run_id = client.create_run(client.create_experiment("resume")).info.run_id
    for step in range(0, 1000, 100):
        client.log_metric(run_id, "r", _dead(step), step=step)
    with Store(tmp_path / "s.db") as store:
        ingest(store, [tmp_path / "mlruns"])
        for step in range(500, 700, 100):  # the resumed job, in a later ingest
            client.log_metric(run_id, "r", _resumed(step), step=step)
        summary = ingest(store, [tmp_path / "mlruns"])
        assert any("5 points preempted" in w for w in summary.warnings)
    assert _stored(tmp_path / "s.db", "r") == [(float(s), _dead(s)) for s in range(0, 500, 100)] + \
        [(500.0, 1005.0), (600.0, 1006.0)]


def test_a_restart_marker_cuts_only_the_event_files_series(tmp_path, cli):
    """An event file's restart marker (purge_step) is about the event file's series (TensorBoard reads
    nothing else): a progress.csv beside it in the same run folder keeps its points, which its own
    rules (preemption when its steps go back, a rewrite read again) look after."""
    logdir, db = tmp_path / "run", tmp_path / "s.db"
    logdir.mkdir()
    rows = "".join(f"{s},{s / 10}\n" for s in range(0, 1000, 100))
    (logdir / "progress.csv").write_text("time/total_timesteps,rollout/ep_rew_mean\n" + rows)
    _job("tensorboardX", logdir, range(0, 1000, 100), _dead)
    assert _ingest(cli, logdir, db)[0] == 0
    _job("tensorboardX", logdir, range(700, 900, 100), _resumed, purge_step=500)
    code, err = _ingest(cli, logdir, db)
    assert code == 0 and "preempted" in err
    assert _stored(db) == _accumulator(logdir) == [(float(s), _dead(s)) for s in range(0, 500, 100)] + \
        [(700.0, _resumed(700)), (800.0, _resumed(800))]
    assert _stored(db, "rollout/ep_rew_mean") == [(float(s), s / 10) for s in range(0, 1000, 100)]
