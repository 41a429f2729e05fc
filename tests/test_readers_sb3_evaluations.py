"""RL Zoo evaluations.npz: means, stds and every episode, re-read whole, never unpickled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from shared_data import SHARED_DATA, need_shared

from openrlb_cli.errors import InputError
from openrlb_cli.ingest.base import ReadOptions
from openrlb_cli.ingest.sb3.evaluations import EVALUATIONS
from openrlb_cli.store import Store

REAL = SHARED_DATA / "formats" / "sb3" / "logs" / "a2c" / "Acrobot-v1_1"


def _read(path: Path):
    return EVALUATIONS.read(path, 0, {}, ReadOptions()).runs[0].series


def test_real_zoo_file_matches_the_documented_facts():
    path = REAL / "evaluations.npz"
    need_shared(path)
    raw = np.load(path)
    series = _read(path)
    assert series["evaluations/mean_reward"].steps.tolist() == [2496, 4992, 7488, 9984]
    assert series["evaluations/mean_reward"].values == pytest.approx([-320.6, -145.8, -138.0, -126.0])
    assert series["evaluations/std_reward"].values == pytest.approx(raw["results"].std(axis=1))
    assert series["evaluations/episode_reward"].values.tolist() == raw["results"].ravel().tolist()
    assert series["evaluations/episode_length"].steps.tolist() == np.repeat(raw["timesteps"], 5).tolist()
    assert "evaluations/success_rate" not in series


def test_successes_and_growth_replace_instead_of_doubling(tmp_path, cli, db_path):
    run = tmp_path / "logs" / "ppo" / "FetchReach-v2_1"
    run.mkdir(parents=True)
    path = run / "evaluations.npz"
    rng = np.random.default_rng(0)
    res, lens, succ = rng.normal(size=(2, 3)), np.full((2, 3), 50), np.array([[0, 1, 1], [1, 1, 1]])
    np.savez(path, timesteps=[1000, 2000], results=res, ep_lengths=lens, successes=succ)
    assert cli("ingest", str(tmp_path))[0] == 0
    res3 = np.vstack([res, rng.normal(size=(1, 3))])  # the callback rewrites the file with one more row
    np.savez(path, timesteps=[1000, 2000, 3000], results=res3, ep_lengths=np.full((3, 3), 50),
             successes=np.vstack([succ, [[0, 0, 1]]]))
    assert cli("ingest", str(tmp_path))[0] == 0
    with Store(db_path) as store:
        (info,) = store.runs()
        assert (info.env, info.experiment, info.seed) == ("FetchReach-v2", "ppo", None)  # seed: args.yml only
        mean = store.load_series(info.id, "evaluations/mean_reward")
        assert mean.steps.tolist() == [1000, 2000, 3000] and mean.values == pytest.approx(res3.mean(axis=1))
        rate = store.load_series(info.id, "evaluations/success_rate")
        assert rate.values.tolist() == pytest.approx([2 / 3, 1.0, 1 / 3])


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"results": np.zeros((2, 3))}, "no 1-D numeric 'timesteps'"),
        ({"timesteps": [1, 2], "results": np.zeros((3, 3))}, "'results' should be a numeric (2, episodes)"),
        ({"timesteps": np.array([{"a": 1}], dtype=object)}, "not a readable evaluations.npz"),  # needs pickle
    ],
)
def test_bad_files_are_one_clear_error(tmp_path, arrays, message):
    path = tmp_path / "evaluations.npz"
    np.savez(path, **arrays)
    with pytest.raises(InputError, match="evaluations.npz") as err:
        _read(path)
    assert message in str(err.value)


def test_garbage_bytes_skip_the_file_and_keep_the_rest(tmp_path, cli):
    (tmp_path / "evaluations.npz").write_bytes(b"PK\x03\x04 not really a zip")
    np.savetxt(tmp_path / "log.csv", np.column_stack([np.arange(3), np.arange(3)]), delimiter=",",
               header="step,loss", comments="")
    code, _, err = cli("ingest", str(tmp_path))
    assert code == 2 and "evaluations.npz" in err and "not a readable" in err
