"""Stratified bootstrap: agreement with scipy.stats.bootstrap, BCa, determinism, missing runs."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from openrlb_cli.analysis import bootstrap as bs
from openrlb_cli.analysis import bootstrap_resample
from openrlb_cli.analysis import estimators as agg


def _mean_of_task_means(*samples, axis=-1):
    return np.mean([np.mean(s, axis=axis) for s in samples], axis=0)


def _per_task(x: np.ndarray) -> list[np.ndarray]:
    return [col[~np.isnan(col)] for col in x.T]


def _assert_close_interval(ours: bs.Interval, lo: float, hi: float, frac: float) -> None:
    width = hi - lo
    assert abs(ours.lower - lo) <= frac * width, (ours, lo, hi)
    assert abs(ours.upper - hi) <= frac * width, (ours, lo, hi)


@pytest.fixture(scope="module")
def unbalanced() -> np.ndarray:
    """4 tasks with 9, 5, 7 and 3 runs, NaN-padded to 9 rows."""
    rng = np.random.default_rng(11)
    x = rng.gamma(2.0, 1.0, size=(9, 4)) * np.array([1.0, 3.0, 0.5, 2.0])
    x[5:, 1] = np.nan
    x[7:, 2] = np.nan
    x[3:, 3] = np.nan
    return x


def test_percentile_matches_scipy_multi_sample_bootstrap(unbalanced):
    # Tasks as independent samples of scipy's bootstrap == the stratified bootstrap.
    reps = 20_000
    ref = scipy.stats.bootstrap(
        _per_task(unbalanced), _mean_of_task_means, vectorized=True, n_resamples=reps,
        method="percentile", random_state=np.random.default_rng(0),
    ).confidence_interval
    ours = bs.bootstrap_interval(unbalanced, agg.mean_batch, reps=reps, seed=1)
    assert ours.point == pytest.approx(np.mean([c.mean() for c in _per_task(unbalanced)]))
    _assert_close_interval(ours, ref.low, ref.high, 0.05)
    fast = bs.aggregate_interval(unbalanced, "mean", reps=reps, seed=1)
    _assert_close_interval(fast, ref.low, ref.high, 0.05)


def test_bca_matches_scipy_one_task():
    x = np.random.default_rng(5).exponential(size=(25, 1))  # skewed: BCa differs from percentile
    reps = 20_000
    ref = scipy.stats.bootstrap(
        (x[:, 0],), np.mean, n_resamples=reps, method="BCa", random_state=np.random.default_rng(0)
    ).confidence_interval
    ours = bs.bootstrap_interval(x, agg.mean_batch, reps=reps, method="bca", seed=2)
    _assert_close_interval(ours, ref.low, ref.high, 0.05)
    pct = bs.bootstrap_interval(x, agg.mean_batch, reps=reps, seed=2)
    assert ours.upper > pct.upper  # right skew pushes BCa up: the test can tell them apart


def test_bca_matches_scipy_multi_sample(unbalanced):
    reps = 20_000
    ref = scipy.stats.bootstrap(
        _per_task(unbalanced), _mean_of_task_means, vectorized=True, n_resamples=reps,
        method="BCa", random_state=np.random.default_rng(0),
    ).confidence_interval
    ours = bs.bootstrap_interval(unbalanced, agg.mean_batch, reps=reps, method="bca", seed=3)
    _assert_close_interval(ours, ref.low, ref.high, 0.05)


def test_acceleration_closed_form_for_the_mean():
    # For the mean, jackknife influence U_i = x_i - x̄, so a = Σu³ / (6 (Σu²)^1.5).
    x = np.random.default_rng(6).exponential(size=(12, 1))
    rs = bs.Resampler(x)
    idx, strata = rs.jackknife()
    jack = rs.evaluator(agg.mean_batch)(idx)
    u = x[:, 0] - x[:, 0].mean()
    expected = (u**3).sum() / (6 * (u**2).sum() ** 1.5)
    assert bs.acceleration(jack, strata) == pytest.approx(expected, rel=1e-10)


def test_same_seed_bit_identical_different_seed_differs():
    x = np.random.default_rng(7).normal(size=(10, 12))
    a = bs.aggregate_intervals(x, reps=3_000, seed=42)
    b = bs.aggregate_intervals(x, reps=3_000, seed=42, workers=1)
    c = bs.aggregate_intervals(x, reps=3_000, seed=43)
    assert a == b  # frozen dataclasses: exact float equality of every bound
    assert a["iqm"].lower != c["iqm"].lower and a["mean"].upper != c["mean"].upper
    g1 = bs.bootstrap_interval(x, agg.iqm_batch, reps=2_500, seed=9, method="bca")
    g2 = bs.bootstrap_interval(x, agg.iqm_batch, reps=2_500, seed=9, method="bca", workers=3)
    assert g1 == g2
    assert a["iqm"].seed == 42 and a["iqm"].reps == 3_000 and a["iqm"].method == "percentile"


def test_fast_aggregates_equal_generic_batch_statistics(unbalanced):
    # Same seed -> same resamples; the specialised evaluator must agree with the batch functions.
    for data in (unbalanced, np.random.default_rng(8).normal(size=(6, 5))):
        fast = bs.aggregate_intervals(data, reps=2_000, seed=5, gamma=1.5)
        for name in agg.AGGREGATE_NAMES:
            generic = bs.bootstrap_interval(data, agg.batch_aggregate(name, 1.5), reps=2_000, seed=5)
            assert fast[name].point == pytest.approx(generic.point, rel=1e-12)
            assert fast[name].lower == pytest.approx(generic.lower, rel=1e-12)
            assert fast[name].upper == pytest.approx(generic.upper, rel=1e-12)


def test_resampling_stays_within_each_tasks_present_runs(unbalanced):
    seen = []

    def probe(batch: np.ndarray) -> np.ndarray:
        seen.append(batch.copy())
        return np.zeros(batch.shape[0])

    bs.bootstrap_replicates(unbalanced, probe, reps=500, seed=0)
    batch = np.concatenate(seen)
    counts = [9, 5, 7, 3]
    for t, n in enumerate(counts):
        column = batch[:, :, t]
        assert np.isnan(column[:, n:]).all()  # padding stays padding
        drawn = column[:, :n]
        assert not np.isnan(drawn).any()  # never draws a missing run
        assert set(np.unique(drawn)) <= set(unbalanced[:n, t])  # only its own task's runs
        assert len(np.unique(drawn)) == n  # and all of them over 500 replicates


def test_stratified_draws_are_uniform_within_tasks():
    rs = bs.Resampler(np.arange(8.0).reshape(4, 2))
    idx = rs.draw(np.random.default_rng(0), 20_000)
    freq = np.bincount(idx.ravel(), minlength=4) / idx.size
    np.testing.assert_allclose(freq, 0.25, atol=0.01)


def test_compute_chunking_does_not_change_results(monkeypatch):
    x = np.random.default_rng(10).normal(size=(5, 4, 30))
    stat = lambda b: agg.iqm_batch(b).mean(axis=-1)  # noqa: E731
    base = bs.bootstrap_interval(x, stat, reps=1_500, seed=1)
    # Keeps 1000 replicates per random stream (budget // (runs*tasks) >= 1000) but evaluates
    # them 33 at a time (budget // (runs*tasks*points)).
    monkeypatch.setattr(bootstrap_resample, "ELEMENT_BUDGET", 5 * 4 * 1000)
    small = bs.bootstrap_interval(x, stat, reps=1_500, seed=1)
    assert base == small


def test_band_for_vector_statistics():
    x = np.random.default_rng(12).normal(size=(8, 6))
    band = bs.bootstrap_band(x, lambda b: np.stack([agg.mean_batch(b), agg.iqm_batch(b)], -1), reps=500, seed=0)
    assert band.point.shape == band.lower.shape == band.upper.shape == (2,)
    assert np.all(band.lower <= band.point) and np.all(band.point <= band.upper)


def test_argument_validation():
    x = np.ones((3, 2))
    with pytest.raises(ValueError, match="reps"):
        bs.aggregate_intervals(x, reps=0)
    with pytest.raises(ValueError, match="ci"):
        bs.aggregate_intervals(x, ci=1.5)
    with pytest.raises(ValueError, match="method"):
        bs.aggregate_intervals(x, method="studentized")
    with pytest.raises(ValueError, match="unknown aggregate"):
        bs.aggregate_intervals(x, ["iqm", "max"])
    with pytest.raises(ValueError, match="one value per replicate"):
        bs.bootstrap_interval(x, lambda b: np.zeros((b.shape[0], 2)), reps=10)


def test_bca_constant_statistic_is_not_degenerate():
    # Every replicate ties with the estimate; ties count half, so z0 = 0, not -inf.
    out = bs.bootstrap_interval(np.ones((5, 3)), agg.iqm_batch, reps=200, method="bca", seed=0)
    assert (out.lower, out.point, out.upper) == (1.0, 1.0, 1.0)


def test_bca_all_replicates_on_one_side_warns_and_returns_nan():
    with pytest.warns(RuntimeWarning, match="BCa"):
        lo, hi = bs.confidence_bounds(np.arange(1.0, 101.0), 0.0, 0.95, "bca", 0.0)
    assert np.isnan(lo) and np.isnan(hi)


def test_percentile_interval_definition():
    # Replicates 0..99: linear-interpolated 2.5th/97.5th percentiles.
    lo, hi = bs.confidence_bounds(np.arange(100.0), 50.0, 0.95, "percentile")
    assert lo == pytest.approx(2.475) and hi == pytest.approx(96.525)


def test_basic_interval_reflects_the_percentile_quantiles():
    # Replicates 0..99, estimate 60: [2*60 - q(97.5%), 2*60 - q(2.5%)] with linear-interpolated quantiles.
    lo, hi = bs.confidence_bounds(np.arange(100.0), 60.0, 0.95, "basic")
    assert lo == pytest.approx(120 - 96.525) and hi == pytest.approx(120 - 2.475)


def test_bc_interval_is_bca_without_acceleration():
    from scipy.stats import norm

    reps = np.arange(100.0)
    lo, hi = bs.confidence_bounds(reps, 30.0, 0.9, "bc")
    z0 = norm.ppf((30 + 31) / 200)  # 30 replicates below the estimate, one equal (counted half)
    expected = np.percentile(reps, 100 * norm.cdf(2 * z0 + norm.ppf([0.05, 0.95])))
    assert (lo, hi) == pytest.approx(tuple(expected), rel=1e-12)
    assert (lo, hi) == tuple(bs.confidence_bounds(reps, 30.0, 0.9, "bca", 0.0))
    # an estimate at the replicates' median: no bias, so the percentile interval
    sym = np.concatenate([np.arange(50.0), np.arange(51.0, 101.0)])
    np.testing.assert_allclose(bs.confidence_bounds(sym, 50.0, 0.9, "bc"),
                               bs.confidence_bounds(sym, 50.0, 0.9, "percentile"), rtol=1e-12)


def test_task_bootstrap_takes_every_column_of_a_replicate_from_one_task():
    runs, tasks = 4, 6
    data = 100.0 * np.arange(tasks)[None, :] + np.arange(runs)[:, None]  # value = 100 * task + run

    def structure(batch):  # (c, runs, tasks) -> per replicate: columns consistent, distinct tasks
        task_of = batch // 100
        consistent = (task_of == task_of[:, :1, :]).all(axis=(1, 2))
        distinct = np.array([len(np.unique(t[0])) for t in task_of])
        return np.stack([consistent, distinct], axis=1).astype(float)

    reps = bs.bootstrap_replicates(data, structure, reps=4000, seed=3, task_bootstrap=True)
    assert reps[:, 0].all()
    expected = tasks * (1 - (1 - 1 / tasks) ** tasks)  # mean distinct tasks in `tasks` draws with replacement
    assert reps[:, 1].mean() == pytest.approx(expected, abs=0.05)
    plain = bs.bootstrap_replicates(data, structure, reps=200, seed=3)
    assert (plain[:, 1] == tasks).all()  # without it every task is kept


def test_task_bootstrap_widens_between_task_uncertainty_and_needs_equal_run_counts():
    data = np.tile(np.arange(5.0), (3, 1))  # no run-to-run noise, tasks differ
    assert bs.aggregate_interval(data, "mean", reps=500, seed=0).lower == 2.0
    wide = bs.aggregate_interval(data, "mean", reps=2000, seed=0, task_bootstrap=True)
    assert wide.lower < 2.0 < wide.upper
    ragged = np.array([[1.0, 2.0], [3.0, np.nan]])
    with pytest.raises(ValueError, match="same number of runs"):
        bs.aggregate_interval(ragged, "mean", reps=10, task_bootstrap=True)
    assert bs.aggregate_interval(ragged, "mean", reps=10, seed=0, task_bootstrap=False).reps == 10
