"""Normalization: the bundled Atari table, env-id spellings, maxmin, user CSVs."""

from __future__ import annotations

import numpy as np
import pytest
from shared_data import SHARED_DATA, SKIP_REASON

from openrlb_cli.analysis import normalize as nz

SHARED_TABLE = SHARED_DATA / "atari-human-random-scores.csv"


def test_bundled_table_has_57_games():
    table = nz.atari_reference_table()
    assert len(table) == 57
    assert table["Pong"] == (-20.7, 14.6)
    assert table["MontezumaRevenge"] == (0.0, 4753.3)
    assert table["MsPacman"] == (307.3, 6951.6)
    assert all(human != random for random, human in table.values())


@pytest.mark.skipif(not SHARED_TABLE.exists(), reason=SKIP_REASON)
def test_bundled_table_equals_shared_reference():
    assert nz.atari_reference_table() == nz.read_reference_csv(SHARED_TABLE)


@pytest.mark.parametrize(
    "env_id,game",
    [
        ("Pong", "Pong"),
        ("pong", "Pong"),
        ("PongNoFrameskip-v4", "Pong"),
        ("PongDeterministic-v4", "Pong"),
        ("Pong-ramNoFrameskip-v4", "Pong"),
        ("ALE/Pong-v5", "Pong"),
        ("Pong-v5", "Pong"),
        ("MontezumaRevenge", "MontezumaRevenge"),
        ("montezuma_revenge", "MontezumaRevenge"),
        ("MontezumaRevengeNoFrameskip-v4", "MontezumaRevenge"),
        ("ALE/MontezumaRevenge-v5", "MontezumaRevenge"),
        ("ms_pacman", "MsPacman"),
        ("MsPacman", "MsPacman"),
        ("ALE/MsPacman-v5", "MsPacman"),
        ("up_n_down", "UpNDown"),
        ("KungFuMaster-v5", "KungFuMaster"),
        ("private_eye", "PrivateEye"),
    ],
)
def test_env_id_spellings(env_id, game):
    assert nz.atari_game(env_id) == game


@pytest.mark.parametrize("env_id", ["HalfCheetah-v4", "Pooyan-v5", "CartPole-v1", "Pongo"])
def test_unknown_env_is_a_value_error_naming_it(env_id):
    with pytest.raises(nz.UnknownEnvError, match=env_id) as info:
        nz.reference_scores("atari", ["Pong-v5", env_id])
    assert isinstance(info.value, ValueError) and info.value.env_id == env_id


def test_atari_normalization_maps_random_to_0_and_human_to_1():
    refs = nz.reference_scores("atari", ["PongNoFrameskip-v4", "ALE/Breakout-v5"])
    scores = np.array([[-20.7, 1.7], [14.6, 30.5], [-3.05, 16.1]])
    out = nz.normalize_by_env(scores, ["PongNoFrameskip-v4", "ALE/Breakout-v5"], refs)
    np.testing.assert_allclose(out, [[0.0, 0.0], [1.0, 1.0], [0.5, 0.5]], atol=1e-12)


def test_normalize_curves_and_lists():
    curves = np.arange(12.0).reshape(2, 2, 3)
    out = nz.normalize(curves, [0.0, 6.0], [2.0, 8.0])
    np.testing.assert_allclose(out[:, 0], curves[:, 0] / 2)
    np.testing.assert_allclose(out[:, 1], (curves[:, 1] - 6) / 2)
    as_list = nz.normalize([np.array([1.0, 3.0]), np.array([10.0])], [1.0, 0.0], [3.0, 20.0])
    assert isinstance(as_list, list)
    np.testing.assert_allclose(as_list[0], [0.0, 1.0])
    np.testing.assert_allclose(as_list[1], [0.5])
    with pytest.raises(ValueError, match="zero-width"):
        nz.normalize(curves, [0.0, 1.0], [0.0, 2.0])


def test_maxmin_pools_all_experiments():
    a = np.array([[0.0, 10.0], [2.0, np.nan]])
    b = np.array([[4.0, 30.0], [1.0, 20.0], [3.0, 25.0]])
    refs = nz.reference_scores("maxmin", ["t0", "t1"], {"a": a, "b": b})
    assert refs == {"t0": (0.0, 4.0), "t1": (10.0, 30.0)}
    by_env = nz.reference_scores("maxmin", ["t0", "t1"], {"a": {"t0": [5.0], "t1": [7.0, 7.0]}})
    assert by_env == {"t0": (5.0, 6.0), "t1": (7.0, 8.0)}  # constant tasks normalize to 0
    with pytest.raises(ValueError, match="needs the scores"):
        nz.reference_scores("maxmin", ["t0"])


def test_none_and_unknown_method():
    assert nz.reference_scores("none", ["x"]) == {"x": (0.0, 1.0)}
    with pytest.raises(ValueError, match="unknown normalization"):
        nz.reference_scores("zscore", ["x"])


def test_user_csv_both_layouts(tmp_path):
    env_csv = tmp_path / "refs.csv"
    env_csv.write_text("# my reference scores\nenv,low,high\nHopper-v4,-20,3000\nPong,-21,21\n")
    refs = nz.reference_scores("csv", ["Hopper-v4", "PongNoFrameskip-v4"], csv_path=env_csv)
    assert refs == {"Hopper-v4": (-20.0, 3000.0), "PongNoFrameskip-v4": (-21.0, 21.0)}
    game_csv = tmp_path / "games.csv"
    game_csv.write_text("game,random,human\nBreakout,1.7,30.5\n")
    assert nz.reference_scores("csv", ["ALE/Breakout-v5"], csv_path=game_csv) == {"ALE/Breakout-v5": (1.7, 30.5)}
    with pytest.raises(nz.UnknownEnvError, match="Walker2d-v4"):
        nz.reference_scores("csv", ["Walker2d-v4"], csv_path=env_csv)


def test_bad_user_csv(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("name,lo,hi\nPong,1,2\n")
    with pytest.raises(ValueError, match="env column"):
        nz.reference_scores("csv", ["Pong"], csv_path=bad)
    bad.write_text("env,low,high\nPong,one,2\n")
    with pytest.raises(ValueError, match="bad row 2"):
        nz.reference_scores("csv", ["Pong"], csv_path=bad)
    with pytest.raises(ValueError, match="cannot read"):
        nz.reference_scores("csv", ["Pong"], csv_path=tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="needs a reference CSV"):
        nz.reference_scores("csv", ["Pong"])


def test_every_env_without_a_reference_is_named_at_once():
    with pytest.raises(nz.UnknownEnvError) as info:
        nz.reference_scores("atari", ["ALE/Pong-v5", "Hopper-v3", "Breakout", "Walker2d-v4"])
    assert info.value.missing == ["Hopper-v3", "Walker2d-v4"] and info.value.env_id == "Hopper-v3"
    assert "2 envs (Hopper-v3, Walker2d-v4)" in str(info.value)
