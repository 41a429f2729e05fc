"""SB3 readers against the real files in shared/data (facts from formats/README.md) and generated edge cases."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from shared_data import SHARED_DATA, SKIP_REASON, need_shared, requires_shared

from openrlb_cli.errors import InputError
from openrlb_cli.ingest.base import ReadOptions
from openrlb_cli.ingest.sb3 import logs as sb3

DATA = SHARED_DATA
SB3 = DATA / "formats" / "sb3"
OPTS = ReadOptions()
README_RUNS = {  # seed: (episodes per worker, first r, last r, first ep_rew_mean, last ep_rew_mean)
    1: ([80, 85, 92, 79], 15.0, 202.0, 21.476190476190474, 114.67),
    2: ([78, 85, 81, 79], 19.0, 159.0, 18.958333333333332, 114.29),
}


def need(path: Path) -> Path:
    need_shared(path)
    return path


def load_results(directory: Path) -> pd.DataFrame:
    """SB3's own merge, re-done with pandas: concat workers, shift t by t_start - min t_start, sort by t."""
    frames, starts = [], []
    for p in sb3.monitor_files(directory):
        with open(p) as f:
            starts.append(json.loads(f.readline()[1:])["t_start"])
            frames.append(pd.read_csv(f))
    for df, t in zip(frames, starts, strict=True):
        df["t"] += t - min(starts)
    return pd.concat(frames).sort_values("t", kind="stable").reset_index(drop=True)


@pytest.mark.parametrize("seed", [1, 2])
def test_monitor_set_of_ppo_cartpole(seed: int) -> None:
    d = need(SB3 / f"PPO_CartPole-v1_seed{seed}")
    counts, first, last, _, _ = README_RUNS[seed]
    files = sb3.monitor_files(d)
    assert [p.name for p in files] == ["0.monitor.csv", "1.monitor.csv", "2.monitor.csv", "3.monitor.csv"]
    assert [sb3.MONITOR.read_group([p]).runs[0].series["r"].steps.size for p in files] == counts
    res = sb3.MONITOR.read_group(files)
    assert res.replace and res.complete and len(res.runs) == 1
    rec = res.runs[0]
    assert rec.external_id == "" and rec.source == "local" and rec.env == "CartPole-v1"
    assert set(rec.series) == {"r", "l"}
    r, ref = rec.series["r"], load_results(d)
    assert len(r) == sum(counts) and r.values[0] == first and r.values[-1] == last
    assert np.array_equal(r.values, ref["r"].to_numpy(float))
    assert np.array_equal(r.steps, np.cumsum(ref["l"].to_numpy(float)))
    assert np.allclose(r.wall_times, ref["t"].to_numpy() + rec.config["t_start"], rtol=0, atol=1e-6)
    assert rec.created_at == rec.config["t_start"] and rec.config["monitor_files"] == 4
    assert "rl_zoo" not in rec.config and rec.seed is None  # Zoo metadata only on request
    assert res.offset == sum(p.stat().st_size for p in files)


def test_rl_zoo_acrobot_16_workers() -> None:
    d = need(SB3 / "logs" / "a2c" / "Acrobot-v1_1")
    res = sb3.MONITOR.read_group(sb3.monitor_files(d), rl_zoo=True)
    rec = res.runs[0]
    r = rec.series["r"]
    assert len(sb3.monitor_files(d)) == 16 and len(r) == 16
    assert all(len(sb3.MONITOR.read(p, 0, {}, OPTS).runs[0].series["r"]) == 1 for p in sb3.monitor_files(d))
    assert r.values[0] == -388.0 and r.values[-1] == -500.0
    assert r.values.min() == -500.0 and r.values.max() == -388.0 and (r.values == -500.0).sum() == 9
    assert np.array_equal(r.values, load_results(d)["r"].to_numpy(float))
    assert (rec.env, rec.seed, rec.experiment) == ("Acrobot-v1", 1, "a2c")
    zoo = rec.config["rl_zoo"]
    assert zoo["args"]["n_timesteps"] == 10000 and zoo["args"]["eval_freq"] == 2500
    assert zoo["hyperparams"] == {"ent_coef": 0.0, "n_envs": 16, "n_timesteps": 500000.0, "normalize": True,
                                  "policy": "MlpPolicy"}


@pytest.mark.parametrize("run_dir", sorted(p.parent for p in (DATA / "sb3-monitor").glob("*/*/0.monitor.csv"))
                         or [pytest.param(None, marks=requires_shared)], ids=lambda p: p.parent.name if p else "-")
def test_rl_zoo_monitor_collection(run_dir: Path) -> None:
    files = sb3.monitor_files(run_dir)
    assert all(sb3.MONITOR.detect(p) for p in files)
    rec = sb3.MONITOR.read_group(files, rl_zoo=True).runs[0]
    ref = load_results(run_dir)
    header = json.loads(files[0].open().readline()[1:])
    assert rec.env == header["env_id"] == run_dir.name.rsplit("_", 1)[0]
    assert np.array_equal(rec.series["r"].values, ref["r"].to_numpy(float))
    assert np.array_equal(rec.series["l"].values, ref["l"].to_numpy(float))
    assert rec.series["r"].steps[-1] == ref["l"].sum()
    if "is_success" in ref:
        assert np.array_equal(rec.series["is_success"].values, ref["is_success"].to_numpy(float))
    assert rec.seed == rec.config["rl_zoo"]["args"]["seed"] and rec.experiment == run_dir.parent.name


def test_progress_csv_facts() -> None:
    series = {}
    for seed in (1, 2):
        p = need(SB3 / f"PPO_CartPole-v1_seed{seed}" / "progress.csv")
        assert sb3.PROGRESS_CSV.detect(p)
        res = sb3.PROGRESS_CSV.read(p, 0, {}, OPTS)
        assert len(res.runs) == 1 and res.runs[0].external_id == "" and res.offset == p.stat().st_size
        s = series[seed] = res.runs[0].series
        assert len(s) == 16
        for key, ser in s.items():
            assert len(ser) == (39 if key.startswith("train/") else 40), key
            assert np.all(np.isnan(ser.wall_times))
        assert sum(k.startswith("train/") for k in s) == 10
        ret = s["rollout/ep_rew_mean"]
        assert ret.steps.tolist() == list(range(512, 20481, 512))
        _, _, _, first, last = README_RUNS[seed]
        assert (ret.values[0], ret.values[-1]) == (first, last)
        assert s["train/loss"].steps[0] == 1024
        assert s["time/total_timesteps"].values.tolist() == ret.steps.tolist()
        df = pd.read_csv(p)
        for key, ser in s.items():
            assert np.array_equal(ser.values, df[key].dropna().to_numpy(float))
    header1 = (SB3 / "PPO_CartPole-v1_seed1" / "progress.csv").open().readline()
    header2 = (SB3 / "PPO_CartPole-v1_seed2" / "progress.csv").open().readline()
    assert header1 != header2 and set(series[1]) == set(series[2])


def test_progress_json_matches_csv() -> None:
    for seed in (1, 2):
        d = need(SB3 / f"PPO_CartPole-v1_seed{seed}")
        assert sb3.PROGRESS_JSON.detect(d / "progress.json")
        js = sb3.PROGRESS_JSON.read(d / "progress.json", 0, {}, OPTS).runs[0].series
        cs = sb3.PROGRESS_CSV.read(d / "progress.csv", 0, {}, OPTS).runs[0].series
        assert set(js) == set(cs) and len(js) == 16
        for key in cs:
            assert np.array_equal(js[key].steps, cs[key].steps), key
            assert np.allclose(js[key].values, cs[key].values, rtol=1e-6, atol=0), key  # csv rounds some floats
        assert js["rollout/ep_rew_mean"].values[-1] == README_RUNS[seed][4]


# ---------------------------------------------------------------- generated monitor files

def monitor(path: Path, t_start: float | None, rows: list[str], header: str = "r,l,t", end: str = "\n") -> Path:
    first = f'#{{"t_start": {t_start}, "env_id": "Toy-v0"}}\n' if t_start is not None else ""
    path.write_text(first + header + "\n" + "\n".join(rows) + end)
    return path


def test_merge_orders_by_absolute_time(tmp_path: Path) -> None:
    a = monitor(tmp_path / "0.monitor.csv", 100.0, ["1,10,5.0", "2,20,30.0"])
    b = monitor(tmp_path / "1.monitor.csv", 110.0, ["3,5,1.0", "4,7,25.0"])  # ends at 111 and 135
    rec = sb3.MONITOR.read_group(sb3.monitor_files(tmp_path)).runs[0]
    assert rec.series["r"].values.tolist() == [1, 3, 2, 4]  # t = 105, 111, 130, 135
    assert rec.series["r"].steps.tolist() == [10, 15, 35, 42]
    assert rec.series["r"].wall_times.tolist() == [105, 111, 130, 135]
    assert rec.created_at == 100.0 and rec.updated_at == 135.0
    assert [p.name for p in sb3.monitor_files(tmp_path)] == [a.name, b.name]


def test_worker_order_is_numeric(tmp_path: Path) -> None:
    for i in (0, 1, 2, 10, 11):
        monitor(tmp_path / f"{i}.monitor.csv", 0.0, [])
    assert [p.name.split(".")[0] for p in sb3.monitor_files(tmp_path)] == ["0", "1", "2", "10", "11"]


def test_monitor_extras_and_torn_tail(tmp_path: Path) -> None:
    p = monitor(tmp_path / "monitor.csv", 10.0, ["1,5,1.0,0.0,a", "2,5,2.0,1.0,b", "3,5,3"],
                header="r,l,t,is_success,label", end="")
    res = sb3.MONITOR.read_group([p])
    rec = res.runs[0]
    assert set(rec.series) == {"r", "l", "is_success"} and any("label" in w for w in res.warnings)
    assert rec.series["is_success"].values.tolist() == [0.0, 1.0] and not res.complete
    with open(p, "a") as f:
        f.write(".5,1.0,c\n")
    res = sb3.MONITOR.read_group([p])
    assert res.complete and res.runs[0].series["r"].values.tolist() == [1, 2, 3]
    assert res.state["files"][str(p)] == p.stat().st_size


def test_monitor_without_header_json(tmp_path: Path) -> None:
    p = monitor(tmp_path / "monitor.csv", None, ["1,5,2.0", "2,6,1.0"])
    rec = sb3.MONITOR.read_group([p]).runs[0]
    assert rec.series["r"].values.tolist() == [2, 1] and rec.series["t"].values.tolist() == [1.0, 2.0]
    assert np.isnan(rec.series["r"].wall_times).all() and rec.env is None


def test_monitor_empty_files(tmp_path: Path) -> None:
    (tmp_path / "0.monitor.csv").write_bytes(b"")
    assert sb3.MONITOR.read_group(sb3.monitor_files(tmp_path)).runs == []
    monitor(tmp_path / "1.monitor.csv", 5.0, [], end="")
    rec = sb3.MONITOR.read_group(sb3.monitor_files(tmp_path)).runs[0]
    assert rec.env == "Toy-v0" and len(rec.series["r"]) == 0


@pytest.mark.parametrize("text,match", [
    ('#{"t_start": 1\nr,l,t\n', "monitor header"),
    ('#{"t_start": 1}\nx,y\n1,2\n', "need r,l,t"),
    ('#{"t_start": 1}\nr,l,t\n1,,3\n', "without 'l'"),
    ('#{"t_start": 1}\nr,l,t\nabc,1,3\n', "non-numeric"),
])
def test_monitor_bad_input(tmp_path: Path, text: str, match: str) -> None:
    p = tmp_path / "monitor.csv"
    p.write_text(text)
    with pytest.raises(InputError, match=match):
        sb3.MONITOR.read_group([p])


def test_progress_csv_growth_and_sb3_step_choice(tmp_path: Path) -> None:
    p = tmp_path / "progress.csv"
    p.write_text("time/fps,step,time/total_timesteps,train/loss\n10,1,512,\n")
    first = sb3.PROGRESS_CSV.read(p, 0, {}, OPTS)
    assert first.runs[0].series["time/fps"].steps.tolist() == [512]
    assert "train/loss" not in first.runs[0].series
    with open(p, "a") as f:
        f.write("11,2,1024,0.5\n12,3,1536,nan\n")
    second = sb3.PROGRESS_CSV.read(p, first.offset, first.state, OPTS)
    loss = second.runs[0].series["train/loss"]  # nan: missing, as pandas (SB3's read_csv) reads it
    assert loss.steps.tolist() == [1024] and loss.values.tolist() == [0.5]
    assert any("1 cells holding a missing-value marker" in w for w in second.warnings)
    assert second.runs[0].series["step"].values.tolist() == [2, 3]


def test_progress_json_detect_and_growth(tmp_path: Path) -> None:
    p = tmp_path / "progress.json"
    p.write_text('{"time/total_timesteps": 512, "a": 1}\n')
    first = sb3.PROGRESS_JSON.read(p, 0, {}, OPTS)
    with open(p, "a") as f:
        f.write('{"b": 2, "time/total_timesteps": 1024, "a": 3}\n')
    second = sb3.PROGRESS_JSON.read(p, first.offset, first.state, OPTS)
    s = second.runs[0].series
    assert s["a"].steps.tolist() == [1024] and s["b"].values.tolist() == [2]
    assert s["time/total_timesteps"].values.tolist() == [1024]
    assert not sb3.PROGRESS_JSON.detect(tmp_path / "other.json")


# ---------------------------------------------------------------- monitor file names and headers as tools write them
def _sb3_monitor_text(env_id: object, rows: list[str]) -> str:
    """What SB3's ResultsWriter / Baselines' Monitor write: `#` + json.dumps(header), then r,l,t rows."""
    header = "#" + json.dumps({"t_start": 1700000000.25, "env_id": env_id}) + "\nr,l,t\n"
    return header + "".join(r + "\n" for r in rows)


@pytest.mark.parametrize("name", ["monitor.csv", ".monitor.csv", "run1.monitor.csv"])
@pytest.mark.parametrize("env_id,expected", [("CartPole-v1", "CartPole-v1"), (None, None), ("None", None)])
def test_monitor_names_and_env_id_null_ingest(tmp_path: Path, name: str, env_id, expected) -> None:
    """`Monitor(env, "dir/")` writes dir/monitor.csv, some setups a hidden .monitor.csv; Baselines writes
    `"env_id": null` for an env without a spec and SB3 `"None"`: all ingest, with the env unknown."""
    from openrlb_cli.ingest.pipeline import discover, ingest
    from openrlb_cli.store import Store

    d = tmp_path / "logs"
    d.mkdir()
    (d / name).write_text(_sb3_monitor_text(env_id, ["10.0,10,0.5", "12.5,12,1.25", "9.0,9,2.0"]))
    units, skipped = discover([tmp_path])
    assert [(u.fmt, [p.name for p in u.paths]) for u in units] == [("sb3-monitor", [name])] and not skipped
    with Store(tmp_path / "s.db") as store:
        summary = ingest(store, [tmp_path])
        assert not summary.skipped and summary.points == 6  # r and l, 3 episodes
        (run,) = store.runs()
        assert run.env == expected
        r = store.load_series(run.id, "r")
        # SB3's load_results: pandas.read_csv(comment="#"), x = cumsum(l), wall = t_start + t
        ref = pd.read_csv(d / name, comment="#")
        assert r.values.tolist() == ref["r"].tolist() and r.steps.tolist() == ref["l"].cumsum().tolist()
        assert r.wall_times.tolist() == (1700000000.25 + ref["t"]).tolist()
        assert ingest(store, [tmp_path]).unchanged == 1


def test_real_sb3_monitor_file_as_bare_monitor_csv(tmp_path: Path) -> None:
    src = DATA / "sb3-monitor"
    real = sorted(src.glob("*/*/0.monitor.csv"))[:1] if src.is_dir() else []
    if not real:
        pytest.skip(SKIP_REASON)
    for i, name in enumerate(("monitor.csv", ".monitor.csv")):
        (tmp_path / f"run{i}").mkdir()
        dst = tmp_path / f"run{i}" / name
        dst.write_bytes(real[0].read_bytes())
        assert sb3.MONITOR.detect(dst)
        rec = sb3.MONITOR.read_group([dst]).runs[0]
        ref = pd.read_csv(dst, comment="#")
        assert rec.series["r"].values.tolist() == ref["r"].tolist()
        assert rec.env == json.loads(real[0].read_text().splitlines()[0][1:])["env_id"]


def test_monitor_detect_tolerates_bom_and_quoted_columns(tmp_path: Path) -> None:
    p = tmp_path / "monitor.csv"
    p.write_bytes(b"\xef\xbb\xbf" + _sb3_monitor_text("X-v0", ["1,2,3"]).encode())
    assert sb3.MONITOR.detect(p)
    p.write_text('"r","l","t"\n1,2,3\n')
    assert sb3.MONITOR.detect(p)
    p.write_text("a,b\n1,2\n")
    assert not sb3.MONITOR.detect(p)


@pytest.mark.parametrize("name,text", [
    ("data.csv", "step,a,b\n1,2,3,9\n2,3,4\n3,4,5\n"),
    ("monitor.csv", '#{"t_start": 1.0, "env_id": null}\nr,l,t\n1,2,3,9\n2,3,4\n'),
])
def test_pandas_parser_warning_becomes_one_line_naming_the_file(cli, tmp_path: Path, recwarn, name, text) -> None:
    """A first data row wider than the header makes pandas emit a ParserWarning (text with a
    site-packages path); the user sees one warning line naming the file instead."""
    p = tmp_path / name
    p.write_text(text)
    code, out, err = cli("ingest", str(p))
    assert code == 0, err
    lines = [ln for ln in err.splitlines() if "more fields than the header" in ln]
    assert len(lines) == 1 and str(p) in lines[0]
    assert "ParserWarning" not in err and "site-packages" not in err
    assert not [w for w in recwarn if issubclass(w.category, pd.errors.ParserWarning)]
