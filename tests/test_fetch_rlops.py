"""`openrlb rlops`: Open RL Benchmark's command line, fetched into the store and plotted from it."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import numpy as np
import pytest
from fake_wandb import FakeRun, FakeWandb

from openrlb_cli.errors import InputError
from openrlb_cli.rlops import command as rlops
from openrlb_cli.store import Store

HEADER = "?we=openrlbenchmark&wpn=cleanrl&ceik=env_id&cen=exp_name&metric=charts/episodic_return"
ENVS = ["CartPole-v1", "Acrobot-v1"]


def value(exp: str, env: str, seed: int, s: int) -> float:
    return (10.0 if exp == "ppo" else 5.0) * (1 + ENVS.index(env)) + seed * 0.5 + s * 0.1


def history(exp: str, env: str, seed: int, n: int = 60) -> list[dict]:
    out = []
    for s in range(n):
        row = {"_step": s, "_timestamp": 1.7e9 + 2.0 * s, "_runtime": 2.0 * s, "global_step": s * 100,
               "losses/loss": 1.0 / (s + 1)}
        if s % 3 == 0:
            row["charts/episodic_return"] = value(exp, env, seed, s)
        out.append(row)
    return out


@pytest.fixture
def fake():
    with FakeWandb() as server:
        i = 0
        for exp, tags in (("ppo", ["v1"]), ("dqn", [])):
            for env in ENVS:
                for seed in (1, 2):
                    server.add("openrlbenchmark", "cleanrl", FakeRun(
                        f"{exp}{i}", config={"exp_name": exp, "env_id": env, "seed": seed}, tags=tags,
                        created_at=f"2024-01-01T00:00:{i:02d}", rows=history(exp, env, seed)))
                    i += 1
        server.add("openrlbenchmark", "cleanrl", FakeRun(  # still running: left out as rlops does
            "live", config={"exp_name": "ppo", "env_id": "CartPole-v1", "seed": 3}, tags=["v1"], state="running",
            created_at="2024-01-02T00:00:00", rows=history("ppo", "CartPole-v1", 3)))
        server.add("openrlbenchmark", "cleanrl", FakeRun(  # other tag: not selected
            "old", config={"exp_name": "ppo", "env_id": "CartPole-v1", "seed": 9}, tags=["v0"],
            created_at="2024-01-03T00:00:00", rows=history("ppo", "CartPole-v1", 9)))
        yield server


def argv(out: Path, *extra: str) -> list[str]:
    return ["rlops", "--filters", HEADER, "ppo?tag=v1&cl=CleanRL PPO", "dqn?cl=DQN", "--env-ids", *ENVS,
            "--output-filename", str(out), "--metric-last-n-average-window", "5", "--pc.ncols", "2",
            "--pc.ncols_legend", "2", "--pc.xlabel", "Frames", "--pc.ylabel", "Return", "--pc.time-unit", "h",
            "--scan-history", *extra]


def test_parse_rlops_arguments():
    args = rlops.parse_args(["--filters", HEADER, "a?tag=x", "--filters", HEADER, "b", "--env-ids", "E1", "E2",
                             "--pc.ncols_legend", "3", "--pc.max-steps", "1000", "--rliable",
                             "--rc.score_normalization_method", "atari", "--rc.no-sample-efficiency-plots",
                             "--no-check-empty-runs", "--offline", "--output-filename", "x/y"])
    assert [g.env_ids for g in args.groups] == [["E1", "E2"], ["E1", "E2"]]
    assert args.pc == {"ncols-legend": 3, "max-steps": 1000.0}
    assert args.rc == {"score-normalization-method": "atari", "sample-efficiency-plots": False}
    assert args.rliable and args.offline and not args.check_empty_runs and args.output_filename == "x/y"
    with pytest.raises(InputError, match="--report .* is not supported"):
        rlops.parse_args(["--filters", HEADER, "a", "--env-ids", "E", "--report"])
    with pytest.raises(InputError, match="unknown rlops option '--bogus'"):
        rlops.parse_args(["--filters", HEADER, "a", "--env-ids", "E", "--bogus", "1"])
    with pytest.raises(InputError, match="maxmin or atari"):
        rlops.parse_args(["--filters", HEADER, "a", "--env-ids", "E", "--rc.score-normalization-method", "z"])


def test_rlops_options_of_openrlbenchmark_0_3_1():
    args = rlops.parse_args(["--filters", "?we=e", "a", "--env-ids", "E", "--wandb-project-name", "sb3",
                             "--rc.sample-efficiency-figsize", "10", "5.5", "--pc.max-steps", "None",
                             "--rc.sample_efficiency_and_walltime_efficiency_method", "None"])
    assert args.groups[0].path == "e/sb3"  # the header has no wpn=: --wandb-project-name
    assert args.rc["sample-efficiency-figsize"] == [10.0, 5.5]
    assert "max-steps" not in args.pc  # None: no limit, as tyro reads it
    assert not isinstance(args.rc["sample-efficiency-and-walltime-efficiency-method"], str)  # no walltime figure
    assert rlops.parse_args(["--filters", "?we=e", "a", "--env-ids", "E", "--pc.max-steps", "5e5"]).pc == {
        "max-steps": 5e5}
    with pytest.raises(InputError, match="Median, IQM, Mean, Optimality Gap or None"):
        rlops.parse_args(["--filters", "?we=e", "a", "--env-ids", "E",
                          "--rc.sample-efficiency-and-walltime-efficiency-method", "mode"])
    with pytest.raises(InputError, match="cannot read the rlops options"):
        rlops.parse_args(["--filters", "?we=e", "a", "--env-ids", "E", "--rc.sample-efficiency-figsize", "10"])


def test_rlops_fetches_then_writes_rlops_outputs(fake, cli, db_path, tmp_path):
    out = tmp_path / "figs" / "compare"
    code, stdout, err = cli(*argv(out, "--base-url", fake.url, "--max-rps", "0"))
    assert code == 0, err
    for suffix in (".png", ".pdf", ".svg", "-time.png", "-time.pdf", "-time.svg", ".md", ".csv",
                   "_runtimes.md", "_runtimes.csv"):
        path = Path(f"{out}{suffix}")
        assert path.is_file() and path.stat().st_size > 0, path
        assert str(path) in stdout
    assert "not applied" not in err  # --pc.ncols-legend/xlabel/ylabel/time-unit are honoured
    assert "running run(s) left out" in err
    # scores as rlops: mean of each run's last 5 points, then mean ± population std over the two seeds
    table = list(csv.reader(open(f"{out}.csv")))
    assert table[0] == ["", "CleanRL PPO", "DQN"] and [r[0] for r in table[1:]] == ENVS
    for row, env in zip(table[1:], ENVS, strict=True):
        for cell, exp in zip(row[1:], ("ppo", "dqn"), strict=True):
            per_seed = [statistics.mean(value(exp, env, seed, s) for s in range(45, 60, 3)) for seed in (1, 2)]
            assert cell == f"{statistics.mean(per_seed):.2f} ± {statistics.pstdev(per_seed):.2f}"
    # runtimes in --pc.time-unit h: the last 10% of the metric's 20 rows (s = 54, 57; _runtime 108 s, 114 s)
    runtimes = list(csv.reader(open(f"{out}_runtimes.csv")))
    assert [float(v) for r in runtimes[1:] for v in r[1:]] == [pytest.approx(111 / 3600)] * 4
    # the store holds exactly the selected runs (plus the running one, fetched but not plotted)
    with Store(db_path) as store:
        ids = sorted(r.external_id.rsplit("/", 1)[1] for r in store.runs())
    assert ids == sorted([f"ppo{i}" for i in range(4)] + [f"dqn{i}" for i in range(4, 8)] + ["live"])

    # offline: the store only, no request at all, same table
    fake.reset_counts()
    code, _, err = cli(*argv(tmp_path / "offline", "--offline", "--base-url", fake.url))
    assert code == 0, err
    assert fake.requests == 0
    assert Path(f"{tmp_path / 'offline'}.csv").read_text() == Path(f"{out}.csv").read_text()
    # --pc.max-steps only limits the step figure's x axis, as in rlops: the tables use every point
    code, _, err = cli(*argv(tmp_path / "capped", "--offline", "--pc.max-steps", "1000"))
    assert code == 0, err
    for suffix in (".csv", "_runtimes.csv"):
        assert Path(f"{tmp_path / 'capped'}{suffix}").read_text() == Path(f"{out}{suffix}").read_text()
    assert Path(f"{tmp_path / 'capped'}.png").read_bytes() != Path(f"{tmp_path / 'offline'}.png").read_bytes()
    # again online: nothing changed, so listing only, no history request
    code, _, err = cli(*argv(tmp_path / "again", "--base-url", fake.url, "--max-rps", "0"))
    assert code == 0, err
    assert fake.history_requests == 0


def test_x_axis_is_the_global_step_joined_on_step(fake, tmp_path, db_path, cli):
    code, _, err = cli(*argv(tmp_path / "c", "--base-url", fake.url, "--max-rps", "0"))
    assert code == 0, err
    args = rlops.parse_args(argv(tmp_path / "c")[1:])
    with Store(db_path) as store:
        curves = rlops.build_curves(store, args)
    assert sorted(curves.selection.env_ids) == sorted(ENVS) and curves.selection.labels == ["CleanRL PPO", "DQN"]
    for runs in curves.by_cell.values():
        assert len(runs) == 2
        for rc in runs:
            assert rc.steps.tolist() == [s * 100.0 for s in range(0, 60, 3)]


def test_rlops_rliable_writes_aggregates_and_bad_options_fail(fake, cli, tmp_path):
    out = tmp_path / "r"
    code, stdout, err = cli(*argv(out, "--base-url", fake.url, "--max-rps", "0", "--rliable",
                                  "--rc.score_normalization_method", "maxmin",
                                  "--rc.interval_estimates_num_bootstrap_reps", "200",
                                  "--rc.performance_profile_num_bootstrap_reps", "100",
                                  "--rc.sample_efficiency_num_bootstrap_reps", "100", "--rc.nsubsamples", "8",
                                  "--rc.sample_efficiency_and_walltime_efficiency_method", "Median"))
    assert code == 0, err
    for name in ("aggregate.png", "aggregate.pdf", "performance_profile.png", "sample_efficiency.png",
                 "sample_walltime_efficiency.pdf", "aggregate.csv", "rliable.json"):
        assert Path(f"{out}_{name}").is_file() and f"{out}_{name}" in stdout
    doc = json.loads(Path(f"{out}_rliable.json").read_text())
    assert set(doc["aggregates"]) == {"CleanRL PPO", "DQN"} and doc["aggregate_reps"] == 200
    assert doc["n_seeds"] == {"CleanRL PPO": 2, "DQN": 2}
    assert np.shape(doc["scores"]["DQN"]) == (2, 2, 8)  # seeds x envs x --rc.nsubsamples
    # maxmin per env over every experiment, seed and sampled point: each env spans exactly [0, 1]
    stacked = np.concatenate([doc["normalized"][k] for k in doc["normalized"]], axis=0)
    np.testing.assert_allclose(stacked.min(axis=(0, 2)), 0.0)
    np.testing.assert_allclose(stacked.max(axis=(0, 2)), 1.0)
    # the efficiency x axis is global_step (0 .. 5,700), not W&B's _step (0 .. 57)
    assert max(doc["efficiency"]["median"]["DQN"]["x"]) > 1000
    # the rlops switches for each rliable figure
    code, stdout, err = cli(*argv(tmp_path / "some", "--offline", "--rliable", "--rc.no-performance-profile-plots",
                                  "--rc.no-sample-efficiency-plots"))
    assert code == 0, err
    assert Path(f"{tmp_path / 'some'}_aggregate.png").is_file()
    assert not Path(f"{tmp_path / 'some'}_performance_profile.png").exists()
    assert not Path(f"{tmp_path / 'some'}_sample_efficiency.png").exists()
    code, _, err = cli(*argv(out, "--base-url", fake.url, "--report"))
    assert code == 1 and "not supported" in err
    code, _, err = cli("rlops", "--filters", HEADER, "nosuch?tag=v1", "--env-ids", "CartPole-v1",
                       "--output-filename", str(tmp_path / "n"), "--base-url", fake.url, "--max-rps", "0")
    assert code == 1 and "nosuch" in err
