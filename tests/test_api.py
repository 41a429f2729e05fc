"""The Python API (`openrlb_cli.api`): runs_frame with config columns, metric keys, frames from
filter words and from the CLI's specs, and errors with suggestions instead of empty frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from openrlb_cli import api
from openrlb_cli.errors import SelectionError
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
