"""The selection language: parsing specs, resolving runs, metric fallback, errors and loading."""

from __future__ import annotations

import numpy as np
import pytest

from openrlb_cli.errors import SelectionError
from openrlb_cli.model import RunRecord, Series
from openrlb_cli.selection import METRIC_FALLBACKS, load_curves, parse_spec, resolve
from openrlb_cli.store import Store


def _run(store: Store, exp: str, env: str, seed: int, *, project: str = "p", key: str = "charts/episodic_return",
         tags: list[str] | None = None, config: dict | None = None, user: str | None = None,
         values: np.ndarray | None = None, steps: np.ndarray | None = None) -> None:
    steps = np.arange(0, 100, 10.0) if steps is None else steps
    values = steps * seed if values is None else values
    store.write_run(RunRecord("test", f"{project}/{exp}/{env}/{seed}/{key}", project=project, experiment=exp,
                              env=env, seed=seed, tags=tags or [], config=config or {}, user=user,
                              series={key: Series(steps, values)}))


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "s.db")
    for exp in ("sac", "td3"):
        for env in ("Hopper-v3", "Ant-v3"):
            for seed in (1, 2, 3):
                _run(s, exp, env, seed, tags=["v1"] + (["best"] if seed == 1 else []),
                     config={"lr": 0.001 * seed, "batch": 256}, user="ana" if seed < 3 else "bo")
    _run(s, "ppo", "Hopper-v3", 1, project="other", key="rollout/ep_rew_mean")
    yield s
    s.close()


def test_parse_spec_keys_and_label():
    spec = parse_spec("sac?project=tianshou&tag=a&tag=b&seed=1&lr=0.1&lr=0.2&cl=SAC%20v2")
    assert spec.experiment == "sac" and spec.label == "SAC v2"
    assert spec.filter.columns == {"project": ["tianshou"], "seed": ["1"]}
    assert spec.filter.tags == ["a", "b"] and spec.filter.config == {"lr": ["0.1", "0.2"]}
    assert parse_spec("ppo").filter.is_empty()


@pytest.mark.parametrize("bad", ["sac?project", "sac?=x", "sac?seed=", "?", "sac?algo=ppo"])
def test_parse_spec_errors_name_the_spec(bad):
    with pytest.raises(SelectionError, match="spec"):
        parse_spec(bad)


def test_resolve_groups_runs_by_env_in_given_order(store):
    sel = resolve(store, ["sac?project=p&cl=SAC", "td3"], ["Hopper-v3", "Ant-v3"])
    assert sel.labels == ["SAC", "td3"] and sel.env_ids == ["Hopper-v3", "Ant-v3"]
    sac = sel.experiments[0]
    assert [r.seed for r in sac.runs_by_env["Hopper-v3"]] == [1, 2, 3]
    assert {r.env for r in sac.runs_by_env["Ant-v3"]} == {"Ant-v3"}
    assert set(sel.keys.values()) == {"charts/episodic_return"}


def test_default_envs_are_all_matched_sorted(store):
    assert resolve(store, ["sac"]).env_ids == ["Ant-v3", "Hopper-v3"]


def test_tags_all_required_config_any_of_seed_user(store):
    sel = resolve(store, ["sac?tag=v1&tag=best"], ["Hopper-v3"])
    assert [r.seed for r in sel.experiments[0].runs] == [1]
    sel = resolve(store, ["sac?lr=0.001&lr=0.003"], ["Hopper-v3"])
    assert [r.seed for r in sel.experiments[0].runs] == [1, 3]
    sel = resolve(store, ["sac?seed=2&seed=3&user=ana"], ["Hopper-v3"])
    assert [r.seed for r in sel.experiments[0].runs] == [2]


def test_empty_experiment_expands_to_one_line_per_experiment(store):
    sel = resolve(store, ["?project=p&tag=v1"], ["Hopper-v3"])
    assert sel.labels == ["sac", "td3"]
    with pytest.raises(SelectionError, match="cl= needs one experiment"):
        resolve(store, ["?project=p&cl=X"], ["Hopper-v3"])


def test_same_default_label_falls_back_to_spec(store):
    sel = resolve(store, ["sac?seed=1", "sac?seed=2"], ["Hopper-v3"])
    assert sel.labels == ["sac?seed=1", "sac?seed=2"]
    with pytest.raises(SelectionError, match="labelled 'X'"):
        resolve(store, ["sac?cl=X", "td3?cl=X"], ["Hopper-v3"])


def test_unknown_experiment_suggests_close_match(store):
    with pytest.raises(SelectionError) as exc:
        resolve(store, ["sacc?project=p"], ["Hopper-v3"])
    msg = str(exc.value)
    assert "spec 'sacc?project=p' matches no run" in msg and "did you mean 'sac'" in msg


def test_unknown_project_and_tag_are_named(store):
    with pytest.raises(SelectionError, match="no project 'pp'.*did you mean 'p'"):
        resolve(store, ["sac?project=pp"])
    with pytest.raises(SelectionError, match="no tag 'v2'.*'v1'"):
        resolve(store, ["sac?tag=v2"])


def test_unknown_env_names_spec_and_env_and_suggests(store):
    with pytest.raises(SelectionError) as exc:
        resolve(store, ["sac"], ["Hoper-v3"])
    msg = str(exc.value)
    assert msg.startswith("env 'Hoper-v3' (for spec 'sac') has no run in the store (did you mean 'Hopper-v3'?)")
    assert "\n" not in msg
    with pytest.raises(SelectionError, match="env 'Pong' .* has no run in the store \\(see `openrlb runs`\\)"):
        resolve(store, ["sac", "td3"], ["Hopper-v3", "Pong"])


def test_spec_missing_one_env_is_an_error_unless_allowed(store):
    with pytest.raises(SelectionError, match=r"spec 'ppo' has no run in env 'Ant-v3'"):
        resolve(store, ["sac", "ppo"], ["Hopper-v3", "Ant-v3"], "rollout/ep_rew_mean", allow_missing=False)
    sel = resolve(store, ["ppo"], ["Hopper-v3", "Ant-v3"], allow_missing=True)
    assert list(sel.experiments[0].runs_by_env) == ["Hopper-v3"]
    assert any("Ant-v3" in w for w in sel.warnings)


def test_empty_store_and_no_specs(tmp_path, store):
    with Store(tmp_path / "empty.db") as empty, pytest.raises(SelectionError, match="is empty"):
        resolve(empty, ["sac"])
    with pytest.raises(SelectionError, match="no experiment specs"):
        resolve(store, [])


def test_bad_seed_value_is_a_selection_error(store):
    with pytest.raises(SelectionError, match="spec 'sac\\?seed=x'.*integer"):
        resolve(store, ["sac?seed=x"])


def test_metric_fallback_order(tmp_path):
    with Store(tmp_path / "m.db") as s:
        # a run with several keys uses the earliest in METRIC_FALLBACKS
        s.write_run(RunRecord("t", "a", experiment="x", env="E", seed=1, series={
            "rew": Series([0, 1], [1, 2]), "rollout/ep_rew_mean": Series([0, 1], [3, 4])}))
        s.write_run(RunRecord("t", "b", experiment="x", env="E", seed=2, series={"test/reward": Series([0], [5])}))
        s.write_run(RunRecord("t", "c", experiment="x", env="E", seed=3, series={"loss": Series([0], [5])}))
        sel = resolve(s, ["x"])
        keys = {r.seed: sel.keys[r.id] for r in sel.experiments[0].runs}
        assert keys == {1: "rollout/ep_rew_mean", 2: "test/reward"}
        assert any("1 run(s) without an episodic-return key" in w for w in sel.warnings)
        assert sel.metric_label == "rollout/ep_rew_mean | test/reward"
        assert METRIC_FALLBACKS.index("rollout/ep_rew_mean") < METRIC_FALLBACKS.index("rew")
        with pytest.raises(SelectionError, match="no episodic-return key.*keys there: loss") as caught:
            resolve(s, ["x?seed=3"])
        assert "--" not in str(caught.value) and caught.value.options == ("metric",)


def test_explicit_metric_not_found_suggests(store):
    with pytest.raises(SelectionError) as exc:
        resolve(store, ["sac"], ["Hopper-v3"], "charts/episodic_retrun")
    msg = str(exc.value)
    assert "metric 'charts/episodic_retrun' not found" in msg and "'charts/episodic_return'" in msg
    assert "spec 'sac'" in msg and "'Hopper-v3'" in msg


def test_load_curves_drops_nan_and_respects_max_steps(tmp_path):
    with Store(tmp_path / "n.db") as s:
        s.write_run(RunRecord("t", "a", experiment="x", env="E", seed=1, series={
            "r": Series([0, 10, 20, 30], [1.0, np.nan, 3.0, 4.0], [100, 101, 102, 103])}))
        s.write_run(RunRecord("t", "b", experiment="x", env="E", seed=2, series={"r": Series([50], [2.0])}))
        sel = resolve(s, ["x"], metric="r")
        curves = load_curves(s, sel)
        runs = curves.get("x", "E")
        assert [r.steps.tolist() for r in runs] == [[0, 20, 30], [50]]
        assert runs[0].walls.tolist() == [100, 102, 103]
        assert any("1 NaN/inf point" in w for w in curves.warnings)
        short = load_curves(s, sel, max_steps=20)
        assert [r.steps.tolist() for r in short.get("x", "E")] == [[0, 20]]
        assert any("no finite points up to step 20" in w for w in short.warnings)
        with pytest.raises(SelectionError, match="no finite points up to step -1"):
            load_curves(s, sel, max_steps=-1)
