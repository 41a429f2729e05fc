"""Stratified bootstrap resampling: which runs each replicate takes, drawn fast and reproducibly.

Every interval in ``analysis`` (aggregates, profiles, P(X > Y), efficiency curves) resamples the
same way; this module is that one way, apart from how intervals are then read off the replicates
(``bootstrap_intervals``).

What is resampled: runs, with replacement, independently within each task (the task set is fixed;
the uncertainty reported is "what if we re-ran the seeds"). With missing runs (NaN padding) a task
with ``n_t`` runs draws ``n_t`` indices among its own present runs only. This is rliable's
``StratifiedBootstrap`` with ``task_bootstrap=False``.

With ``task_bootstrap=True`` (rliable's option of that name) the tasks are resampled too: each
replicate draws ``tasks`` task columns with replacement, and every run slot of column ``j`` then draws
a run of the task chosen for ``j`` (as rliable does: one task index per column, shared by its run
slots; run indices drawn independently per slot). The interval then also covers "what if we had run
other tasks of the same population". It needs the same number of runs in every task, as rliable does.
Index batches then hold cells (``run * tasks + task``) instead of run indices; ``source`` hides that.

How it stays fast and bounded: replicate statistics are computed on batches of replicates at once
(``(reps, runs, tasks, ...)`` arrays), with at most ``ELEMENT_BUDGET`` resampled values alive per
batch, and batches can run on several threads (numpy releases the GIL in the heavy loops).

Reproducibility: ``seed`` goes through ``np.random.default_rng(seed)``; replicates are drawn in
fixed-size chunks, chunk ``k`` from the ``k``-th child generator (``Generator.spawn``). The chunk
size depends only on the data's shape, never on memory or thread count, so the same seed gives
bit-identical intervals however the work is scheduled.

The constants below are read at call time; ``openrlb_cli.analysis.bootstrap`` forwards assignments
to them (tests shrink ``ELEMENT_BUDGET`` through that module).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._layout import ScoresLike, as_padded, run_mask

SeedLike = int | np.random.SeedSequence | np.random.Generator | None
BatchStatistic = Callable[[np.ndarray], np.ndarray]

#: Replicates drawn from one child generator (capped lower for very large score arrays).
RNG_CHUNK = 1000
#: Upper bound on resampled float values materialised at once by a generic statistic.
ELEMENT_BUDGET = 1 << 21
#: Values per block in the specialised evaluators: small enough that a block's few temporaries
#: stay in a core's L2 cache, which measured 2-3x faster than 1000-replicate blocks.
CACHE_BLOCK = 1 << 17


def cache_block(values_per_rep: int) -> int:
    """Replicates per cache-sized block for ``values_per_rep`` values each."""
    return max(1, CACHE_BLOCK // max(1, values_per_rep))


def default_workers() -> int:
    """Threads used when ``workers`` is None: every core, at most 8."""
    return max(1, min(8, os.cpu_count() or 1))


def _seed_record(seed: SeedLike) -> int | None:
    return int(seed) if isinstance(seed, (int, np.integer)) else None


def _children(seed: SeedLike, n: int) -> list[np.random.Generator]:
    root = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return root.spawn(n)


class Resampler:
    """Stratified bootstrap index batches for one padded score array.

    Replicates are represented by run indices ``idx`` of shape ``(c, runs, tasks)``: replicate
    ``r`` takes run ``idx[r, i, t]`` of task ``t`` in slot ``i``. Index ``runs`` (one past the last)
    is a sentinel all-NaN row; missing slots always point there, which keeps the NaN pattern of
    the data and lets a jackknife "delete" a run by pointing its slot at the sentinel too.
    """

    def __init__(self, scores: ScoresLike, task_bootstrap: bool = False):
        self.data = as_padded(scores)
        self.runs, self.tasks = self.data.shape[:2]
        self.rest = self.data.shape[2:]
        mask = run_mask(self.data)
        self.mask = mask
        self.counts = mask.sum(axis=0)
        self.balanced = bool(mask.all())
        sentinel = np.full((1, self.tasks, *self.rest), np.nan)
        ext = np.concatenate([self.data, sentinel], axis=0)
        #: ``((runs + 1) * tasks, points)`` view of the data; cell = run * tasks + task.
        self.flat = ext.reshape((self.runs + 1) * self.tasks, -1)
        self._col = np.arange(self.tasks, dtype=np.intp)
        self._base = np.where(mask, np.arange(self.runs)[:, None], self.runs).astype(np.int32)
        self._groups = [
            (int(n), np.flatnonzero((mask & (self.counts == n)[None, :]).ravel())) for n in np.unique(self.counts)
        ]
        self.task_bootstrap = bool(task_bootstrap)
        if self.task_bootstrap and not self.balanced:
            raise ValueError("task_bootstrap needs the same number of runs in every task (as rliable)")
        # Bounded int16 draws cost half as much as int32 ones and suffice for < 32767 runs (cells: int32).
        small = (self.runs + 1) * self.tasks if self.task_bootstrap else self.runs
        self._dtype = np.int16 if small < np.iinfo(np.int16).max else np.int32
        per_rep = self.runs * self.tasks
        self.rng_chunk = max(1, min(RNG_CHUNK, ELEMENT_BUDGET // per_rep))

    def identity(self) -> np.ndarray:
        """Index batch of one replicate equal to the data itself, shape ``(1, runs, tasks)``."""
        return self._cells(self._base[None])

    def _cells(self, runs: np.ndarray) -> np.ndarray:
        """Run-index batches as this resampler's index batches (cells when tasks are resampled)."""
        if self.task_bootstrap:
            return (runs.astype(np.int64) * self.tasks + self._col).astype(self._dtype)
        return runs.astype(self._dtype)

    def draw(self, gen: np.random.Generator, c: int) -> np.ndarray:
        """``c`` stratified bootstrap replicates as run indices ``(c, runs, tasks)``."""
        if self.task_bootstrap:  # a task per column (shared by its slots), then a run per slot
            task = gen.integers(0, self.tasks, size=(c, 1, self.tasks), dtype=self._dtype)
            run = gen.integers(0, self.runs, size=(c, self.runs, self.tasks), dtype=self._dtype)
            run *= self.tasks
            run += task
            return run
        if self.balanced:
            return gen.integers(0, self.runs, size=(c, self.runs, self.tasks), dtype=self._dtype)
        out = np.broadcast_to(self._base.ravel().astype(self._dtype), (c, self.runs * self.tasks)).copy()
        for n, pos in self._groups:
            out[:, pos] = gen.integers(0, n, size=(c, pos.size), dtype=self._dtype)
        return out.reshape(c, self.runs, self.tasks)

    def source(self, idx: np.ndarray) -> np.ndarray:
        """Row of ``self.flat`` each slot of an index batch reads, same shape as ``idx``."""
        # intp, not int32: numpy's gathers are up to 10x slower with int32 indices into float64
        # tables (measured, numpy 2.4). astype always copies, so the in-place ops are safe.
        src = idx.astype(np.intp)
        if self.task_bootstrap:  # already cells
            return src
        src *= self.tasks
        src += self._col
        return src

    def gather(self, idx: np.ndarray) -> np.ndarray:
        """Materialise an index batch as scores ``(c, runs, tasks, *rest)``."""
        return self.flat[self.source(idx)].reshape(*idx.shape, *self.rest)

    def jackknife(self) -> tuple[np.ndarray, np.ndarray]:
        """Delete-one-run index batches ``(N, runs, tasks)`` and the task each deletion is from."""
        runs_i, tasks_t = np.nonzero(self.mask.T)[::-1]  # grouped by task, runs in order
        idx = np.broadcast_to(self._base.astype(self._dtype), (runs_i.size, self.runs, self.tasks)).copy()
        idx[np.arange(runs_i.size), runs_i, tasks_t] = self.runs
        return self._cells(idx), tasks_t

    def chunk_sizes(self, reps: int) -> list[int]:
        full, part = divmod(int(reps), self.rng_chunk)
        return [self.rng_chunk] * full + ([part] if part else [])

    def replicates(
        self,
        evaluate: Callable[[np.ndarray], np.ndarray],
        reps: int,
        seed: SeedLike,
        workers: int | None = None,
    ) -> np.ndarray:
        """Evaluate ``evaluate(idx) -> (c, *out)`` on ``reps`` replicates; returns ``(reps, *out)``."""
        sizes = self.chunk_sizes(reps)
        gens = _children(seed, len(sizes))
        return np.concatenate(map_chunks(lambda k: evaluate(self.draw(gens[k], sizes[k])), len(sizes), workers), axis=0)

    def evaluator(self, stat_fn: BatchStatistic) -> Callable[[np.ndarray], np.ndarray]:
        """Wrap a batch statistic on scores into one on index batches, bounding memory."""
        per_rep = max(1, self.runs * self.tasks * int(np.prod(self.rest, dtype=np.int64)))
        step = max(1, ELEMENT_BUDGET // per_rep)

        def evaluate(idx: np.ndarray) -> np.ndarray:
            parts = [np.asarray(stat_fn(self.gather(idx[a : a + step]))) for a in range(0, len(idx), step)]
            return np.concatenate(parts, axis=0)

        return evaluate


def map_chunks(fn: Callable[[int], np.ndarray], n: int, workers: int | None) -> list[np.ndarray]:
    """``[fn(0), ..., fn(n-1)]``, on a thread pool when that can help; order is preserved."""
    workers = default_workers() if workers is None else max(1, int(workers))
    if workers == 1 or n == 1:
        return [fn(k) for k in range(n)]
    with ThreadPoolExecutor(max_workers=min(workers, n)) as pool:
        return list(pool.map(fn, range(n)))
