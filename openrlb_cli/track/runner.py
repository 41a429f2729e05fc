"""Run a command as a tracked experiment: child process, signals, live ingest, final state.

Why this shape:
- The command is a child with the terminal's stdin/stdout/stderr, so it behaves as if run
  directly; its exit code becomes openrlb's (128 + N when it dies from signal N).
- SIGINT/SIGTERM sent to openrlb are forwarded to the child and the run ends as `killed`. A Ctrl-C
  typed in the terminal already reaches the child (same process group), so it is not sent twice:
  openrlb blocks the signals and reads them with `sigtimedwait`, whose sender pid tells a
  terminal (kernel, pid 0) from `kill` (a process).
- A background thread re-scans for the log directory and ingests what is new every `interval`
  seconds with the ordinary pipeline, on its own store connection, so `openrlb plot` shows a
  running experiment. A final ingest runs once the child has exited.
- The run row and provenance are written before the child starts, so if openrlb itself dies the
  run stays `running` and `openrlb track --resume RUN` can finish it (see `resume`).

States: running, finished (exit 0), crashed (any other exit), killed (died from a signal, exit
130/137/143/129 as shells report it, or openrlb was interrupted).
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openrlb_cli.errors import InputError
from openrlb_cli.ingest.pipeline import Overrides, Unit, discover, ingest
from openrlb_cli.model import RunRecord
from openrlb_cli.redact import env_secret_values, scrub_argv, scrub_value
from openrlb_cli.store import Store
from openrlb_cli.store.lock import StoreBusyError, store_lock
from openrlb_cli.track import inference, provenance, records

DEFAULT_INTERVAL = 5.0
KILLED_EXIT_CODES = {128 + signal.SIGINT, 128 + signal.SIGTERM, 128 + signal.SIGKILL, 128 + signal.SIGHUP}
_WAITED = (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD)

Say = Callable[[str], None]


@dataclass
class TrackOptions:
    project: str | None = None
    experiment: str | None = None
    env: str | None = None
    seed: int | None = None
    tags: list[str] = field(default_factory=list)
    logdir: Path | None = None
    env_vars: list[str] = field(default_factory=list)
    save_diff: bool = False
    interval: float = DEFAULT_INTERVAL


@dataclass
class TrackResult:
    run_id: int
    uid: str
    state: str
    exit_code: int | None
    logdir: Path | None
    points: int
    warnings: list[str] = field(default_factory=list)


class LogTailer:
    """Finds the run's log directories and ingests them; `tick` is safe to call from one thread at a time."""

    def __init__(self, run_id: int, snapshot: inference.Snapshot | None, overrides: Overrides,
                 dirs: list[Path] | None = None, logdir: Path | None = None):
        self.run_id = run_id
        self.snapshot = snapshot
        self.overrides = overrides
        self.dirs: list[Path] = list(dict.fromkeys([*([logdir] if logdir else []), *(dirs or [])]))
        self.logdir = logdir  # the directory the run is keyed to, once attached
        self._recorded: list[Path] = list(self.dirs) if logdir else []
        self.points = 0
        self.warnings: list[str] = []
        self._units: list[Unit] = []
        self._seen: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def tick(self, store: Store, *, wait: bool = True) -> int:
        """Ingest what is new, holding the store's lock (shared with ingest and fetch) for this tick
        only, so a cron ingest or a sync waits for one tick at most. Without `wait`, a tick that finds
        the lock held raises `StoreBusyError` (the live ingest skips it and tries again next time)."""
        with self._lock, store_lock(store.path, wait=wait, holder="track"):
            return self._tick(store)

    def _tick(self, store: Store) -> int:
        changed: tuple[str, ...] = ()
        if self.snapshot is not None:
            files = self.snapshot.changed_logs()
            changed = tuple(str(p) for p in files)
            for d in inference.log_dirs(files):
                if d not in self.dirs:
                    self.dirs.append(d)
        if not self.dirs:
            return 0
        if self.logdir is None:
            self.logdir = self.dirs[0]
            self.run_id = records.attach_logdir(store, self.run_id, self.logdir)
        if self.dirs != self._recorded:
            with store.transaction():
                records.update_provenance(store, self.run_id, logdir=str(self.logdir), extra=self._extra(store))
            self._recorded = list(self.dirs)
        if changed != self._seen or not self._units:
            units, _ = discover(self.dirs)
            wanted = set(self.dirs)
            self._units = [u for u in units if u.run_dir in wanted]
            self._seen = changed
        summary = ingest(store, [], units=self._units, overrides=self.overrides)
        for path, reason in summary.skipped:
            message = f"{path}: {reason}"
            if message not in self.warnings:
                self.warnings.append(message)
        if summary.points:
            self.points += summary.points
            with store.transaction():
                records.touch(store, self.run_id, time.time())
        return summary.points

    def _extra(self, store: Store) -> dict[str, Any]:
        prov = records.load_provenance(store, self.run_id)
        extra = dict(prov.extra) if prov else {}
        if len(self.dirs) > 1:
            extra["other_logdirs"] = [str(d) for d in self.dirs[1:]]
        return extra


class _TailThread(threading.Thread):
    def __init__(self, db_path: Path, tailer: LogTailer, interval: float):
        super().__init__(name="openrlb-track-tail", daemon=True)
        self.db_path, self.tailer, self.interval = db_path, tailer, interval
        self.stop_event = threading.Event()

    def run(self) -> None:
        try:
            with Store(self.db_path) as store:
                while not self.stop_event.wait(self.interval):
                    try:
                        self.tailer.tick(store, wait=False)
                    except StoreBusyError:
                        continue  # another ingest or sync is writing: its turn; ours comes next interval
                    except Exception as exc:  # never disturb the training run; reported at the end
                        message = f"live ingest: {type(exc).__name__}: {exc}"
                        if message not in self.tailer.warnings:
                            self.tailer.warnings.append(message)
        except Exception as exc:
            self.tailer.warnings.append(f"live ingest stopped: {exc}")


# ---------------------------------------------------------------------------- preparing
def _check_command(argv: list[str], cwd: Path) -> None:
    if not argv:
        raise InputError("no command to track; give it after `--`, e.g. openrlb track -- python train.py")
    exe = argv[0]
    if os.sep in exe:
        if not (cwd / exe).is_file():
            raise InputError(f"cannot run {exe!r}: no such file")
        if not os.access(cwd / exe, os.X_OK):
            raise InputError(f"cannot run {exe!r}: not executable")
    elif shutil.which(exe) is None:
        raise InputError(f"cannot run {exe!r}: command not found")


def _new_run(argv: list[str], options: TrackOptions, cwd: Path, say: Say) -> tuple[RunRecord, records.Provenance,
                                                                                    Overrides]:
    secrets = env_secret_values()
    command = scrub_argv(argv, secrets)
    config = {k: scrub_value(k, v, secrets) for k, v in inference.parse_config(command).items()}
    meta = inference.infer_metadata(command, config)
    experiment = options.experiment or meta["experiment"]
    env = options.env or meta["env"]
    seed = options.seed if options.seed is not None else meta["seed"]
    git, diff = provenance.git_info(inference.code_location(argv, cwd), save_diff=options.save_diff)
    python, packages, warning = provenance.python_environment(argv)
    if warning:
        say(f"warning: {warning}")
    env_vars, refused = provenance.environment(options.env_vars)
    for name in refused:
        say(f"warning: not storing ${name}: its name looks like a secret")
    system = provenance.system_info(python)
    now = time.time()
    rec = RunRecord(source="track", external_id=uuid.uuid4().hex, project=options.project or "local",
                    experiment=experiment, env=env, seed=seed, state="running", user=_user(),
                    created_at=now, updated_at=now, tags=list(options.tags), config=config)
    scan_root = (cwd / options.logdir.expanduser()).resolve() if options.logdir else cwd
    prov = records.Provenance(command=command, cwd=str(cwd), started_at=now, git=git, system=system,
                              packages=packages, env=env_vars, host=system["hostname"], scan_root=str(scan_root),
                              diff=diff)
    overrides = Overrides(project=rec.project, experiment=experiment, env=env, seed=seed, tags=list(options.tags),
                          config=config)
    return rec, prov, overrides


def _user() -> str | None:
    try:
        import getpass

        return getpass.getuser()
    except Exception:
        return None


# ---------------------------------------------------------------------------- running
def track(store: Store, argv: list[str], options: TrackOptions | None = None, *,
          say: Say = lambda _m: None, cwd: Path | None = None) -> TrackResult:
    """Run `argv` as a tracked experiment and return how it ended (see the module docstring)."""
    options = options or TrackOptions()
    cwd = (cwd or Path.cwd()).resolve()
    _check_command(argv, cwd)
    if options.logdir is not None and (cwd / options.logdir).is_file():
        raise InputError(f"log directory {options.logdir} is a file, not a directory", option="logdir")
    rec, prov, overrides = _new_run(argv, options, cwd, say)
    snapshot = inference.Snapshot.take(Path(prov.scan_root or cwd))
    if snapshot.truncated:
        say(f"warning: {prov.scan_root} holds too many files to watch completely; name the log directory to watch")
    with store.transaction():
        run_id = store.upsert_run(rec)
        records.save_provenance(store, run_id, prov)
    uid = _uid(store, run_id)
    say(f"tracking run {uid}: {shlex.join(prov.command)}")

    tailer = LogTailer(run_id, snapshot, overrides)
    use_sigwait = _can_sigwait()
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _WAITED) if use_sigwait else set()  # used with sigwait only
    received: list[int] = []
    forwarded: list[int] = []
    thread: _TailThread | None = None
    try:
        try:
            proc = subprocess.Popen(argv, cwd=cwd, preexec_fn=(
                (lambda: signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)) if use_sigwait else None))
        except OSError as exc:
            with store.transaction():
                records.set_state(store, run_id, "crashed", time.time())
                records.update_provenance(store, run_id, exit_code=127, ended_at=time.time())
            raise InputError(f"cannot run {argv[0]!r}: {exc.strerror or exc}") from exc
        with store.transaction():
            records.update_provenance(store, run_id, pid=proc.pid)
        thread = _TailThread(store.path, tailer, options.interval)
        thread.start()
        if use_sigwait:
            _wait_sigwait(proc, received, forwarded)
        else:
            _wait_handlers(proc, received, forwarded)
    finally:
        if use_sigwait:
            _drain(received)
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        if thread is not None:
            thread.stop_event.set()
            thread.join()
    ended = time.time()
    returncode = proc.returncode
    exit_code = 128 - returncode if returncode < 0 else returncode
    if returncode < 0 or received or exit_code in KILLED_EXIT_CODES:
        state = "killed"
    else:
        state = "finished" if exit_code == 0 else "crashed"
    try:
        tailer.tick(store)
    except Exception as exc:
        tailer.warnings.append(f"final ingest: {type(exc).__name__}: {exc}")
    run_id = tailer.run_id
    extra = tailer._extra(store)
    if returncode < 0:
        extra["signal"] = signal.Signals(-returncode).name
    if received:
        extra["received"] = [signal.Signals(s).name for s in received]
    if forwarded:
        extra["forwarded"] = [signal.Signals(s).name for s in forwarded]
    if tailer.warnings:
        extra["warnings"] = tailer.warnings[:20]
    with store.transaction():
        records.set_state(store, run_id, state, ended)
        records.update_provenance(store, run_id, exit_code=exit_code, ended_at=ended,
                                  duration=ended - prov.started_at, extra=extra)
    return TrackResult(run_id, _uid(store, run_id), state, exit_code, tailer.logdir, tailer.points, tailer.warnings)


def _uid(store: Store, run_id: int) -> str:
    return str(store.conn.execute("SELECT uid FROM runs WHERE id = ?", (run_id,)).fetchone()[0])


def _can_sigwait() -> bool:
    return (hasattr(signal, "sigtimedwait") and hasattr(signal, "pthread_sigmask")
            and threading.current_thread() is threading.main_thread())


def _forward(proc: subprocess.Popen[bytes], signo: int) -> None:
    try:
        proc.send_signal(signo)
    except (ProcessLookupError, OSError):
        pass


def _wait_sigwait(proc: subprocess.Popen[bytes], received: list[int], forwarded: list[int]) -> None:
    while proc.poll() is None:
        info = signal.sigtimedwait(_WAITED, 0.5)
        if info is None or info.si_signo == signal.SIGCHLD:
            continue
        received.append(info.si_signo)
        # a terminal's Ctrl-C comes from the kernel (pid 0) and already reached the child
        if not (info.si_signo == signal.SIGINT and info.si_pid == 0):
            forwarded.append(info.si_signo)
            _forward(proc, info.si_signo)


def _drain(received: list[int]) -> None:
    """Consume signals still pending so unblocking does not raise KeyboardInterrupt afterwards."""
    while True:
        info = signal.sigtimedwait(_WAITED, 0)
        if info is None:
            return
        if info.si_signo != signal.SIGCHLD:
            received.append(info.si_signo)


def _wait_handlers(proc: subprocess.Popen[bytes], received: list[int], forwarded: list[int]) -> None:
    """Fallback without sigtimedwait (or off the main thread): forward from signal handlers."""
    if threading.current_thread() is not threading.main_thread():
        proc.wait()
        return

    def handler(signo: int, _frame: Any) -> None:
        received.append(signo)
        forwarded.append(signo)
        _forward(proc, signo)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        proc.wait()
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


# ---------------------------------------------------------------------------- resuming
def process_alive(pid: int | None, host: str | None, argv0: str | None) -> bool | None:
    """Whether the recorded process still runs: None when it ran on another host."""
    if host is not None and host != socket.gethostname():
        return None
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if argv0 and cmdline.exists():  # the pid may have been reused by an unrelated process
        try:
            return Path(argv0).name.encode() in cmdline.read_bytes()
        except OSError:
            return True
    return True


def resume(store: Store, ref: str, *, say: Say = lambda _m: None) -> TrackResult:
    """Finish a run whose `openrlb track` died: ingest its logs and settle its state."""
    run = store.get_run(ref)
    prov = records.require_provenance(store, run)
    dirs = [Path(d) for d in prov.extra.get("other_logdirs", [])]
    logdir = Path(prov.logdir) if prov.logdir else None
    if logdir is None and prov.scan_root:
        dirs = inference.logs_since(Path(prov.scan_root), prov.started_at)
    config = {k: scrub_value(k, v) for k, v in inference.parse_config(prov.command).items()}
    overrides = Overrides(project=run.project, experiment=run.experiment, env=run.env, seed=run.seed,
                          tags=list(run.tags), config=config)
    tailer = LogTailer(run.id, None, overrides, dirs, logdir)
    tailer.tick(store)
    state, exit_code = run.state or "running", prov.exit_code
    if state == "running":
        alive = process_alive(prov.pid, prov.host, prov.command[0] if prov.command else None)
        if alive is None:
            say(f"warning: run {run.uid} ran on {prov.host}; cannot tell whether it still runs, state left running")
        elif alive:
            say(f"run {run.uid} is still running (pid {prov.pid}); ingested what it has written so far")
        else:
            state = "killed"
            with store.transaction():
                records.set_state(store, tailer.run_id, state, time.time())
                records.update_provenance(store, tailer.run_id, extra={
                    **tailer._extra(store), "resumed_at": time.time(),
                    "note": "openrlb stopped before the command ended; its exit status is unknown"})
    return TrackResult(tailer.run_id, _uid(store, tailer.run_id), state, exit_code, tailer.logdir, tailer.points,
                       tailer.warnings)
