"""Hypothesis tests (`analysis.hypothesis`) against scipy.stats, hand-computed Holm and effect sizes, Cohen's
power tables, and `openrlb compare` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.stats

from openrlb_cli.analysis import hypothesis as ht
from openrlb_cli.model import RunRecord, Series
from openrlb_cli.store import Store

RNG = np.random.default_rng(3)
SAMPLES = [
    (RNG.normal(0, 1, 5), RNG.normal(1, 2, 7)),  # small, no ties: exact Mann-Whitney
    (RNG.normal(0, 1, 10), RNG.normal(0.3, 1, 12)),  # both > 8: normal approximation
    (np.array([1.0, 2, 2, 3, 5]), np.array([2.0, 3, 3, 4, 6, 6])),  # ties: normal approximation with tie term
    (np.array([1.0, 2, 3]), np.array([4.0, 5, 6])),  # complete separation, exact
    (RNG.normal(5, 3, 3), RNG.normal(5, 0.1, 20)),  # one side small
]


@pytest.mark.parametrize("x, y", SAMPLES)
def test_welch_matches_scipy(x, y):
    ours = ht.welch_t_test(x, y)
    ref = scipy.stats.ttest_ind(x, y, equal_var=False)
    assert ours.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    assert ours.df == pytest.approx(ref.df, rel=1e-12)


@pytest.mark.parametrize("x, y", SAMPLES)
def test_mann_whitney_matches_scipy(x, y):
    ours = ht.mann_whitney_u(x, y)
    ref = scipy.stats.mannwhitneyu(x, y, alternative="two-sided")
    assert ours.statistic == ref.statistic
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-10)


def test_effect_sizes_by_hand():
    x, y = np.array([1.0, 2, 3, 4]), np.array([2.0, 4, 6, 8])
    pooled = np.sqrt((3 * np.var(x, ddof=1) + 3 * np.var(y, ddof=1)) / 6)
    assert ht.hedges_g(x, y) == pytest.approx((2.5 - 5) / pooled * (1 - 3 / (4 * 8 - 9)))
    # pairs (x, y) with x > y: 3>2, 4>2; ties: 2=2, 4=4 -> (2 + 0.5 * 2) / 16
    assert ht.common_language(x, y) == pytest.approx(3 / 16)
    assert ht.common_language(x, y) == pytest.approx(scipy.stats.mannwhitneyu(x, y).statistic / 16)
    assert np.isnan(ht.hedges_g([1.0], y)) and np.isnan(ht.hedges_g([1.0, 1.0], [1.0, 1.0]))


def test_holm_by_hand():
    p = [0.01, 0.04, 0.03, np.nan, 0.005]
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> monotone: 0.02, 0.03, 0.06, 0.06
    adj = ht.holm(p)
    assert adj[[4, 0, 2, 1]] == pytest.approx([0.02, 0.03, 0.06, 0.06]) and np.isnan(adj[3])
    assert ht.holm([0.6, 0.7]).tolist() == [1.0, 1.0]


def test_seeds_needed_matches_cohens_tables():
    # Cohen (1988), two-sided alpha 0.05, power 0.8: d = 0.2, 0.5, 0.8 need 393, 64, 26 per group (G*Power)
    assert [ht.seeds_needed(d) for d in (0.2, 0.5, 0.8)] == [394, 64, 26]
    assert ht.seeds_needed(-0.5) == 64 and ht.seeds_needed(0.0) is None and ht.seeds_needed(float("nan")) is None
    assert ht.seeds_needed(5.0) == 3 and ht.t_test_power(5.0, 2) < 0.8  # df = 2: even d = 5 needs 3 seeds
    assert ht.seeds_needed(20.0) == 2 and ht.seeds_needed(0.001, max_n=1000) is None
    n = ht.seeds_needed(1.3, power=0.9, alpha=0.01)
    assert ht.t_test_power(1.3, n, 0.01) >= 0.9 > ht.t_test_power(1.3, n - 1, 0.01)


def _write(store, exp, env, seed, value):
    store.write_run(RunRecord("t", f"{exp}/{env}/{seed}", project="p", experiment=exp, env=env, seed=seed,
                              series={"r": Series(np.arange(3.0), np.full(3, value))}))


def test_cli_compare_per_env_with_holm(db_path, cli, tmp_path):
    data = {"A": ([1.0, 2, 3, 4, 5], [3.0, 4, 5, 6, 7]), "B": ([10.0, 11, 12], [10.5, 11.5, 9.0])}
    with Store(db_path) as s:
        for env, (a, b) in data.items():
            for i, v in enumerate(a):
                _write(s, "x", env, i, v)
            for i, v in enumerate(b):
                _write(s, "y", env, i, v)
    code, out, err = cli("compare", "x", "y", "--metric", "r", "--score", "final", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["test"] == "welch" and doc["correction"] == "holm" and doc["score_rule"]["rule"] == "final"
    rows = {r["env"]: r for r in doc["rows"]}
    ps = {env: scipy.stats.ttest_ind(a, b, equal_var=False).pvalue for env, (a, b) in data.items()}
    assert rows["A"]["p_value"] == pytest.approx(ps["A"]) and rows["B"]["p_value"] == pytest.approx(ps["B"])
    lo, hi = sorted(ps.values())
    assert sorted(r["p_holm"] for r in rows.values()) == pytest.approx([2 * lo, max(2 * lo, hi)])
    assert rows["A"]["hedges_g"] == pytest.approx(ht.hedges_g(*data["A"])) and rows["A"]["seeds_needed"] >= 2
    code, out, err = cli("compare", "x", "y", "--metric", "r", "--score", "final", "--test", "mannwhitney",
                         "--format", "md")
    assert code == 0, err
    assert "Mann–Whitney" in out and "Holm" in out and "| A |" in out
    code, _, err = cli("compare", "x", "--metric", "r")
    assert code == 1 and "two experiments" in err
    code, _, err = cli("compare", "x", "y", "--metric", "r", "--test", "ttest")
    assert code == 1 and "--test" in err and len(err.splitlines()) == 1
