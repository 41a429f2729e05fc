"""Record rliable's outputs on small synthetic data as a JSON fixture for our tests.

Runs ONLY in a separate virtualenv with the reference implementation (never a dependency of
openrlb), e.g.::

    python3.11 -m venv ../venv-rliable
    ../venv-rliable/bin/pip install rliable==1.2.0 'arch==7.2' 'pandas<3' 'numpy<2.3'
    ../venv-rliable/bin/python benchmarks/rliable_reference/make_fixture.py \
        tests/data/rliable_reference.json

The fixture stores the input data too, so tests need neither rliable nor this script. Point
estimates are compared exactly; intervals (rliable uses numpy's global RNG, seeded here) within
Monte-Carlo tolerance. Besides the default percentile intervals it records rliable's ``basic`` and
``bc`` methods and ``task_bootstrap=True`` (aggregates and run-score profiles).
"""

from __future__ import annotations

import json
import platform
import sys

import numpy as np
from rliable import library as rly
from rliable import metrics

REPS = 50_000
PROFILE_REPS = 10_000
POI_REPS = 10_000
CURVE_REPS = 5_000


def aggregate_all(x: np.ndarray) -> np.ndarray:
    return np.array(
        [
            metrics.aggregate_iqm(x),
            metrics.aggregate_median(x),
            metrics.aggregate_mean(x),
            metrics.aggregate_optimality_gap(x),
        ]
    )


def main(out_path: str) -> None:
    import arch
    import rliable
    import scipy

    rs = np.random.RandomState(20240531)
    # Three "algorithms" × 6 runs × 9 tasks of human-normalized-looking scores, with ties.
    algos = {
        "A": np.round(rs.gamma(2.0, 0.5, size=(6, 9)), 2),
        "B": np.round(rs.gamma(2.2, 0.5, size=(6, 9)), 2),
        "C": np.round(rs.lognormal(0.0, 0.6, size=(6, 9)), 2),
    }
    taus = np.linspace(0.0, 3.0, 13)
    out: dict = {
        "generated_by": "benchmarks/rliable_reference/make_fixture.py",
        "versions": {
            "rliable": getattr(rliable, "__version__", "1.2.0"),
            "arch": arch.__version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "python": platform.python_version(),
        },
        "reps": {"aggregates": REPS, "profiles": PROFILE_REPS, "poi": POI_REPS, "curve": CURVE_REPS},
        "scores": {k: v.tolist() for k, v in algos.items()},
        "taus": taus.tolist(),
        "aggregate_names": ["iqm", "median", "mean", "optimality_gap"],
    }

    np.random.seed(0)  # rliable's StratifiedBootstrap draws from numpy's global RNG
    points, intervals = rly.get_interval_estimates(algos, aggregate_all, reps=REPS)
    out["aggregates"] = {
        k: {"point": points[k].tolist(), "lower": intervals[k][0].tolist(), "upper": intervals[k][1].tolist()}
        for k in algos
    }

    np.random.seed(1)
    run_prof, run_cis = rly.create_performance_profile(algos, taus, reps=PROFILE_REPS)
    np.random.seed(2)
    avg_prof, avg_cis = rly.create_performance_profile(
        algos, taus, use_score_distribution=False, reps=PROFILE_REPS
    )
    out["profiles"] = {
        k: {
            "run": run_prof[k].tolist(),
            "run_lower": run_cis[k][0].tolist(),
            "run_upper": run_cis[k][1].tolist(),
            "average": avg_prof[k].tolist(),
            "average_lower": avg_cis[k][0].tolist(),
            "average_upper": avg_cis[k][1].tolist(),
        }
        for k in algos
    }

    np.random.seed(3)
    pairs = {"A,B": [algos["A"], algos["B"]], "C,A": [algos["C"], algos["A"]]}
    poi_points, poi_cis = rly.get_interval_estimates(
        pairs, metrics.probability_of_improvement, reps=POI_REPS
    )
    out["poi"] = {
        k: {
            "point": np.asarray(poi_points[k]).item(),
            "lower": np.asarray(poi_cis[k][0]).item(),
            "upper": np.asarray(poi_cis[k][1]).item(),
        }
        for k in pairs
    }

    # Sample-efficiency curve: (runs, tasks, points).
    curve = np.cumsum(rs.gamma(1.5, 0.1, size=(6, 9, 7)), axis=-1)
    out["curve"] = curve.tolist()
    np.random.seed(4)
    iqm_curve = lambda x: np.array([metrics.aggregate_iqm(x[..., p]) for p in range(x.shape[-1])])  # noqa: E731
    c_points, c_cis = rly.get_interval_estimates({"curve": curve}, iqm_curve, reps=CURVE_REPS)
    out["curve_iqm"] = {
        "point": c_points["curve"].tolist(),
        "lower": c_cis["curve"][0].tolist(),
        "upper": c_cis["curve"][1].tolist(),
    }

    # BCa with a single task: arch's row jackknife and our stratified jackknife coincide.
    one = np.round(rs.gamma(2.0, 1.0, size=(15, 1)), 3)
    np.random.seed(5)
    b_points, b_cis = rly.get_interval_estimates(
        {"one": one}, lambda x: np.array([metrics.aggregate_mean(x)]), method="bca", reps=REPS
    )
    out["bca_one_task"] = {
        "scores": one.tolist(),
        "point": float(b_points["one"][0]),
        "lower": float(b_cis["one"][0][0]),
        "upper": float(b_cis["one"][1][0]),
    }

    # rliable's other interval methods and its task bootstrap, on the same three algorithms. Seeds 6..9:
    # the sections above are unchanged by these additions.
    for method, seed in (("basic", 6), ("bc", 7)):
        np.random.seed(seed)
        m_points, m_cis = rly.get_interval_estimates(algos, aggregate_all, method=method, reps=REPS)
        out[f"aggregates_{method}"] = {
            k: {"point": m_points[k].tolist(), "lower": m_cis[k][0].tolist(), "upper": m_cis[k][1].tolist()}
            for k in algos
        }
    np.random.seed(8)
    t_points, t_cis = rly.get_interval_estimates(algos, aggregate_all, task_bootstrap=True, reps=REPS)
    out["aggregates_task_bootstrap"] = {
        k: {"point": t_points[k].tolist(), "lower": t_cis[k][0].tolist(), "upper": t_cis[k][1].tolist()}
        for k in algos
    }
    np.random.seed(9)
    tp_prof, tp_cis = rly.create_performance_profile(algos, taus, task_bootstrap=True, reps=PROFILE_REPS)
    out["profiles_task_bootstrap"] = {
        k: {"run": tp_prof[k].tolist(), "run_lower": tp_cis[k][0].tolist(), "run_upper": tp_cis[k][1].tolist()}
        for k in algos
    }

    with open(out_path, "w") as fh:
        json.dump(out, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/rliable_reference.json")
