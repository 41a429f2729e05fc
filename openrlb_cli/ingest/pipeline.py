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
taken from the more precise one (`registry.key_priority`) and dropped from the others.

What each format is (a file or a folder, one run per folder or the runs the file names, whether a
step going back preempts) is its declaration (`formats.FormatSpec`), asked through `registry.spec`.

Planning (what is new in each unit) and writing must not interleave with another writer of the store,
or both append the same points: the callers (`openrlb ingest`, `track`) hold the store's lock
(`store.lock.store_lock`, shared with fetch/sync) around each `ingest` call.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import AbstractContextManager, ExitStack, closing
from dataclasses import dataclass, field
from itertools import chain, groupby
from operator import itemgetter
from pathlib import Path
from typing import Any

from openrlb_cli.errors import InputError, OpenrlbError
from openrlb_cli.ingest import identity, layout, registry, side_config
from openrlb_cli.ingest.base import ReadOptions, ReadResult
from openrlb_cli.ingest.prefetch import prefetched
from openrlb_cli.ingest.resolve import Resolution, Resolver, copies_summary
from openrlb_cli.ingest.tensorboard import side_folders
from openrlb_cli.model import RunRecord, Series
from openrlb_cli.redact import scrub_config
from openrlb_cli.store import Store, bulk

# Folders never walked: version control, dependency trees and tool caches. They hold no run logs, only
# copies of files that could look like them. Every other folder under a path the user names is walked,
# dot-folders and `tmp/` included (SB3's Monitor examples log to /tmp/gym); the non-log subtrees of
# known layouts are left out where they are recognised (`_known_non_log`).
SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", "node_modules", "site-packages", ".tox", ".nox",
                       ".mypy_cache", ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints"})
# Many small units share one transaction (a commit per file dominated ingesting a directory of runs):
# commit after this many points or seconds. 0 = one transaction per unit. The environment variable
# is for tests (and for a reader that wants to see a long ingest's progress sooner).
BATCH_POINTS = int(os.environ.get("OPENRLB_INGEST_BATCH_POINTS", 1_000_000))
BATCH_SECONDS = 2.0


@dataclass
class Overrides:
    """Metadata given on the command line; wins over anything inferred."""

    project: str | None = None
    experiment: str | None = None
    env: str | None = None
    seed: int | str | None = None  # a text seed may hold placeholders ('{parent}')
    tags: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    layout: str | None = None  # a path template ('{env}/{experiment}/*') below the ingested paths
    roots: list[Path] = field(default_factory=list)  # the ingested paths (set by `ingest`)


@dataclass
class Unit:
    fmt: str
    paths: list[Path]  # the files read (one, or a folder's group of files, or a run folder)
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
                if wal.is_file() and registry.spec(self.fmt).sqlite:
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
    # (folder read, folder its runs are stored from, runs): copies of stored logs, not read again
    already_stored: list[tuple[str, str, int]] = field(default_factory=list)

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
            "already_stored": [{"path": p, "stored_from": s, "runs": n} for p, s, n in self.already_stored],
        }


# ---------------------------------------------------------------------------- discovery
def discover(paths: Iterable[Path], fmt: str | None = None) -> tuple[list[Unit], list[tuple[str, str]]]:
    """Units to read under `paths`, and paths skipped with a reason."""
    units: list[Unit] = []
    skipped: list[tuple[str, str]] = []
    seen: set[str] = set()
    folder_fmt = fmt in registry.DIRECTORY_FORMATS  # its unit is a folder: files are not read one by one
    for root in paths:
        root = Path(root).expanduser().resolve()
        if not root.exists():
            skipped.append((str(root), "no such file or directory"))
            continue
        if root.is_file():
            name = fmt or _detect(root, skipped)
            if name is None:
                skipped.append((str(root), "not a recognised log format (name its format to force one)"))
                continue
            registry.reader(name)
            if registry.spec(name).group:
                units.extend(_group_units(name, [root]))
            else:
                units.append(Unit(name, [root], str(root), root.parent))
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            here = Path(dirpath)
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not _known_non_log(here, d, dirnames))
            try:
                folder = registry.directory_format(here)
            except Exception as exc:  # noqa: BLE001 - a hostile side file costs the folder's layout only
                skipped.append((str(here), f"cannot tell which run folder this is: {failure_reason(exc)}"))
                folder = None
            if folder is not None and fmt in (None, folder):
                units.extend(Unit(folder, [p], str(p), here) for p in registry.directory_unit_paths(folder, here))
                dirnames[:] = []
                continue
            if folder_fmt:
                continue
            grouped: dict[str, list[Path]] = {}
            found: dict[str, list[Path]] = {}
            for name in sorted(filenames):
                path = here / name
                if name in side_folders.PROJECTOR_FILES and side_folders.is_projector_file(path):
                    continue
                kind = fmt or _detect(path, skipped)
                if kind is None:
                    continue
                (grouped if registry.spec(kind).group else found).setdefault(kind, []).append(path)
            for kind in [k for k in found if registry.spec(k).yields_to in found]:
                del found[kind]  # progress.json repeats progress.csv, less precisely
            for kind, files in found.items():
                owner = side_folders.hparams_owner(here) if kind == "tensorboard" else None
                units.extend(Unit(kind, [p], str(p), owner or here) for p in files)
            for kind, files in grouped.items():
                units.extend(_group_units(kind, files))
    out = []
    for u in units:
        if u.key not in seen:
            seen.add(u.key)
            out.append(u)
    return out, skipped


def _detect(path: Path, skipped: list[tuple[str, str]]) -> str | None:
    """The file's format; a file whose first bytes make a detector fail is skipped with the reason."""
    try:
        return registry.detect(path)
    except Exception as exc:  # noqa: BLE001 - one hostile file never aborts the walk
        skipped.append((str(path), f"cannot tell its format: {failure_reason(exc)}"))
        return None


def _known_non_log(here: Path, name: str, siblings: list[str]) -> bool:
    """Subtrees of a known layout that are not logs: an MLflow file store's `.trash` (deleted
    experiments, beside the experiment folders) and an MLflow run's `artifacts/` (the run folder
    itself is a unit, but one without `metrics/` is not recognised as one)."""
    if name == ".trash":
        return any((here / d / "meta.yaml").is_file() for d in siblings if d != name)
    if name == "artifacts":
        return (here / "meta.yaml").is_file()
    return False


def _group_units(fmt: str, files: list[Path]) -> list[Unit]:
    """One unit per folder of a grouped format's files (SB3 monitor files), keyed by its glob."""
    pattern = registry.spec(fmt).group or ""
    by_dir: dict[Path, list[Path]] = {}
    for f in files:
        by_dir.setdefault(f.parent, []).append(f)
    return [Unit(fmt, sorted(fs), str(d / pattern), d) for d, fs in by_dir.items()]


# ---------------------------------------------------------------------------- reading
def _read(unit: Unit, offset: int, state: dict[str, Any], options: ReadOptions
          ) -> Generator[ReadResult, None, None]:
    reader: Any = registry.reader(unit.fmt)
    if registry.spec(unit.fmt).group:
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
    res: Resolution | None = None
    clear: bool = False  # first read of a rewritten unit: clear what its runs stored first


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
            except Exception:  # noqa: BLE001 - one bad file among them: each is read alone below,
                got = None  # so that only the bad one is skipped
            if got is not None:
                yield [pair for k, item in enumerate(got) for pair in ((i + k, _START), (i + k, item))]
                i += len(group)
                continue
        for k, plan in enumerate(group or [plans[i]]):
            yield from _read_one(i + k, plan, options)
        i += max(1, len(group))


def _read_one(i: int, plan: _Plan, options: ReadOptions) -> Iterator[list[tuple[int, Any]]]:
    yield [(i, _START)]
    try:
        with closing(_read(plan.unit, plan.offset, plan.state, options)) as results:
            for result in results:
                yield [(i, result)]
    except Exception as exc:  # noqa: BLE001 - raised again by the consumer, inside the unit's savepoint
        yield [(i, exc)]


def failure_reason(exc: BaseException) -> str:
    """One line saying why a reader gave up on a file (not an `InputError`: a library's own exception).
    Why a catch-all: one hostile file (a JSON line nested 100,000 deep, a 1 GB CSV field, a zip of an
    unknown version) must cost that file, not the whole ingest; the store's own errors are not caught."""
    if isinstance(exc, RecursionError):
        return "nested too deeply to read (RecursionError)"
    if isinstance(exc, MemoryError):
        return "too large to read into memory (MemoryError)"
    name, module = type(exc).__name__, type(exc).__module__.lstrip("_")
    if name == "Error" and module != "builtins":  # csv's `Error` says little on its own
        name = f"{module}.{name}"
    text = " ".join(str(exc).split())
    text = text if len(text) <= 200 else text[:197] + "..."
    return f"{name}: {text}" if text else name


def _results(items: Iterable[tuple[int, Any]]) -> Iterator[ReadResult]:
    for _, item in items:
        if isinstance(item, BaseException):
            raise item
        if item is not _START:
            yield item


def sibling_keys(run_dir: Path, fmt: str) -> set[str]:
    """Keys that a higher-priority format in the same run directory already provides."""
    priority = registry.key_priority()
    if fmt not in priority:
        return set()
    keys: set[str] = set()
    for better in priority[: priority.index(fmt)]:
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
                        except (ValueError, RecursionError):
                            continue
                        if isinstance(obj, dict):
                            keys.update(obj)
        except OSError:
            continue
    return keys


def _expand(value: Any, unit: Unit) -> Any:
    """``{stem}`` / ``{parent}`` / ``{grandparent}`` in a text override: the file's name without
    suffix / its folder's name / that folder's parent's name, so one command can label many files
    (``--env '{stem}'`` for one-game-per-file results, ``--env '{grandparent}' --experiment '{parent}'``
    for ``<Env>/<algo>/<file>`` trees)."""
    if not isinstance(value, str) or "{" not in value:
        return value
    path = unit.paths[0]
    return (value.replace("{stem}", path.stem).replace("{grandparent}", path.parent.parent.name)
            .replace("{parent}", path.parent.name))


def _place_fields(path: Path, run_dir: Path, overrides: Overrides) -> dict[str, Any]:
    """The run fields a log's place gives it: its folder layout, a benchmark tree, this ingest's options."""
    found: dict[str, Any] = {k: v for k, v in layout.infer_from_tree(path).items()}
    found.update({k: v for k, v in layout.infer_from_path(run_dir).items() if k in ("env", "experiment", "seed")})
    found.update(option_fields(Unit("", [path], str(path), run_dir), overrides))
    return found


def option_fields(unit: Unit, overrides: Overrides) -> dict[str, Any]:
    """The run fields this ingest's options give `unit` (placeholders expanded)."""
    out: dict[str, Any] = {}
    if overrides.layout:
        rel = layout.relative_to_roots(unit.paths[0], overrides.roots)
        found = layout.compile_template(overrides.layout).match(rel) if rel is not None else None
        out.update({k: v for k, v in (found or {}).items() if v not in (None, "")})
    for key in ("project", "experiment", "env", "seed"):
        value = getattr(overrides, key)
        if value is not None:
            out[key] = _expand(value, unit)
    if isinstance(out.get("seed"), str):
        try:
            out["seed"] = int(out["seed"])
        except ValueError:
            raise InputError(f"seed {out['seed']!r} (from {overrides.seed!r}) is not an integer") from None
    return out


def finalize(rec: RunRecord, unit: Unit, overrides: Overrides, drop_keys: set[str],
             side: dict[str, Any] | None = None, ident: str | None = None) -> RunRecord:
    """Give a reader's record its identity and metadata: layout, config keys, then overrides.
    `side` is the hyperparameters of the run folder's side files (`side_config`): below the log's own.
    `ident`: the unit's identity (`resolve`): the run folder's run, or the prefix of the file's runs;
    None: the path, as before 0006."""
    run_dir = layout.run_identity_dir(unit.run_dir)
    spec = registry.spec(unit.fmt)
    if spec.keeps_identity:
        pass
    elif spec.per_directory and (not rec.external_id or spec.is_folder):
        rec.external_id = ident or str(run_dir)
    else:
        base = ident or str(unit.paths[0])
        rec.external_id = f"{base}#{rec.external_id}" if rec.external_id else base
    if not spec.keeps_identity:
        rec.source = "local"
    if side:
        rec.config = {**side, **rec.config}
    if spec.per_directory:
        layout.apply_path_fields(rec, run_dir)
        if rec.name is None:
            rec.name = run_dir.name
    layout.apply_config_fields(rec)
    if not spec.keeps_identity:
        layout.apply_tree_fields(rec, unit.paths[0])
    for key, value in option_fields(unit, overrides).items():
        setattr(rec, key, value)
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


def _plan(resolver: Resolver, unit: Unit, size: int, mtime: float) -> _Plan | None:
    """Where `unit` resumes, or None when it is unchanged since the last ingest (or a copy of logs
    already stored). Which stored unit it is comes from `resolve` (by path, else by fingerprint)."""
    res = resolver.resolve(unit, size, mtime)
    prior = res.prior
    if res.copy_of is not None:
        return None
    if prior and prior["size"] == size and prior["mtime"] == mtime and prior["format"] == unit.fmt \
            and not res.restart:
        return None
    offset, state, restart = 0, {}, False
    if prior and prior["format"] == unit.fmt:
        if res.restart:  # truncated or rewritten: read it again from the start
            restart = True
        else:
            offset, state = prior["offset"], prior["state"]
    return _Plan(unit, size, mtime, offset, state, restart, prior["run_id"] if prior else None, res, clear=restart)


def _rebuild_folders(resolver: Resolver, units: list[tuple[Unit, int, float]], plans: dict[int, _Plan]) -> None:
    """A rewritten unit of a run folder: every unit of that run is read again from its start (the run's
    points are rebuilt, so a key that several files share is never left half replaced)."""
    rebuilt = {p.res.run_dir for p in plans.values() if p.clear and p.res and p.res.run_dir}
    if not rebuilt:
        return
    cleared: set[str] = set()
    for i, (unit, size, mtime) in enumerate(units):
        plan = plans.get(i)
        run_dir = plan.res.run_dir if plan and plan.res else (
            str(layout.run_identity_dir(unit.run_dir)) if registry.spec(unit.fmt).per_directory else None)
        if run_dir not in rebuilt:
            continue
        if plan is None:
            prior = resolver.store.file_state(unit.key)
            if prior is None or prior["copy_of"] is not None:
                continue
            res = Resolution(prior, prior["ident"] or prior["path"], run_dir, None, restart=True)
            plan = plans[i] = _Plan(unit, size, mtime, 0, {}, True, prior["run_id"], res)
        plan.offset, plan.state, plan.restart = 0, {}, True
        plan.clear = run_dir not in cleared
        cleared.add(run_dir)


def ingest(
    store: Store,
    paths: Iterable[Path],
    *,
    fmt: str | None = None,
    options: ReadOptions | None = None,
    overrides: Overrides | None = None,
    on_unit: Callable[[Unit, int], None] | None = None,
    units: list[Unit] | None = None,
    as_copy: bool = False,
) -> IngestSummary:
    """Ingest everything new under `paths`. Bad units are skipped (recorded in the summary).

    Units are read one ahead in a background thread (decoding overlaps writing) and written in
    batches of many units per transaction (see `_Batch`). A unit already stored from another path is
    recognised by its content (`resolve`): moved, it carries on; a copy is reported in
    `already_stored` and not read again, unless `as_copy` (then its runs are stored as runs of their own)."""
    options = options or ReadOptions()
    overrides = overrides or Overrides()
    summary = IngestSummary()
    paths = list(paths)
    if units is None:
        units, summary.skipped = discover(paths, fmt)
    if overrides.layout:
        summary.warnings.extend(_apply_layout(overrides, paths, units))
    resolver = Resolver(store, as_copy=as_copy, implied=lambda path, run_dir: _place_fields(path, run_dir, overrides))
    found: list[tuple[Unit, int, float]] = []
    by_index: dict[int, _Plan] = {}
    with store.transaction():  # moved units are re-pathed and copies recorded before anything is read
        for unit in units:
            try:
                size, mtime = unit.stat()
            except OSError as exc:
                summary.skipped.append((unit.key, f"cannot read: {exc.strerror}"))
                continue
            plan = _plan(resolver, unit, size, mtime)
            if plan is not None:
                by_index[len(found)] = plan
            found.append((unit, size, mtime))
        _rebuild_folders(resolver, found, by_index)
    summary.warnings.extend(resolver.warnings)
    plans: list[_Plan] = []
    for i, (unit, size, _) in enumerate(found):
        plan = by_index.get(i)
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
                except sqlite3.Error:
                    raise  # the store failed, not the file (a full disk): stop, keep what is committed
                except Exception as exc:  # noqa: BLE001 - whatever a hostile file makes a reader raise
                    summary.skipped.append((plan.unit.key, failure_reason(exc)))
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
    if resolver.copies:
        with store.transaction():  # a copy of a unit first read in this ingest: now its run is known
            store.conn.execute(
                "UPDATE ingest_files SET run_id = (SELECT o.run_id FROM ingest_files o WHERE o.path = "
                "ingest_files.copy_of) WHERE copy_of IS NOT NULL AND run_id IS NULL")
        summary.already_stored = copies_summary(store, resolver.copies)
    if overrides.layout or any(getattr(overrides, k) is not None for k in ("project", "experiment", "env", "seed")):
        summary.warnings.extend(kept_metadata(store, units, overrides))
    return summary


def _apply_layout(overrides: Overrides, paths: Iterable[Path], units: list[Unit]) -> list[str]:
    """Check the template, note the roots it is relative to, and say which files it does not match."""
    template = layout.compile_template(overrides.layout or "")
    overrides.roots = [p if p.is_dir() else p.parent for p in (Path(x).expanduser().resolve() for x in paths)]
    missed = [u for u in units
              if template.match(layout.relative_to_roots(u.paths[0], overrides.roots) or "\0") is None]
    if not missed:
        return []
    return [f"layout {template.text!r} does not match {len(missed)} of {len(units)} files (e.g. "
            f"{missed[0].paths[0]}): they get no fields from it"]


def kept_metadata(store: Store, units: list[Unit], overrides: Overrides) -> list[str]:
    """Runs of these units whose stored fields differ from what this ingest's options say: an
    unchanged file is not read again (so its runs keep their fields), and fields the user set win.
    One line per (field, stored value), never a silent no-op."""
    from openrlb_cli.store import edits

    groups: dict[tuple[str, Any, Any, bool], int] = {}
    for unit in units:
        try:
            wanted = option_fields(unit, overrides)
        except InputError:  # reported for the unit when it was read
            continue
        if not wanted:
            continue
        path = str(unit.paths[0])
        # the unit's runs: by its identity (`resolve`: external_id = ident or ident#run), or by its path
        # (stores from before 0006)
        found = store.conn.execute("SELECT ident FROM ingest_files WHERE path = ?", (unit.key,)).fetchone()
        ident = found[0] if found and found[0] else path
        rows = store.conn.execute(
            "SELECT project, experiment, env, seed, name, user_fields FROM runs WHERE source = 'local' AND "
            "(external_id IN (?, ?, ?) OR (external_id > ? AND external_id < ?) "
            "OR (external_id > ? AND external_id < ?) OR id = (SELECT run_id FROM ingest_files WHERE path = ?))",
            (path, ident, str(layout.run_identity_dir(unit.run_dir)), path + "#", path + "$", ident + "#",
             ident + "$", unit.key),
        ).fetchall()
        for row in rows:
            stored = dict(zip(("project", "experiment", "env", "seed", "name"), row[:5], strict=True))
            user = edits.load(row[5])
            for key, value in wanted.items():
                if stored[key] != value:
                    k = (key, stored[key], value, key in user)
                    groups[k] = groups.get(k, 0) + 1
    out = []
    for (key, stored, value, by_user), n in groups.items():
        runs = f"{n} run{'s' if n > 1 else ''}"
        if by_user:
            out.append(f"{runs} keep {key}={stored!r} set by the user (this ingest says {value!r})")
        else:
            out.append(f"{runs} already stored with {key}={stored!r} (this ingest says {value!r}, but their "
                       "files are unchanged); use `openrlb set` to change it")
    return out


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
    offset, state, points, preempted = plan.offset, plan.state, 0, 0
    damage: str | None = None
    drop = sibling_keys(unit.run_dir, unit.fmt)
    preempts = registry.spec(unit.fmt).preempts
    side, side_warnings = side_config.read_side_config(unit.run_dir)
    summary.warnings.extend(w for w in side_warnings if w not in summary.warnings)
    ident = plan.res.ident if plan.res else None
    summary.units += 1
    produced: set[int] = set()
    if plan.clear and ident is not None:
        _clear(store, unit, ident)
    for result in results:
        preempt = [preempts == "always" or (preempts == "single-run" and not rec.external_id)
                   for rec in result.runs]
        recs = [finalize(rec, unit, overrides, drop, side, ident) for rec in result.runs]
        new_series: dict[bool, list[tuple[int, str, Series]]] = {False: [], True: []}
        deferred: set[int] = set()  # runs created here whose series are not written yet
        for rec, pre, (run_id, created) in zip(recs, preempt, bulk.upsert_runs(store, recs), strict=True):
            if run_id in deferred and not created:  # the same run again in this result
                preempted += _add_new(store, new_series)
                deferred = set()
            if created:
                deferred.add(run_id)
            elif rec.restart_at is not None and pre:
                preempted += store.truncate_run(run_id, rec.restart_at, keep=drop)  # siblings' keys stay
            summary.new_runs += 1 if created else 0
            summary.runs.add(run_id)
            produced.add(run_id)
            for key, series in rec.series.items():
                if created:
                    new_series[pre].append((run_id, key, series))
                elif result.replace or restart:
                    preempted += store.replace_series(run_id, key, series, preempt=pre)
                else:
                    preempted += store.append_points(run_id, key, series, preempt=pre)
                summary.series.add((run_id, key))
                points += len(series)
        preempted += _add_new(store, new_series)
        summary.warnings.extend(result.warnings)
        offset, state = result.offset, result.state
        restart = False
        if result.damage:
            damage = result.damage
    if preempted:
        summary.warnings.append(
            f"{unit.key}: {preempted} points preempted by a resumed run (a step went back: the points "
            "at that step and after it are replaced by the ones written later, as TensorBoard does)")
    size = plan.size
    if damage is not None:  # the records before it are stored; an unknown size reads it again next time
        summary.skipped.append((unit.key, f"{damage}; the records before it are stored, the rest is read "
                                          "again at the next ingest"))
        size = -1
    if plan.clear and ident is not None and not registry.spec(unit.fmt).per_directory:
        _drop_unproduced(store, ident, produced)
    fp = identity.fingerprint(unit.fmt, unit.paths) if ident is not None else None
    fp = fp or (plan.res.fp if plan.res else None)
    store.set_file_state(
        unit.key, run_id=run_id, fmt=unit.fmt, size=size, mtime=plan.mtime, offset=offset, state=state,
        ident=ident, run_dir=plan.res.run_dir if plan.res else None, name=fp.name if fp else unit.paths[0].name,
        head_len=fp.head_len if fp else None, head_hash=fp.head_hash if fp else None,
        body_hash=fp.body_hash if fp else None,
        checks=identity.checks(unit.fmt, unit.paths, offset, state) if ident is not None else None, copy_of=None)
    summary.points += points
    return points


def _add_new(store: Store, new_series: dict[bool, list[tuple[int, str, Series]]]) -> int:
    """Write the pending new series (with and without preemption) and empty the lists."""
    dropped = 0
    for pre, items in new_series.items():
        if items:
            dropped += bulk.add_new_series(store, items, preempt=pre)
            items.clear()
    return dropped


def _unit_runs(store: Store, ident: str) -> list[int]:
    return [r for (r,) in store.conn.execute(
        "SELECT id FROM runs WHERE source = 'local' AND (external_id = ? OR substr(external_id, 1, ?) = ?)",
        (ident, len(ident) + 1, ident + "#"))]


def _clear(store: Store, unit: Unit, ident: str) -> None:
    """A rewritten unit is read again from its start: first remove what it stored (inside the unit's
    savepoint, so the points are replaced in one transaction). A run folder's run is rebuilt whole:
    its series go and its other units are marked to be read again (`_rebuild_folders` plans those
    found in this ingest)."""
    runs = _unit_runs(store, ident)
    ids = json.dumps(runs)
    store.conn.execute("DELETE FROM series WHERE run_id IN (SELECT value FROM json_each(?))", (ids,))
    if registry.spec(unit.fmt).per_directory:
        store.conn.execute(
            "UPDATE ingest_files SET size = -1, mtime = -1, offset = 0, state = '{}', checks = NULL "
            "WHERE run_id IN (SELECT value FROM json_each(?)) AND copy_of IS NULL AND path != ?", (ids, unit.key))


def _drop_unproduced(store: Store, ident: str, produced: set[int]) -> None:
    """Runs of a rewritten file that its new content no longer has (a run column's value edited away)."""
    gone = [r for r in _unit_runs(store, ident) if r not in produced]
    if gone:
        store.conn.execute("DELETE FROM runs WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(gone),))


def parse_set(words: list[str] | None) -> dict[str, Any]:
    """`--set key=value` words into a config dict (JSON values parsed when they are valid JSON)."""
    out: dict[str, Any] = {}
    for word in words or []:
        if "=" not in word:
            raise InputError(f"a config setting is key=value, got {word!r}", option="config_set")
        key, value = word.split("=", 1)
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out
