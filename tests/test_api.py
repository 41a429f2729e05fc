"""The Python API (`openrlb_cli.api`): runs_frame with config columns, metric keys, frames from
filter words and from the CLI's specs, and errors with suggestions instead of empty frames."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from openrlb_cli import api
from openrlb_cli.errors import InputError, SelectionError
from openrlb_cli.model import RunRecord, Series


@pytest.fixture
def store(tmp_path):
    with api.open_store(tmp_path / "a.db") as s:
        for algo in ("sac", "td3"):
            for env in ("Hopper-v3", "Ant-v3"):
                for seed in (0, 1, 2):
                    # td3 as CleanRL stores config (text), sac as W&B does (JSON numbers)
                    lr = 3e-4 * (seed + 1)
                    cfg = ({"learning_rate": lr, "batch": 256, "seed": seed, "cuda": True} if algo == "sac" else
                           {"learning_rate": repr(lr), "batch": "256", "seed": str(seed), "cuda": "True"})
                    steps = np.arange(0, 50, 10.0)
                    s.write_run(RunRecord("t", f"{algo}/{env}/{seed}", project="p", experiment=algo, env=env,
                                          seed=seed, tags=["v1"], config=cfg,
                                          series={"test/reward": Series(steps, steps * (seed + 1)),
                                                  "loss": Series(steps[:2], [1.0, 0.5])}))
        yield s


def test_runs_frame_has_config_as_columns_with_numbers(store):
    df = api.runs_frame(store, ["project=p", "learning_rate<8e-4"])
    assert len(df) == 2 * 2 * 2  # lr 9e-4 (seed 2) is not < 8e-4
    assert list(df.columns[:len(api.RUN_COLUMNS)]) == api.RUN_COLUMNS
    # text and JSON numbers alike are numbers; a config key named like a run column is prefixed
    assert df["learning_rate"].dtype == np.float64 and df["batch"].dtype == "Int64"
    assert set(df["config.seed"]) == {0, 1} and df["cuda"].tolist().count(True) == 4
    expected = sorted(3e-4 * (s + 1) for s in (0, 1) for _ in range(4))
    assert sorted(df["learning_rate"]) == pytest.approx(expected)
    assert api.runs_frame(store, "experiment=td3", config=False).shape == (6, len(api.RUN_COLUMNS))


def test_runs_frame_of_run_infos_still_works(store):
    df = api.runs_frame(api.select(store, ["seed=0"]))
    assert len(df) == 4 and set(df["seed"]) == {0}


def test_metric_keys_of_a_selection(store):
    assert api.metric_keys(store, ["experiment=sac"]) == {"loss": 6, "test/reward": 6}


def test_frame_from_filter_words_matches_hand_computed_values(store):
    df = api.frame(store, ["env=Hopper-v3", "seed>=2"], "test/reward")
    assert list(df.columns) == api.TIDY_COLUMNS and len(df) == 2 * 5
    assert df.groupby("experiment")["value"].max().to_dict() == {"sac": 120.0, "td3": 120.0}


def test_frame_takes_the_clis_specs(store):
    df = api.frame(store, ["sac?project=p&cl=SAC", "td3?seed<1"], env_ids=["Ant-v3"])
    assert list(df.columns) == ["label", *api.TIDY_COLUMNS]
    assert df.groupby("label")["run"].nunique().to_dict() == {"SAC": 3, "td3": 1}
    assert set(df["env"]) == {"Ant-v3"}
    one = api.frame(store, "sac?learning_rate=0.0003", "loss")
    assert len(one) == 2 * 2 and set(one["seed"]) == {0}


@pytest.mark.parametrize(("call", "message"), [
    (lambda s: api.frame(s, ["env=Hopper-v3"], "test/rewad"), "has metric 'test/rewad' (did you mean 'test/reward'?)"),
    (lambda s: api.frame(s, ["envv=Hopper-v3"], "loss"), "'envv' (did you mean 'env'"),
    (lambda s: api.select(s, ["learnin_rate=0.0003"]), "did you mean 'learning_rate'"),
    (lambda s: api.runs_frame(s, ["experiment=sacc"]), "no experiment 'sacc' (did you mean 'sac'"),
    (lambda s: api.frame(s, "sac?project=p", "rewrd"), "metric 'rewrd' not found"),
    (lambda s: api.select(s, "sac?project=p"), "is a spec"),
    (lambda s: api.frame(s, ["env=Hopper-v3"]), "needs a metric"),
])
def test_unknown_keys_and_metrics_are_errors_with_suggestions(store, call, message):
    with pytest.raises(SelectionError) as exc:
        call(store)
    assert message in str(exc.value) and "--" not in str(exc.value)  # domain words, no CLI flags


def test_empty_intersection_of_known_values_is_an_empty_frame(store):
    assert api.select(store, ["env=Hopper-v3", "seed>5"]) == []
    df = api.frame(store, ["env=Hopper-v3", "seed>5"], "loss")
    assert df.empty and list(df.columns) == api.TIDY_COLUMNS
    assert isinstance(api.runs_frame(store, ["seed>5"]), pd.DataFrame)


# ---------------------------------------------------------------------------- scores, tables, aggregates, ingest
ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
SPECS = ["q_learning", "sarsa_lambda"]
ENVS = ["CartPole-v1", "MountainCar-v0"]
KEY = "charts/episodic_return"


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory):
    """sample_runs/ ingested once through the API: (store path, the ingest summary)."""
    path = tmp_path_factory.mktemp("api") / "samples.db"
    with api.open_store(path) as s:
        summary = api.ingest(s, [ROOT / "sample_runs"])
    return path, summary


@pytest.fixture
def sample_store(sample_db):
    with api.open_store(sample_db[0]) as s:
        yield s, sample_db[1]


def test_ingest_returns_the_json_summary_and_reads_only_what_is_new(sample_store, cli, tmp_path):
    store, summary = sample_store
    # the figures sample_runs/README.md and test_ingest_lock.py state for one clean ingest
    assert summary["runs"] == summary["new_runs"] == 21 and summary["points"] == 17_102 and summary["skipped"] == []
    again = api.ingest(store, ROOT / "sample_runs")
    assert again["points"] == 0 and again["new_runs"] == 0 and again["units_unchanged"] == summary["units_read"]
    code, out, _ = cli("ingest", str(ROOT / "sample_runs"), "--json", db=tmp_path / "cli.db")
    assert code == 0 and json.loads(out) == summary


def test_ingest_takes_metadata_and_fails_in_domain_words(tmp_path):
    with api.open_store(tmp_path / "m.db") as s:
        out = api.ingest(s, ROOT / "sample_runs" / "sb3", project="zoo", experiment="{grandparent}",
                         tags=["api"], config={"note_key": 1})
        assert out["runs"] == 3
        runs = api.runs_frame(s, ["project=zoo"])
        assert set(runs["experiment"]) == {"reinforce"} and set(runs["tags"]) == {"api"}
        assert set(runs["note_key"]) == {1}
        (tmp_path / "empty").mkdir()
        with pytest.raises(InputError, match="no log file found") as exc:
            api.ingest(s, tmp_path / "empty")
        with pytest.raises(InputError, match="seed must be an integer"):
            api.ingest(s, ROOT / "sample_runs" / "sb3", seed="one")
        assert "--" not in str(exc.value)


def test_scores_match_an_independent_computation_on_frame(sample_store):
    store, _ = sample_store
    df = api.scores(store, SPECS, env_ids=ENVS, metric=KEY, rule="last-n:20")
    assert list(df.columns) == api.SCORE_COLUMNS and len(df) == 12
    curves = api.frame(store, SPECS, KEY, env_ids=ENVS).sort_values(["run", "step"], kind="stable")
    expected = curves.groupby("run")["value"].apply(lambda v: v.iloc[-20:].mean())
    assert df.set_index("run")["score"].to_dict() == pytest.approx(expected.to_dict())
    assert df.attrs["score_rule"]["rule"] == "last-n" and df.attrs["score_rule"]["param"] == 20
    # the step budget applies before the rule: the last point at step <= 10,000
    final = api.scores(store, SPECS, env_ids=ENVS, metric=KEY, rule="final", max_steps=10_000)
    cut = curves[curves["step"] <= 10_000].groupby("run")["value"].last()
    assert final.set_index("run")["score"].to_dict() == pytest.approx(cut.to_dict())


def test_score_table_matches_table_json(sample_store, cli):
    store, _ = sample_store
    df = api.score_table(store, SPECS, env_ids=ENVS, metric=KEY, rule="last-n:20", std="population")
    code, out, _ = cli("table", *SPECS, "-e", *ENVS, "-m", KEY, "--score", "last-n:20", "--std", "population",
                       "--json", db=store.path)
    assert code == 0
    doc = json.loads(out)
    assert df.attrs["score_rule"] == doc["score_rule"] and df.attrs["statistic"] == doc["statistic"]
    assert list(df.index) == doc["envs"] and list(df["mean"].columns) == doc["experiments"]
    for rec in doc["rows"]:
        assert df.loc[rec["env"], ("mean", rec["experiment"])] == pytest.approx(rec["mean"])
        assert df.loc[rec["env"], ("std", rec["experiment"])] == pytest.approx(rec["std"])
        assert df.loc[rec["env"], ("n", rec["experiment"])] == rec["n_seeds"]
        assert (rec["experiment"] in df.attrs["best"][rec["env"]]) == rec["best"]
    # and the README's figures (sample std): Q-learning 471 ± 21 on CartPole, Sarsa(λ) -105.5 ± 1.8
    sample = api.score_table(store, SPECS, env_ids=ENVS, metric=KEY, rule="last-n:20")
    scores = api.scores(store, SPECS, env_ids=ENVS, metric=KEY, rule="last-n:20")
    by_cell = scores.groupby(["env", "experiment"])["score"]
    assert sample["std"].stack().sort_index().to_numpy() == pytest.approx(by_cell.std(ddof=1).sort_index().to_numpy())
    assert sample.loc["MountainCar-v0", ("mean", "sarsa_lambda")] == pytest.approx(-105.45)


@pytest.mark.slow  # `openrlb aggregate` always draws its figures: ~7 s of matplotlib for the reference
def test_aggregate_matches_aggregate_json(sample_store, cli, tmp_path):
    store, _ = sample_store
    df = api.aggregate(store, SPECS, env_ids=ENVS, metric=KEY, rule="last-n:20", reps=300, bootstrap_seed=3)
    code, out, _ = cli("aggregate", *SPECS, "-e", *ENVS, "-m", KEY, "--score", "last-n:20", "--reps", "300",
                       "--bootstrap-seed", "3", "--curve-points", "0", "--profile-reps", "10", "--poi-reps", "10",
                       "-o", str(tmp_path / "agg"), "--formats", "svg", "--json", db=store.path)
    assert code == 0
    doc = json.loads(out)
    cli_rows = {(r["experiment"], r["metric"]): r for r in doc["records"]}
    assert len(df) == len(cli_rows) == 8
    for row in df.to_dict("records"):
        ref = cli_rows[(row["experiment"], row["metric"])]
        for k in ("point", "lower", "upper", "n_runs", "n_tasks", "reps", "normalization"):
            assert row[k] == pytest.approx(ref[k]) if isinstance(ref[k], float) else row[k] == ref[k]
    assert df.attrs["references"] == doc["references"] and df.attrs["score"] == doc["score"]


def test_aggregate_point_estimates_match_a_hand_computation(sample_store):
    store, _ = sample_store
    df = api.aggregate(store, SPECS, env_ids=ENVS, metric=KEY, rule="last-n:20", reps=200)
    assert set(df["metric"]) == {"iqm", "median", "mean", "optimality_gap"} and set(df["reps"]) == {200}
    # max-min normalization per task over the selection, then the mean and rliable's optimality gap
    s = api.scores(store, SPECS, env_ids=ENVS, metric=KEY, rule="last-n:20")
    lo, hi = s.groupby("env")["score"].min(), s.groupby("env")["score"].max()
    s["norm"] = (s["score"] - s["env"].map(lo)) / (s["env"].map(hi) - s["env"].map(lo))
    point = df.set_index(["experiment", "metric"])["point"]
    for exp, norm in s.groupby("experiment")["norm"]:
        assert point[(exp, "mean")] == pytest.approx(norm.mean())
        assert point[(exp, "optimality_gap")] == pytest.approx(np.mean(np.maximum(1.0 - norm, 0.0)))
    assert (df["lower"] <= df["point"]).all() and (df["point"] <= df["upper"]).all()
    assert df.attrs["references"] == {env: [lo[env], hi[env]] for env in ENVS}


@pytest.mark.parametrize(("call", "message"), [
    (lambda s: api.scores(s, SPECS, metric=KEY, rule="lastn"), "unknown score rule 'lastn'"),
    (lambda s: api.score_table(s, SPECS, metric=KEY, rule="at-step"), "needs a finite parameter"),
    (lambda s: api.scores(s, SPECS, env_ids=["FrozenPond-v0"], metric=KEY), "allow_missing"),
    (lambda s: api.aggregate(s, SPECS, env_ids=ENVS, metric=KEY, reps=0), "reps"),
    (lambda s: api.aggregate(s, ["q_learning", "reinforce"], env_ids=ENVS, reps=10), "allow_missing_tasks"),
])
def test_score_errors_speak_domain_words(sample_store, call, message):
    store, _ = sample_store
    with pytest.raises((InputError, SelectionError)) as exc:
        call(store)
    assert message in str(exc.value) and "--" not in str(exc.value)


def test_public_names_are_listed():
    assert {"scores", "score_table", "aggregate", "ingest", "frame", "runs_frame"} <= set(api.__all__)
    assert all(hasattr(api, n) for n in api.__all__)


def test_fetch_wandb_stores_what_the_server_has_and_is_a_source(tmp_path):
    from fake_wandb import FakeRun, FakeWandb, expected_points

    with FakeWandb() as fake, api.open_store(tmp_path / "w.db") as s:
        runs = [fake.add("ent", "proj", FakeRun(f"r{i}", config={"env_id": "Hopper-v4", "exp_name": "ppo",
                                                                 "seed": i},
                                                rows=[{"_step": k, "_timestamp": 1e9 + k,
                                                       "charts/episodic_return": k * (i + 1)}
                                                      for k in range(40)]))
                for i in range(3)]
        out = api.fetch_wandb(s, "ent/proj", ["seed=0", "seed=2"], base_url=fake.url, max_rps=0, workers=2,
                              retries=1)
        assert out["status"] == "ok" and out["runs"]["new"] == 2
        df = api.frame(s, ["project=ent/proj"], "charts/episodic_return")
        for run in (runs[0], runs[2]):
            steps, values, _ = expected_points(run)["charts/episodic_return"]
            got = df[df["seed"] == run.config["seed"]]
            assert got["step"].tolist() == steps and got["value"].tolist() == values
        again = api.fetch_wandb(s, "ent/proj", ["seed=0", "seed=2"], base_url=fake.url, max_rps=0, retries=1)
        assert again["runs"]["unchanged"] == 2 and again["points_added"] == 0
        with pytest.raises(InputError, match="is not ENTITY/PROJECT"):
            api.fetch_wandb(s, "proj", base_url=fake.url)


def test_fetch_mlflow_checks_its_arguments_before_any_request(tmp_path):
    with api.open_store(tmp_path / "m.db") as s:
        with pytest.raises(InputError, match="the MLflow URL 'ftp://x' is not an http"):
            api.fetch_mlflow(s, "ftp://x", "exp")
        with pytest.raises(InputError, match="at least one experiment"):
            api.fetch_mlflow(s, "http://127.0.0.1:9", [])
        with pytest.raises(InputError, match="workers must be at least 1"):
            api.fetch_mlflow(s, "http://127.0.0.1:9", "exp", workers=0)
