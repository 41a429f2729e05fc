"""yaml_safe: RL Zoo and MLflow YAML read with PyYAML's SafeLoader plus data-only python tags."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import pytest
import yaml
from shared_data import SHARED_DATA, need_shared

from openrlb_cli.errors import InputError
from openrlb_cli.ingest import yaml_safe

DATA = SHARED_DATA
FILES = sorted([*DATA.glob("sb3-monitor/*/*/*/*.yml"), *DATA.glob("formats/sb3/logs/*/*/*/*.yml"),
                *DATA.glob("formats/mlflow-files/mlruns/**/meta.yaml")])
SAMPLE_ZOO = Path(__file__).resolve().parents[1] / "sample_runs"


def _plain(value):
    """What PyYAML's unsafe loader builds, as the plain data we store (OrderedDict -> dict, tuple -> list)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@pytest.mark.parametrize("path", FILES + sorted(SAMPLE_ZOO.glob("**/*.yml")), ids=lambda p: "/".join(p.parts[-3:]))
def test_real_files_equal_unsafe_load_without_running_it(path: Path) -> None:
    text = path.read_text()
    mine = yaml_safe.load_path(path)
    reference = yaml.unsafe_load(text)  # trusted files only: the reference builds real OrderedDicts
    assert mine == _plain(reference)
    if isinstance(reference, OrderedDict):
        assert type(mine) is dict and list(mine) == list(reference)  # plain dict, order kept


def test_rl_zoo_values_by_hand() -> None:
    zoo = DATA / "sb3-monitor"
    need_shared(zoo)
    args = yaml_safe.load_path(zoo / "sac" / "HalfCheetah-v3_1" / "HalfCheetah-v3" / "args.yml")
    assert args["algo"] == "sac" and args["hyperparams"] == {"use_sde": False}
    assert args["gym_packages"] == [] and args["env_kwargs"] is None and args["trained_agent"] == ""
    hopper = yaml_safe.load_path(zoo / "ppo" / "Hopper-v3_1" / "Hopper-v3" / "config.yml")
    assert hopper["learning_rate"] == 9.80828e-05 and hopper["n_timesteps"] == 1000000.0
    assert hopper["policy_kwargs"] == ("dict( log_std_init=-2, ortho_init=False, activation_fn=nn.ReLU, "
                                       "net_arch=[dict(pi=[256, 256], vf=[256, 256])] )")
    her = yaml_safe.load_path(zoo / "her" / "FetchPush-v1_1" / "FetchPush-v1" / "config.yml")
    assert her["env_wrapper"] == ["sb3_contrib.common.wrappers.TimeFeatureWrapper"]
    assert list(her)[:3] == ["batch_size", "buffer_size", "env_wrapper"]  # order kept


def test_scalars_resolve_like_yaml_1_1() -> None:
    doc = yaml_safe.loads("a: 1\nc: 1e5\nd: 1.0e+5\ne: yes\nf: ~\ng: '007'\n")
    assert doc == {"a": 1, "c": "1e5", "d": 100000.0, "e": True, "f": None, "g": "007"}


def test_tags_never_execute(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    doc = yaml_safe.loads(f"!!python/object/apply:os.system\n- touch {marker}\n")
    assert doc == [f"touch {marker}"] and not marker.exists()
    doc = yaml_safe.loads(f"k: !!python/object/new:subprocess.Popen {{args: [[touch, '{marker}']]}}\n")
    assert doc == {"k": {"args": [["touch", str(marker)]]}} and not marker.exists()
    assert yaml_safe.loads("k: !!python/tuple [1, 2]\n") == {"k": [1, 2]}
    assert yaml_safe.loads("!!python/object/apply:collections.OrderedDict\n- []\n") == {}
    assert yaml_safe.loads("!!python/object/apply:collections.OrderedDict\n- - [a, 1]\n  - [b, [2]]\n") == {
        "a": 1, "b": [2]}
    assert yaml_safe.loads("!!python/object/apply:collections.OrderedDict {args: [[[x, 1]]]}\n") == {"x": 1}
    assert yaml_safe.loads("") is None


@pytest.mark.parametrize("text,match", [
    ("a: [1, 2\n", "x.yml: line 2: invalid YAML"),
    ("a: 'open\n", "x.yml: line 2: invalid YAML"),
    ("a: 1\n\tb: 2\n", "x.yml: line 2: invalid YAML"),
    ("!!python/object/apply:collections.OrderedDict\n- [1, 2]\n", "x.yml: line 1: invalid YAML: OrderedDict"),
])
def test_errors_name_the_file_and_line(text: str, match: str) -> None:
    with pytest.raises(InputError, match=match):
        yaml_safe.loads(text, "x.yml")


def test_unreadable_files_are_input_errors(tmp_path: Path) -> None:
    bad = tmp_path / "args.yml"
    bad.write_bytes(b"algo: \xff\n")
    with pytest.raises(InputError, match="not UTF-8"):
        yaml_safe.load_path(bad)
    with pytest.raises(InputError, match="cannot read"):
        yaml_safe.load_path(tmp_path / "missing.yml")
