"""Confidence bounds from bootstrap replicates: percentile, basic, BC and BCa methods, and their results.

Resampling (``bootstrap_resample``) produces replicate statistics; this module turns them into an
``Interval`` or ``Band``. ``estimate`` joins the two and is what every interval function in
``analysis`` calls.

Interval methods:

* ``percentile`` (default, as rliable): empirical quantiles of the replicates, linear interpolation
  (``np.percentile``'s default, the same as ``arch``).
* ``basic`` (rliable/arch ``basic``, the "reverse percentile" interval): the replicates' spread
  reflected around the estimate, ``[2θ̂ − q(1 − α/2), 2θ̂ − q(α/2)]``, with the same quantiles.
* ``bc`` (rliable/arch ``bc``, bias-corrected): BCa below with acceleration 0, i.e. the percentile
  levels ``Φ(2 z0 + z_α/2)`` and ``Φ(2 z0 + z_1−α/2)``; no jackknife.
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

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .bootstrap_resample import Resampler, SeedLike, map_chunks

METHODS = ("percentile", "basic", "bc", "bca")


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


def _check(reps: int, ci: float, method: str) -> None:
    if int(reps) < 1:
        raise ValueError(f"reps must be at least 1; got {reps}")
    if not 0.0 < ci < 1.0:
        raise ValueError(f"ci must be strictly between 0 and 1; got {ci}")
    if method not in METHODS:
        raise ValueError(f"unknown interval method {method!r}; expected one of {', '.join(METHODS)}")


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
    if method in ("percentile", "basic"):
        lower, upper = pct(reps, [100 * alpha, 100 * (1 - alpha)], axis=0)
        if method == "basic":  # reflect the replicates' quantiles around the estimate
            lower, upper = 2.0 * point - upper, 2.0 * point - lower
        return lower, upper
    if method not in ("bc", "bca"):
        raise ValueError(f"unknown interval method {method!r}")
    from scipy.special import ndtr, ndtri  # ~0.4 s to import: only the bias-corrected methods need it
    valid = (~np.isnan(reps)).sum(axis=0)
    below = (reps < point).sum(axis=0) + (reps <= point).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        z0 = ndtri(below / (2.0 * valid))
    a = np.zeros_like(point) if accel is None or method == "bc" else np.asarray(accel, dtype=np.float64)
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
            f"{'BC' if method == 'bc' else 'BCa'} interval undefined where every bootstrap replicate lies on one "
            "side of the estimate (bias correction is infinite); returning NaN there. Use method='percentile'.",
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
