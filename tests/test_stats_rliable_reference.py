"""Agreement with rliable 1.2.0 on recorded outputs (tests/data/rliable_reference.json).

The fixture was produced by benchmarks/rliable_reference/make_fixture.py in a separate virtualenv
(rliable 1.2.0, arch 7.2, numpy 2.2); rliable is not needed here. Point estimates must match
exactly; intervals come from different random streams, so they must agree within Monte-Carlo
tolerance (a few percent of the interval width, or one step of a discrete statistic).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from openrlb_cli.analysis import bootstrap as bs
from openrlb_cli.analysis import efficiency as eff
from openrlb_cli.analysis import estimators as agg
from openrlb_cli.analysis import improvement as imp
from openrlb_cli.analysis import profiles as prof

FIXTURE = json.loads((Path(__file__).parent / "data" / "rliable_reference.json").read_text())
ALGOS = {k: np.array(v) for k, v in FIXTURE["scores"].items()}
NAMES = FIXTURE["aggregate_names"]


def _within(ours_lo, ours_hi, ref_lo, ref_hi, frac=0.05, atol=0.0):
    ref_lo, ref_hi = np.asarray(ref_lo), np.asarray(ref_hi)
    tol = frac * (ref_hi - ref_lo) + atol + 1e-12
    assert np.all(np.abs(np.asarray(ours_lo) - ref_lo) <= tol), (ours_lo, ref_lo)
    assert np.all(np.abs(np.asarray(ours_hi) - ref_hi) <= tol), (ours_hi, ref_hi)


@pytest.mark.parametrize("algo", sorted(ALGOS))
def test_aggregates_match_rliable(algo):
    ref = FIXTURE["aggregates"][algo]
    x = ALGOS[algo]
    assert [agg.aggregate(name, x) for name in NAMES] == ref["point"]  # exact
    ours = bs.aggregate_intervals(x, NAMES, reps=20_000, seed=1)
    for j, name in enumerate(NAMES):
        assert ours[name].point == ref["point"][j]
        _within(ours[name].lower, ours[name].upper, ref["lower"][j], ref["upper"][j])


@pytest.mark.parametrize("algo", sorted(ALGOS))
def test_profiles_match_rliable(algo):
    ref = FIXTURE["profiles"][algo]
    x, taus = ALGOS[algo], np.array(FIXTURE["taus"])
    runs, tasks = x.shape
    run = prof.performance_profile(x, taus, kind="run", reps=5_000, seed=2)
    np.testing.assert_array_equal(run.point, ref["run"])
    _within(run.lower, run.upper, ref["run_lower"], ref["run_upper"], frac=0, atol=1.0 / (runs * tasks))
    avg = prof.performance_profile(x, taus, kind="average", reps=5_000, seed=2)
    np.testing.assert_array_equal(avg.point, ref["average"])
    _within(avg.lower, avg.upper, ref["average_lower"], ref["average_upper"], frac=0, atol=1.0 / tasks)


@pytest.mark.parametrize("pair", sorted(FIXTURE["poi"]))
def test_probability_of_improvement_matches_rliable(pair):
    ref = FIXTURE["poi"][pair]
    a, b = pair.split(",")
    ours = imp.probability_of_improvement_interval(ALGOS[a], ALGOS[b], reps=5_000, seed=3)
    assert ours.point == pytest.approx(ref["point"], abs=1e-15)
    _within(ours.lower, ours.upper, ref["lower"], ref["upper"])


def test_iqm_curve_matches_rliable():
    ref = FIXTURE["curve_iqm"]
    band = eff.aggregate_curve(np.array(FIXTURE["curve"]), "iqm", reps=5_000, seed=4)
    np.testing.assert_array_equal(band.point, ref["point"])
    _within(band.lower, band.upper, ref["lower"], ref["upper"], frac=0.06)


def test_bca_one_task_matches_rliable():
    ref = FIXTURE["bca_one_task"]
    ours = bs.bootstrap_interval(np.array(ref["scores"]), agg.mean_batch, reps=20_000, method="bca", seed=5)
    assert ours.point == ref["point"]
    _within(ours.lower, ours.upper, ref["lower"], ref["upper"])


@pytest.mark.parametrize("method", ["basic", "bc"])
@pytest.mark.parametrize("algo", sorted(ALGOS))
def test_basic_and_bc_intervals_match_rliable(method, algo):
    ref = FIXTURE[f"aggregates_{method}"][algo]
    x = ALGOS[algo]
    ours = bs.aggregate_intervals(x, NAMES, reps=20_000, method=method, seed=6)
    for j, name in enumerate(NAMES):
        assert ours[name].point == ref["point"][j] and ours[name].method == method
        _within(ours[name].lower, ours[name].upper, ref["lower"][j], ref["upper"][j])


@pytest.mark.parametrize("algo", sorted(ALGOS))
def test_task_bootstrap_aggregates_match_rliable(algo):
    ref, plain = FIXTURE["aggregates_task_bootstrap"][algo], FIXTURE["aggregates"][algo]
    x = ALGOS[algo]
    ours = bs.aggregate_intervals(x, NAMES, reps=20_000, seed=8, task_bootstrap=True)
    for j, name in enumerate(NAMES):
        assert ours[name].point == ref["point"][j]
        _within(ours[name].lower, ours[name].upper, ref["lower"][j], ref["upper"][j])
        # resampling tasks too widens the interval (here by 13% or more, beyond the 5% tolerance)
        assert ref["upper"][j] - ref["lower"][j] > 1.1 * (plain["upper"][j] - plain["lower"][j])


@pytest.mark.parametrize("algo", sorted(ALGOS))
def test_task_bootstrap_profiles_match_rliable(algo):
    ref = FIXTURE["profiles_task_bootstrap"][algo]
    x, taus = ALGOS[algo], np.array(FIXTURE["taus"])
    run = prof.performance_profile(x, taus, kind="run", reps=5_000, seed=9, task_bootstrap=True)
    np.testing.assert_array_equal(run.point, ref["run"])
    _within(run.lower, run.upper, ref["run_lower"], ref["run_upper"], frac=0, atol=1.5 / x.size)
