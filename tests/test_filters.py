"""The filter grammar: numbers as numbers, comparisons, `!=`, in `runs`, specs and the store."""

from __future__ import annotations

import random

import numpy as np
import pytest

from openrlb_cli.errors import InputError
from openrlb_cli.model import RunRecord, Series
from openrlb_cli.selection import parse_spec, resolve
from openrlb_cli.store import Store, parse_filters
from openrlb_cli.store.filters import parse_number, split_word

CONFIGS = {
    # CleanRL stores its hyperparameters table as text; W&B and MLflow as JSON numbers
    "a": {"lr": 0.3, "gamma": 0.99, "cuda": True, "layers": [64, 64], "tag_like": "x"},
    "b": {"lr": "0.0003", "gamma": "0.99", "cuda": "True", "anneal": None},
    "c": {"lr": 3e-4, "gamma": 1, "cuda": False, "note": "0.3 is not a number here"},
    "d": {"lr": "3e-4", "gamma": "abc", "cuda": "False"},
    "e": {},
}


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "f.db")
    for i, (ext, cfg) in enumerate(CONFIGS.items()):
        s.write_run(RunRecord("t", ext, project="p", experiment="sac" if i % 2 else "ppo", env="Hopper-v3",
                              seed=i, state="crashed" if ext == "c" else ("finished" if i < 3 else None),
                              tags=["x"] if i < 2 else [], config=cfg,
                              series={"m": Series(np.arange(3.0), np.arange(3.0))}))
    yield s
    s.close()


def sel(store: Store, *words: str) -> list[str]:
    return sorted(r.external_id for r in store.runs(parse_filters(list(words))))


@pytest.mark.parametrize(("words", "expected"), [
    (["lr=0.30"], ["a"]),  # 0.30 == 0.3 as numbers
    (["lr=0.3"], ["a"]),  # not run c, whose *note* says 0.3
    (["lr=3e-4"], ["b", "c", "d"]),  # JSON number 0.0003 and the texts "0.0003" and "3e-4"
    (["lr=0.0003"], ["b", "c", "d"]),
    (["lr<1e-3"], ["b", "c", "d"]),
    (["lr>=0.3"], ["a"]),
    (["lr>0.3"], []),
    (["gamma=1"], ["c"]),
    (["gamma=1.0"], ["c"]),
    (["gamma<1"], ["a", "b"]),  # "abc" is not a number: never compared
    (["gamma=abc"], ["d"]),
    (["gamma!=abc"], ["a", "b", "c", "e"]),  # != keeps runs without the key, like pandas and $ne
    (["cuda=true"], ["a", "b"]),  # JSON true and CleanRL's "True"
    (["cuda=True"], ["a", "b"]),
    (["cuda=false"], ["c", "d"]),
    (["layers=[64, 64]"], ["a"]),
    (["layers=[64,64]"], ["a"]),
    (["anneal=null"], ["b"]),
    (["lr=0.3", "lr=3e-4"], ["a", "b", "c", "d"]),  # = repeated: any of them
    (["lr>1e-4", "lr<0.1"], ["b", "c", "d"]),  # other conditions: all of them (a range)
    (["seed>=3"], ["d", "e"]),
    (["seed<2", "seed!=0"], ["b"]),
    (["seed=3.0"], ["d"]),
    (["state!=crashed"], ["a", "b", "d", "e"]),  # runs without a state are not crashed
    (["state=crashed"], ["c"]),
    (["tag!=x"], ["c", "d", "e"]),
    (["experiment!=ppo", "lr<1"], ["b", "d"]),
    (["config.lr=0.3"], ["a"]),
    (["lr==0.3"], ["a"]),
])
def test_filters_compare_numbers_as_numbers(store, words, expected):
    assert sel(store, *words) == expected


def test_comparisons_agree_with_a_python_reference(tmp_path):
    """Random configs (numbers as JSON and as text), random thresholds: SQL == plain Python."""
    rng = random.Random(7)
    values = [0.1, 0.25, 3e-4, 1e-3, 2, 10, -1.5]
    with Store(tmp_path / "r.db") as s:
        stored = {}
        for i in range(60):
            v = rng.choice(values)
            as_text = rng.random() < 0.5
            cfg = {"lr": repr(v) if as_text else v} if rng.random() < 0.9 else {"other": 1}
            stored[str(i)] = cfg.get("lr")
            s.write_run(RunRecord("t", str(i), config=cfg))
        for op in ("=", "!=", "<", "<=", ">", ">="):
            for thr in ("1e-3", "0.25", "2.0", "-1.5", "0.0003"):
                t = float(thr)
                expected = []
                for ext, v in stored.items():
                    x = None if v is None else float(v)
                    hit = {"=": x == t, "!=": x != t, "<": x is not None and x < t,
                           "<=": x is not None and x <= t, ">": x is not None and x > t,
                           ">=": x is not None and x >= t}[op]
                    if hit:
                        expected.append(ext)
                assert sel(s, f"lr{op}{thr}") == sorted(expected), (op, thr)


@pytest.mark.parametrize("word", ["lr", "=3", "<3"])
def test_word_without_a_key_or_operator_is_an_error(word):
    with pytest.raises(InputError, match="is not key=value"):
        parse_filters([word])


@pytest.mark.parametrize(("word", "message"), [
    ("lr<abc", "needs a number"),
    ("env<Hopper", "only seed and config keys"),
    ("tag>x", "only seed and config keys"),
    ("seed=abc", "seed must be an integer"),
])
def test_bad_comparisons_are_errors(word, message):
    with pytest.raises(InputError, match=message):
        parse_filters([word])


def test_split_word_takes_the_first_operator():
    assert split_word("name=a<b") == ("name", "=", "a<b")
    assert split_word("lr<=1e-3") == ("lr", "<=", "1e-3")
    assert split_word("state!=crashed") == ("state", "!=", "crashed")


@pytest.mark.parametrize(("text", "number"), [
    ("0.30", 0.3), ("3e-4", 0.0003), ("7", 7), ("-2", -2), (" 1.5 ", 1.5), (".5", 0.5),
    ("nan", None), ("inf", None), ("1_000", None), ("0x10", None), ("abc", None), ("", None), ("1e", None),
])
def test_parse_number(text, number):
    assert parse_number(text) == number


def test_specs_take_comparisons(store):
    spec = parse_spec("?project=p&lr<1e-3&state!=crashed")
    assert spec.filter.config == {} and len(spec.filter.conditions) == 2
    sel_ = resolve(store, ["?project=p&lr<1e-3&state!=crashed"], metric="m")
    assert sorted(r.external_id for e in sel_.experiments for r in e.runs) == ["b", "d"]
    sel_ = resolve(store, ["ppo?seed>=2"], metric="m")
    assert sorted(r.external_id for e in sel_.experiments for r in e.runs) == ["c", "e"]


def test_runs_cli_takes_comparisons(cli, db_path):
    with Store(db_path) as s:
        for i, lr in enumerate([0.3, "0.0003", 1e-3]):
            s.write_run(RunRecord("t", str(i), project="p", seed=i, config={"learning_rate": lr}))
    code, out, err = cli("runs", "learning_rate=0.30", "--json")
    assert code == 0 and [r["external_id"] for r in __import__("json").loads(out)] == ["0"]
    code, out, _ = cli("runs", "learning_rate<1e-3", "--json")
    assert code == 0 and [r["external_id"] for r in __import__("json").loads(out)] == ["1"]
    code, out, _ = cli("runs", "seed>=1", "learning_rate<=1e-3", "--json")
    assert code == 0 and [r["external_id"] for r in __import__("json").loads(out)] == ["1", "2"]


# ---------------------------------------------------------------------------- typos: errors with suggestions
@pytest.fixture
def typo_db(db_path):
    with Store(db_path) as s:
        for env in ("Hopper-v3", "Walker2d-v3"):
            for seed in (0, 1):
                s.write_run(RunRecord("t", f"{env}/{seed}", project="tianshou", experiment="sac", env=env,
                                      seed=seed, state="finished", tags=["paper"],
                                      config={"learning_rate": 0.0003, "batch_size": 256},
                                      series={"test/reward": Series([0, 1], [1.0, 2.0])}))
    return db_path


@pytest.mark.parametrize(("words", "message"), [
    (["projct=tianshou"], "no run has a field or config key 'projct' (did you mean 'project'?)"),
    (["env=Hopper-v4"], "no env 'Hopper-v4' (did you mean 'Hopper-v3'"),
    (["project=tianshu"], "no project 'tianshu' (did you mean 'tianshou'?)"),
    (["tag=papr"], "no tag 'papr' (did you mean 'paper'?)"),
    (["learning_rat<1"], "no run has a field or config key 'learning_rat' (did you mean 'learning_rate'"),
    (["batch_size=265"], "no run has batch_size=265 (did you mean '256'?)"),
    (["env=Hoper-v3", "env=Walker-v3"], "no env 'Hoper-v3' (did you mean 'Hopper-v3'"),
])
def test_runs_typos_are_errors_with_suggestions(cli, typo_db, words, message):
    code, out, err = cli("runs", *words)
    assert code == 1 and message in err and err.startswith("error: no run matches ")
    assert err.count("\n") == 1


def test_runs_empty_intersection_of_known_values_is_not_an_error(cli, typo_db):
    code, out, err = cli("runs", "env=Hopper-v3", "seed=1", "learning_rate>1")
    assert code == 0 and "0 runs" in out
    code, out, _ = cli("runs", "state=running")  # a state no run has *yet*: a cron job's question
    assert code == 0 and "0 runs" in out


def test_rm_and_export_explain_typos(cli, typo_db, tmp_path):
    code, _, err = cli("rm", "env=Hopper-v4", "--yes")
    assert code == 1 and "did you mean 'Hopper-v3'" in err
    code, _, err = cli("export", "projct=tianshou", "--metric", "test/reward")
    assert code == 1 and "did you mean 'project'" in err
    code, _, err = cli("export", "env=Hopper-v4", "--format", "parquet", "-o", str(tmp_path / "ds"))
    assert code == 1 and "did you mean 'Hopper-v3'" in err
    code, _, err = cli("export", "project=tianshou", "--metric", "test/rewar")
    assert code == 1 and "has metric 'test/rewar' (did you mean 'test/reward'?)" in err
    code, _, err = cli("rm", "seed>5", "--yes")
    assert code == 1 and "no run has seed>5" in err


def test_spec_with_a_typod_config_key_suggests(typo_db):
    from openrlb_cli.errors import SelectionError

    with Store(typo_db) as s, pytest.raises(SelectionError, match="'learning_rat'.*did you mean 'learning_rate'"):
        resolve(s, ["sac?learning_rat=0.0003"])


def test_a_typo_among_several_values_warns(cli, typo_db):
    code, out, err = cli("runs", "env=Hopper-v3", "env=Hoper-v3", "--json")
    assert code == 0 and len(__import__("json").loads(out)) == 2
    assert "warning: no env 'Hoper-v3' (did you mean 'Hopper-v3'" in err
