"""Performance profiles and probability of improvement: hand cases, scipy's Mann–Whitney U."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from openrlb_cli.analysis import improvement as imp
from openrlb_cli.analysis import profiles as prof

HAND = np.array([[0.1, 0.5], [0.2, 0.6], [0.3, 0.7], [1.0, 0.0]])
TAUS = [0.0, 0.25, 0.5, 1.0]


def test_run_score_distribution_by_hand():
    # task 0 (.1 .2 .3 1): 4/4, 2/4, 1/4, 0 above; task 1 (.5 .6 .7 0): 3/4, 3/4, 2/4, 0.
    np.testing.assert_allclose(prof.run_score_distribution(HAND, TAUS), [7 / 8, 5 / 8, 3 / 8, 0.0])


def test_average_score_distribution_by_hand():
    # task means .4 and .45
    np.testing.assert_allclose(prof.average_score_distribution(HAND, TAUS), [1.0, 1.0, 0.0, 0.0])


def test_run_score_distribution_weights_tasks_equally_with_missing_runs():
    x = np.array([[1.0, 1.0], [1.0, np.nan], [1.0, np.nan], [0.0, np.nan]])
    # task 0: 3/4 above 0.5, task 1: 1/1 -> 0.875 (a pooled mean would say 4/5)
    assert prof.run_score_distribution(x, [0.5])[0] == pytest.approx(0.875)


def test_profile_band_is_monotone_and_contains_point():
    x = np.random.default_rng(0).gamma(2.0, 0.5, size=(10, 12))
    taus = prof.tau_grid([x], points=21)
    assert taus[0] == 0.0 and taus[-1] == pytest.approx(x.max())
    for kind in prof.PROFILE_KINDS:
        band = prof.performance_profile(x, taus, kind=kind, reps=400, seed=1)
        assert band.point[0] == 1.0 and band.grid is not None
        assert np.all(np.diff(band.point) <= 0)
        assert np.all(band.lower <= band.point + 1e-12) and np.all(band.point <= band.upper + 1e-12)
        again = prof.performance_profile(x, taus, kind=kind, reps=400, seed=1)
        np.testing.assert_array_equal(band.lower, again.lower)
    with pytest.raises(ValueError, match="profile kind"):
        prof.performance_profile(x, taus, kind="median")


@pytest.mark.parametrize("n,m", [(5, 5), (4, 7), (1, 3)])
def test_poi_one_task_equals_mann_whitney_u_over_nm(n, m):
    rng = np.random.default_rng(n * 10 + m)
    x = rng.integers(0, 5, size=n).astype(float)  # small integers: plenty of ties
    y = rng.integers(0, 5, size=m).astype(float)
    u = scipy.stats.mannwhitneyu(x, y, alternative="greater").statistic
    assert imp.probability_of_improvement(x[:, None], y[:, None]) == pytest.approx(u / (n * m), abs=1e-15)


def test_poi_averages_tasks_and_is_antisymmetric():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(6, 4)), rng.normal(0.3, size=(8, 4))
    per_task = [scipy.stats.mannwhitneyu(x[:, t], y[:, t]).statistic / 48 for t in range(4)]
    assert imp.probability_of_improvement(x, y) == pytest.approx(np.mean(per_task))
    assert imp.probability_of_improvement(x, y) + imp.probability_of_improvement(y, x) == pytest.approx(1.0)
    assert imp.probability_of_improvement(x, x) == 0.5


def test_poi_hand_case():
    # x beats y on 3 of 4 pairs in task 0, ties all in task 1 -> (0.75 + 0.5)/2
    x = np.array([[2.0, 1.0], [4.0, 1.0]])
    y = np.array([[3.0, 1.0], [1.0, 1.0]])
    assert imp.probability_of_improvement(x, y) == 0.625


def test_poi_vectorised_replicates_equal_explicit_resampling():
    rng = np.random.default_rng(4)
    x = np.round(rng.normal(size=(5, 3)), 1)
    y = np.round(rng.normal(size=(4, 3)), 1)
    x[4, 2] = np.nan  # task 2 has only 4 runs of X
    pair = imp._Pair(x, y)
    fast = pair.replicate(np.random.default_rng(99), 50)
    gen = np.random.default_rng(99)
    ix, iy = pair.rx.draw(gen, 50), pair.ry.draw(gen, 50)
    xs, ys = pair.rx.data, pair.ry.data
    for r in range(50):
        probs = []
        for t in range(3):
            a = xs[ix[r, : pair.rx.counts[t], t], t]
            b = ys[iy[r, : pair.ry.counts[t], t], t]
            probs.append(scipy.stats.mannwhitneyu(a, b).statistic / (a.size * b.size))
        assert fast[r] == pytest.approx(np.mean(probs), abs=1e-14)


def test_poi_jackknife_equals_brute_force():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(4, 3)), rng.normal(size=(3, 3))
    values, strata = imp._Pair(x, y).jackknife()
    expected = []
    for side in (0, 1):
        for t in range(3):
            for i in range(4 if side == 0 else 3):
                xx, yy = x.copy(), y.copy()
                (xx if side == 0 else yy)[i, t] = np.nan
                expected.append(imp.probability_of_improvement(xx, yy))
    np.testing.assert_allclose(values, expected, rtol=1e-13)
    assert strata.tolist() == [0] * 4 + [1] * 4 + [2] * 4 + [3] * 3 + [4] * 3 + [5] * 3


def test_poi_interval_and_matrix():
    rng = np.random.default_rng(6)
    exps = {"a": rng.normal(size=(10, 8)), "b": rng.normal(0.5, size=(10, 8)), "c": rng.normal(size=(7, 8))}
    iv = imp.probability_of_improvement_interval(exps["a"], exps["b"], reps=1_000, seed=0)
    assert iv.lower <= iv.point <= iv.upper and iv.reps == 1_000
    assert iv == imp.probability_of_improvement_interval(exps["a"], exps["b"], reps=1_000, seed=0)
    mat = imp.improvement_matrix(exps, reps=500, seed=1)
    assert mat.names == ("a", "b", "c")
    np.testing.assert_allclose(mat.point + mat.point.T, 1.0)
    np.testing.assert_allclose(mat.lower[0, 1], 1.0 - mat.upper[1, 0])
    assert np.isnan(mat.lower[2, 2]) and mat.point[2, 2] == 0.5
    assert mat.point[0, 1] == pytest.approx(imp.probability_of_improvement(exps["a"], exps["b"]))
    bca = imp.probability_of_improvement_interval(exps["a"], exps["b"], reps=1_000, seed=0, method="bca")
    assert bca.lower <= bca.point <= bca.upper
    with pytest.raises(ValueError, match="tasks"):
        imp.probability_of_improvement(exps["a"], exps["b"][:, :3])


def test_poi_interval_matches_scipy_multi_sample_bootstrap():
    # X's and Y's task columns as 2T independent samples of scipy's bootstrap.
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(6, 3)), rng.normal(0.4, size=(5, 3))
    samples = [x[:, t] for t in range(3)] + [y[:, t] for t in range(3)]

    def stat(*s, axis=-1):
        return np.mean(
            [scipy.stats.mannwhitneyu(s[t], s[3 + t], axis=axis).statistic / 30 for t in range(3)], axis=0
        )

    ref = scipy.stats.bootstrap(
        samples, stat, vectorized=True, n_resamples=10_000, method="percentile",
        random_state=np.random.default_rng(0),
    ).confidence_interval
    ours = imp.probability_of_improvement_interval(x, y, reps=10_000, seed=1)
    width = ref.high - ref.low
    assert abs(ours.lower - ref.low) <= 0.05 * width and abs(ours.upper - ref.high) <= 0.05 * width


def test_counts_above_equal_brute_force_comparisons():
    """The histogram count of scores above each τ equals comparing every score with every τ:
    ties with τ, NaN scores, unsorted and repeated thresholds."""
    from openrlb_cli.analysis.profiles import counts_above

    rng = np.random.default_rng(11)
    for trial in range(300):
        x = np.round(rng.normal(size=(int(rng.integers(1, 6)), int(rng.integers(1, 40)))), 1)
        if trial % 3 == 0:
            x[rng.random(x.shape) < 0.2] = np.nan
        taus = np.round(rng.normal(size=int(rng.integers(1, 30))), 1)
        if trial % 2:
            taus = np.concatenate([taus, taus[:2], np.nan_to_num(x[0, :3])])
        np.testing.assert_array_equal(counts_above(x, taus), (x[:, :, None] > taus).sum(axis=1))
