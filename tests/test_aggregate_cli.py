"""`openrlb aggregate`: hand-worked numbers, agreement with the statistics library, determinism,
normalization by env id, missing tasks, --at-step, the report section, and the real Tianshou data."""

from __future__ import annotations

import csv
import json
import multiprocessing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import tianshou_helper as th
from shared_data import need_shared

from openrlb_cli import aggregate as ag
from openrlb_cli.analysis import bootstrap as bs
from openrlb_cli.analysis import efficiency as eff
from openrlb_cli.analysis import estimators as agg
from openrlb_cli.model import RunRecord, Series
from openrlb_cli.render import report as rp
from openrlb_cli.selection import load_curves, resolve
from openrlb_cli.store import Store

KEY = "charts/episodic_return"


def _write(store: Store, exp: str, env: str, seed: int, score: float, steps=None, values=None) -> None:
    """A run logging `score` at 20 steps (so its final score is exactly `score`), or the given curve."""
    if steps is None:
        steps, values = np.arange(20) * 1000.0, np.full(20, score)
    store.write_run(RunRecord("t", f"{exp}/{env}/{seed}", project="p", experiment=exp, env=env, seed=seed,
                              series={KEY: Series(np.asarray(steps, float), np.asarray(values, float))}))


def _fill(db: Path, scores: dict[str, dict[str, list[float]]]) -> Path:
    with Store(db) as s:
        for exp, by_env in scores.items():
            for env, values in by_env.items():
                for seed, v in enumerate(values):
                    _write(s, exp, env, seed, v)
    return db


TINY = {"a": {"T1": [0, 1, 2, 3], "T2": [4, 5, 6, 10]}, "b": {"T1": [1, 1, 1], "T2": [2, 2]}}


def _records(stdout: str) -> dict[tuple[str, str], dict]:
    return {(r["experiment"], r["metric"]): r for r in json.loads(stdout)["records"]}


def _agg(cli, tmp_path, *args, name="out"):
    return cli("aggregate", *args, "-o", str(tmp_path / name), "--formats", "png", "--json")


def test_tiny_case_by_hand(db_path, cli, tmp_path):
    _fill(db_path, TINY)
    code, out, err = _agg(cli, tmp_path, "a", "b", "--normalize", "none", "--reps", "2000", "--last-n", "5")
    assert code == 0, err
    rec = _records(out)
    # a pools 0,1,2,3,4,5,6,10: IQM drops 2 low + 2 high -> mean(2,3,4,5); task means 1.5 and 6.25.
    assert rec["a", "iqm"]["point"] == pytest.approx(3.5)
    assert rec["a", "mean"]["point"] == pytest.approx(3.875)
    assert rec["a", "median"]["point"] == pytest.approx(3.875)
    assert rec["a", "optimality_gap"]["point"] == pytest.approx(1 / 8)  # only the 0 is below gamma = 1
    # b has 3 and 2 runs (unequal counts): pooled 1,1,1,2,2 -> drop one each side -> mean(1,1,2).
    assert rec["b", "iqm"]["point"] == pytest.approx(4 / 3)
    assert rec["b", "mean"]["point"] == pytest.approx(1.5)
    assert (rec["a", "iqm"]["n_runs"], rec["b", "iqm"]["n_runs"], rec["b", "iqm"]["n_tasks"]) == (8, 5, 2)
    for r in rec.values():
        assert r["lower"] <= r["point"] <= r["upper"]
        assert (r["reps"], r["ci"], r["method"], r["seed"], r["normalization"]) == (2000, 0.95, "percentile", 0, "none")
    assert rec["b", "mean"]["lower"] == rec["b", "mean"]["upper"] == 1.5  # constant tasks: no uncertainty
    # P(a > b): T1 = (0 + 3*.5 + 3 + 3)/12, T2 = 1, averaged; the same as Mann-Whitney U / (n m).
    poi = json.loads((tmp_path / "out_improvement.json").read_text())
    u1 = scipy.stats.mannwhitneyu([0, 1, 2, 3], [1, 1, 1]).statistic / 12
    assert poi["point"][0][1] == pytest.approx((7.5 / 12 + 1) / 2) == pytest.approx((u1 + 1) / 2)
    assert poi["point"][1][0] == pytest.approx(1 - poi["point"][0][1])
    assert poi["n_tasks"] == [[2, 2], [2, 2]]
    with open(tmp_path / "out_aggregates.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 8 and list(rows[0]) == ["experiment", "metric", "point", "lower", "upper", "reps", "ci",
                                                "method", "seed", "normalization", "n_runs", "n_tasks"]
    assert float(next(r for r in rows if r["experiment"] == "a" and r["metric"] == "iqm")["point"]) == 3.5


def _random_scores(seed=0) -> dict[str, dict[str, list[float]]]:
    rng = np.random.default_rng(seed)
    return {exp: {f"Env{t}-v0": list(np.round(rng.normal(t + shift, 1 + t, size=4 + (t + k) % 3), 6))
                  for t in range(4)} for k, (exp, shift) in enumerate((("ppo", 0.0), ("sac", 1.0), ("td3", 0.5)))}


def _matrix(by_env: dict[str, list[float]]) -> list[np.ndarray]:
    return [np.asarray(by_env[e], float) for e in sorted(by_env)]


def test_cli_equals_library_on_the_same_matrix(db_path, cli, tmp_path):
    scores = _random_scores()
    _fill(db_path, scores)
    code, out, err = _agg(cli, tmp_path, "ppo", "sac", "td3", "--normalize", "none", "--reps", "3000",
                          "--seed", "7", "--last-n", "3")
    assert code == 0, err
    rec = _records(out)
    for exp, by_env in scores.items():
        m = _matrix(by_env)
        pooled = np.concatenate(m)
        assert rec[exp, "iqm"]["point"] == pytest.approx(scipy.stats.trim_mean(pooled, 0.25), rel=1e-12)
        assert rec[exp, "iqm"]["point"] == pytest.approx(agg.iqm(m), rel=1e-12)
        assert rec[exp, "mean"]["point"] == pytest.approx(np.mean([x.mean() for x in m]), rel=1e-12)
        assert rec[exp, "median"]["point"] == pytest.approx(np.median([x.mean() for x in m]), rel=1e-12)
        assert rec[exp, "optimality_gap"]["point"] == pytest.approx(agg.optimality_gap(m), rel=1e-12)
        ref = bs.aggregate_intervals(m, reps=3000, seed=ag.stream(7, "aggregates", exp))
        for name, iv in ref.items():
            assert rec[exp, name]["lower"] == pytest.approx(iv.lower, rel=1e-12)
            assert rec[exp, name]["upper"] == pytest.approx(iv.upper, rel=1e-12)
            assert rec[exp, name]["lower"] <= rec[exp, name]["point"] <= rec[exp, name]["upper"]


@pytest.mark.parametrize("extra, kw", [(["--method", "basic"], {"method": "basic"}),
                                       (["--method", "bc"], {"method": "bc"}),
                                       (["--task-bootstrap"], {"task_bootstrap": True})])
def test_basic_bc_and_task_bootstrap_equal_the_library(db_path, cli, tmp_path, extra, kw):
    rng = np.random.default_rng(5)
    scores = {exp: {f"Env{t}-v0": list(np.round(rng.normal(t + shift, 1.0, size=4), 6)) for t in range(5)}
              for exp, shift in (("ppo", 0.0), ("sac", 0.7))}
    _fill(db_path, scores)
    code, out, err = _agg(cli, tmp_path, "ppo", "sac", "--normalize", "none", "--reps", "2000", "--seed", "7",
                          "--last-n", "3", "--profile-reps", "200", "--poi-reps", "200", "--curve-points", "0",
                          *extra)
    assert code == 0, err
    rec = _records(out)
    assert json.loads(out)["options"]["task_bootstrap"] == ("task_bootstrap" in kw)
    written = list(csv.DictReader((tmp_path / "out_scores.csv").open()))
    for exp, by_env in scores.items():
        m = np.stack(_matrix(by_env), axis=1)  # the run scores as the CLI computed them (mean of 3 equal values)
        got = np.array([[float(r["normalized"]) for r in written if r["experiment"] == exp and r["env"] == env]
                        for env in sorted(by_env)]).T
        np.testing.assert_allclose(got, m, rtol=1e-15)
        m = got  # BC counts replicates tied with the estimate: use the very same floats
        ref = bs.aggregate_intervals(m, reps=2000, seed=ag.stream(7, "aggregates", exp), **kw)
        for name, iv in ref.items():
            assert rec[exp, name]["method"] == kw.get("method", "percentile")
            assert (rec[exp, name]["lower"], rec[exp, name]["upper"]) == pytest.approx((iv.lower, iv.upper),
                                                                                      rel=1e-12)
        plain = bs.aggregate_intervals(m, reps=2000, seed=ag.stream(7, "aggregates", exp))
        assert any(plain[k].lower != rec[exp, k]["lower"] for k in plain)  # the option changed the intervals


def test_task_bootstrap_with_unequal_run_counts_is_one_line(db_path, cli, tmp_path):
    _fill(db_path, TINY)
    code, _, err = _agg(cli, tmp_path, "a", "b", "--normalize", "none", "--reps", "50", "--task-bootstrap")
    assert code == 1 and err.count("\n") == 1
    assert "task bootstrap needs the same number of runs in every task; b has 2 to 3 runs" in err
    assert err.rstrip().endswith("(--task-bootstrap)")


def test_same_seed_same_bytes_other_seed_other_bounds(db_path, cli, tmp_path):
    _fill(db_path, _random_scores(1))
    args = ["ppo", "sac", "td3", "--reps", "1000", "--profile-reps", "300", "--poi-reps", "300", "--curve-reps",
            "200", "--curve-points", "8", "--tau-points", "21"]
    runs = []
    for name in ("a", "b"):  # figures in every format: see test_rliable_figures
        code, out, err = cli("aggregate", *args, "-o", str(tmp_path / name), "--json", "--formats", "png")
        assert code == 0, err
        runs.append(out)
    assert runs[0] == runs[1]
    files = sorted(p.name[2:] for p in tmp_path.glob("a_*"))
    assert len(files) == 9 + 4  # data files + 4 figures
    for suffix in files:
        assert (tmp_path / f"a_{suffix}").read_bytes() == (tmp_path / f"b_{suffix}").read_bytes(), suffix
    quick = [*args, "--curve-points", "0", "--formats", "png", "--json"]
    code, other, _ = cli("aggregate", *quick, "--seed", "1", "-o", str(tmp_path / "c"))
    assert code == 0
    first, second = _records(runs[0]), _records(other)
    assert all(first[k]["point"] == second[k]["point"] for k in first)
    assert any(first[k]["lower"] != second[k]["lower"] for k in first)
    # An experiment's intervals do not depend on which other experiments are selected.
    code, alone, _ = cli("aggregate", "sac", *quick[3:], "-o", str(tmp_path / "d"), "--normalize", "none")
    code, pair, _ = cli("aggregate", "sac", "ppo", *quick[3:], "-o", str(tmp_path / "e"), "--normalize", "none")
    assert _records(alone)["sac", "iqm"] == _records(pair)["sac", "iqm"]


def test_figures_from_worker_processes_are_the_in_process_bytes(db_path, cli, tmp_path):
    """Every file is identical whether the figures are written by a pool of processes or in-process."""
    _fill(db_path, _random_scores(2))
    args = ["ppo", "sac", "td3", "--reps", "500", "--profile-reps", "100", "--poi-reps", "100", "--curve-reps",
            "100", "--curve-points", "6", "--tau-points", "11", "--quiet"]
    code, _, err = cli("aggregate", *args, "-o", str(tmp_path / "pool"), "--workers", "2")
    assert code == 0, err
    assert not multiprocessing.active_children()  # the command shut its worker processes down
    code, _, err = cli("aggregate", *args, "-o", str(tmp_path / "serial"), "--workers", "1")
    assert code == 0, err
    files = sorted(p.name.split("_", 1)[1] for p in tmp_path.glob("pool_*"))
    assert len(files) == 9 + 4 * 3 and sorted(p.name.split("_", 1)[1] for p in tmp_path.glob("serial_*")) == files
    for suffix in files:
        assert (tmp_path / f"pool_{suffix}").read_bytes() == (tmp_path / f"serial_{suffix}").read_bytes(), suffix


def test_figure_pool_writes_in_job_order_and_reraises_errors(tmp_path):
    from openrlb_cli.errors import InputError
    from openrlb_cli.render import figure_pool

    pool = figure_pool.start(2)
    if pool is None:
        pytest.skip("no fork on this platform")
    with pool:
        job = {"figure": "improvement", "colors": None, "labels": [], "subtitle": "", "dpi": 50,
               "matrix": _empty_improvement()}
        draw = "openrlb_cli.render.rliable_figures:draw"
        paths = [tmp_path / f"f.{fmt}" for fmt in ("svg", "png", "pdf")]
        assert pool.write([(draw, job, p, 50) for p in paths]) == paths
        assert all(p.stat().st_size > 0 for p in paths)
        (tmp_path / "file").write_text("")
        with pytest.raises(InputError, match="cannot write"):
            pool.write([(draw, job, tmp_path / "file" / "x.png", 50)])


def _empty_improvement():
    from openrlb_cli.analysis.improvement import ImprovementMatrix

    e = np.zeros((0, 0))
    return ImprovementMatrix(names=(), point=e, lower=e, upper=e, reps=1, ci=0.95, method="percentile", seed=0)


def test_atari_normalization_across_env_id_spellings(db_path, cli, tmp_path):
    envs = {"PongNoFrameskip-v4": (-20.7, 14.6), "ALE/Breakout-v5": (1.7, 30.5), "Seaquest-v5": (68.4, 42054.7)}
    scores = {"dqn": {"PongNoFrameskip-v4": [-21.0, 0.0, 14.6], "ALE/Breakout-v5": [30.5, 16.1],
                      "Seaquest-v5": [68.4, 2000.0, 42054.7]}}
    _fill(db_path, scores)
    code, out, err = _agg(cli, tmp_path, "dqn", "--normalize", "atari", "--reps", "500")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["references"] == {e: list(v) for e, v in envs.items()}
    normalized = [(v - envs[e][0]) / (envs[e][1] - envs[e][0]) for e, vals in scores["dqn"].items() for v in vals]
    assert _records(out)["dqn", "mean"]["point"] == pytest.approx(
        np.mean([np.mean([(v - envs[e][0]) / (envs[e][1] - envs[e][0]) for v in vals])
                 for e, vals in scores["dqn"].items()]))
    assert _records(out)["dqn", "iqm"]["point"] == pytest.approx(scipy.stats.trim_mean(normalized, 0.25))
    table = pd.read_csv(tmp_path / "out_scores.csv")
    row = table[(table.env == "ALE/Breakout-v5") & np.isclose(table.score, 16.1)].iloc[0]
    assert row.normalized == pytest.approx((16.1 - 1.7) / 28.8)


def test_unknown_env_for_atari_is_one_line_naming_it(db_path, cli, tmp_path):
    _fill(db_path, {"dqn": {"Pong-v5": [1.0, 2.0], "Hopper-v3": [3.0, 4.0]}})
    code, out, err = _agg(cli, tmp_path, "dqn", "--normalize", "atari")
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    assert "1 of the 2 envs (Hopper-v3)" in err and err.rstrip().endswith("(--normalize, --env-ids)")
    assert not list(tmp_path.glob("out_*"))


def test_reference_csv_and_bad_normalize(db_path, cli, tmp_path):
    _fill(db_path, {"x": {"A-v0": [1.0, 3.0], "B-v0": [10.0, 30.0]}})
    ref = tmp_path / "ref.csv"
    ref.write_text("env,low,high\nA-v0,0,4\nB-v0,10,50\n")
    code, out, err = _agg(cli, tmp_path, "x", "--normalize", str(ref), "--reps", "200")
    assert code == 0, err
    assert _records(out)["x", "mean"]["point"] == pytest.approx(np.mean([0.5, 0.25]))
    assert json.loads(out)["normalization"] == str(ref)
    code, _, err = _agg(cli, tmp_path, "x", "--normalize", str(tmp_path / "nope.csv"))
    assert code == 1 and "nope.csv" in err and len(err.splitlines()) == 1
    ref.write_text("env,low,high\nA-v0,0,4\n")
    code, _, err = _agg(cli, tmp_path, "x", "--normalize", str(ref))
    assert code == 1 and "1 of the 2 envs (B-v0)" in err and len(err.splitlines()) == 1


MISSING = {"a": {"T1": [1.0, 2.0], "T2": [3.0, 4.0], "T3": [0.0, 1.0]}, "b": {"T1": [0.0, 5.0], "T2": [1.0, 1.5]}}


@pytest.mark.parametrize("env_args", [[], ["--env-ids", "T1", "T2", "T3"]])
def test_missing_task_is_an_error_naming_experiment_and_task(db_path, cli, tmp_path, env_args):
    _fill(db_path, MISSING)
    code, out, err = _agg(cli, tmp_path, "a", "b", *env_args)
    assert code == 1 and out == "" and len(err.strip().splitlines()) == 1
    assert "'b'" in err and "'T3'" in err and err.rstrip().endswith("(--allow-missing-tasks)")


def test_allow_missing_tasks_aggregates_over_present_tasks(db_path, cli, tmp_path):
    _fill(db_path, MISSING)
    code, out, err = _agg(cli, tmp_path, "a", "b", "--allow-missing-tasks", "--normalize", "none", "--reps", "500")
    assert code == 0, err
    assert "warning: b has no run in 'T3': its aggregates, profiles and curve use its other 2 task(s)" in err
    rec = _records(out)
    assert (rec["b", "iqm"]["n_tasks"], rec["b", "iqm"]["n_runs"], rec["a", "iqm"]["n_tasks"]) == (2, 4, 3)
    assert rec["b", "mean"]["point"] == pytest.approx(np.mean([2.5, 1.25]))
    assert rec["b", "iqm"]["point"] == pytest.approx(scipy.stats.trim_mean([0.0, 5.0, 1.0, 1.5], 0.25))
    poi = json.loads((tmp_path / "out_improvement.json").read_text())
    assert poi["n_tasks"][0][1] == 2  # compared on the tasks both have
    per_task = [scipy.stats.mannwhitneyu(MISSING["a"][t], MISSING["b"][t]).statistic / 4 for t in ("T1", "T2")]
    assert poi["point"][0][1] == pytest.approx(np.mean(per_task))


def test_at_step_interpolates_and_rejects_steps_outside_a_run(db_path, cli, tmp_path):
    with Store(db_path) as s:
        _write(s, "x", "A-v0", 0, 0, steps=[0, 100, 200], values=[0.0, 10.0, 30.0])
        _write(s, "x", "A-v0", 1, 0, steps=[0, 100, 300], values=[0.0, 20.0, 20.0])
    code, out, err = _agg(cli, tmp_path, "x", "--at-step", "150", "--normalize", "none", "--reps", "100")
    assert code == 0, err
    assert _records(out)["x", "mean"]["point"] == pytest.approx((20.0 + 20.0) / 2)
    assert json.loads(out)["score"] == "value of each run interpolated at step 150"
    code, _, err = _agg(cli, tmp_path, "x", "--at-step", "250")
    assert code == 1 and "(x / A-v0, seed 0)" in err and "step 250 is outside" in err and len(err.splitlines()) == 1
    code, _, err = _agg(cli, tmp_path, "x", "--at-step", "50", "--last-n", "3")
    assert code == 1 and "only one of" in err


def test_efficiency_curve_on_a_grid_inside_every_task(db_path, cli, tmp_path):
    # Task A runs span 0..1000 and 0..800, task B 100..900: the grid covers 100..900, where each task has a run.
    runs = {("A-v0", 0): ([0, 500, 1000], [0.0, 5.0, 10.0]), ("A-v0", 1): ([0, 800], [0.0, 16.0]),
            ("B-v0", 0): ([100, 900], [1.0, 9.0]), ("B-v0", 1): ([100, 500, 900], [0.0, 4.0, 4.0])}
    with Store(db_path) as s:
        for (env, seed), (steps, values) in runs.items():
            _write(s, "x", env, seed, 0, steps=steps, values=values)
    code, out, err = _agg(cli, tmp_path, "x", "--normalize", "none", "--curve-points", "5", "--curve-aggregate",
                          "mean", "--reps", "100", "--curve-reps", "300")
    assert code == 0, err
    curve = json.loads((tmp_path / "out_efficiency.json").read_text())["curves"]["x"]
    grid = np.linspace(100, 900, 5)
    assert curve["steps"] == pytest.approx(grid)

    def at(env, seed):  # NaN past the run's last step: no extrapolation
        steps, values = runs[env, seed]
        return np.where(grid <= steps[-1], np.interp(grid, steps, values), np.nan)

    expected = [np.mean([np.nanmean([at(env, 0)[k], at(env, 1)[k]]) for env in ("A-v0", "B-v0")]) for k in range(5)]
    assert curve["point"] == pytest.approx(expected)
    assert all(lo <= p <= hi for lo, p, hi in zip(curve["lower"], curve["point"], curve["upper"], strict=True))


@pytest.mark.parametrize("args, needle", [
    (["--ci", "1.5"], "--ci"), (["--method", "student"], "--method"), (["--reps", "0"], "--reps"),
    (["--formats", "gif"], "--formats"), (["--curve-points", "1"], "--curve-points"),
    (["--bootstrap-seed", "-1"], "--bootstrap-seed"), (["--seed", "-1"], "--bootstrap-seed"),
])
def test_bad_options_are_one_line(db_path, cli, tmp_path, args, needle):
    _fill(db_path, TINY)
    code, _, err = _agg(cli, tmp_path, "a", *args)
    assert code == 1 and needle in err and len(err.splitlines()) == 1


def test_table_on_terminal_and_quiet(db_path, cli, tmp_path):
    _fill(db_path, TINY)
    code, out, err = cli("aggregate", "a", "b", "-o", str(tmp_path / "t"), "--formats", "png", "--reps", "200",
                         "--normalize", "none")
    assert code == 0 and "Aggregate metrics" in out and "IQM" in out and "3.500 [" in out
    assert "t_intervals.png" in err
    code, out, err = cli("aggregate", "a", "b", "-o", str(tmp_path / "q"), "--formats", "png", "--reps", "200",
                         "--quiet")
    assert code == 0 and out == "" and err == "" and (tmp_path / "q_efficiency.png").exists()


def test_whole_curve_auc_resamples_entire_runs(db_path, cli, tmp_path):
    rng = np.random.default_rng(3)
    curves = {}
    with Store(db_path) as s:
        for t, env in enumerate(("A-v0", "B-v0")):
            for seed in range(5):
                steps = np.arange(0, 1001 + 100 * seed, 50.0)
                values = rng.normal(t, 1) + np.sqrt(steps) * rng.uniform(0.5, 1.5)
                curves[env, seed] = (steps, values)
                _write(s, "x", env, seed, 0, steps=steps, values=values)
    code, out, err = _agg(cli, tmp_path, "x", "--whole-curve-auc", "--normalize", "none", "--reps", "800",
                          "--curve-points", "21")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["auc_range"] == [0.0, 1000.0]  # the steps every run covers
    grid = np.linspace(0, 1000, 21)
    data = np.stack([[np.interp(grid, *curves[env, seed]) for env in ("A-v0", "B-v0")] for seed in range(5)])
    ref = eff.curve_statistic_interval(data, eff.auc_statistic(grid, "iqm"), reps=800,
                                       seed=ag.stream(0, "auc", "x"))
    rec = _records(out)["x", "auc_iqm"]
    assert rec["point"] == pytest.approx(ref.point, rel=1e-9)
    assert rec["lower"] == pytest.approx(ref.lower, rel=1e-9) and rec["upper"] == pytest.approx(ref.upper, rel=1e-9)


def test_report_section(db_path, tmp_path, monkeypatch):
    monkeypatch.setattr(rp, "_PROVIDERS", {})
    _fill(db_path, _random_scores(2))
    ag.register_report_section(ag.AggregateOptions(reps=300, profile_reps=100, poi_reps=100, curve_reps=100,
                                                   curve_points=5))
    with Store(db_path) as s:
        curves = load_curves(s, resolve(s, ["ppo", "sac"]))
    opts = rp.ReportOptions(plot=rp.fg.PlotOptions(formats=["png"]), last_n=3)
    result = rp.write_report(curves, tmp_path / "r", opts)
    assert result.ok, result.errors
    md = (tmp_path / "r" / "index.md").read_text()
    assert "## Aggregate metrics" in md and "![Aggregate metrics](aggregates/intervals.png)" in md
    assert "| Experiment | IQM | Median | Mean | Optimality gap | Runs | Tasks |" in md
    assert (tmp_path / "r" / "aggregates" / "aggregates.json").exists()
    assert json.loads((tmp_path / "r" / "aggregates" / "aggregates.json").read_text())["options"]["last_n"] == 3
    assert "data:image/png;base64," in (tmp_path / "r" / "index.html").read_text()


# ---------------------------------------------------------------------------- real data
def _tianshou_direct(last_n: int) -> dict[str, np.ndarray]:
    """Final scores with pandas (mean of each seed's last N rows), max-min normalized per env."""
    raw = {}
    for env in th.envs():
        for algo in th.algos(env):
            df = pd.read_csv(th.csv_path(env, algo))
            cols = list(th.seed_columns(df).values())
            raw[algo, env] = df[cols].dropna(how="all").tail(last_n).mean().to_numpy()
    envs, algos = th.envs(), sorted({a for a, _ in raw})
    out = {}
    for env in envs:
        pooled = np.concatenate([raw[a, env] for a in algos])
        lo, hi = pooled.min(), pooled.max()
        for a in algos:
            raw[a, env] = (raw[a, env] - lo) / (hi - lo)
    for a in algos:
        out[a] = np.stack([raw[a, env] for env in envs], axis=1)  # (10 seeds, 9 envs)
    return out


def test_tianshou_mujoco_against_pandas(tmp_path, cli, db_path):
    need_shared("tianshou-mujoco")
    with Store(db_path) as s:
        assert th.load_into(s) == 720
    code, out, err = cli("aggregate", "?project=tianshou", "--normalize", "maxmin", "--reps", "2000", "--last-n", "10",
                         "-o", str(tmp_path / "ts"), "--formats", "png", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["envs"] == th.envs() and len(doc["experiments"]) == 8
    rec = _records(out)
    direct = _tianshou_direct(10)
    for algo, m in direct.items():
        assert m.shape == (10, 9)
        assert rec[algo, "iqm"]["point"] == pytest.approx(scipy.stats.trim_mean(m, 0.25, axis=None), rel=1e-9)
        assert rec[algo, "mean"]["point"] == pytest.approx(m.mean(axis=0).mean(), rel=1e-9)
        assert rec[algo, "median"]["point"] == pytest.approx(np.median(m.mean(axis=0)), rel=1e-9)
        assert rec[algo, "optimality_gap"]["point"] == pytest.approx(1 - np.minimum(m, 1).mean(), rel=1e-9)
        ref = bs.aggregate_intervals(m, reps=2000, seed=ag.stream(0, "aggregates", algo))
        for name, iv in ref.items():
            assert rec[algo, name]["lower"] == pytest.approx(iv.lower, rel=1e-9, abs=1e-12)
            assert rec[algo, name]["upper"] == pytest.approx(iv.upper, rel=1e-9, abs=1e-12)
        assert (rec[algo, "iqm"]["n_runs"], rec[algo, "iqm"]["n_tasks"]) == (90, 9)
    # SAC beats REINFORCE on every MuJoCo task with every seed pair.
    poi = json.loads((tmp_path / "ts_improvement.json").read_text())
    names = poi["experiments"]
    assert poi["point"][names.index("sac")][names.index("reinforce")] > 0.9
    assert all((tmp_path / f"ts_{n}.png").stat().st_size > 10_000
               for n in ("intervals", "profiles", "improvement", "efficiency"))


def test_report_aggregate_option(db_path, cli, tmp_path, monkeypatch):
    monkeypatch.setattr(rp, "_PROVIDERS", {})
    _fill(db_path, TINY)
    out = tmp_path / "r"
    code, stdout, err = cli("report", "a", "b", "-o", str(out), "--formats", "png", "--aggregate", "--normalize",
                            "none", "--last-n", "5")
    assert code == 0, err
    assert str(out / "aggregates" / "intervals.png") in stdout.split()
    doc = json.loads((out / "aggregates" / "aggregates.json").read_text())
    assert _records(json.dumps(doc))["a", "iqm"]["point"] == pytest.approx(3.5)
    assert "**3.500 [" in (out / "index.md").read_text()
    code, _, err = cli("report", "a", "b", "-o", str(tmp_path / "r2"), "--formats", "png", "--aggregate",
                       "--normalize", "atari")
    assert code == 1 and "error: aggregates: normalization atari: no reference scores for 2 of the 2 envs" in err
    assert "(T1, T2)" in err and "(--normalize, --env-ids)" in err
    assert (tmp_path / "r2" / "index.html").exists()
    code, _, err = cli("report", "a", "-o", str(tmp_path / "r3"), "--aggregate", "--normalize", "nope")
    assert code == 1 and "normalization 'nope'" in err and "(--normalize)" in err and not (tmp_path / "r3").exists()


def test_tau_max_sets_the_profile_grid(db_path, cli, tmp_path):
    _fill(db_path, _random_scores(1))
    code, _, err = cli("aggregate", "ppo", "sac", "--reps", "200", "--profile-reps", "100", "--poi-reps", "100",
                       "--curve-points", "0", "--tau-points", "11", "--tau-max", "2.5", "--formats", "png",
                       "-o", str(tmp_path / "t"))
    assert code == 0, err
    taus = json.loads((tmp_path / "t_profiles.json").read_text())["taus"]
    assert taus == pytest.approx(np.linspace(0, 2.5, 11).tolist())
    code, _, err = cli("aggregate", "ppo", "--tau-max", "0", "-o", str(tmp_path / "u"))
    assert code == 1 and "--tau-max" in err
