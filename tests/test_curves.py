"""analysis.curves against hand computations, pandas and scipy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from openrlb_cli.analysis import curves as cv


def test_clean_drops_nan_and_sorts_stably():
    steps = np.array([0, 20, 10, np.nan, 30, 10])
    vals = np.array([1.0, 3.0, 2.0, 9.0, np.inf, 2.5])
    walls = np.array([100, 102, 101, 103, 104, 105.0])
    s, v, w = cv.clean(steps, vals, walls)
    assert s.tolist() == [0, 10, 10, 20]
    assert v.tolist() == [1.0, 2.0, 2.5, 3.0]  # equal steps keep log order
    assert w.tolist() == [100, 101, 105, 102]


@pytest.mark.parametrize("steps, vals", [
    ([0.0, 1.0], [1e308, 1e308]),  # every point finite, their sum is not: must keep both
    ([1e308, 1e308], [1.0, 2.0]),
    ([0.0, 1.0, 2.0], [np.inf, -np.inf, 3.0]),  # inf + -inf sums to NaN
    ([0.0, -np.inf, 2.0], [1.0, 2.0, 3.0]),
    ([], []),
    ([5.0], [np.nan]),
    ([3.0, 3.0, 1.0], [1.0, 2.0, 3.0]),
])
def test_clean_matches_the_pointwise_definition(steps, vals):
    """The fast path (a finite sum means every point is finite) agrees with the definition on the
    cases that could fool it: overflowing sums, inf and -inf cancelling, empty and one-point runs."""
    steps, vals = np.array(steps, dtype=float), np.array(vals, dtype=float)
    keep = np.isfinite(steps) & np.isfinite(vals)
    order = np.argsort(steps[keep], kind="stable")
    s, v, w = cv.clean(steps, vals, np.arange(steps.size, dtype=float))
    assert s.tolist() == steps[keep][order].tolist()
    assert v.tolist() == vals[keep][order].tolist()
    assert w.tolist() == np.arange(steps.size, dtype=float)[keep][order].tolist()


def test_interpolate_never_extrapolates():
    grid = np.array([0, 5, 10, 15, 20, 25, 30.0])
    runs_s = [np.array([0, 10, 20.0]), np.array([10, 30.0])]
    runs_v = [np.array([0, 10, 40.0]), np.array([1, 5.0])]
    m = cv.interpolate(runs_s, runs_v, grid)
    # run 0: inside [0, 20], linear: 0, 5, 10, 25, 40; NaN at 25 and 30
    np.testing.assert_allclose(m[0, :5], [0, 5, 10, 25, 40])
    assert np.isnan(m[0, 5:]).all()
    # run 1: NaN before its first step 10
    assert np.isnan(m[1, :2]).all()
    np.testing.assert_allclose(m[1, 2:], [1, 2, 3, 4, 5])


def test_interpolate_single_point_run_covers_only_its_step():
    grid = np.array([0, 10, 20.0])
    m = cv.interpolate([np.array([10.0])], [np.array([7.0])], grid)
    assert np.isnan(m[0, 0]) and m[0, 1] == 7.0 and np.isnan(m[0, 2])
    m = cv.interpolate([np.array([12.0])], [np.array([7.0])], grid)
    assert np.isnan(m).all()


def test_common_grid_union_when_small_else_linspace():
    a, b = np.array([0, 10, 20.0]), np.array([5, 10, 30.0])
    assert cv.common_grid([a, b]).tolist() == [0, 5, 10, 20, 30]
    assert cv.common_grid([a, b], hi=20).tolist() == [0, 5, 10, 20]
    big = np.arange(0, 10_000, 3.0)
    g = cv.common_grid([big, big + 1], max_points=100)
    assert g.size == 100 and g[0] == 0 and g[-1] == big[-1] + 1
    assert cv.common_grid([]).size == 0


def test_seed_stats_match_pandas_with_ragged_runs():
    rng = np.random.default_rng(1)
    matrix = rng.normal(size=(5, 40))
    matrix[0, 30:] = np.nan  # seed 0 stopped early
    matrix[3, :4] = np.nan  # seed 3 started late
    st_ = cv.seed_stats(matrix, np.arange(40.0))
    df = pd.DataFrame(matrix)
    np.testing.assert_allclose(st_.mean, df.mean(axis=0).to_numpy())
    np.testing.assert_allclose(st_.std, df.std(axis=0).to_numpy())  # ddof=1 like pandas
    np.testing.assert_allclose(st_.min, df.min(axis=0).to_numpy())
    np.testing.assert_allclose(st_.max, df.max(axis=0).to_numpy())
    assert st_.count.tolist() == df.count(axis=0).tolist()
    assert st_.full.sum() == 40 - 10 - 4


def test_seed_stats_single_seed_and_empty_columns():
    m = np.array([[1.0, np.nan], [np.nan, np.nan]])
    st_ = cv.seed_stats(m, np.array([0.0, 1.0]))
    assert st_.mean[0] == 1.0 and np.isnan(st_.std[0]) and st_.count.tolist() == [1, 0]
    assert np.isnan(st_.mean[1]) and np.isnan(st_.min[1]) and np.isnan(st_.max[1])


def test_bootstrap_ci_agrees_with_scipy():
    rng = np.random.default_rng(3)
    x = rng.normal(10, 2, size=12)
    lo, hi = cv.bootstrap_ci(x[:, None], n_boot=20000, seed=0)
    ref = sps.bootstrap((x,), np.mean, n_resamples=20000, method="percentile", confidence_level=0.95,
                        random_state=0).confidence_interval
    assert lo[0] == pytest.approx(ref.low, abs=0.1)
    assert hi[0] == pytest.approx(ref.high, abs=0.1)
    assert lo[0] < x.mean() < hi[0]


def test_bootstrap_ci_is_seeded_and_vectorised_per_column():
    rng = np.random.default_rng(4)
    m = rng.normal(size=(8, 300))
    a = cv.bootstrap_ci(m, seed=7)
    b = cv.bootstrap_ci(m, seed=7)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], cv.bootstrap_ci(m, seed=8)[0])
    # a column's CI only depends on that column's values
    single = cv.bootstrap_ci(m[:, 5:6] * 1.0, seed=7)
    assert single[0][0] == pytest.approx(a[0][5])


def test_bootstrap_ci_fast_path_equals_nan_path():
    m = np.random.default_rng(5).normal(size=(6, 40))
    ragged = np.hstack([m, np.full((6, 1), np.nan)])  # one NaN column forces the NaN-aware path
    fast, slow = cv.bootstrap_ci(m, seed=3), cv.bootstrap_ci(ragged, seed=3)
    np.testing.assert_allclose(fast[0], slow[0][:40])
    np.testing.assert_allclose(fast[1], slow[1][:40])


def test_bootstrap_ci_nan_columns():
    m = np.array([[1.0, 1.0, np.nan], [2.0, np.nan, np.nan], [3.0, np.nan, np.nan]])
    lo, hi = cv.bootstrap_ci(m)
    assert 1.0 <= lo[0] <= hi[0] <= 3.0
    assert np.isnan(lo[1:]).all() and np.isnan(hi[1:]).all()  # fewer than 2 seeds


def test_nan_quantiles_match_numpy():
    rng = np.random.default_rng(0)
    s = rng.normal(size=(6, 101))
    s[2, :30] = np.nan
    lo, hi = cv._nan_quantiles(s, [0.025, 0.975])
    np.testing.assert_allclose(lo, np.nanquantile(s, 0.025, axis=1))
    np.testing.assert_allclose(hi, np.nanquantile(s, 0.975, axis=1))


@pytest.mark.parametrize("window", [1, 3, 5, 9])
def test_smooth_matches_pandas_centred_rolling(window):
    v = np.random.default_rng(window).normal(size=50)
    ref = pd.Series(v).rolling(window, center=True, min_periods=1).mean().to_numpy()
    np.testing.assert_allclose(cv.smooth(v, window), ref)


def test_smooth_even_window_by_hand():
    v = np.array([1.0, 2, 3, 4, 5])
    # window 2: the point and the one after it; last point alone
    np.testing.assert_allclose(cv.smooth(v, 2), [1.5, 2.5, 3.5, 4.5, 5])
    assert cv.smooth(v, 0).tolist() == v.tolist()


def test_final_score_last_n_and_last_frac():
    steps = np.arange(0, 110, 10.0)  # 0..100
    vals = np.arange(11.0)
    assert cv.final_score(steps, vals, last_n=3) == pytest.approx((8 + 9 + 10) / 3)
    assert cv.final_score(steps, vals, last_n=100) == pytest.approx(5.0)  # fewer points than N: all
    # last 20% of [0, 100] = steps >= 80: values 8, 9, 10
    assert cv.final_score(steps, vals, last_n=None, last_frac=0.2) == pytest.approx(9.0)
    # offset start: [50, 100], last 20% -> steps >= 90
    assert cv.final_score(steps[5:], vals[5:], last_frac=0.2) == pytest.approx(9.5)
    assert np.isnan(cv.final_score(np.array([1.0]), np.array([np.nan])))
    assert cv.final_score(np.array([5.0]), np.array([2.0])) == 2.0
    with pytest.raises(ValueError):
        cv.final_score(steps, vals, last_frac=1.5)


def test_score_stats_and_runtime_and_elapsed():
    s = cv.score_stats([1.0, 2.0, 6.0, float("nan")], ci=True, n_boot=2000)
    assert (s.mean, s.n) == (3.0, 3)
    assert s.std == pytest.approx(np.std([1, 2, 6], ddof=1))
    assert 1.0 <= s.ci_low < s.mean < s.ci_high <= 6.0
    one = cv.score_stats([4.0])
    assert one.n == 1 and np.isnan(one.std)
    assert cv.score_stats([]).n == 0
    assert cv.runtime(np.array([np.nan, 100.0, 160.0, np.nan])) == 60.0
    assert np.isnan(cv.runtime(np.array([np.nan])))
    np.testing.assert_allclose(cv.elapsed(np.array([np.nan, 10.0, 15.0])), [np.nan, 0, 5])


def test_truncate_keeps_steps_up_to_budget():
    s, v, w = cv.truncate(np.array([0, 5, 10, 15.0]), np.arange(4.0), None, 10)
    assert s.tolist() == [0, 5, 10] and v.tolist() == [0, 1, 2] and w is None


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=30),
    st.integers(1, 40),
)
def test_interpolation_stays_inside_range_and_values(values, n_grid):
    steps = np.cumsum(np.ones(len(values))) * 3.0
    v = np.asarray(values)
    grid = np.linspace(0, steps[-1] + 10, n_grid)
    m = cv.interpolate([steps], [v], grid)[0]
    inside = (grid >= steps[0]) & (grid <= steps[-1])
    assert np.isnan(m[~inside]).all()
    assert np.isfinite(m[inside]).all()
    assert (m[inside] >= v.min() - 1e-6).all() and (m[inside] <= v.max() + 1e-6).all()
