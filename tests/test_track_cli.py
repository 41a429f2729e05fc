"""End to end: `openrlb track` runs a real (tiny) training script and the store holds the run.

The script below writes CleanRL's layout (`runs/{env}__{exp}__{seed}__{time}/` with a TensorBoard
event file, via `tfevents.write_scalars`) one episode at a time with a short sleep between
episodes, so live ingest is exercised. Its episodic return is `seed + 0.5 * episode`, the
independent reference the stored points are checked against.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from openrlb_cli.store import Store
from openrlb_cli.track import records

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "abc123def456ghi789jkl012mno345pqr678"
API_KEY = "sk-test" + "Q7wE9rT2yU4iO6pA8sD0fG1hJ3kL5zX"

TRAIN = """
import argparse, os, signal, socket, sys, time
from openrlb_cli.ingest.tensorboard.events import write_scalars

p = argparse.ArgumentParser()
p.add_argument("--env-id", default="CartPole-v1")
p.add_argument("--exp-name", default=os.path.basename(__file__)[:-3])
p.add_argument("--seed", type=int, default=1)
p.add_argument("--learning-rate", type=float, default=0.1)
p.add_argument("--episodes", type=int, default=5)
p.add_argument("--sleep", type=float, default=0.0)
p.add_argument("--token", default="")
p.add_argument("--api-key", default="")
p.add_argument("--exit-code", type=int, default=0)
p.add_argument("--no-logs", action="store_true")
p.add_argument("--ready", default="")
p.add_argument("--self-interrupt", action="store_true")
p.add_argument("--count-signals", default="")
a = p.parse_args()
if a.count_signals:  # count SIGINTs, exit 130 half a second after the first (a duplicate would be counted)
    got = []
    def on_int(signo, frame):
        got.append(time.time())
        open(a.count_signals, "a").write("INT\\n")
    signal.signal(signal.SIGINT, on_int)
if a.ready:
    open(a.ready, "w").write(str(os.getpid()))
if a.self_interrupt:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(5)
run = f"runs/{a.env_id}__{a.exp_name}__{a.seed}__{int(time.time())}"
if not a.no_logs:
    os.makedirs(run)
    path = f"{run}/events.out.tfevents.{int(time.time())}.{socket.gethostname()}"
for ep in range(a.episodes):
    if not a.no_logs:
        write_scalars(path, [("charts/episodic_return", 100 * (ep + 1), a.seed + 0.5 * ep, time.time())],
                      append=True)
    print(f"episode {ep}", flush=True)
    time.sleep(a.sleep)
    if a.count_signals and got and time.time() - got[0] > 0.5:
        sys.exit(130)
sys.exit(a.exit_code)
"""


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True, env=env).stdout


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository holding the training script; the tests run inside it."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "ppo_tiny.py").write_text(TRAIN)
    (repo / ".gitignore").write_text("runs/\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "tiny trainer")
    git(repo, "remote", "add", "origin", "https://example.com/me/tiny.git")
    monkeypatch.chdir(repo)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    return repo


def only_run(db: Path):
    with Store(db) as store:
        runs = store.runs()
        assert len(runs) == 1
        run = runs[0]
        return run, records.load_provenance(store, run.id), store.load_series(run.id, "charts/episodic_return")


def test_track_records_run_metadata_points_and_no_secrets(cli, repo: Path, db_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FAKE_API_KEY", API_KEY)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    code, _out, err = cli("track", "--tag", "smoke", "--env-var", "FAKE_API_KEY", "--interval", "0.2", "--",
                          sys.executable, "ppo_tiny.py", "--seed", "3", "--learning-rate", "0.05",
                          "--episodes", "6", "--sleep", "0.1", "--token", TOKEN, "--api-key", API_KEY)
    assert code == 0, err
    assert "not storing $FAKE_API_KEY" in err
    run, prov, series = only_run(db_path)
    logdir = next((repo / "runs").iterdir())
    assert (run.state, run.source, run.external_id) == ("finished", "local", str(logdir))
    assert (run.experiment, run.env, run.seed, run.tags) == ("ppo_tiny", "CartPole-v1", 3, ["smoke"])
    assert run.config["learning_rate"] == 0.05 and run.config["token"] == "[REDACTED]"
    np.testing.assert_array_equal(series.steps, 100.0 * np.arange(1, 7))
    np.testing.assert_allclose(series.values, 3 + 0.5 * np.arange(6))
    assert prov.exit_code == 0 and prov.logdir == str(logdir) and prov.cwd == str(repo)
    assert prov.duration >= 0.6 and prov.ended_at - prov.started_at == pytest.approx(prov.duration)
    assert prov.git["commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert prov.git["branch"] == "main" and prov.git["dirty"] is False
    assert prov.git["remote"] == "https://example.com/me/tiny.git"
    assert f"numpy=={np.__version__}" in prov.packages
    assert prov.system["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert prov.env == {"OMP_NUM_THREADS": "2"}
    assert prov.command[-4:] == ["--token", "[REDACTED]", "--api-key", "[REDACTED]"]
    assert prov.host and prov.pid
    # neither secret is anywhere in the store's bytes (the WAL included)
    blob = b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))
    assert blob and TOKEN.encode() not in blob and API_KEY.encode() not in blob
    # `openrlb ingest` of the same logs finds the tracked run: one run, no duplicated points
    code, _out, err = cli("ingest", str(repo / "runs"))
    assert code == 0, err
    again, _, series2 = only_run(db_path)
    assert again.id == run.id and again.state == "finished" and len(series2) == 6


def _poll(db: Path, sql: str) -> list[tuple]:
    """Read the store of a running `openrlb track` with a bare connection (cheap, read-only)."""
    if not db.exists():
        return []
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
            return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:  # not migrated yet
        return []


def test_running_experiment_shows_progress_before_it_ends(repo: Path, db_path: Path):
    cmd = [sys.executable, "-m", "openrlb_cli", "--db", str(db_path), "track", "--interval", "0.2", "--",
           sys.executable, "ppo_tiny.py", "--episodes", "8", "--sleep", "0.2"]
    proc = subprocess.Popen(cmd, cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen_running = 0
    deadline = time.time() + 20
    while proc.poll() is None and time.time() < deadline:
        for state, n in _poll(db_path, "SELECT r.state, coalesce(sum(s.n_points), 0) FROM runs r "
                                       "LEFT JOIN series s ON s.run_id = r.id GROUP BY r.id"):
            if state == "running" and 0 < n < 8:
                seen_running = max(seen_running, n)
        time.sleep(0.1)
    assert proc.wait(timeout=20) == 0, proc.stderr.read().decode()
    assert seen_running > 0, "no points were ingested while the command ran"
    run, _prov, series = only_run(db_path)
    assert run.state == "finished" and len(series) == 8


def test_failing_command_is_crashed_with_its_exit_code(cli, repo: Path, db_path: Path):
    code, _out, err = cli("track", "--", sys.executable, "ppo_tiny.py", "--episodes", "2", "--exit-code", "3")
    assert code == 3
    run, prov, series = only_run(db_path)
    assert run.state == "crashed" and prov.exit_code == 3 and len(series) == 2
    assert f"run {run.uid} crashed (exit code 3)" in err


def test_command_killed_by_sigint_is_killed(cli, repo: Path, db_path: Path):
    code, _out, _err = cli("track", "--", sys.executable, "ppo_tiny.py", "--self-interrupt")
    assert code == 128 + signal.SIGINT
    run, prov, _series = only_run(db_path)
    assert run.state == "killed" and prov.exit_code == 130 and prov.extra["signal"] == "SIGINT"


def _wait_for(path: Path, seconds: float = 15) -> None:
    deadline = time.time() + seconds
    while not path.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert path.exists(), f"{path} never appeared"
    time.sleep(0.3)  # let the script get into its loop


def test_sigint_to_openrlb_is_forwarded_to_the_command(repo: Path, db_path: Path, tmp_path: Path):
    ready, counts = tmp_path / "ready", tmp_path / "signals"
    cmd = [sys.executable, "-m", "openrlb_cli", "--db", str(db_path), "track", "--", sys.executable,
           "ppo_tiny.py", "--episodes", "200", "--sleep", "0.1", "--ready", str(ready), "--count-signals", str(counts)]
    proc = subprocess.Popen(cmd, cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _wait_for(ready)
    proc.send_signal(signal.SIGINT)  # as `kill -INT`: only openrlb gets it, and passes it on
    assert proc.wait(timeout=15) == 130, proc.stderr.read().decode()
    assert counts.read_text() == "INT\n"
    run, prov, series = only_run(db_path)
    assert run.state == "killed" and prov.exit_code == 130 and prov.extra["forwarded"] == ["SIGINT"]
    assert 0 < len(series) < 200


def test_ctrl_c_in_a_terminal_reaches_the_command_once(repo: Path, db_path: Path, tmp_path: Path):
    """A terminal sends Ctrl-C to the whole foreground process group; openrlb must not send it again."""
    import fcntl
    import pty
    import termios
    import threading

    ready, counts = tmp_path / "ready", tmp_path / "signals"
    master, slave = pty.openpty()
    cmd = [sys.executable, "-m", "openrlb_cli", "--db", str(db_path), "track", "--", sys.executable,
           "ppo_tiny.py", "--episodes", "200", "--sleep", "0.1", "--ready", str(ready), "--count-signals", str(counts)]
    proc = subprocess.Popen(cmd, cwd=repo, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
    os.close(slave)
    output: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            if not data:
                return
            output.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        _wait_for(ready)
        os.write(master, b"\x03")  # Ctrl-C typed in the terminal
        assert proc.wait(timeout=15) == 130, b"".join(output).decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert counts.read_text() == "INT\n"
    run, prov, _series = only_run(db_path)
    assert run.state == "killed" and prov.extra["received"] == ["SIGINT"] and "forwarded" not in prov.extra


def test_command_without_logs_is_still_recorded(cli, repo: Path, db_path: Path):
    code, _out, err = cli("track", "--project", "p", "--experiment", "e", "--env", "Env-v0", "--seed", "7", "--",
                          sys.executable, "ppo_tiny.py", "--no-logs", "--episodes", "1", "--seed", "2")
    assert code == 0 and "no log directory found" in err
    run, prov, series = only_run(db_path)
    assert (run.project, run.experiment, run.env, run.seed, run.state) == ("p", "e", "Env-v0", 7, "finished")
    assert run.source == "track" and prov.logdir is None and len(series) == 0


def test_logdir_option_narrows_the_search(cli, repo: Path, db_path: Path):
    (repo / "runs" / "elsewhere").mkdir(parents=True)
    code, _, err = cli("track", "--logdir", "runs", "--", sys.executable, "ppo_tiny.py", "--episodes", "2")
    assert code == 0, err
    run, prov, series = only_run(db_path)
    assert prov.scan_root == str(repo / "runs") and Path(prov.logdir).parent == repo / "runs"
    assert len(series) == 2


def test_resume_after_openrlb_was_killed(repo: Path, db_path: Path, cli):
    cmd = [sys.executable, "-m", "openrlb_cli", "--db", str(db_path), "track", "--interval", "0.2", "--",
           sys.executable, "ppo_tiny.py", "--episodes", "8", "--sleep", "0.2"]
    proc = subprocess.Popen(cmd, cwd=repo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 15
    found: list[tuple] = []
    while time.time() < deadline and not found:
        found = _poll(db_path, "SELECT pid FROM run_provenance WHERE logdir IS NOT NULL")
        time.sleep(0.05)
    assert found, "the log directory was never attached"
    pid = found[0][0]
    proc.kill()  # openrlb dies; the training script goes on
    proc.wait()
    while time.time() < deadline:  # wait for the orphaned script to finish
        try:
            os.kill(pid, 0)
            if not Path(f"/proc/{pid}/cmdline").read_bytes():
                break  # a zombie nobody reaps
        except (ProcessLookupError, FileNotFoundError):
            break
        time.sleep(0.1)
    run, _, _ = only_run(db_path)
    assert run.state == "running"
    code, _out, err = cli("track", "--resume", run.uid)
    assert code == 0, err
    run, prov, series = only_run(db_path)
    assert run.state == "killed" and len(series) == 8 and "exit status is unknown" in prov.extra["note"]


def test_reproduce_and_diff(cli, repo: Path, db_path: Path, tmp_path: Path):
    assert cli("track", "--", sys.executable, "ppo_tiny.py", "--episodes", "1", "--seed", "1")[0] == 0
    (repo / "ppo_tiny.py").write_text(TRAIN + "\n# changed\n")
    code, _, err = cli("track", "--save-diff", "--", sys.executable, "ppo_tiny.py", "--episodes", "1", "--seed", "2",
                       "--learning-rate", "0.3")
    assert code == 0, err
    with Store(db_path) as store:
        a, b = sorted(store.runs(), key=lambda r: r.id)
    commit = git(repo, "rev-parse", "HEAD").strip()
    req = tmp_path / "requirements.txt"
    code, out, _ = cli("reproduce", a.uid, "-o", str(req))
    assert code == 0
    assert f"git clone https://example.com/me/tiny.git tiny\ncd tiny\ngit checkout {commit}  # branch main\n" in out
    assert f"python -m pip install -r {req}\n" in out
    assert f"cd .\n{sys.executable} ppo_tiny.py --episodes 1 --seed 1\n" in out
    lines = req.read_text().splitlines()
    assert lines[0].startswith("#") and f"numpy=={np.__version__}" in lines
    code, out, _ = cli("reproduce", b.uid)
    assert f"openrlb reproduce {b.uid} --patch | git apply" in out and out.rstrip().endswith(lines[-1])
    code, patch, _ = cli("reproduce", b.uid, "--patch")
    assert code == 0 and "+# changed" in patch
    code, out, _ = cli("diff", a.uid, b.uid)
    assert code == 0
    assert "fields.seed: 1 -> 2" in out and "config.learning_rate: (absent) -> 0.3" in out
    assert "git.dirty: False -> True" in out and "package" not in out
    code, out, _ = cli("diff", a.uid, b.uid, "--json")
    data = json.loads(out)
    assert data["git"]["dirty"] == [False, True] and data["packages"]["changed"] == {}


def test_bad_invocations_are_one_line_errors(cli, repo: Path):
    code, _, err = cli("track")
    assert code == 1 and err.startswith("error: no command to track")
    code, _, err = cli("track", "--", "no-such-command-xyz")
    assert code == 1 and "command not found" in err
    code, _, err = cli("track", "--resume", "abc", "--", "true")
    assert code == 1 and "not both" in err
    code, _, err = cli("reproduce", "nope")
    assert code == 1 and "no run matches" in err


def test_sqlite_file_has_the_provenance_table(repo: Path, db_path: Path):
    Store(db_path).close()
    cols = [r[1] for r in sqlite3.connect(db_path).execute("PRAGMA table_info(run_provenance)")]
    assert cols[:3] == ["run_id", "command", "cwd"] and "diff" in cols and "exit_code" in cols


def test_show_prints_provenance_and_json_has_all_of_it(cli, repo: Path, db_path: Path):
    code, _, err = cli("track", "--", sys.executable, "ppo_tiny.py", "--episodes", "1", "--seed", "4",
                       "--exit-code", "3")
    assert code == 3, err
    (repo / "ppo_tiny.py").write_text(TRAIN + "\n# local edit\n")  # dirty only after the run: recorded clean
    run, prov, _ = only_run(db_path)
    code, out, err = cli("show", run.uid)
    assert code == 0, err
    lines = {k.strip(): v for k, _, v in (ln.partition(": ") for ln in out.splitlines()) if v}
    commit = git(repo, "rev-parse", "HEAD").strip()
    assert lines["command"] == f"{sys.executable} ppo_tiny.py --episodes 1 --seed 4 --exit-code 3"
    assert lines["working dir"] == str(repo)
    assert lines["exit code"] == "3 (state crashed)"
    assert lines["git"] == f"{commit[:12]} on main, clean  [https://example.com/me/tiny.git]"
    assert lines["python"].endswith(".".join(map(str, sys.version_info[:3])))
    assert lines["packages"].startswith(f"{len(prov.packages)} pinned") and len(prov.packages) > 10
    assert lines["duration"].endswith(" s") and prov.duration > 0
    code, out, err = cli("show", run.uid, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["provenance"] == json.loads(json.dumps(prov.to_dict()))
    assert data["provenance"]["exit_code"] == 3 and data["provenance"]["git"]["commit"] == commit
    assert data["provenance"]["duration"] > 0


def test_show_of_an_ingested_run_has_no_provenance(cli, db_path: Path, tmp_path: Path):
    log = tmp_path / "log.csv"
    log.write_text("step,value\n0,1\n1,2\n")
    assert cli("ingest", str(log))[0] == 0
    with Store(db_path) as store:
        (run,) = store.runs()
    code, out, _ = cli("show", run.uid, "--json")
    assert code == 0 and json.loads(out)["provenance"] is None
    code, out, _ = cli("show", run.uid)
    assert code == 0 and "provenance" not in out


def test_duration_text():
    from openrlb_cli.track.summary import duration_text

    assert duration_text(3725.4) == "1 h 2 min 5.4 s"
    assert duration_text(59.94) == "59.9 s" and duration_text(60) == "1 min 0.0 s" and duration_text(None) == ""
