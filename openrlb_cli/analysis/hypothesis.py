"""Hypothesis tests between two experiments, per environment, as reviewers ask for them.

Why here: Colas et al. (2018, "How Many Random Seeds?") and Patterson et al. (2023, empirical design in
RL) ask for a test per environment with an effect size, a correction for testing many environments,
and how many seeds a difference needs. Every function takes numpy arrays of per-run scores and returns
numbers; the statistics are written out here (checked against ``scipy.stats.ttest_ind(equal_var=False)``
and ``scipy.stats.mannwhitneyu`` in the tests); scipy supplies only the t, noncentral-t and normal
distributions, imported when a test runs.

* **Welch's t-test**: t = (mean x − mean y) / sqrt(s²x/nx + s²y/ny), Welch–Satterthwaite degrees of
  freedom, two-sided p. Two constant samples with equal means give NaN (the test is undefined).
* **Mann–Whitney U**: U of x = rank sum of x − nx(nx+1)/2 (mid-ranks for ties); two-sided p exact
  (the permutation distribution of U) when there are no ties and at least one sample has at most 8
  values, else the normal approximation with the tie correction and a continuity correction of ½ —
  scipy's ``method="auto"``.
* **Effect sizes**: Hedges' g (Cohen's d with the pooled sample std, times the small-sample
  correction 1 − 3 / (4(nx + ny) − 9)) and the common-language effect size P(X > Y) + ½ P(X = Y)
  over all pairs of runs (McGraw & Wong 1992; the statistic rliable's probability of improvement
  averages over tasks).
* **Holm–Bonferroni**: step-down adjusted p-values over the environments (monotone, at most 1).
* **Seeds needed**: the smallest number of seeds per experiment at which a two-sided two-sample t-test
  at level alpha detects a standardized difference |g| with the given power (noncentral t with
  2n − 2 degrees of freedom and noncentrality g·sqrt(n/2)); for Mann–Whitney the same figure serves
  as the usual approximation. None when |g| is 0 or NaN, or more than ``max_n`` seeds would be needed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

TESTS = ("welch", "mannwhitney")
EXACT_MAX = 8  # exact Mann–Whitney distribution when a sample has at most this many values (no ties)


@dataclass(frozen=True)
class TestResult:
    """A two-sided test: its statistic (t, or U of the first sample), degrees of freedom (Welch) and p."""

    __test__ = False  # not a pytest class

    statistic: float
    p_value: float
    df: float = float("nan")
    method: str = ""


def _finite(x: Sequence[float] | np.ndarray) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).ravel()
    return a[np.isfinite(a)]


def welch_t_test(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> TestResult:
    """Welch's two-sided t-test of equal means (unequal variances).

    Args:
        x, y: per-run scores of the two experiments (NaN left out); at least 2 each.

    Returns:
        t, the Welch–Satterthwaite degrees of freedom and the two-sided p-value (NaN when undefined).
    """
    from scipy.stats import t as t_dist

    x, y = _finite(x), _finite(y)
    nx, ny = x.size, y.size
    if nx < 2 or ny < 2:
        return TestResult(float("nan"), float("nan"), float("nan"), "welch")
    vx, vy = x.var(ddof=1) / nx, y.var(ddof=1) / ny
    diff = x.mean() - y.mean()
    se2 = vx + vy
    if se2 == 0:
        if diff == 0:
            return TestResult(float("nan"), float("nan"), float("nan"), "welch")
        return TestResult(math.copysign(math.inf, diff), 0.0, float("nan"), "welch")
    t = diff / math.sqrt(se2)
    df = se2**2 / (vx**2 / (nx - 1) + vy**2 / (ny - 1))
    return TestResult(float(t), float(min(1.0, 2 * t_dist.sf(abs(t), df))), float(df), "welch")


def _ranks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mid-ranks (1-based) of ``values`` and the sizes of the groups of tied values."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    sizes = np.diff(np.append(starts, ordered.size))
    mid = starts + (sizes + 1) / 2.0  # 1-based mid-rank of each tie group
    ranks = np.empty(values.size)
    ranks[order] = np.repeat(mid, sizes)
    return ranks, sizes


def _u_counts(m: int, n: int) -> np.ndarray:
    """Number of arrangements of m x's and n y's giving each U = 0..m·n (all distinct values).

    Recurrence on the largest value: it is an x (adding n to U) or a y (adding 0):
    c(m, n, u) = c(m − 1, n, u − n) + c(m, n − 1, u).
    """
    table = [[np.zeros(1, dtype=object)] * (n + 1) for _ in range(m + 1)]
    for i in range(m + 1):
        for j in range(n + 1):
            if i == 0 or j == 0:
                table[i][j] = np.array([1] + [0] * (i * j), dtype=object)
                continue
            c = np.zeros(i * j + 1, dtype=object)
            prev_x = table[i - 1][j]
            c[j:j + prev_x.size] += prev_x
            prev_y = table[i][j - 1]
            c[:prev_y.size] += prev_y
            table[i][j] = c
    return table[m][n]


def mann_whitney_u(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> TestResult:
    """Mann–Whitney U test, two-sided.

    Args:
        x, y: per-run scores (NaN left out); at least 1 each.

    Returns:
        U of ``x`` (pairs with x > y, ties counted ½) and the two-sided p-value; ``method`` says
        whether it is exact or the normal approximation.
    """
    from scipy.stats import norm

    x, y = _finite(x), _finite(y)
    nx, ny = x.size, y.size
    if nx == 0 or ny == 0:
        return TestResult(float("nan"), float("nan"), method="mannwhitney")
    ranks, ties = _ranks(np.concatenate([x, y]))
    u1 = float(ranks[:nx].sum() - nx * (nx + 1) / 2)
    big = max(u1, nx * ny - u1)
    if (nx <= EXACT_MAX or ny <= EXACT_MAX) and (ties == 1).all():
        counts = _u_counts(nx, ny)
        at_least = int(counts[int(round(big)):].sum())
        p = 2 * at_least / int(counts.sum())
        return TestResult(u1, float(min(1.0, p)), method="mannwhitney exact")
    n = nx + ny
    tie_term = float((ties.astype(np.float64) ** 3 - ties).sum())
    sd = math.sqrt(nx * ny / 12 * ((n + 1) - tie_term / (n * (n - 1))))
    if sd == 0:
        return TestResult(u1, float("nan"), method="mannwhitney normal")
    z = (big - nx * ny / 2 - 0.5) / sd
    return TestResult(u1, float(min(1.0, 2 * norm.sf(z))), method="mannwhitney normal")


def hedges_g(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Standardized mean difference (x − y) / pooled sample std, bias-corrected (Hedges' g).

    Returns:
        g; NaN with fewer than 2 runs on a side or a zero pooled std.
    """
    x, y = _finite(x), _finite(y)
    nx, ny = x.size, y.size
    if nx < 2 or ny < 2:
        return float("nan")
    pooled = math.sqrt(((nx - 1) * x.var(ddof=1) + (ny - 1) * y.var(ddof=1)) / (nx + ny - 2))
    if pooled == 0:
        return float("nan")
    return float((x.mean() - y.mean()) / pooled * (1 - 3 / (4 * (nx + ny) - 9)))


def common_language(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """P(X > Y) + ½ P(X = Y) over every pair of one run of x and one of y (NaN if a side is empty)."""
    x, y = _finite(x), _finite(y)
    if x.size == 0 or y.size == 0:
        return float("nan")
    diff = x[:, None] - y[None, :]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (step-down); NaN entries stay NaN and do not count as tests.

    Args:
        p_values: one p-value per hypothesis.

    Returns:
        Adjusted p-values in the input order: the i-th smallest of m is max over j <= i of
        min(1, (m − j + 1) · p_(j)).
    """
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


def t_test_power(effect: float, n: int, alpha: float = 0.05) -> float:
    """Power of a two-sided two-sample t-test with n runs per side at standardized difference ``effect``."""
    from scipy.stats import nct
    from scipy.stats import t as t_dist

    df = 2 * n - 2
    crit = t_dist.isf(alpha / 2, df)
    ncp = abs(effect) * math.sqrt(n / 2)
    return float(nct.sf(crit, df, ncp) + nct.cdf(-crit, df, ncp))


def seeds_needed(effect: float, power: float = 0.8, alpha: float = 0.05, max_n: int = 100_000) -> int | None:
    """Fewest runs per experiment for a two-sided two-sample t-test to detect ``effect`` with ``power``.

    Args:
        effect: standardized difference (e.g. Hedges' g); its sign does not matter.
        power: wanted probability of a significant result (0 < power < 1).
        alpha: significance level (0 < alpha < 1).
        max_n: give up above this many runs.

    Returns:
        n >= 2, or None (no difference, or more than ``max_n`` runs needed).
    """
    if not 0 < power < 1 or not 0 < alpha < 1:
        raise ValueError(f"power and alpha must be in (0, 1), got {power:g} and {alpha:g}")
    if not np.isfinite(effect) or effect == 0:
        return None
    lo, hi = 2, 2
    while t_test_power(effect, hi, alpha) < power:  # doubling, then bisection: power grows with n
        lo, hi = hi, hi * 2
        if hi > max_n:
            return None if t_test_power(effect, max_n, alpha) < power else _bisect(effect, lo, max_n, power, alpha)
    if hi == 2:
        return 2
    return _bisect(effect, lo, hi, power, alpha)


def _bisect(effect: float, lo: int, hi: int, power: float, alpha: float) -> int:
    """Smallest n in (lo, hi] with enough power (power(lo) < target <= power(hi))."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if t_test_power(effect, mid, alpha) >= power:
            hi = mid
        else:
            lo = mid
    return hi


@dataclass
class Comparison:
    """One environment's comparison of experiments a and b."""

    env: str
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    statistic: float
    p_value: float
    p_holm: float
    hedges_g: float
    common_language: float
    seeds_needed: int | None
    method: str

    def significant(self, alpha: float) -> bool:
        return bool(np.isfinite(self.p_holm) and self.p_holm < alpha)


def compare(scores: dict[str, tuple[np.ndarray, np.ndarray]], test: str = "welch", power: float = 0.8,
            alpha: float = 0.05) -> list[Comparison]:
    """Test a against b in every environment and correct over environments (Holm).

    Args:
        scores: env -> (per-run scores of a, per-run scores of b).
        test: ``welch`` or ``mannwhitney``.
        power, alpha: for the seeds needed (alpha is also the level the p-values are read at).

    Returns:
        One `Comparison` per environment, in the order given.
    """
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; one of {', '.join(TESTS)}")
    rows = []
    for env, (a, b) in scores.items():
        a, b = _finite(a), _finite(b)
        res = welch_t_test(a, b) if test == "welch" else mann_whitney_u(a, b)
        g = hedges_g(a, b)
        rows.append(Comparison(env, int(a.size), int(b.size), float(a.mean()) if a.size else float("nan"),
                               float(b.mean()) if b.size else float("nan"), res.statistic, res.p_value,
                               float("nan"), g, common_language(a, b), seeds_needed(g, power, alpha), res.method))
    adjusted = holm([r.p_value for r in rows])
    for r, p in zip(rows, adjusted, strict=True):
        r.p_holm = float(p)
    return rows


__all__ = [
    "TESTS", "Comparison", "TestResult", "common_language", "compare", "hedges_g", "holm", "mann_whitney_u",
    "seeds_needed", "t_test_power", "welch_t_test",
]
