"""Stratified bootstrap confidence intervals for aggregate metrics (Agarwal et al. 2021).

What is resampled: runs, with replacement, independently within each task (the task set is fixed;
the uncertainty reported is "what if we re-ran the seeds"). With missing runs (NaN padding) a task
with ``n_t`` runs draws ``n_t`` indices among its own present runs only. This is rliable's
``StratifiedBootstrap`` with ``task_bootstrap=False``.

How it stays fast and bounded: replicate statistics are computed on batches of replicates at once
(``(reps, runs, tasks, ...)`` arrays), with at most ``ELEMENT_BUDGET`` resampled values alive per
batch, and batches can run on several threads (numpy releases the GIL in the heavy loops).

Reproducibility: ``seed`` goes through ``np.random.default_rng(seed)``; replicates are drawn in
fixed-size chunks, chunk ``k`` from the ``k``-th child generator (``Generator.spawn``). The chunk
size depends only on the data's shape, never on memory or thread count, so the same seed gives
bit-identical intervals however the work is scheduled.

Interval methods:

* ``percentile`` (default, as rliable): empirical quantiles of the replicates, linear interpolation
  (``np.percentile``'s default, the same as ``arch``).
* ``bca``: bias-corrected and accelerated. The bias ``z0`` counts replicates below the estimate
  with ties counted half (as ``scipy.stats.bootstrap``; ``arch`` counts strictly-below only). The
  acceleration comes from a stratified jackknife: each run of each task is deleted in turn (the
  other tasks untouched) and the influence values are combined across tasks as in Davison &
  Hinkley (1997, §3.7) — the formula ``scipy.stats.bootstrap`` uses for several independent
  samples. ``arch``, and so rliable, instead deletes row ``i`` of the matrix, i.e. run ``i`` of
  every task at once, which presumes runs are paired across tasks and cannot handle unequal run
  counts. With one task both coincide. Tasks with a single run carry no jackknife information
  and are skipped; a statistic insensitive to every deletion gets acceleration 0.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

from . import aggregates as agg
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
METHODS = ("percentile", "bca")


@dataclass(frozen=True)
class Interval:
    """A point estimate with a bootstrap confidence interval, and how it was obtained."""

    point: float
    lower: float
    upper: float
    reps: int
    ci: float
    method: str
    seed: int | None


@dataclass(frozen=True)
class Band:
    """Pointwise intervals for a vector statistic (a profile over τ, a curve over steps)."""

    point: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    reps: int
    ci: float
    method: str
    seed: int | None
    grid: np.ndarray | None = None


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


def _check(reps: int, ci: float, method: str) -> None:
    if int(reps) < 1:
        raise ValueError(f"reps must be at least 1; got {reps}")
    if not 0.0 < ci < 1.0:
        raise ValueError(f"ci must be strictly between 0 and 1; got {ci}")
    if method not in METHODS:
        raise ValueError(f"unknown interval method {method!r}; expected one of {', '.join(METHODS)}")


class Resampler:
    """Stratified bootstrap index batches for one padded score array.

    Replicates are represented by run indices ``idx`` of shape ``(c, runs, tasks)``: replicate
    ``r`` takes run ``idx[r, i, t]`` of task ``t`` in slot ``i``. Index ``runs`` (one past the last)
    is a sentinel all-NaN row; missing slots always point there, which keeps the NaN pattern of
    the data and lets a jackknife "delete" a run by pointing its slot at the sentinel too.
    """

    def __init__(self, scores: ScoresLike):
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
            (int(n), np.flatnonzero((mask & (self.counts == n)[None, :]).ravel()))
            for n in np.unique(self.counts)
        ]
        # Bounded int16 draws cost half as much as int32 ones and suffice for < 32767 runs.
        self._dtype = np.int16 if self.runs < np.iinfo(np.int16).max else np.int32
        per_rep = self.runs * self.tasks
        self.rng_chunk = max(1, min(RNG_CHUNK, ELEMENT_BUDGET // per_rep))

    def identity(self) -> np.ndarray:
        """Index batch of one replicate equal to the data itself, shape ``(1, runs, tasks)``."""
        return self._base[None].astype(self._dtype)

    def draw(self, gen: np.random.Generator, c: int) -> np.ndarray:
        """``c`` stratified bootstrap replicates as run indices ``(c, runs, tasks)``."""
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
        return idx, tasks_t

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
        return np.concatenate(
            map_chunks(lambda k: evaluate(self.draw(gens[k], sizes[k])), len(sizes), workers), axis=0
        )

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


def acceleration(jack: np.ndarray, strata: np.ndarray) -> np.ndarray:
    """BCa acceleration from stratified jackknife values ``jack (N, *out)`` grouped by ``strata``.

    ``a = Σ_t Σ_j U_tj³ / n_t³ / (6 (Σ_t Σ_j U_tj² / n_t²)^{3/2})`` with
    ``U_tj = (n_t − 1)(mean_j θ_t,−j − θ_t,−j)``.
    """
    jack = np.asarray(jack, dtype=np.float64)
    num = np.zeros(jack.shape[1:])
    den = np.zeros(jack.shape[1:])
    for t in np.unique(strata):
        rows = jack[strata == t]
        n = rows.shape[0]
        if n < 2:
            continue
        u = (n - 1) * (rows.mean(axis=0) - rows)
        num += np.nansum(u**3, axis=0) / n**3
        den += np.nansum(u**2, axis=0) / n**2
    with np.errstate(invalid="ignore", divide="ignore"):
        a = num / (6.0 * den**1.5)
    return np.where(den > 0, a, 0.0)


def confidence_bounds(
    replicates: np.ndarray,
    point: np.ndarray | float,
    ci: float = 0.95,
    method: str = "percentile",
    accel: np.ndarray | float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds from bootstrap replicates ``(reps, *out)``.

    Replicates that are NaN (statistic undefined for that resample, e.g. a curve point no
    resampled run reached) are ignored, so such bounds are conditional on the statistic existing.
    """
    reps = np.asarray(replicates, dtype=np.float64)
    point = np.asarray(point, dtype=np.float64)
    alpha = (1.0 - ci) / 2.0
    has_nan = bool(np.isnan(reps).any())
    pct = np.nanpercentile if has_nan else np.percentile
    if method == "percentile":
        lower, upper = pct(reps, [100 * alpha, 100 * (1 - alpha)], axis=0)
        return lower, upper
    if method != "bca":
        raise ValueError(f"unknown interval method {method!r}")
    valid = (~np.isnan(reps)).sum(axis=0)
    below = (reps < point).sum(axis=0) + (reps <= point).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        z0 = ndtri(below / (2.0 * valid))
    a = np.zeros_like(point) if accel is None else np.asarray(accel, dtype=np.float64)
    z = ndtri(np.array([alpha, 1 - alpha]))
    z = z.reshape((2,) + (1,) * point.ndim)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = ndtr(z0 + (z0 + z) / (1 - a * (z0 + z)))  # (2, *out); NaN where z0 is infinite
    lower = np.full(point.shape, np.nan)
    upper = np.full(point.shape, np.nan)
    flat_reps = reps.reshape(reps.shape[0], -1)
    ql, qu = q[0].reshape(-1), q[1].reshape(-1)
    lo_flat, up_flat = lower.reshape(-1), upper.reshape(-1)
    degenerate = False
    for j in range(flat_reps.shape[1]):
        if not (np.isfinite(ql[j]) and np.isfinite(qu[j])):
            degenerate = True
            continue
        lo_flat[j], up_flat[j] = pct(flat_reps[:, j], [100 * ql[j], 100 * qu[j]])
    if degenerate:
        warnings.warn(
            "BCa interval undefined where every bootstrap replicate lies on one side of the estimate "
            "(bias correction is infinite); returning NaN there. Use method='percentile'.",
            RuntimeWarning,
            stacklevel=2,
        )
    return lower, upper


def estimate(
    resampler: Resampler,
    evaluate: Callable[[np.ndarray], np.ndarray],
    *,
    reps: int,
    ci: float,
    method: str,
    seed: SeedLike,
    workers: int | None,
    exact: Callable[[np.ndarray], np.ndarray] | None = None,
    point: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point, lower, upper for an index-batch evaluator (shared by all interval functions).

    ``exact`` evaluates index batches that may delete runs (the jackknife); it defaults to
    ``evaluate``. ``point`` overrides the point estimate (to use a reference implementation).
    """
    _check(reps, ci, method)
    exact = evaluate if exact is None else exact
    if point is None:
        point = exact(resampler.identity())[0]
    replicates = resampler.replicates(evaluate, reps, seed, workers)
    accel = None
    if method == "bca":
        idx, strata = resampler.jackknife()
        step = 64
        parts = map_chunks(lambda k: exact(idx[k * step : (k + 1) * step]), -(-len(idx) // step), workers)
        accel = acceleration(np.concatenate(parts, axis=0), strata)
    lower, upper = confidence_bounds(replicates, point, ci, method, accel)
    return np.asarray(point, dtype=np.float64), lower, upper


def bootstrap_replicates(
    scores: ScoresLike,
    stat_fn: BatchStatistic,
    *,
    reps: int = 50_000,
    seed: SeedLike = None,
    workers: int | None = None,
) -> np.ndarray:
    """The bootstrap distribution of ``stat_fn``: ``(reps, *out)``.

    ``stat_fn`` maps a batch ``(c, runs, tasks, *rest)`` to ``(c,)`` or ``(c, *out)`` and must
    treat NaN as a missing run (all functions in ``aggregates`` do).
    """
    _check(reps, 0.5, "percentile")
    rs = Resampler(scores)
    return rs.replicates(rs.evaluator(stat_fn), reps, seed, workers)


def bootstrap_interval(
    scores: ScoresLike,
    stat_fn: BatchStatistic,
    *,
    reps: int = 50_000,
    ci: float = 0.95,
    method: str = "percentile",
    seed: SeedLike = None,
    workers: int | None = None,
) -> Interval:
    """Stratified-bootstrap interval for a scalar batch statistic (see ``bootstrap_replicates``)."""
    rs = Resampler(scores)
    point, lower, upper = estimate(
        rs, rs.evaluator(stat_fn), reps=reps, ci=ci, method=method, seed=seed, workers=workers
    )
    if point.ndim != 0:
        raise ValueError(f"stat_fn must return one value per replicate; got shape {point.shape}")
    return Interval(float(point), float(lower), float(upper), int(reps), ci, method, _seed_record(seed))


def bootstrap_band(
    scores: ScoresLike,
    stat_fn: BatchStatistic,
    *,
    grid: np.ndarray | None = None,
    reps: int = 2_000,
    ci: float = 0.95,
    method: str = "percentile",
    seed: SeedLike = None,
    workers: int | None = None,
) -> Band:
    """Pointwise stratified-bootstrap intervals for a vector batch statistic ``(c, k)``."""
    rs = Resampler(scores)
    point, lower, upper = estimate(
        rs, rs.evaluator(stat_fn), reps=reps, ci=ci, method=method, seed=seed, workers=workers
    )
    return Band(point, lower, upper, int(reps), ci, method, _seed_record(seed), grid)


class _FastAggregates:
    """All requested aggregates of 2-D scores evaluated straight from index batches.

    The IQM needs the pooled scores of each replicate in order. Instead of sorting floats, each
    score's rank in the pooled original data is precomputed, replicate ranks (int32) are sorted —
    about twice as fast — and the middle ranks are mapped back to values. Same multiset, same
    trimmed mean.
    """

    def __init__(self, rs: Resampler, names: Sequence[str], gamma: float):
        self.rs, self.names, self.gamma = rs, list(names), gamma
        values = rs.flat[:, 0]
        order = np.argsort(values, kind="stable")  # NaN (missing, sentinel) last
        self.sorted_values = values[order]
        self.rank = np.empty(values.size, dtype=np.int32)
        self.rank[order] = np.arange(values.size, dtype=np.int32)
        self.n = int(rs.counts.sum())
        self.lo, self.hi = agg._trim_bounds(self.n)
        self.values = values

    def __call__(self, idx: np.ndarray) -> np.ndarray:
        step = cache_block(self.rs.runs * self.rs.tasks)
        return np.concatenate([self._block(idx[a : a + step]) for a in range(0, len(idx), step)], axis=0)

    def _block(self, idx: np.ndarray) -> np.ndarray:
        rs = self.rs
        c = idx.shape[0]
        src = rs.source(idx).reshape(c, -1)
        out = np.empty((c, len(self.names)))
        vals = None
        means = None
        for j, name in enumerate(self.names):
            if name == "iqm":
                ranks = np.take(self.rank, src)
                ranks.sort(axis=1)
                out[:, j] = self.sorted_values[ranks[:, self.lo : self.hi]].mean(axis=1)
                continue
            if vals is None:
                vals = self.values[src]
                if not rs.balanced:
                    vals = np.where(np.isnan(vals), 0.0, vals)
            if name == "optimality_gap":
                clipped = np.minimum(vals, self.gamma)
                if rs.balanced:
                    out[:, j] = self.gamma - clipped.mean(axis=1)
                else:  # missing slots hold 0: subtract their clipped contribution
                    n_missing = vals.shape[1] - self.n
                    fill = min(0.0, self.gamma) * n_missing
                    out[:, j] = self.gamma - (clipped.sum(axis=1) - fill) / self.n
                continue
            if means is None:
                v3 = vals.reshape(c, rs.runs, rs.tasks)
                means = v3.mean(axis=1) if rs.balanced else v3.sum(axis=1) / rs.counts
            out[:, j] = agg.median_last_axis(means) if name == "median" else means.mean(axis=1)
        return out


def aggregate_intervals(
    scores: ScoresLike,
    aggregates: Sequence[str] = agg.AGGREGATE_NAMES,
    *,
    gamma: float = 1.0,
    reps: int = 50_000,
    ci: float = 0.95,
    method: str = "percentile",
    seed: SeedLike = None,
    workers: int | None = None,
) -> dict[str, Interval]:
    """Intervals for several aggregates of final scores ``(runs, tasks)``, from shared resamples.

    Point estimates are the reference definitions in ``aggregates`` (bit-identical to rliable
    on full matrices); replicates come from a specialised evaluator that draws each resample once
    for all requested aggregates.
    """
    names = list(aggregates)
    for name in names:
        agg.batch_aggregate(name, gamma)  # validates the name
    rs = Resampler(scores)
    if rs.rest:
        raise ValueError("aggregate_intervals takes final scores (runs, tasks); use efficiency for curves")
    fns = [agg.batch_aggregate(name, gamma) for name in names]
    exact = rs.evaluator(lambda x: np.stack([fn(x) for fn in fns], axis=-1))
    point = np.array([agg.aggregate(name, rs.data, gamma) for name in names])
    point, lower, upper = estimate(
        rs,
        _FastAggregates(rs, names, gamma),
        reps=reps,
        ci=ci,
        method=method,
        seed=seed,
        workers=workers,
        exact=exact,
        point=point,
    )
    record = _seed_record(seed)
    return {
        name: Interval(float(point[j]), float(lower[j]), float(upper[j]), int(reps), ci, method, record)
        for j, name in enumerate(names)
    }


def aggregate_interval(
    scores: ScoresLike,
    aggregate: str = "iqm",
    *,
    gamma: float = 1.0,
    reps: int = 50_000,
    ci: float = 0.95,
    method: str = "percentile",
    seed: SeedLike = None,
    workers: int | None = None,
) -> Interval:
    """Interval for one aggregate of final scores; see ``aggregate_intervals``."""
    return aggregate_intervals(
        scores, [aggregate], gamma=gamma, reps=reps, ci=ci, method=method, seed=seed, workers=workers
    )[aggregate]
