"""Guess a tracked command's config, seed, env, experiment and log directory without asking.

Why: the point of `openrlb track` is that the training script stays unchanged, so metadata has
to come from the command line and from the files the command creates.

Config: `--name value`, `--name=value`, bare `--flag` (True), `--name v1 v2` (a list) and
Hydra-style `name=value` words; names use underscores (`--total-timesteps` -> total_timesteps),
values become int/float/bool where they parse. Single-dash options are ignored (their arity is
unknowable). Seed, env and experiment are read from the config with the same key names ingest
uses (`seed`; `env_id`, `env`, ...; `exp_name`, `experiment`, `algo`, ...), and the experiment
falls back to the script's name (`python ppo.py` -> ppo, as CleanRL names its runs).

Log directory: the tree under the scan root (the working directory, or `--logdir`) is listed
before the command starts (at most `MAX_DEPTH` levels and `MAX_ENTRIES` entries, skipping hidden
folders, virtualenvs and caches); while it runs, log files that are new or changed since then are
looked for: TensorBoard event files (CleanRL's `runs/<name>/`), SB3 `progress.csv`/`progress.json`
and `*monitor.csv`. The folder holding the first such file (event files first) is the run's log
directory. `--logdir DIR` narrows the search to DIR.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openrlb_cli.ingest.layout import ENV_KEYS, EXPERIMENT_KEYS, SEED_KEYS
from openrlb_cli.ingest.pipeline import SKIP_DIRS

MAX_DEPTH = 6
MAX_ENTRIES = 50_000
LOG_PRIORITY = ("tensorboard", "sb3-progress-csv", "sb3-progress-json", "sb3-monitor")


# ---------------------------------------------------------------------------- command line
def _value(word: str) -> Any:
    low = word.lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(word)
        except ValueError:
            pass
    return word


def _is_option(word: str) -> bool:
    if not word.startswith("-") or word == "-":
        return False
    try:
        float(word)
    except ValueError:
        return True
    return False


def _key(name: str) -> str:
    return name.lstrip("-").replace("-", "_")


def parse_config(argv: list[str]) -> dict[str, Any]:
    """Config from a command line's `--name value` options and `name=value` words."""
    config: dict[str, Any] = {}
    words = argv[1:]
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word == "--":
            continue
        if word.startswith("--") and len(word) > 2:
            name, eq, value = word.partition("=")
            if eq:
                config[_key(name)] = _value(value)
                continue
            values = []
            while i < len(words) and not _is_option(words[i]) and "=" not in words[i]:
                values.append(_value(words[i]))
                i += 1
            config[_key(name)] = True if not values else values[0] if len(values) == 1 else values
            continue
        if word == "-c":  # python -c CODE: the code is not config
            i += 1
            continue
        if _is_option(word):  # -x: arity unknown
            continue
        name, eq, value = word.partition("=")
        if eq and name and name[0].islower() and name.replace(".", "").replace("_", "").replace("-", "").isalnum():
            config[name.lstrip("+")] = _value(value)
    return config


def script_of(argv: list[str]) -> str | None:
    """The Python script or module a command runs (`python x.py`, `python -m pkg.mod`), if any."""
    for i, word in enumerate(argv):
        if word == "-m" and i + 1 < len(argv):
            return argv[i + 1]
        if word.endswith(".py") and not word.startswith("-"):
            return word
    return None


def code_location(argv: list[str], cwd: Path) -> Path:
    """Where the code lives, for git: the script's folder when it is a file, else the cwd."""
    script = script_of(argv)
    if script and script.endswith(".py"):
        path = (cwd / script).expanduser()
        if path.is_file():
            return path.resolve().parent
    return cwd


def infer_metadata(argv: list[str], config: dict[str, Any]) -> dict[str, Any]:
    """experiment, env and seed implied by the command (None where nothing fits)."""
    def first(keys: tuple[str, ...]) -> Any:
        for key in keys:
            value = config.get(key)
            if value not in (None, "", True, False) and not isinstance(value, list):
                return value
        return None

    seed = first(SEED_KEYS)
    experiment = first(EXPERIMENT_KEYS)
    if experiment is None:
        script = script_of(argv)
        if script:
            experiment = Path(script).stem if script.endswith(".py") else script.rsplit(".", 1)[-1]
    env = first(ENV_KEYS)
    return {
        "experiment": None if experiment is None else str(experiment),
        "env": None if env is None else str(env),
        "seed": seed if isinstance(seed, int) else None,
    }


# ---------------------------------------------------------------------------- log directory
def log_kind(name: str) -> str | None:
    """The log format a file name announces, among those tracking looks for."""
    if "tfevents" in name:
        return "tensorboard"
    if name == "progress.csv":
        return "sb3-progress-csv"
    if name == "progress.json":
        return "sb3-progress-json"
    if name.endswith("monitor.csv"):
        return "sb3-monitor"
    return None


# Beyond what ingest never walks: where a training command's own logs are unlikely (the scan guesses).
_NOT_SCANNED = frozenset({"artifacts", ".trash", "tmp", "wandb"})


def _skip_dir(path: Path, name: str) -> bool:
    return name.startswith(".") or name in SKIP_DIRS or name in _NOT_SCANNED or (
        path / "pyvenv.cfg").is_file()


@dataclass
class Snapshot:
    """Log files under `root` (path -> (size, mtime_ns)) when the snapshot was taken."""

    root: Path
    files: dict[str, tuple[int, int]] = field(default_factory=dict)
    truncated: bool = False

    @classmethod
    def take(cls, root: Path, max_depth: int = MAX_DEPTH, max_entries: int = MAX_ENTRIES) -> Snapshot:
        snap = cls(root.resolve())
        for path, st in _walk(snap.root, max_depth, max_entries, snap):
            snap.files[str(path)] = (st.st_size, st.st_mtime_ns)
        return snap

    def changed_logs(self, max_depth: int = MAX_DEPTH, max_entries: int = MAX_ENTRIES) -> list[Path]:
        """Log files that are new or changed since the snapshot, best format first."""
        found = []
        for path, st in _walk(self.root, max_depth, max_entries, None):
            if self.files.get(str(path)) != (st.st_size, st.st_mtime_ns):
                found.append(path)
        return sort_logs(found)


def _walk(root: Path, max_depth: int, max_entries: int, snap: Snapshot | None
          ) -> Iterator[tuple[Path, os.stat_result]]:
    """(path, stat) of log files under root, breadth-first, bounded."""
    if not root.is_dir():
        return
    frontier = [root]
    seen = 0
    for _depth in range(max_depth + 1):
        nxt: list[Path] = []
        for folder in frontier:
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                seen += 1
                if seen > max_entries:
                    if snap is not None:
                        snap.truncated = True
                    return
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if not _skip_dir(Path(entry.path), entry.name):
                            nxt.append(Path(entry.path))
                    elif log_kind(entry.name) and entry.is_file():
                        yield Path(entry.path), entry.stat()
                except OSError:
                    continue
        frontier = nxt


def sort_logs(paths: list[Path]) -> list[Path]:
    return sorted(paths, key=lambda p: (LOG_PRIORITY.index(log_kind(p.name) or "sb3-monitor"), len(p.parts), str(p)))


def log_dirs(paths: list[Path]) -> list[Path]:
    """The folders holding `paths`, in the order of their best file, without repeats."""
    return list(dict.fromkeys(p.parent for p in sort_logs(paths)))


def logs_since(root: Path, since: float, max_depth: int = MAX_DEPTH, max_entries: int = MAX_ENTRIES) -> list[Path]:
    """Log folders under root with files modified at or after `since` (for `--resume`, where the
    snapshot taken at start is gone)."""
    found = [p for p, st in _walk(root.resolve(), max_depth, max_entries, None) if st.st_mtime >= since - 1]
    return log_dirs(found)
