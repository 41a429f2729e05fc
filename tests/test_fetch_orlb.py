"""Open RL Benchmark's --filters syntax and key=value words -> W&B filters (pure parsing)."""

from __future__ import annotations

import pytest
from fake_wandb import matches

from openrlb_cli.errors import InputError
from openrlb_cli.fetch.wandb import WandbQuery, merge_queries
from openrlb_cli.fetch.wandb_filters import config_path, typed_variants, words_to_filter
from openrlb_cli.rlops.filters import experiment_filter, parse_groups, split_option_groups

HEADER = "?we=openrlbenchmark&wpn=cleanrl&ceik=env_id&cen=exp_name&metric=charts/episodic_return"


def test_issue_example_parses():
    (group,) = parse_groups(
        [[HEADER, "ppo_continuous_action?tag=v1.0.0-27-gde3f410&seed=1&seed=2&cl=CleanRL PPO"]],
        [["HalfCheetah-v4", "Hopper-v4"]])
    assert (group.entity, group.project, group.env_key, group.exp_key) == ("openrlbenchmark", "cleanrl", "env_id",
                                                                           "exp_name")
    assert (group.metric, group.xaxis) == ("charts/episodic_return", "global_step")
    (exp,) = group.experiments
    assert exp.exp_name == "ppo_continuous_action" and exp.tags == ["v1.0.0-27-gde3f410"]
    assert exp.label == "CleanRL PPO" and exp.config == {"seed": ["1", "2"]}
    assert experiment_filter(group, exp) == {"$and": [
        {"config.exp_name.value": "ppo_continuous_action"},
        {"config.env_id.value": {"$in": ["HalfCheetah-v4", "Hopper-v4"]}},
        {"tags": {"$in": ["v1.0.0-27-gde3f410"]}},
        {"config.seed.value": {"$in": [1, "1", 2, "2"]}},
    ]}
    (query,) = group.queries()
    assert query.metrics == ["charts/episodic_return", "global_step", "_runtime"]


def test_filter_semantics_on_run_documents():
    (group,) = parse_groups([[HEADER + "&xaxis=_step", "ppo?tag=a&tag=b&user=u1&user=u2"]], [["E1"]])
    flt = experiment_filter(group, group.experiments[0])

    def doc(tags, user="u1", env="E1", exp="ppo"):
        return {"tags": tags, "username": user, "config": {"env_id": {"value": env}, "exp_name": {"value": exp}}}

    assert matches(doc(["a", "b", "c"]), flt)
    assert matches(doc(["a", "b"], user="u2"), flt)
    assert not matches(doc(["a"]), flt)  # every tag is required
    assert not matches(doc(["a", "b"], user="u3"), flt)
    assert not matches(doc(["a", "b"], env="E2"), flt)
    # rlops' default legend: the project, the name and the filter as Python prints parse_qs' dict
    assert group.xaxis == "_step" and group.experiments[0].label == (
        "openrlbenchmark/cleanrl/ppo ({'tag': ['a', 'b'], 'user': ['u1', 'u2']})")


def test_groups_share_one_env_list_or_pair_them():
    groups = parse_groups([[HEADER, "a"], [HEADER.replace("cleanrl", "sb3"), "b", "c?cl=C\\nline"]], [["X", "Y"]])
    assert [g.env_ids for g in groups] == [["X", "Y"], ["X", "Y"]]
    assert groups[1].experiments[1].label == "C\nline"
    paired = parse_groups([[HEADER, "a"], [HEADER, "b"]], [["X"], ["Y"]])
    assert [g.env_ids for g in paired] == [["X"], ["Y"]]
    with pytest.raises(InputError, match="2 --filters groups but 3 --env-ids"):
        parse_groups([[HEADER, "a"], [HEADER, "b"]], [["X"], ["Y"], ["Z"]])


@pytest.mark.parametrize("filters,message", [
    ([["?wpn=x", "a"]], "must give we"),
    ([["?we=x&wpn=y&bogus=1", "a"]], "unknown key"),
    ([["ppo?tag=1"]], "project header"),
    ([[HEADER]], "names no experiment"),
    ([[HEADER, "?tag=x"]], "must start with the experiment name"),
])
def test_bad_filters_are_clear(filters, message):
    with pytest.raises(InputError, match=message):
        parse_groups(filters, [["E"]])


def test_header_without_wpn_takes_the_wandb_project_name():
    (group,) = parse_groups([["?we=x", "a"]], [["E"]])
    assert group.project == "cleanrl"  # rlops' --wandb-project-name default
    (group,) = parse_groups([["?we=x", "a"]], [["E"]], project="sb3")
    assert group.path == "x/sb3"
    (group,) = parse_groups([["?we=x&wpn=y&metric=m1&metric=m2", "a?cl=L1&cl=L2"]], [["E"]])
    assert group.metric == "m1" and group.experiments[0].label == "L1"  # rlops reads the first value


def test_split_option_groups_collects_variable_length_values():
    plain, groups = split_option_groups(
        ["x", "--filters", "A", "B", "--env-ids", "E1", "E2", "--other", "--filters=C", "D", "--env_ids", "E3"],
        ("--filters", "--env-ids"))
    assert plain == ["x", "--other"]
    assert groups == {"--filters": [["A", "B"], ["C", "D"]], "--env-ids": [["E1", "E2"], ["E3"]]}


def test_words_to_filter():
    assert words_to_filter([]) is None
    assert words_to_filter(["env=Hopper-v4"]) == {"config.env_id.value": "Hopper-v4"}
    assert words_to_filter(["env=H", "exp=ppo"], env_key="gym_id", exp_key="algo.value") == {"$and": [
        {"config.gym_id.value": "H"}, {"config.algo.value": "ppo"}]}
    assert words_to_filter(["tag=a", "tag=b", "user=me", "state=finished"]) == {"$and": [
        {"tags": {"$in": ["a"]}}, {"tags": {"$in": ["b"]}}, {"username": "me"}, {"state": "finished"}]}
    assert words_to_filter(["lr=0.001"]) == {"config.lr.value": {"$in": [0.001, "0.001"]}}
    with pytest.raises(InputError, match="not key=value"):
        words_to_filter(["oops"])
    assert typed_variants("true") == [True, "true"] and typed_variants("abc") == ["abc"]
    assert config_path("config.x") == "config.x.value" and config_path("t.value.lam") == "config.t.value.lam"


def test_queries_on_one_project_are_listed_once():
    a = WandbQuery("e", "p", {"x": 1}, ["m"])
    b = WandbQuery("e", "p", {"x": 2}, ["m", "n"])
    c = WandbQuery("e", "q", None, None)
    merged = merge_queries([a, b, c])
    assert len(merged) == 2
    assert merged[0].filters == {"$or": [{"x": 1}, {"x": 2}]} and merged[0].metrics == ["m", "n"]
    assert merged[1].filters is None and merged[1].metrics is None
