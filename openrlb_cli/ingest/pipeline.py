"""`openrlb ingest`: find log files, read what is new in each, and commit it one unit at a time.

A *unit* is what one reader reads in one transaction: a file, the set of SB3 monitor files of one
directory (merged by absolute time), or one MLflow run directory. For every unit the store keeps
its size, mtime, byte offset and reader state (`ingest_files`), so re-ingesting an unchanged file
costs a stat, a grown file yields only its new points, and a killed ingest loses at most the unit
in flight: its points and its offset commit together or not at all.

Files of several formats in one directory are one run (SB3 writes monitor CSVs, progress.csv,
progress.json and an event file side by side). Where two formats carry the same key, the key is
taken from the more precise one (`registry.KEY_PRIORITY`) and dropped from the others.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openrlb_cli.errors import InputError, OpenrlbError
from openrlb_cli.ingest import layout, registry
from openrlb_cli.ingest.base import ReadOptions, ReadResult
from openrlb_cli.ingest.prefetch import prefetched
from openrlb_cli.model import RunRecord
from openrlb_cli.store import Store
from openrlb_cli.track.redact import scrub_config

SKIP_DIRS = {"__pycache__", "node_modules", ".git", "artifacts", ".trash", "tmp"}
PER_DIRECTORY = {"tensorboard", "sb3-monitor", "sb3-progress-csv", "sb3-progress-json", "sb3-evaluations",
                 "mlflow-files", "sacred"}
SQLITE_FORMATS = {"mlflow-sqlite"}


@dataclass
class Overrides:
    """Metadata given on the command line; wins over anything inferred."""

    project: str | None = None
    experiment: str | None = None
    env: str | None = None
    seed: int | None = None
    tags: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)


@dataclass
class Unit:
    fmt: str
    paths: list[Path]  # the files read (one, or a directory's monitor files, or an MLflow run dir)
    key: str  # identity in ingest_files
    run_dir: Path

    def stat(self) -> tuple[int, float]:
        size, mtime = 0, 0.0
        for p in self.paths:
            if p.is_dir():
                for f in p.rglob("*"):
                    if f.is_file():
                        st = f.stat()
                        size, mtime = size + st.st_size, max(mtime, st.st_mtime)
            else:
                st = p.stat()
                size, mtime = size + st.st_size, max(mtime, st.st_mtime)
                wal = p.with_name(p.name + "-wal")  # a SQLite store in WAL mode grows there first
                if self.fmt in SQLITE_FORMATS and wal.is_file():
                    size, mtime = size + wal.stat().st_size, max(mtime, wal.stat().st_mtime)
        return size, mtime


@dataclass
class IngestSummary:
    units: int = 0
    unchanged: int = 0
    runs: set[int] = field(default_factory=set)
    new_runs: int = 0
    series: set[tuple[int, str]] = field(default_factory=set)
    points: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "units_read": self.units,
            "units_unchanged": self.unchanged,
            "runs": len(self.runs),
            "new_runs": self.new_runs,
            "series": len(self.series),
            "points": self.points,
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "warnings": self.warnings,
        }


# ---------------------------------------------------------------------------- discovery
def discover(paths: Iterable[Path], fmt: str | None = None) -> tuple[list[Unit], list[tuple[str, str]]]:
    """Units to read under `paths`, and paths skipped with a reason."""
    units: list[Unit] = []
    skipped: list[tuple[str, str]] = []
    seen: set[str] = set()
    for root in paths:
        root = Path(root).expanduser().resolve()
        if not root.exists():
            skipped.append((str(root), "no such file or directory"))
            continue
        if root.is_file():
            name = fmt or registry.detect(root)
            if name is None:
                skipped.append((str(root), "not a recognised log format (force one with --format)"))
                continue
            registry.reader(name)
            if name == "sb3-monitor":
                units.extend(_monitor_units([root]))
            else:
                units.append(Unit(name, [root], str(root), root.parent))
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            here = Path(dirpath)
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in SKIP_DIRS)
            folder = registry.directory_format(here)
            if folder is not None and fmt in (None, folder):
                units.append(Unit(folder, [here], str(here), here))
                dirnames[:] = []
                continue
            if fmt in registry.DIRECTORY_FORMATS:
                continue
            monitors: list[Path] = []
            found: dict[str, list[Path]] = {}
            for name in sorted(filenames):
                path = here / name
                kind = fmt or registry.detect(path)
                if kind is None:
                    continue
                if kind == "sb3-monitor":
                    monitors.append(path)
                else:
                    found.setdefault(kind, []).append(path)
            if "sb3-progress-csv" in found:  # progress.json repeats progress.csv, less precisely
                found.pop("sb3-progress-json", None)
            for kind, files in found.items():
                units.extend(Unit(kind, [p], str(p), here) for p in files)
            if monitors:
                units.extend(_monitor_units(monitors))
    out = []
    for u in units:
        if u.key not in seen:
            seen.add(u.key)
            out.append(u)
    return out, skipped


def _monitor_units(files: list[Path]) -> list[Unit]:
    by_dir: dict[Path, list[Path]] = {}
    for f in files:
        by_dir.setdefault(f.parent, []).append(f)
    return [Unit("sb3-monitor", sorted(fs), str(d / "*.monitor.csv"), d) for d, fs in by_dir.items()]


# ---------------------------------------------------------------------------- reading
def _read(unit: Unit, offset: int, state: dict[str, Any], options: ReadOptions) -> Iterator[ReadResult]:
    reader: Any = registry.reader(unit.fmt)
    if unit.fmt == "sb3-monitor":
        yield reader.read_group(unit.paths, options)
    elif hasattr(reader, "iter_read"):  # big files come in batches: read the next while this one is written
        yield from prefetched(reader.iter_read(unit.paths[0], offset, state, options))
    else:
        yield reader.read(unit.paths[0], offset, state, options)


def sibling_keys(run_dir: Path, fmt: str) -> set[str]:
    """Keys that a higher-priority format in the same run directory already provides."""
    if fmt not in registry.KEY_PRIORITY:
        return set()
    keys: set[str] = set()
    for better in registry.KEY_PRIORITY[: registry.KEY_PRIORITY.index(fmt)]:
        path = run_dir / ("progress.csv" if better == "sb3-progress-csv" else "progress.json")
        if not path.is_file():
            continue
        try:
            with path.open(encoding="utf-8", errors="replace") as fh:
                if better == "sb3-progress-csv":
                    keys.update(k.strip() for k in fh.readline().rstrip("\r\n").split(","))
                else:
                    for line in fh:
                        try:
                            obj = json.loads(line)
                        except ValueError:
                            continue
                        if isinstance(obj, dict):
                            keys.update(obj)
        except OSError:
            continue
    return keys


def _expand(value: Any, unit: Unit) -> Any:
    """``{stem}`` / ``{parent}`` in a text override: the file's name without suffix / its folder's
    name, so one command can label many files (``--env '{stem}'`` for one-game-per-file results)."""
    if not isinstance(value, str) or "{" not in value:
        return value
    path = unit.paths[0]
    return value.replace("{stem}", path.stem).replace("{parent}", path.parent.name)


def finalize(rec: RunRecord, unit: Unit, overrides: Overrides, drop_keys: set[str]) -> RunRecord:
    """Give a reader's record its identity and metadata: layout, config keys, then overrides."""
    run_dir = layout.run_identity_dir(unit.run_dir)
    if unit.fmt in PER_DIRECTORY and (not rec.external_id or unit.fmt in registry.DIRECTORY_FORMATS):
        rec.external_id = str(run_dir)
    else:
        rec.external_id = f"{unit.paths[0]}#{rec.external_id}" if rec.external_id else str(unit.paths[0])
    rec.source = "local"
    if unit.fmt in PER_DIRECTORY:
        layout.apply_path_fields(rec, run_dir)
        if rec.name is None:
            rec.name = run_dir.name
    layout.apply_config_fields(rec)
    for key in ("project", "experiment", "env", "seed"):
        value = getattr(overrides, key)
        if value is not None:
            setattr(rec, key, _expand(value, unit))
    if rec.project is None:
        rec.project = "local"
    rec.tags = [*rec.tags, *(_expand(t, unit) for t in overrides.tags)]
    rec.config.update(overrides.config)
    rec.config = scrub_config(rec.config)
    if drop_keys:
        rec.series = {k: s for k, s in rec.series.items() if k not in drop_keys}
    return rec


def ingest(
    store: Store,
    paths: Iterable[Path],
    *,
    fmt: str | None = None,
    options: ReadOptions | None = None,
    overrides: Overrides | None = None,
    on_unit: Callable[[Unit, int], None] | None = None,
    units: list[Unit] | None = None,
) -> IngestSummary:
    """Ingest everything new under `paths`. Bad units are skipped (recorded in the summary)."""
    options = options or ReadOptions()
    overrides = overrides or Overrides()
    summary = IngestSummary()
    if units is None:
        units, summary.skipped = discover(paths, fmt)
    for unit in units:
        try:
            size, mtime = unit.stat()
        except OSError as exc:
            summary.skipped.append((unit.key, f"cannot read: {exc.strerror}"))
            continue
        try:
            _ingest_unit(store, unit, size, mtime, options, overrides, summary)
        except OpenrlbError as exc:
            summary.skipped.append((unit.key, str(exc)))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            summary.skipped.append((unit.key, f"{type(exc).__name__}: {exc}"))
        if on_unit is not None:
            on_unit(unit, size)
    return summary


def _ingest_unit(store: Store, unit: Unit, size: int, mtime: float, options: ReadOptions,
                 overrides: Overrides, summary: IngestSummary) -> None:
    prior = store.file_state(unit.key)
    if prior and prior["size"] == size and prior["mtime"] == mtime and prior["format"] == unit.fmt:
        summary.unchanged += 1
        return
    offset, state, restart = 0, {}, False
    if prior and prior["format"] == unit.fmt:
        if size < prior["offset"]:  # truncated or rewritten: read it again from the start
            restart = True
        else:
            offset, state = prior["offset"], prior["state"]
    drop = sibling_keys(unit.run_dir, unit.fmt)
    summary.units += 1
    run_id = prior["run_id"] if prior else None
    with store.transaction(), closing(_read(unit, offset, state, options)) as results:
        for result in results:
            for rec in result.runs:
                rec = finalize(rec, unit, overrides, drop)
                existed = store.run_id_for(rec.source, rec.external_id) is not None
                run_id = store.upsert_run(rec)
                summary.new_runs += 0 if existed else 1
                summary.runs.add(run_id)
                for key, series in rec.series.items():
                    if result.replace or restart:
                        store.replace_series(run_id, key, series)
                    else:
                        store.append_points(run_id, key, series)
                    summary.series.add((run_id, key))
                    summary.points += len(series)
            summary.warnings.extend(result.warnings)
            offset, state = result.offset, result.state
            restart = False
        store.set_file_state(unit.key, run_id=run_id, fmt=unit.fmt, size=size, mtime=mtime,
                             offset=offset, state=state)


def parse_set(words: list[str] | None) -> dict[str, Any]:
    """`--set key=value` words into a config dict (JSON values parsed when they are valid JSON)."""
    out: dict[str, Any] = {}
    for word in words or []:
        if "=" not in word:
            raise InputError(f"--set expects key=value, got {word!r}")
        key, value = word.split("=", 1)
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out
