"""Sample-efficiency curves: pointwise aggregates, whole-curve statistics, bounded memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import scipy.stats

from openrlb_cli.analysis import bootstrap as bs
from openrlb_cli.analysis import bootstrap_resample
from openrlb_cli.analysis import efficiency as eff
from openrlb_cli.analysis import estimators as agg
from openrlb_cli.analysis.curves import interpolate


def test_pointwise_iqm_curve_point_estimates():
    curves = np.random.default_rng(0).normal(size=(6, 5, 9))
    band = eff.aggregate_curve(curves, reps=300, seed=0, steps=np.arange(9) * 1000)
    expected = [scipy.stats.trim_mean(curves[..., p], 0.25, axis=None) for p in range(9)]
    np.testing.assert_array_equal(band.point, expected)
    assert band.grid is not None and band.grid[-1] == 8000
    assert np.all(band.lower <= band.point) and np.all(band.point <= band.upper)


def test_one_resample_serves_every_point():
    # Identical columns -> identical replicates at every point -> identical bounds.
    final = np.random.default_rng(1).normal(size=(8, 6))
    curves = np.repeat(final[..., None], 5, axis=-1)
    band = eff.aggregate_curve(curves, "mean", reps=500, seed=3)
    assert np.all(band.lower == band.lower[0]) and np.all(band.upper == band.upper[0])
    # ... and they are the final-score interval drawn from the same seed.
    single = bs.bootstrap_interval(final, agg.mean_batch, reps=500, seed=3)
    assert band.lower[0] == pytest.approx(single.lower, rel=1e-12)
    assert band.upper[0] == pytest.approx(single.upper, rel=1e-12)


def test_pointwise_matches_per_point_generic_bootstrap():
    curves = np.random.default_rng(2).gamma(2.0, size=(5, 4, 3))
    band = eff.aggregate_curve(curves, "median", reps=400, seed=8)
    for p in range(3):
        single = bs.bootstrap_interval(curves[..., p], agg.median_batch, reps=400, seed=8)
        assert band.lower[p] == pytest.approx(single.lower, rel=1e-12)
        assert band.upper[p] == pytest.approx(single.upper, rel=1e-12)


def test_normalized_auc_by_hand():
    assert eff.normalized_auc(np.array([0.0, 1.0, 2.0])) == pytest.approx(1.0)
    # uneven steps: trapezoids (0..1: avg .5 over width 1) + (1..3: avg 1 over width 2) = 2.5 / 3
    assert eff.normalized_auc(np.array([0.0, 1.0, 1.0]), steps=[0, 1, 3]) == pytest.approx(2.5 / 3)
    assert np.isnan(eff.normalized_auc(np.array([0.0, np.nan, 1.0])))


def test_whole_curve_statistic_resamples_entire_runs():
    final = np.random.default_rng(3).normal(size=(7, 5))
    flat_curves = np.repeat(final[..., None], 4, axis=-1)  # constant curves: AUC == final score
    iv = eff.curve_statistic_interval(flat_curves, eff.auc_statistic(aggregate="iqm"), reps=600, seed=2)
    ref = bs.bootstrap_interval(final, agg.iqm_batch, reps=600, seed=2)
    assert iv.point == pytest.approx(ref.point, rel=1e-12)
    assert iv.lower == pytest.approx(ref.lower, rel=1e-12) and iv.upper == pytest.approx(ref.upper, rel=1e-12)


def test_ragged_curves_count_only_covering_runs():
    steps = [np.array([0, 50, 100]), np.array([0, 100, 200]), np.array([0, 60])]
    values = [np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.0, 2.0]), np.array([0.0, 3.0])]
    grid = np.array([0.0, 100.0, 200.0])
    runs = interpolate(steps, values, grid)  # (3 runs, 3 points), NaN past each run's last step
    curves = runs[:, None, :]  # one task
    band = eff.aggregate_curve(curves, "mean", reps=200, seed=0)
    np.testing.assert_allclose(band.point, [0.0, 1.5, 2.0])  # run 3 stops at 60, run 1 at 100


def test_memory_stays_bounded(monkeypatch):
    monkeypatch.setattr(bootstrap_resample, "ELEMENT_BUDGET", 1 << 17)  # 1 MiB of float64 per slice
    curves = np.random.default_rng(4).normal(size=(10, 20, 100))
    reps = 500  # materialising every replicate would take 500*10*20*100*8 B = 80 MB
    tracemalloc.start()
    eff.aggregate_curve(curves, reps=reps, seed=0, workers=1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 10 * 2**20, peak


def test_curve_shape_errors():
    with pytest.raises(ValueError, match="points"):
        eff.aggregate_curve(np.zeros((3, 2)), reps=10)
    with pytest.raises(ValueError, match="steps"):
        eff.aggregate_curve(np.zeros((3, 2, 4)), reps=10, steps=[1, 2])


@pytest.mark.parametrize("missing_runs", [False, True])
def test_fast_iqm_curve_equals_generic_pointwise(missing_runs):
    curves = np.random.default_rng(5).normal(size=(6, 4, 7))
    if missing_runs:
        curves[4:, 1] = np.nan  # task 1 has 4 runs
        curves[5:, 3] = np.nan  # task 3 has 5 runs
    fast = eff.aggregate_curve(curves, "iqm", reps=700, seed=6)
    generic = eff.aggregate_curve(curves, agg.iqm_batch, reps=700, seed=6)  # callable: generic path
    np.testing.assert_allclose(fast.point, generic.point, rtol=1e-13)
    np.testing.assert_allclose(fast.lower, generic.lower, rtol=1e-13)
    np.testing.assert_allclose(fast.upper, generic.upper, rtol=1e-13)
