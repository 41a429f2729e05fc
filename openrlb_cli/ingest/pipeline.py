"""`openrlb ingest`: find log files, read what is new in each, and commit it in batches of units.

A *unit* is what one reader reads at a time: a file, the set of SB3 monitor files of one directory
(merged by absolute time), or one MLflow run directory. For every unit the store keeps its size,
mtime, byte offset and reader state (`ingest_files`), so re-ingesting an unchanged file costs a
stat and a grown file yields only its new points. A unit's points and its offset are written in
the same transaction; consecutive units share one (committed every BATCH_POINTS points or
BATCH_SECONDS), so a killed ingest loses at most the uncommitted batch and re-running reads exactly
those units again. The next unit is read in a background thread while this one is written.

Files of several formats in one directory are one run (SB3 writes monitor CSVs, progress.csv,
progress.json and an event file side by side). Where two formats carry the same key, the key is
taken from the more precise one (`registry.KEY_PRIORITY`) and dropped from the others.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import AbstractContextManager, ExitStack, closing
from dataclasses import dataclass, field
from itertools import chain, groupby
from operator import itemgetter
from pathlib import Path
from typing import Any

from openrlb_cli.errors import InputError, OpenrlbError
from openrlb_cli.ingest import layout, registry, side_config
from openrlb_cli.ingest.base import ReadOptions, ReadResult
from openrlb_cli.ingest.prefetch import prefetched
from openrlb_cli.ingest.tensorboard import side_folders
from openrlb_cli.model import RunRecord, Series
from openrlb_cli.redact import scrub_config
from openrlb_cli.store import Store, bulk

SKIP_DIRS = {"__pycache__", "node_modules", ".git", "artifacts", ".trash", "tmp"}
# Units whose runs already have an identity (an exported dataset): kept, not derived from the path.
KEEPS_IDENTITY = {"parquet"}
# Many small units share one transaction (a commit per file dominated ingesting a directory of runs):
# commit after this many points or seconds. 0 = one transaction per unit. The environment variable
# is for tests (and for a reader that wants to see a long ingest's progress sooner).
BATCH_POINTS = int(os.environ.get("OPENRLB_INGEST_BATCH_POINTS", 1_000_000))
BATCH_SECONDS = 2.0
PER_DIRECTORY = {"tensorboard", "sb3-monitor", "sb3-progress-csv", "sb3-progress-json", "sb3-evaluations",
                 "mlflow-files", "sacred", "wandb-files"}
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
            if fmt in (None, "parquet") and registry.is_parquet_dataset(here):
                units.append(Unit("parquet", [here], str(here), here))
                dirnames[:] = []
                continue
            if fmt == "parquet":
                continue
            folder = registry.directory_format(here)
            if folder is not None and fmt in (None, folder):
                units.extend(Unit(folder, [p], str(p), here) for p in registry.directory_unit_paths(folder, here))
                dirnames[:] = []
                continue
            if fmt in registry.DIRECTORY_FORMATS:
                continue
            monitors: list[Path] = []
            found: dict[str, list[Path]] = {}
            for name in sorted(filenames):
                path = here / name
                if name in side_folders.PROJECTOR_FILES and side_folders.is_projector_file(path):
                    continue
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
                owner = side_folders.hparams_owner(here) if kind == "tensorboard" else None
                units.extend(Unit(kind, [p], str(p), owner or here) for p in files)
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
def _read(unit: Unit, offset: int, state: dict[str, Any], options: ReadOptions
          ) -> Generator[ReadResult, None, None]:
    reader: Any = registry.reader(unit.fmt)
    if unit.fmt == "sb3-monitor":
        yield reader.read_group(unit.paths, options)
    elif hasattr(reader, "iter_read"):  # big files come in batches
        yield from reader.iter_read(unit.paths[0], offset, state, options)
    else:
        yield reader.read(unit.paths[0], offset, state, options)


@dataclass
class _Plan:
    """A unit to read: where it resumes, and what the store knew of it before."""

    unit: Unit
    size: int
    mtime: float
    offset: int
    state: dict[str, Any]
    restart: bool
    run_id: int | None


_START = "start"


GROUP_BYTES = 64 << 20  # small files a reader decodes together (`read_many`): at most this many bytes


def _small(plan: _Plan) -> bool:
    reader = registry.reader(plan.unit.fmt)
    limit = getattr(reader, "READ_MANY_BYTES", 0)
    return hasattr(reader, "read_many") and not plan.restart and plan.size - plan.offset <= limit


def _read_all(plans: list[_Plan], options: ReadOptions) -> Iterator[list[tuple[int, Any]]]:
    """``(plan index, item)`` for every unit in order: first ``_START``, then each ReadResult, or the
    exception that stopped the unit (the next unit is still read). Runs in the prefetch thread.
    Consecutive small files of a format whose reader has `read_many` are decoded together, and
    their items come as one list, so the thread decodes the next group while this one is written
    (items one at a time would hold it back until the writer had nearly finished the group)."""
    i = 0
    while i < len(plans):
        group: list[_Plan] = []
        total = 0
        while i + len(group) < len(plans) and _small(plans[i + len(group)]) and total < GROUP_BYTES \
                and (not group or plans[i + len(group)].unit.fmt == plans[i].unit.fmt):
            total += plans[i + len(group)].size - plans[i + len(group)].offset
            group.append(plans[i + len(group)])
        if len(group) > 1:
            reader: Any = registry.reader(plans[i].unit.fmt)
            try:
                got = reader.read_many([(p.unit.paths[0], p.offset) for p in group], options)
            except Exception as exc:  # noqa: BLE001 - every unit of the group reports it
                got = [exc] * len(group)
            yield [pair for k, item in enumerate(got) for pair in ((i + k, _START), (i + k, item))]
            i += len(group)
            continue
        plan = plans[i]
        yield [(i, _START)]
        try:
            with closing(_read(plan.unit, plan.offset, plan.state, options)) as results:
                for result in results:
                    yield [(i, result)]
        except Exception as exc:  # noqa: BLE001 - raised again by the consumer, inside the unit's savepoint
            yield [(i, exc)]
        i += 1


def _results(items: Iterable[tuple[int, Any]]) -> Iterator[ReadResult]:
    for _, item in items:
        if isinstance(item, BaseException):
            raise item
        if item is not _START:
            yield item


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


def finalize(rec: RunRecord, unit: Unit, overrides: Overrides, drop_keys: set[str],
             side: dict[str, Any] | None = None) -> RunRecord:
    """Give a reader's record its identity and metadata: layout, config keys, then overrides.
    `side` is the hyperparameters of the run folder's side files (`side_config`): below the log's own."""
    run_dir = layout.run_identity_dir(unit.run_dir)
    if unit.fmt in KEEPS_IDENTITY:
        pass
    elif unit.fmt in PER_DIRECTORY and (not rec.external_id or unit.fmt in registry.DIRECTORY_FORMATS):
        rec.external_id = str(run_dir)
    else:
        rec.external_id = f"{unit.paths[0]}#{rec.external_id}" if rec.external_id else str(unit.paths[0])
    if unit.fmt not in KEEPS_IDENTITY:
        rec.source = "local"
    if side:
        rec.config = {**side, **rec.config}
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


class _Batch:
    """The write transaction that consecutive units share, committed every BATCH_POINTS points or
    BATCH_SECONDS. Each unit writes inside a savepoint of it: a bad unit is rolled back alone, and
    since a unit's points and its `ingest_files` row are in the same transaction, a killed ingest
    loses at most the uncommitted batch, which the next run reads again."""

    def __init__(self, store: Store):
        self.store = store
        # A unit's savepoint journals the pages it changes that earlier units of the batch had already
        # changed (the tables' last pages, every unit): in a temporary file by default, which was ~70%
        # of the bytes an ingest of 1,000 small files wrote (600 of 850 MB). In memory it is bounded
        # by the batch's own dirty pages.
        store.conn.execute("PRAGMA temp_store = MEMORY")
        self.stack: ExitStack | None = None
        self.points = 0
        self.since = 0.0

    def unit(self) -> AbstractContextManager[Store]:
        if self.stack is None:
            self.stack = ExitStack()
            self.stack.enter_context(self.store.transaction())
            self.points, self.since = 0, time.monotonic()
        return self.store.transaction()  # nested: a savepoint

    def done(self, points: int) -> None:
        self.points += points
        if BATCH_POINTS <= 0 or self.points >= BATCH_POINTS or time.monotonic() - self.since >= BATCH_SECONDS:
            self.commit()

    def commit(self) -> None:
        stack, self.stack = self.stack, None
        if stack is not None:
            stack.close()

    def abort(self, exc: BaseException) -> None:
        stack, self.stack = self.stack, None
        if stack is not None:
            stack.__exit__(type(exc), exc, exc.__traceback__)


def _plan(store: Store, unit: Unit, size: int, mtime: float) -> _Plan | None:
    """Where `unit` resumes, or None when it is unchanged since the last ingest."""
    prior = store.file_state(unit.key)
    if prior and prior["size"] == size and prior["mtime"] == mtime and prior["format"] == unit.fmt:
        return None
    offset, state, restart = 0, {}, False
    if prior and prior["format"] == unit.fmt:
        if size < prior["offset"]:  # truncated or rewritten: read it again from the start
            restart = True
        else:
            offset, state = prior["offset"], prior["state"]
    return _Plan(unit, size, mtime, offset, state, restart, prior["run_id"] if prior else None)


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
    """Ingest everything new under `paths`. Bad units are skipped (recorded in the summary).

    Units are read one ahead in a background thread (decoding overlaps writing) and written in
    batches of many units per transaction (see `_Batch`)."""
    options = options or ReadOptions()
    overrides = overrides or Overrides()
    summary = IngestSummary()
    if units is None:
        units, summary.skipped = discover(paths, fmt)
    plans: list[_Plan] = []
    for unit in units:
        try:
            size, mtime = unit.stat()
        except OSError as exc:
            summary.skipped.append((unit.key, f"cannot read: {exc.strerror}"))
            continue
        plan = _plan(store, unit, size, mtime)
        if plan is not None:
            plans.append(plan)
            if unit.fmt == "wandb-files" and plan.run_id is None:
                summary.warnings.extend(_ingested_before_as_jsonl(store, unit))
            continue
        summary.unchanged += 1
        if on_unit is not None:
            on_unit(unit, size)
    batch = _Batch(store)
    try:
        with closing(prefetched(_read_all(plans, options))) as stream:
            for i, items in groupby(chain.from_iterable(stream), key=itemgetter(0)):
                plan = plans[i]
                try:
                    with batch.unit():
                        points = _ingest_unit(store, plan, _results(items), overrides, summary)
                except OpenrlbError as exc:
                    summary.skipped.append((plan.unit.key, str(exc)))
                except (OSError, UnicodeDecodeError, ValueError) as exc:
                    summary.skipped.append((plan.unit.key, f"{type(exc).__name__}: {exc}"))
                else:
                    batch.done(points)
                if on_unit is not None:
                    on_unit(plan.unit, plan.size)
    except KeyboardInterrupt:
        batch.commit()  # the unit in flight is already rolled back; keep the finished ones
        raise
    except BaseException as exc:
        batch.abort(exc)
        raise
    batch.commit()
    return summary


def _ingested_before_as_jsonl(store: Store, unit: Unit) -> list[str]:
    """An earlier openrlb read a W&B run folder's `wandb-history.jsonl` as plain JSON lines (its own run):
    say so rather than delete it, since the user may have labelled or compared it."""
    from openrlb_cli.ingest.wandb.run_folder import HISTORY, files_dir

    history = files_dir(unit.paths[0]) / HISTORY
    prior = store.file_state(str(history))
    if prior is None or prior["format"] != "jsonl" or prior["run_id"] is None:
        return []
    row = store.conn.execute("SELECT uid FROM runs WHERE id = ?", (prior["run_id"],)).fetchone()
    if row is None:
        return []
    return [f"{history}: was ingested before as JSON lines (run {row[0]}); it is now read with its W&B run "
            f"folder as one run: remove the old one with `openrlb rm {row[0]}` if it is not needed"]


def _ingest_unit(store: Store, plan: _Plan, results: Iterator[ReadResult], overrides: Overrides,
                 summary: IngestSummary) -> int:
    """Write one unit's results and its file state (inside the caller's savepoint); its points."""
    unit, restart, run_id = plan.unit, plan.restart, plan.run_id
    offset, state, points = plan.offset, plan.state, 0
    drop = sibling_keys(unit.run_dir, unit.fmt)
    side, side_warnings = side_config.read_side_config(unit.run_dir)
    summary.warnings.extend(w for w in side_warnings if w not in summary.warnings)
    summary.units += 1
    for result in results:
        recs = [finalize(rec, unit, overrides, drop, side) for rec in result.runs]
        new_series: list[tuple[int, str, Series]] = []
        deferred: set[int] = set()  # runs created here whose series are not written yet
        for rec, (run_id, created) in zip(recs, bulk.upsert_runs(store, recs), strict=True):
            if run_id in deferred and not created:  # the same run again in this result
                bulk.add_new_series(store, new_series)
                new_series, deferred = [], set()
            if created:
                deferred.add(run_id)
            summary.new_runs += 1 if created else 0
            summary.runs.add(run_id)
            for key, series in rec.series.items():
                if created:
                    new_series.append((run_id, key, series))
                elif result.replace or restart:
                    store.replace_series(run_id, key, series)
                else:
                    store.append_points(run_id, key, series)
                summary.series.add((run_id, key))
                points += len(series)
        bulk.add_new_series(store, new_series)
        summary.warnings.extend(result.warnings)
        offset, state = result.offset, result.state
        restart = False
    store.set_file_state(unit.key, run_id=run_id, fmt=unit.fmt, size=plan.size, mtime=plan.mtime,
                         offset=offset, state=state)
    summary.points += points
    return points


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
