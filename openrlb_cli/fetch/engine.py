"""The fetch engine: workers download, the main thread alone writes, and every commit is resumable.

A source (W&B, MLflow) turns each remote run into a `Job`: run metadata plus a list of download
tasks (history windows, metric histories). Tasks run on a bounded thread pool; their results come
back to the calling thread, which commits them *in task order* together with the run's progress in
one SQLite transaction. A run's remote digest (what makes the next sync skip it) is written only
after its last task is committed. Killing the process at any point therefore loses at most the
uncommitted downloads, never duplicates points, and the next run resumes from the stored progress.

Listing runs happens on the calling thread too (cursor paging is sequential anyway) and is
interleaved with committing, with a cap on tasks in flight so memory stays bounded.
"""

from __future__ import annotations

import concurrent.futures as cf
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from openrlb_cli.errors import OpenrlbError
from openrlb_cli.fetch import state
from openrlb_cli.fetch.http import RequestStats
from openrlb_cli.model import RunRecord, Series
from openrlb_cli.store import Store

EventCallback = Callable[..., None]


@dataclass
class Chunk:
    """What one task brought back: new points per key, and the progress they complete."""

    series: dict[str, Series]
    progress: dict[str, Any]
    dropped: int = 0  # points left out (W&B: rows without an x-axis value)
    counts: dict[str, int] = field(default_factory=dict)  # added to the run's progress (e.g. rows seen)

    @property
    def n_points(self) -> int:
        return sum(len(s) for s in self.series.values())


@dataclass
class Job:
    """One remote run to bring up to date."""

    record: RunRecord  # metadata only; points come from tasks
    tasks: list[Callable[[], Chunk]]
    digest: str  # remote state, recorded once every task is committed
    remote: dict[str, Any]  # human-readable remote state (updated, lines, last_step, state)
    existed: bool  # the store already had this run
    changed: bool  # remote metadata differs from the last complete fetch
    run_id: int | None = None
    x_axis: str | None = None  # W&B: the key the points are stored against (saved with the progress)
    # called with the run's progress once every task is in; a message fails the run (no digest saved)
    verify: Callable[[dict[str, Any]], str | None] | None = None
    # engine bookkeeping
    progress: dict[str, Any] = field(default_factory=dict)
    done: dict[int, Chunk] = field(default_factory=dict)
    next_index: int = 0
    buffered: list[Chunk] = field(default_factory=list)
    points: int = 0
    error: str | None = None
    futures: set[cf.Future] = field(default_factory=set)  # submitted and not yet collected

    @property
    def label(self) -> str:
        return self.record.external_id

    @property
    def finished(self) -> bool:
        return self.next_index >= len(self.tasks)


@dataclass
class Summary:
    """What a fetch did; `to_dict` is the `--json` output."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    points_added: int = 0
    seconds: float = 0.0
    rekeyed: int = 0  # stored runs moved onto their x axis (W&B stores written before migration 0005)
    points_without_x: int = 0  # W&B points left out because their row has no x-axis value
    deleted: int = 0  # runs of the source found deleted on the server (marked, kept)
    restored: int = 0  # runs marked deleted that the server lists again
    failures: list[dict[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # failures outside a run (listing)
    warnings: list[str] = field(default_factory=list)
    stats: RequestStats = field(default_factory=RequestStats)

    @property
    def runs_seen(self) -> int:
        return self.new + self.updated + self.unchanged + self.failed

    @property
    def status(self) -> str:
        if not self.failed and not self.errors:
            return "ok"
        if self.runs_seen - self.failed > 0:
            return "partial"
        return "failed"

    def add(self, other: Summary) -> None:
        for name in ("new", "updated", "unchanged", "failed", "points_added", "rekeyed", "points_without_x",
                     "deleted", "restored"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.failures += other.failures
        self.errors += other.errors
        self.warnings += other.warnings

    def to_dict(self) -> dict[str, Any]:
        snap = self.stats.snapshot()
        return {
            "status": self.status,
            "runs": {"new": self.new, "updated": self.updated, "unchanged": self.unchanged, "failed": self.failed},
            "points_added": self.points_added,
            "points_without_x": self.points_without_x,
            "runs_rekeyed": self.rekeyed,
            "runs_deleted_on_server": self.deleted,
            "runs_restored_on_server": self.restored,
            "requests": snap["requests"],
            "retries": snap["retries"],
            "requests_by_kind": snap["by_kind"],
            "seconds": round(self.seconds, 3),
            "failures": self.failures,
            "errors": self.errors,
            "warnings": self.warnings,
        }


def _run_task(task: Callable[[], Chunk]) -> Chunk:
    return task()


class Engine:
    """Runs jobs from an iterable (listed lazily) on `workers` threads; commits on this thread."""

    def __init__(self, store: Store, *, workers: int = 8, on_event: EventCallback | None = None,
                 flush_points: int = 250_000, summary: Summary | None = None, source: str | None = None):
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.store = store
        self.source = source  # the saved source this fetch runs for: its runs are recorded as members
        self.listed: dict[str, int | None] = {}  # external id -> run id (None: new) of every listed run
        self.workers = workers
        self.on_event = on_event or (lambda *a, **k: None)
        self.flush_points = flush_points
        self.summary = summary or Summary()
        self.max_in_flight = workers * 4

    def run(self, jobs: Iterable[Job]) -> Summary:
        started = time.monotonic()
        pending: dict[cf.Future, tuple[Job, int]] = {}
        backlog: deque[tuple[Job, int]] = deque()  # tasks not yet submitted (keeps the pool's queue short)
        pool = cf.ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="openrlb-fetch")
        try:
            iterator = iter(jobs)
            while True:
                try:
                    job = next(iterator)
                except StopIteration:
                    break
                except OpenrlbError as exc:  # listing failed after retries: finish what we have
                    self.summary.errors.append(str(exc))
                    self.on_event("error", message=str(exc))
                    break
                self.listed[job.label] = job.run_id
                self.on_event("run_listed", label=job.label, tasks=len(job.tasks))
                if not job.tasks:
                    self._finish_without_tasks(job)
                    continue
                backlog.extend((job, index) for index in range(len(job.tasks)))
                # list the next run only once every task is submitted and a worker has room
                self._work(pending, backlog, pool, lambda: not backlog and len(pending) < self.max_in_flight)
            self._work(pending, backlog, pool, lambda: not backlog and not pending)
            self._listed_runs()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            self.summary.seconds += time.monotonic() - started
        return self.summary

    def _listed_runs(self) -> None:
        """Every run the listing showed belongs to the source, and is not deleted on its server."""
        known = [run_id for run_id in self.listed.values() if run_id is not None]
        if not known:
            return
        with self.store.transaction():
            if self.source is not None:
                state.add_members(self.store, self.source, known)
            self.summary.restored += state.clear_deleted(self.store, known)

    # ------------------------------------------------------------------ completion handling
    def _work(self, pending: dict[cf.Future, tuple[Job, int]], backlog: deque[tuple[Job, int]],
              pool: cf.ThreadPoolExecutor, done: Callable[[], bool]) -> None:
        self._fill(pending, backlog, pool)
        while not done():
            self._wait_some(pending)
            self._fill(pending, backlog, pool)

    def _fill(self, pending: dict[cf.Future, tuple[Job, int]], backlog: deque[tuple[Job, int]],
              pool: cf.ThreadPoolExecutor) -> None:
        while backlog and len(pending) < self.max_in_flight:
            job, index = backlog.popleft()
            if job.error is not None:
                continue
            future = pool.submit(_run_task, job.tasks[index])
            job.futures.add(future)
            pending[future] = (job, index)

    def _wait_some(self, pending: dict[cf.Future, tuple[Job, int]]) -> None:
        """Wait for at least one completion; commit what became ready, in one transaction."""
        if not pending:
            return
        done, _ = cf.wait(list(pending), return_when=cf.FIRST_COMPLETED)
        touched: dict[int, Job] = {}
        for future in done:
            job, index = pending.pop(future)
            job.futures.discard(future)  # let finished results go once committed
            if job.error is not None or future.cancelled():
                continue
            exc = future.exception()
            if exc is not None:
                self._fail(job, exc, pending)
                continue
            job.done[index] = future.result()
            self.on_event("task_done", label=job.label)
            touched[id(job)] = job
        self._commit([j for j in touched.values() if j.error is None])

    def _fail(self, job: Job, exc: BaseException, pending: dict[cf.Future, tuple[Job, int]]) -> None:
        message = str(exc) if isinstance(exc, OpenrlbError) else f"{type(exc).__name__}: {exc}"
        job.error = message
        for future in list(job.futures):
            if future in pending and future.cancel():
                pending.pop(future)
        # keep what was downloaded in order before the failure: it is valid and resumable
        self._advance(job)
        if job.buffered:
            with self.store.transaction():
                self._write(job, complete=False)
        self._report_failure(job, message)

    def _report_failure(self, job: Job, message: str) -> None:
        job.error = message
        self.summary.points_added += job.points
        self.summary.failed += 1
        self.summary.failures.append({"run": job.label, "error": message})
        self.on_event("run_failed", label=job.label, error=message)

    def _advance(self, job: Job) -> None:
        while job.next_index in job.done:
            chunk = job.done.pop(job.next_index)
            job.buffered.append(chunk)
            job.next_index += 1

    def _commit(self, jobs: list[Job]) -> None:
        ready: list[tuple[Job, bool]] = []
        for job in jobs:
            self._advance(job)
            buffered = sum(c.n_points for c in job.buffered)
            if job.finished or buffered >= self.flush_points:
                ready.append((job, job.finished))
        if not ready:
            return
        problems: dict[int, str] = {}
        with self.store.transaction():
            for job, complete in ready:
                problem = self._write(job, complete=complete)
                if problem:
                    problems[id(job)] = problem
        for job, complete in ready:
            if id(job) in problems:
                self._report_failure(job, problems[id(job)])
            elif complete:
                self._count(job)

    def _write(self, job: Job, *, complete: bool) -> str | None:
        """Inside a transaction: the run, its buffered points in order, progress, and maybe the digest.

        Returns the job's verification failure, if any: its points and progress are kept (they are
        what the server sent), but without the digest the run is checked again on the next fetch.
        """
        store = self.store
        if job.run_id is None:
            job.run_id = store.upsert_run(job.record)
        merged: dict[str, list[Series]] = {}
        for chunk in job.buffered:
            for key, series in chunk.series.items():
                if len(series):
                    merged.setdefault(key, []).append(series)
            job.progress.update(chunk.progress)
            for key, n in chunk.counts.items():
                job.progress[key] = job.progress.get(key, 0) + n
            self.summary.points_without_x += chunk.dropped
        for key, parts in merged.items():
            series = parts[0]
            for part in parts[1:]:
                series = series.concat(part)
            store.append_points(job.run_id, key, series)
            job.points += len(series)
        job.buffered.clear()
        state.save_progress(store, job.run_id, job.progress, job.x_axis)
        if self.source is not None:
            state.add_members(store, self.source, [job.run_id])
        if complete:
            problem = job.verify(job.progress) if job.verify is not None else None
            if problem:
                return problem
            if job.existed and job.changed:  # the server's copy changed: state, summary, tags, ...
                store.refresh_run(job.run_id, job.record)
            state.save_complete(store, job.run_id, job.digest, job.remote)
        return None

    def _finish_without_tasks(self, job: Job) -> None:
        if job.changed or not job.existed:
            with self.store.transaction():
                problem = self._write(job, complete=True)
            if problem:
                self._report_failure(job, problem)
                return
        self._count(job)

    def _count(self, job: Job) -> None:
        if not job.existed:
            self.summary.new += 1
            status = "new"
        elif job.changed or job.points:
            self.summary.updated += 1
            status = "updated"
        else:
            self.summary.unchanged += 1
            status = "unchanged"
        self.summary.points_added += job.points
        self.on_event("run_done", label=job.label, status=status, points=job.points)
