"""JSON record files whose seed is implicit (Dopamine's Atari results) and per-file labels ({stem})."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from shared_data import SHARED_DATA, SKIP_REASON

from openrlb_cli.store import Store

DOPAMINE = SHARED_DATA / "dopamine-atari"


def _records(agents: dict[str, int], iterations: int) -> list[dict]:
    """Dopamine's layout: per agent, seed after seed, Iteration restarting at 0."""
    rng = np.random.default_rng(7)
    return [
        {"Iteration": it, "Value": float(rng.normal(10 * seed + it)), "Agent": agent}
        for agent, seeds in agents.items()
        for seed in range(seeds)
        for it in range(iterations)
    ]


def _by_seed(records: list[dict]) -> pd.DataFrame:
    """The independent reference: a seed starts wherever Iteration goes back to 0, per agent."""
    df = pd.DataFrame(records)
    df["seed"] = df.groupby("Agent")["Iteration"].transform(lambda s: (s.diff() < 0).cumsum())
    return df


def test_json_array_with_restarting_steps_becomes_one_run_per_seed(cli, db_path, tmp_path):
    records = _records({"DQN": 3, "Rainbow": 2}, iterations=7)
    path = tmp_path / "pong.json"
    path.write_text(json.dumps(records, indent=1))  # pretty-printed, as Dopamine ships it
    code, out, err = cli("ingest", str(tmp_path), "--env", "{stem}", "--project", "dopamine", "--json")
    assert code == 0, err
    assert json.loads(out)["new_runs"] == 5
    ref = _by_seed(records)
    with Store(db_path) as store:
        runs = store.runs()
        assert sorted((r.experiment, r.seed, r.env) for r in runs) == sorted(
            {(a, s, "pong") for a, s in zip(ref.Agent, ref.seed, strict=True)}
        )
        for run in runs:
            series = store.load_series(run.id, "Value")
            want = ref[(ref.Agent == run.experiment) & (ref.seed == run.seed)]
            assert series.steps.tolist() == want.Iteration.astype(float).tolist()
            assert series.values.tolist() == want.Value.tolist()
    code, out, _ = cli("ingest", str(tmp_path), "--env", "{stem}", "--project", "dopamine", "--json")
    assert code == 0 and json.loads(out)["points"] == 0  # unchanged file: nothing added


def test_steps_that_never_restart_stay_one_run(cli, db_path, tmp_path):
    path = tmp_path / "runs.jsonl"
    path.write_text("".join(json.dumps({"step": s, "loss": 1.0 / (s + 1), "run": "a"}) + "\n" for s in range(5)))
    assert cli("ingest", str(path))[0] == 0
    with Store(db_path) as store:
        (run,) = store.runs()
        assert run.seed is None and len(store.load_series(run.id, "loss")) == 5


def test_restart_after_points_were_ingested_is_reported_not_split(cli, db_path, tmp_path):
    path = tmp_path / "grow.jsonl"
    write = lambda steps: path.open("a").write(  # noqa: E731
        "".join(json.dumps({"step": s, "r": float(s), "agent": "x"}) + "\n" for s in steps)
    )
    write(range(4))
    assert cli("ingest", str(path))[0] == 0
    write(range(4))  # a second seed appended later: its first part is already in the store
    code, out, err = cli("ingest", str(path))
    assert code == 0 and "restart after points already ingested" in err
    with Store(db_path) as store:
        (run,) = store.runs()
        assert store.load_series(run.id, "r").steps.tolist() == [0.0, 1.0, 2.0, 3.0] * 2


def test_seed_column_wins_over_restarts(cli, db_path, tmp_path):
    rows = [{"step": s, "v": 1.0, "seed": k} for k in (5, 9) for s in range(3)]
    (tmp_path / "s.json").write_text(json.dumps(rows))
    assert cli("ingest", str(tmp_path))[0] == 0
    with Store(db_path) as store:
        assert sorted(r.seed for r in store.runs()) == [5, 9]


def test_parent_placeholder_and_plain_json_objects_are_not_records(cli, db_path, tmp_path):
    game = tmp_path / "Breakout"
    game.mkdir()
    (game / "dqn.json").write_text(json.dumps(_records({"DQN": 2}, iterations=3)))
    (tmp_path / "config.json").write_text(json.dumps({"lr": 0.1}))  # not a record file: ignored
    code, _, err = cli("ingest", str(tmp_path), "--env", "{parent}", "--tag", "from-{stem}")
    assert code == 0, err
    with Store(db_path) as store:
        runs = store.runs()
        assert {r.env for r in runs} == {"Breakout"} and len(runs) == 2
        assert all("from-dqn" in r.tags for r in runs)


@pytest.mark.skipif(not DOPAMINE.is_dir(), reason=SKIP_REASON)
def test_real_dopamine_files(cli, db_path):
    files = [DOPAMINE / "pong.json", DOPAMINE / "breakout.json"]
    code, out, err = cli("ingest", *map(str, files), "--env", "{stem}", "--project", "dopamine", "--json")
    assert code == 0, err
    with Store(db_path) as store:
        runs = store.runs()
        for path in files:
            ref = _by_seed(json.loads(path.read_text()))
            mine = [r for r in runs if r.env == path.stem]
            assert len(mine) == ref.groupby(["Agent", "seed"]).ngroups == 30  # 6 agents x 5 seeds
            for run in mine:
                want = ref[(ref.Agent == run.experiment) & (ref.seed == run.seed)]
                got = store.load_series(run.id, "Value")
                assert got.values.tolist() == want.Value.tolist() and len(got) == len(want) > 100
