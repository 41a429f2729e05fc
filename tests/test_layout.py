"""Layouts: benchmark trees recognised without options, path templates, placeholders, and the
warning for table/figure cells whose runs repeat a seed."""

from __future__ import annotations

from pathlib import Path

import pytest
import tianshou_helper as th

from openrlb_cli.errors import InputError
from openrlb_cli.ingest.layout import compile_template, infer_from_tree
from openrlb_cli.store import Store


def _csv(path: Path, rows: int = 3, scale: float = 1.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("step,reward\n" + "".join(f"{i * 10},{i * scale}\n" for i in range(rows)))


def _sorted(rows: list[tuple]) -> list[tuple]:
    return sorted(rows, key=str)


def _fields(db: Path) -> list[tuple]:
    with Store(db) as s:
        return sorted(((r.project, r.experiment, r.env, r.seed) for r in s.runs()), key=str)


@pytest.mark.parametrize(("path", "expected"), [
    ("bench/Hopper-v3/sac/test_rew_10seeds.csv", {"env": "Hopper-v3", "experiment": "sac"}),
    ("bench/sac/ALE/Pong-v5/x.csv", {}),  # an env id with a slash is two folders: not unambiguous
    ("bench/ppo_continuous/Walker2d-v4/x.csv", {"env": "Walker2d-v4", "experiment": "ppo_continuous"}),
    ("bench/logs/Hopper-v3/x.csv", {}),  # a folder that organises logs is not an algorithm
    ("bench/Hopper-v3/results/x.csv", {}),
    ("bench/Hopper-v3/Ant-v3/x.csv", {}),  # two env ids: not unambiguous
    ("bench/sac/hopper/x.csv", {}),  # no env id
])
def test_infer_from_tree(path, expected):
    assert infer_from_tree(Path(path)) == expected


def test_benchmark_tree_recognised_without_options(cli, db_path, tmp_path):
    _csv(tmp_path / "Hopper-v3" / "sac" / "log.csv")
    _csv(tmp_path / "Hopper-v3" / "td3" / "log.csv")
    _csv(tmp_path / "ppo" / "Ant-v3" / "log.csv")
    _csv(tmp_path / "logs" / "Ant-v3" / "log.csv")
    assert cli("ingest", str(tmp_path), "--project", "b")[0] == 0
    assert _fields(db_path) == _sorted([("b", None, None, None), ("b", "ppo", "Ant-v3", None),
                                ("b", "sac", "Hopper-v3", None), ("b", "td3", "Hopper-v3", None)])


@pytest.mark.skipif(not th.TIANSHOU.is_dir(), reason="needs ../shared/data/tianshou-mujoco")
def test_tianshou_benchmark_gets_env_and_experiment(cli, db_path):
    code, _, err = cli("ingest", str(th.TIANSHOU), "--project", "tianshou")
    assert code == 0
    with Store(db_path) as s:
        runs = s.runs()
    cells: dict[tuple[str, str], list[int]] = {}
    for r in runs:
        cells.setdefault((r.env, r.experiment), []).append(r.seed)
    expected = {(e, a) for e in th.envs() for a in th.algos(e)}
    assert len(runs) == 720 and set(cells) == expected and len(expected) == 72
    assert all(sorted(seeds) == list(range(10)) for seeds in cells.values())


def test_layout_template_fields_and_precedence(cli, db_path, tmp_path):
    _csv(tmp_path / "sac" / "Hopper-v3" / "seed_3" / "log.csv")
    _csv(tmp_path / "sac" / "Hopper-v3" / "seed_4" / "sub" / "log.csv")  # deeper files inherit the fields
    _csv(tmp_path / "td3" / "hopper" / "seed_1" / "log.csv")
    code, _, err = cli("ingest", str(tmp_path), "--layout", "{experiment}/{env}/seed_{seed}")
    assert code == 0 and "layout" not in err
    assert _fields(db_path) == _sorted([("local", "sac", "Hopper-v3", 3), ("local", "sac", "Hopper-v3", 4),
                                ("local", "td3", "hopper", 1)])
    # explicit options win over the template
    code, _, err = cli("ingest", str(tmp_path), "--layout", "{experiment}/{env}/seed_{seed}", "--env", "E",
                       db=tmp_path / "o.db")
    assert {f[2] for f in _fields(tmp_path / "o.db")} == {"E"}


def test_layout_wildcards_and_unmatched_files_warn(cli, db_path, tmp_path):
    _csv(tmp_path / "runs" / "2024-01-01_sac_Hopper-v3" / "log.csv")
    _csv(tmp_path / "other" / "log.csv")
    code, _, err = cli("ingest", str(tmp_path), "--layout", "**/*_{experiment}_{env}")
    assert code == 0
    assert "layout '**/*_{experiment}_{env}' does not match 1 of 2 files (e.g. " in err and "other" in err
    assert _fields(db_path) == _sorted([("local", None, None, None), ("local", "sac", "Hopper-v3", None)])


@pytest.mark.parametrize(("template", "message"), [
    ("{env}/{algo}", "unknown placeholder {algo}"),
    ("runs/*", "has no placeholder"),
    ("{env}/{env}", "{env} appears twice"),
])
def test_bad_templates(template, message):
    with pytest.raises(InputError, match=message.replace("{", r"\{").replace("}", r"\}")):
        compile_template(template)


def test_bad_template_is_an_error_before_reading(cli, db_path, tmp_path):
    _csv(tmp_path / "a" / "log.csv")
    code, _, err = cli("ingest", str(tmp_path), "--layout", "{env}/{algo}")
    assert code == 1 and "unknown placeholder {algo}" in err and _fields(db_path) == []


def test_parent_grandparent_and_seed_placeholders(cli, db_path, tmp_path):
    _csv(tmp_path / "d" / "hopper" / "sac" / "3.csv")
    code, _, _ = cli("ingest", str(tmp_path / "d"), "--env", "{grandparent}", "--experiment", "{parent}",
                     "--seed", "{stem}")
    assert code == 0 and _fields(db_path) == [("local", "sac", "hopper", 3)]
    code, _, err = cli("ingest", str(tmp_path / "d"), "--seed", "{parent}", db=tmp_path / "s.db")
    assert code == 2 and "seed 'sac' (from '{parent}') is not an integer" in err
    code, _, err = cli("ingest", str(tmp_path / "d"), "--seed", "x", db=tmp_path / "x.db")
    assert code == 1 and "--seed must be an integer" in err


def test_pooled_cell_repeating_seeds_warns(cli, db_path, tmp_path):
    """`--experiment '{parent}'` on a tree whose env folders are not env ids pools every env in one
    "(no env)" cell: a table says so."""
    for e, env in enumerate(("hopper", "walker")):
        for seed in (0, 1):  # distinct curves: byte-identical logs would be one run (its copies)
            _csv(tmp_path / env / "sac" / f"seed{seed}.csv", scale=seed + 1 + 10 * e)
    for f in tmp_path.rglob("*.csv"):
        seed = int(f.stem[-1])
        cli("ingest", str(f), "--experiment", "{parent}", "--seed", str(seed))
    code, out, err = cli("table", "sac", "--metric", "reward", "--last-n", "1", "--format", "csv")
    assert code == 0
    assert "sac / (no env): 4 runs but 2 distinct seeds: runs of several environments or experiments pooled" in err
    cli("set", "experiment=sac", "--env", "x", db=db_path)  # still pooled: same warning
    code, out, err = cli("table", "sac", "--metric", "reward", "--last-n", "1", "--format", "csv")
    assert "4 runs but 2 distinct seeds" in err
