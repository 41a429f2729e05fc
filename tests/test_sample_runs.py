"""The committed sample runs: layout, real learning, and byte-identical regeneration.

The files under sample_runs/ are the README demo and the ingest tests' inputs, so they must stay
what `python sample_runs/generate.py` writes. Curves are read here with readers independent of
openrlb's (pandas, json, a minimal TFRecord walker, TensorBoard's own EventAccumulator when
installed), and the deterministic math and physics are checked against `math` and Gym's formulas.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_runs"
GENERATOR = SAMPLES / "generate.py"
DATA_DIRS = ("cleanrl", "sb3", "csv", "jsonl")
CLEANRL_DIR = re.compile(r"^(?P<env>.+?)__(?P<exp>.+?)__(?P<seed>\d+)__(?P<time>\d{10})$")

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _data_files(base: Path) -> dict[str, str]:
    """Relative path -> sha256 of every generated file under `base`."""
    out = {}
    for name in DATA_DIRS:
        for p in sorted((base / name).rglob("*")):
            if p.is_file():
                out[p.relative_to(base).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _regenerate(tmp_path: Path, *args: str) -> dict[str, str]:
    cmd = [sys.executable, str(GENERATOR), "--out", str(tmp_path), "--jobs", "2", *args]
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)
    return _data_files(tmp_path)


def _tf_scalars(path: Path) -> dict[str, list[tuple[int, float]]]:
    """Minimal reader of `simple_value` events (record framing + the few Event fields)."""

    def varint(b: bytes, i: int) -> tuple[int, int]:
        shift = out = 0
        while True:
            out |= (b[i] & 0x7F) << shift
            shift += 7
            i += 1
            if b[i - 1] < 0x80:
                return out, i

    def fields(b: bytes):
        i = 0
        while i < len(b):
            key, i = varint(b, i)
            num, wt = key >> 3, key & 7
            if wt == 0:
                v, i = varint(b, i)
            elif wt == 1:
                v, i = b[i : i + 8], i + 8
            elif wt == 5:
                v, i = b[i : i + 4], i + 4
            else:
                n, i = varint(b, i)
                v, i = b[i : i + n], i + n
            yield num, v

    data = path.read_bytes()
    out: dict[str, list[tuple[int, float]]] = {}
    pos = 0
    while pos < len(data):
        (n,) = struct.unpack_from("<Q", data, pos)
        event = data[pos + 12 : pos + 12 + n]
        pos += 16 + n
        ev = dict(fields(event))
        if 5 not in ev:
            continue
        value = dict(fields(dict(fields(ev[5]))[1]))
        if 2 in value:
            out.setdefault(value[1].decode(), []).append((ev.get(2, 0), struct.unpack("<f", value[2])[0]))
    return out


def _improves(returns: np.ndarray) -> bool:
    k = max(len(returns) // 10, 1)
    return bool(returns[-k:].mean() > returns[:k].mean())


# ----------------------------------------------------------------------------- layout


def test_expected_layout_exists() -> None:
    runs = sorted((SAMPLES / "cleanrl" / "runs").iterdir())
    assert len(runs) == 12
    combos = set()
    for run in runs:
        m = CLEANRL_DIR.match(run.name)
        assert m, run.name
        combos.add((m["env"], m["exp"]))
        events = list(run.iterdir())
        assert len(events) == 1
        assert re.fullmatch(rf"events\.out\.tfevents\.{m['time']}\.samplebox\.\d+\.0", events[0].name)
    assert combos == {(e, a) for e in ("CartPole-v1", "MountainCar-v0") for a in ("q_learning", "sarsa_lambda")}
    for n in (1, 2, 3):
        zoo = SAMPLES / "sb3" / "reinforce" / f"CartPole-v1_{n}"
        for name in ("0.monitor.csv", "progress.csv", "CartPole-v1/args.yml", "CartPole-v1/config.yml"):
            assert (zoo / name).is_file(), zoo / name
    assert (SAMPLES / "csv" / "curves.csv").is_file()
    assert (SAMPLES / "jsonl" / "curves.jsonl").is_file()
    assert sum((SAMPLES / d).stat().st_size for d in _data_files(SAMPLES)) < 2_000_000


def test_cleanrl_events_have_cleanrl_tags_and_hparams() -> None:
    for run in sorted((SAMPLES / "cleanrl" / "runs").iterdir()):
        m = CLEANRL_DIR.match(run.name)
        scalars = _tf_scalars(next(run.iterdir()))
        assert set(scalars) == {"charts/episodic_return", "charts/episodic_length", "charts/SPS",
                                "losses/td_loss", "losses/q_values"}
        steps = [s for s, _ in scalars["charts/episodic_return"]]
        assert steps == sorted(steps) and steps[-1] <= (50_000 if m["env"] == "CartPole-v1" else 40_000)
        lengths = dict(scalars["charts/episodic_length"])
        if m["env"] == "CartPole-v1":  # +1 per step: return = length, at most 500
            assert all(lengths[s] == r <= 500 for s, r in scalars["charts/episodic_return"])
        else:  # -1 per step, at most 200 steps
            assert all(-lengths[s] == r >= -200 for s, r in scalars["charts/episodic_return"])


def test_hparams_text_matches_tensorboard_reader() -> None:
    ea_mod = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    run = sorted((SAMPLES / "cleanrl" / "runs").iterdir())[0]
    m = CLEANRL_DIR.match(run.name)
    acc = ea_mod.EventAccumulator(str(run), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    assert acc.Tags()["tensors"] == ["hyperparameters/text_summary"]
    assert acc.SummaryMetadata("hyperparameters/text_summary").plugin_data.plugin_name == "text"
    text = acc.Tensors("hyperparameters/text_summary")[0].tensor_proto.string_val[0].decode()
    lines = text.split("\n")
    assert lines[:2] == ["|param|value|", "|-|-|"]
    table = dict(line.strip("|").split("|") for line in lines[2:])
    assert (table["exp_name"], table["env_id"], table["seed"]) == (m["exp"], m["env"], m["seed"])
    ours = _tf_scalars(next(run.iterdir()))
    for tag in acc.Tags()["scalars"]:
        assert [(e.step, e.value) for e in acc.Scalars(tag)] == ours[tag]


def test_sb3_files_have_real_shapes() -> None:
    for n in (1, 2, 3):
        zoo = SAMPLES / "sb3" / "reinforce" / f"CartPole-v1_{n}"
        first = (zoo / "0.monitor.csv").read_text().splitlines()[0]
        header = json.loads(first[1:])
        assert first.startswith("#") and header["env_id"] == "CartPole-v1" and header["t_start"] > 1.6e9
        mon = pd.read_csv(zoo / "0.monitor.csv", skiprows=1)
        assert list(mon.columns) == ["r", "l", "t"]
        assert (mon["r"] == mon["l"]).all() and mon["t"].is_monotonic_increasing
        prog = pd.read_csv(zoo / "progress.csv")
        assert prog.columns[:6].tolist() == ["time/fps", "time/iterations", "rollout/ep_rew_mean",
                                             "rollout/ep_len_mean", "time/total_timesteps", "time/time_elapsed"]
        train = [c for c in prog.columns if c.startswith("train/")]
        assert train and prog.loc[0, train].isna().all() and prog.loc[1:, train].notna().all().all()
        # ep_rew_mean is the mean of the last (up to) 100 monitor episodes, as SB3 computes it
        last = prog.iloc[-1]
        n_eps = int(last["time/iterations"])
        assert last["rollout/ep_rew_mean"] == pytest.approx(mon["r"][:n_eps].tail(100).mean())
        assert last["time/total_timesteps"] == mon["l"][:n_eps].sum()
        text = (zoo / "CartPole-v1" / "args.yml").read_text()
        assert text.startswith("!!python/object/apply:collections.OrderedDict\n- - - algo\n    - reinforce\n")
        yaml = pytest.importorskip("yaml")
        args = dict(yaml.unsafe_load(text))
        assert (args["env"], args["seed"]) == ("CartPole-v1", n)
        assert dict(yaml.unsafe_load((zoo / "CartPole-v1" / "config.yml").read_text()))["n_envs"] == 1


# ----------------------------------------------------------------------------- learning


def test_every_curve_improves() -> None:
    checked = 0
    for run in sorted((SAMPLES / "cleanrl" / "runs").iterdir()):
        ret = np.array([v for _, v in _tf_scalars(next(run.iterdir()))["charts/episodic_return"]])
        assert _improves(ret), run.name
        checked += 1
    for n in (1, 2, 3):
        mon = pd.read_csv(SAMPLES / "sb3" / "reinforce" / f"CartPole-v1_{n}" / "0.monitor.csv", skiprows=1)
        assert _improves(mon["r"].to_numpy())
        checked += 1
    long = pd.concat([pd.read_csv(SAMPLES / "csv" / "curves.csv"),
                      pd.read_json(SAMPLES / "jsonl" / "curves.jsonl", lines=True)])
    for _, g in long.groupby(["experiment", "env", "seed"]):
        assert _improves(g.sort_values("step")["episodic_return"].to_numpy())
        checked += 1
    assert checked == 21


def test_sarsa_lambda_beats_q_learning_on_mountaincar() -> None:
    """The comparison the README figure shows: final returns, averaged over seeds."""
    finals: dict[str, list[float]] = {"q_learning": [], "sarsa_lambda": []}
    for run in sorted((SAMPLES / "cleanrl" / "runs").glob("MountainCar-v0__*")):
        ret = np.array([v for _, v in _tf_scalars(next(run.iterdir()))["charts/episodic_return"]])
        finals[CLEANRL_DIR.match(run.name)["exp"]].append(ret[-len(ret) // 10 :].mean())
    assert np.mean(finals["sarsa_lambda"]) > np.mean(finals["q_learning"]) > -200


# ----------------------------------------------------------------------------- determinism


def test_regenerating_a_subset_is_byte_identical(tmp_path: Path) -> None:
    """Seed 1 of every CartPole and MountainCar run (all three agents and both layouts), and the
    whole CSV and JSON-lines files (tabular agents): every code path, in a few seconds."""
    fresh = _regenerate(tmp_path / "a", "--only", "cartpole", "mountaincar", "--seeds", "1")
    fresh |= _regenerate(tmp_path / "b", "--only", "csv", "jsonl")
    committed = _data_files(SAMPLES)
    assert len(fresh) == 4 + 4 + 2
    assert fresh == {k: v for k, v in committed.items() if k in fresh}


@pytest.mark.slow
def test_regenerating_everything_is_byte_identical(tmp_path: Path) -> None:
    assert _regenerate(tmp_path) == _data_files(SAMPLES)


def test_deterministic_math_matches_libm() -> None:
    from sample_runs.envs import det_cos, det_exp, det_log, det_sin

    xs = np.linspace(-12.0, 12.0, 2001)
    assert max(abs(det_sin(x) - math.sin(x)) for x in xs) < 1e-15
    assert max(abs(det_cos(x) - math.cos(x)) for x in xs) < 1e-15
    assert max(abs(det_exp(x) / math.exp(x) - 1) for x in np.linspace(-40, 40, 801)) < 1e-14
    assert max(abs(det_log(x) - math.log(x)) for x in np.geomspace(1e-9, 1e9, 801)) < 1e-14


def test_cartpole_and_mountaincar_follow_gym_dynamics() -> None:
    from sample_runs.envs import CartPole, MountainCar

    env = CartPole(np.random.default_rng(0))
    x, xd, th, thd = env.reset()
    for t in range(30):
        a = t % 3 == 0
        (nx, nxd, nth, nthd), r, term, trunc = env.step(int(a))
        # Gym's CartPole-v1 equations with libm sin/cos
        f = 10.0 if a else -10.0
        temp = (f + 0.05 * thd**2 * math.sin(th)) / 1.1
        thacc = (9.8 * math.sin(th) - math.cos(th) * temp) / (0.5 * (4 / 3 - 0.1 * math.cos(th) ** 2 / 1.1))
        xacc = temp - 0.05 * thacc * math.cos(th) / 1.1
        x, xd, th, thd = x + 0.02 * xd, xd + 0.02 * xacc, th + 0.02 * thd, thd + 0.02 * thacc
        assert (nx, nxd, nth, nthd) == pytest.approx((x, xd, th, thd), abs=1e-12)
        assert r == 1.0 and term == (abs(x) > 2.4 or abs(th) > 12 * 2 * math.pi / 360) and not trunc
        x, xd, th, thd = nx, nxd, nth, nthd
        if term:
            break
    assert term  # this open-loop sequence drops the pole

    car = MountainCar(np.random.default_rng(0))
    p, v = car.reset()
    assert -0.6 <= p <= -0.4 and v == 0.0
    for t in range(200):
        (np_, nv), r, term, trunc = car.step(2)
        v = min(max(v + 0.001 - 0.0025 * math.cos(3 * p), -0.07), 0.07)
        p = min(max(p + v, -1.2), 0.6)
        assert (np_, nv) == pytest.approx((p, v), abs=1e-12) and r == -1.0
        p, v = np_, nv
        assert trunc == (t == 199) and not term  # always pushing right never gets up the hill
