"""yamlish: the RL Zoo and MLflow YAML in shared/data against PyYAML (when installed) and by hand."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from openrlb_cli.errors import InputError
from openrlb_cli.ingest import yamlish

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FILES = sorted([*DATA.glob("sb3-monitor/*/*/*/*.yml"), *DATA.glob("formats/sb3/logs/*/*/*/*.yml"),
                *DATA.glob("formats/mlflow-files/mlruns/**/meta.yaml")])


@pytest.mark.parametrize("path", FILES, ids=lambda p: "/".join(p.parts[-3:]))
def test_real_files_equal_pyyaml(path: Path) -> None:
    yaml = pytest.importorskip("yaml")
    text = path.read_text()
    mine = yamlish.load_path(path)
    if text.startswith("!!python/object/apply:collections.OrderedDict"):
        pairs = yaml.safe_load(text.split("\n", 1)[1])  # the same document without the unsafe tag
        assert mine == dict(pairs[0])
    else:
        assert mine == yaml.safe_load(text)


def test_rl_zoo_values_by_hand() -> None:
    zoo = DATA / "sb3-monitor"
    if not zoo.exists():
        pytest.skip("shared data absent")
    args = yamlish.load_path(zoo / "sac" / "HalfCheetah-v3_1" / "HalfCheetah-v3" / "args.yml")
    assert args["algo"] == "sac" and args["hyperparams"] == {"use_sde": False}
    assert args["gym_packages"] == [] and args["env_kwargs"] is None and args["trained_agent"] == ""
    hopper = yamlish.load_path(zoo / "ppo" / "Hopper-v3_1" / "Hopper-v3" / "config.yml")
    assert hopper["learning_rate"] == 9.80828e-05 and hopper["n_timesteps"] == 1000000.0
    assert hopper["policy_kwargs"] == ("dict( log_std_init=-2, ortho_init=False, activation_fn=nn.ReLU, "
                                       "net_arch=[dict(pi=[256, 256], vf=[256, 256])] )")
    her = yamlish.load_path(zoo / "her" / "FetchPush-v1_1" / "FetchPush-v1" / "config.yml")
    assert her["env_wrapper"] == ["sb3_contrib.common.wrappers.TimeFeatureWrapper"]
    assert list(her)[:3] == ["batch_size", "buffer_size", "env_wrapper"]  # order kept


def test_scalars_resolve_like_yaml_1_1() -> None:
    doc = yamlish.loads("a: 1\nb: -2.5\nc: 1e5\nd: 1.0e+5\ne: yes\nf: ~\ng: '007'\nh: .inf\ni: .nan\n"
                        "j: 0x1F\nk: 1_000\nl: \"tab\\there\"\nm: 'it''s'\nn: plain text # comment\n")
    assert doc["a"] == 1 and doc["b"] == -2.5 and doc["c"] == "1e5" and doc["d"] == 100000.0
    assert doc["e"] is True and doc["f"] is None and doc["g"] == "007" and doc["h"] == math.inf
    assert math.isnan(doc["i"]) and doc["j"] == 31 and doc["k"] == 1000
    assert doc["l"] == "tab\there" and doc["m"] == "it's" and doc["n"] == "plain text"


def test_structures() -> None:
    text = """
---
# comment
top:
  nested:
    - 1
    - [a, 'b, c', {k: v}]
    - - x
      - y
    - key: value
      other: 2
  empty:
  list_same_indent:
  - p
  - q
literal: |
  line 1
    indented
folded: >-
  one
  two

  three
url: file:///home/user/mlruns  # colon inside value
"""
    doc = yamlish.loads(text)
    assert doc["top"]["nested"] == [1, ["a", "b, c", {"k": "v"}], ["x", "y"], {"key": "value", "other": 2}]
    assert doc["top"]["empty"] is None and doc["top"]["list_same_indent"] == ["p", "q"]
    assert doc["literal"] == "line 1\n  indented\n" and doc["folded"] == "one two\nthree"
    assert doc["url"] == "file:///home/user/mlruns"
    yaml = pytest.importorskip("yaml")
    assert doc == yaml.safe_load(text)


def test_tags_never_execute(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    doc = yamlish.loads(f"!!python/object/apply:os.system\n- touch {marker}\n")
    assert doc == [f"touch {marker}"] and not marker.exists()
    assert yamlish.loads("k: !!python/tuple [1, 2]\n") == {"k": [1, 2]}
    assert yamlish.loads("!!python/object/apply:collections.OrderedDict\n- []\n") == {}
    assert yamlish.loads("") is None


@pytest.mark.parametrize("text,match", [
    ("a: [1, 2\n", "line 1: unclosed flow"),
    ("a: 'open\n", "line 1: unclosed quoted"),
    ("a: 1\n\tb: 2\n", "line 2: tab"),
    ("a: 1\nb\n", "line 2: expected 'key: value'"),
])
def test_errors_name_the_line(text: str, match: str) -> None:
    with pytest.raises(InputError, match=match):
        yamlish.loads(text, "x.yml")
