"""Aggregate metrics: hand-worked cases, scipy's trim_mean, missing runs, batch forms."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from openrlb_cli.analysis import estimators as agg
from openrlb_cli.analysis._layout import as_padded

# 4 runs × 2 tasks, worked by hand:
#   pooled sorted: 0 .1 .2 .3 .5 .6 .7 1.0 -> IQM drops 2 each side -> (.2+.3+.5+.6)/4 = 0.4
#   task means: (.1+.2+.3+1)/4 = .4, (.5+.6+.7+0)/4 = .45 -> mean = median = .425
#   optimality gap γ=1: 1 - 3.4/8 = .575; γ=.5: clipped sum 2.6 -> .5 - 2.6/8 = .175
HAND = np.array([[0.1, 0.5], [0.2, 0.6], [0.3, 0.7], [1.0, 0.0]])


def test_hand_worked_aggregates():
    assert agg.iqm(HAND) == pytest.approx(0.4, abs=1e-15)
    assert agg.mean(HAND) == pytest.approx(0.425, abs=1e-15)
    assert agg.median(HAND) == pytest.approx(0.425, abs=1e-15)
    assert agg.optimality_gap(HAND) == pytest.approx(0.575, abs=1e-15)
    assert agg.optimality_gap(HAND, gamma=0.5) == pytest.approx(0.175, abs=1e-15)


def test_hand_worked_median_odd_task_count():
    x = np.array([[1.0, 10.0, 4.0], [3.0, 0.0, 6.0]])  # task means 2, 5, 5 -> median 5, mean 4
    assert agg.median(x) == 5.0
    assert agg.mean(x) == 4.0


@pytest.mark.parametrize("shape", [(1, 1), (3, 1), (5, 7), (10, 57), (7, 3), (2, 9)])
def test_iqm_is_scipy_trim_mean(shape):
    x = np.random.default_rng(sum(shape)).normal(size=shape)
    assert agg.iqm(x) == scipy.stats.trim_mean(x, 0.25, axis=None)
    batch = np.random.default_rng(1).normal(size=(6, *shape))
    expected = [scipy.stats.trim_mean(b, 0.25, axis=None) for b in batch]
    np.testing.assert_allclose(agg.iqm_batch(batch), expected, rtol=1e-13, atol=1e-14)


def test_iqm_point_estimate_is_bit_identical_to_trim_mean_on_every_small_shape():
    """The point estimate no longer calls scipy (start-up): it must still equal it bit for bit."""
    rng = np.random.default_rng(7)
    for runs in range(1, 33):
        for tasks in (1, 2, 3, 5, 8, 57):
            x = rng.normal(size=(runs, tasks)) * 10.0 ** rng.integers(-3, 6)
            if runs % 3 == 0:
                x = np.round(x, 1)  # ties
            assert agg.iqm(x) == scipy.stats.trim_mean(x, 0.25, axis=None), (runs, tasks)


def test_iqm_batch_with_ties_matches_trim_mean():
    batch = np.random.default_rng(2).integers(0, 4, size=(20, 5, 6)).astype(float)
    expected = [scipy.stats.trim_mean(b, 0.25, axis=None) for b in batch]
    np.testing.assert_allclose(agg.iqm_batch(batch), expected, rtol=1e-13)


def test_batch_forms_match_rliable_definitions():
    batch = np.random.default_rng(3).gamma(2.0, size=(8, 6, 5))
    np.testing.assert_allclose(agg.median_batch(batch), [np.median(b.mean(axis=0)) for b in batch], rtol=1e-14)
    np.testing.assert_allclose(agg.mean_batch(batch), [b.mean(axis=0).mean() for b in batch], rtol=1e-14)
    np.testing.assert_allclose(
        agg.optimality_gap_batch(batch, 1.5), [1.5 - np.minimum(b, 1.5).mean() for b in batch], rtol=1e-14
    )


def test_trailing_point_axis_is_per_point():
    curves = np.random.default_rng(4).normal(size=(3, 6, 5, 4))  # reps, runs, tasks, points
    for name in agg.AGGREGATE_NAMES:
        fn = agg.batch_aggregate(name)
        per_point = np.stack([fn(curves[..., p]) for p in range(4)], axis=-1)
        np.testing.assert_allclose(fn(curves), per_point, rtol=1e-13)


@pytest.mark.parametrize("n", [1, 2, 5, 6])
def test_median_last_axis_equals_np_median(n):
    v = np.random.default_rng(n).normal(size=(7, n))
    np.testing.assert_array_equal(agg.median_last_axis(v), np.median(v, axis=-1))
    v[2, 0] = np.nan
    assert np.isnan(agg.median_last_axis(v)[2])


def test_missing_runs_are_left_out():
    # Task 0 has 4 runs, task 1 only 2 (NaN padding).
    x = np.array([[1.0, 5.0], [2.0, np.nan], [3.0, 7.0], [10.0, np.nan]])
    present = np.array([1.0, 5.0, 2.0, 3.0, 7.0, 10.0])
    assert agg.iqm(x) == pytest.approx(scipy.stats.trim_mean(present, 0.25))
    assert agg.mean(x) == pytest.approx((4.0 + 6.0) / 2)
    assert agg.median(x) == pytest.approx(5.0)
    assert agg.optimality_gap(x, gamma=4.0) == pytest.approx(4.0 - np.minimum(present, 4.0).mean())
    # The same data as a list of per-task arrays gives the same numbers.
    as_list = [np.array([1.0, 2.0, 3.0, 10.0]), np.array([5.0, 7.0])]
    for name in agg.AGGREGATE_NAMES:
        assert agg.aggregate(name, as_list) == pytest.approx(agg.aggregate(name, x))


def test_nan_anywhere_in_a_run_column_counts_as_missing_not_zero():
    full = np.array([[1.0, 2.0], [3.0, 4.0]])
    padded = np.vstack([full, [[np.nan, np.nan]]])
    for name in agg.AGGREGATE_NAMES:
        assert agg.aggregate(name, padded) == agg.aggregate(name, full)


def test_task_without_runs_is_an_error():
    with pytest.raises(ValueError, match="no runs"):
        agg.iqm(np.array([[1.0, np.nan], [2.0, np.nan]]))
    with pytest.raises(ValueError, match="runs, tasks"):
        agg.iqm(np.array([1.0, 2.0]))


def test_batch_statistic_undefined_when_a_task_is_empty():
    batch = np.array([[[1.0, np.nan], [2.0, np.nan]]])  # one replicate, task 1 empty
    assert np.isnan(agg.iqm_batch(batch)[0])
    assert np.isnan(agg.mean_batch(batch)[0])
    assert np.isnan(agg.median_batch(batch)[0])
    assert np.isnan(agg.optimality_gap_batch(batch)[0])


def test_as_padded_compacts_present_runs_first():
    x = np.array([[np.nan, 1.0], [2.0, np.nan], [3.0, 4.0]])
    out = as_padded(x)
    np.testing.assert_array_equal(out[:, 0], [2.0, 3.0, np.nan])
    np.testing.assert_array_equal(out[:, 1], [1.0, 4.0, np.nan])
    with pytest.raises(ValueError, match="trailing shape"):
        as_padded([np.zeros((2, 3)), np.zeros((2, 4))])


def test_unknown_aggregate_name():
    with pytest.raises(ValueError, match="unknown aggregate"):
        agg.batch_aggregate("mode")
