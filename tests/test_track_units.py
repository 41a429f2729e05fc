"""Unit tests of `openrlb track`'s parts: secret scrubbing, inference, provenance, identity, diff."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from openrlb_cli import redact
from openrlb_cli.errors import SelectionError
from openrlb_cli.model import RunRecord, Series
from openrlb_cli.store import Store
from openrlb_cli.track import inference, provenance, records, reproduce


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True, env=env).stdout


# ---------------------------------------------------------------------------- redact
def test_scrub_argv_redacts_secret_options_assignments_and_tokens():
    token = "sk-" + "Ab3" * 10
    argv = ["python", "train.py", "--api-key", "X1", "--token=abc", "WANDB_API_KEY=zzz", "--lr", "0.1",
            "--seed", "-1", "--password", "-5", "--max-tokens", "512", "hf.token=abc", "--note", token,
            "--run-id", "0123456789abcdef0123456789abcdef", "--wandb_api_key"]
    out = redact.scrub_argv(argv, env_secrets=())
    assert out == ["python", "train.py", "--api-key", "[REDACTED]", "--token=[REDACTED]", "WANDB_API_KEY=[REDACTED]",
                   "--lr", "0.1", "--seed", "-1", "--password", "[REDACTED]", "--max-tokens", "512",
                   "hf.token=[REDACTED]", "--note", "[REDACTED]", "--run-id", "[REDACTED]", "--wandb_api_key"]


def test_scrub_keeps_identifiers_and_paths_but_not_random_strings_or_env_secrets():
    keep = ["CartPole-v1__ppo_continuous_action__1__1700000000",
            "/data/project/runs/HalfCheetah-v4__sac_continuous_action__12__1712345678/events.out.tfevents.1.host",
            "ppo_continuous_action_LongExperimentName_v2_final", "git@github.com:vwxyz/cleanrl.git"]
    for s in keep:
        assert redact.scrub_text(s, ()) == s
    assert redact.scrub_text("key=Zx8Qw2Lp9Rt4Mn7Bv1Cx6Kj3Hg5Df0Sa", ()) == "key=[REDACTED]"
    assert redact.scrub_text("https://me:ghp_abcdefghijklmnopqrstuvwxyz0123@github.com/x/y.git", ()) == \
        "https://github.com/x/y.git"
    assert redact.scrub_text("--header=Bearer mysecretvalue", ("mysecretvalue",)) == "--header=Bearer [REDACTED]"
    env = {"FAKE_API_KEY": "hunter22", "HOME": "/root", "MY_TOKEN": "x"}
    assert redact.env_secret_values(env) == ("hunter22",)  # too short values are not hunted for


def test_secret_names():
    assert redact.secret_name("--api-key") and redact.secret_name("apiKey") and redact.secret_name("hf.token")
    assert not redact.secret_name("--max-tokens") and not redact.secret_name("--monkey")
    assert redact.secret_env_name("FAKE_API_KEY") and redact.secret_env_name("GH_TOKEN")
    assert not redact.secret_env_name("CUDA_VISIBLE_DEVICES")


# ---------------------------------------------------------------------------- inference
def test_parse_config_and_metadata():
    argv = ["python", "-u", "cleanrl/ppo.py", "--env-id", "CartPole-v1", "--seed=3", "--learning-rate", "2.5e-4",
            "--cuda", "--capture_video", "False", "--layers", "64", "64", "--total-timesteps", "1000",
            "optim.momentum=0.9", "--bias", "-0.5"]
    cfg = inference.parse_config(argv)
    assert cfg == {"env_id": "CartPole-v1", "seed": 3, "learning_rate": 2.5e-4, "cuda": True, "capture_video": False,
                   "layers": [64, 64], "total_timesteps": 1000, "optim.momentum": 0.9, "bias": -0.5}
    assert inference.infer_metadata(argv, cfg) == {"experiment": "ppo", "env": "CartPole-v1", "seed": 3}
    argv2 = ["python", "-m", "rl_zoo3.train", "--algo", "sac", "--env", "Pendulum-v1", "--seed", "x"]
    meta = inference.infer_metadata(argv2, inference.parse_config(argv2))
    assert meta == {"experiment": "sac", "env": "Pendulum-v1", "seed": None}
    argv3 = ["python", "train.py", "--exp_name", "mine", "--env_id", "Hopper-v4"]
    assert inference.infer_metadata(argv3, inference.parse_config(argv3))["experiment"] == "mine"
    assert inference.infer_metadata(["bash", "run.sh"], {}) == {"experiment": None, "env": None, "seed": None}
    assert inference.parse_config(["python", "-c", "a=1", "b=2"]) == {"b": 2}


def test_snapshot_finds_new_and_changed_logs_best_first(tmp_path: Path):
    old = tmp_path / "runs" / "old"
    old.mkdir(parents=True)
    (old / "events.out.tfevents.1.h").write_bytes(b"x")
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "0.monitor.csv").write_text("#{}\n")
    (tmp_path / ".venv").mkdir()
    snap = inference.Snapshot.take(tmp_path)
    assert len(snap.files) == 2 and not snap.truncated
    assert snap.changed_logs() == []
    new = tmp_path / "runs" / "CartPole-v1__ppo__1__1700000000"
    new.mkdir()
    (new / "events.out.tfevents.2.h").write_bytes(b"y")
    (tmp_path / ".venv" / "progress.csv").write_text("a\n")  # hidden folders are not looked into
    time.sleep(0.01)
    (tmp_path / "logs" / "0.monitor.csv").write_text("#{}\nr,l,t\n")  # changed since the snapshot
    changed = snap.changed_logs()
    assert changed == [new / "events.out.tfevents.2.h", tmp_path / "logs" / "0.monitor.csv"]
    assert inference.log_dirs(changed) == [new, tmp_path / "logs"]
    assert inference.logs_since(tmp_path, time.time() + 3600) == []
    assert set(inference.logs_since(tmp_path, 0)) == {old, new, tmp_path / "logs"}


def test_snapshot_is_bounded(tmp_path: Path):
    for i in range(30):
        (tmp_path / f"f{i}.txt").write_text("")
    snap = inference.Snapshot.take(tmp_path, max_entries=10)
    assert snap.truncated
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    (deep / "progress.csv").write_text("x\n")
    assert inference.Snapshot.take(tmp_path, max_depth=2).files == {}
    assert len(inference.Snapshot.take(tmp_path, max_depth=3).files) == 1


# ---------------------------------------------------------------------------- provenance
def test_git_info_of_a_dirty_repository(tmp_path: Path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "train.py").write_text("print(1)\n")
    git(repo, "add", "train.py")
    git(repo, "commit", "-q", "-m", "first")
    git(repo, "remote", "add", "origin", "https://user:ghp_abcdefghijklmnopqrstuvwxyz0123@example.com/me/rl.git")
    info, diff = provenance.git_info(repo)
    assert info is not None and diff is None
    assert info["commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert info["branch"] == "main" and info["dirty"] is False and info["diff_sha256"] is None
    assert info["remote"] == "https://example.com/me/rl.git"  # credentials dropped
    (repo / "train.py").write_text("print(2)\n")
    (repo / "notes.txt").write_text("untracked\n")
    info, diff = provenance.git_info(repo, save_diff=True)
    expected = git(repo, "diff", "HEAD")
    assert info["dirty"] is True and info["untracked_files"] == 1
    assert info["diff_sha256"] == hashlib.sha256(expected.encode()).hexdigest()
    assert diff == expected and "+print(2)" in diff
    assert provenance.git_info(tmp_path) == (None, None)


def test_installed_packages_match_pip_freeze():
    pkgs = provenance.installed_packages()
    assert f"numpy=={np.__version__}" in pkgs
    assert pkgs == sorted(pkgs, key=str.lower)
    freeze = subprocess.run([sys.executable, "-m", "pip", "freeze", "--all"], capture_output=True, text=True)
    if freeze.returncode != 0:
        pytest.skip("pip is not available")
    pinned = {ln.lower() for ln in freeze.stdout.splitlines() if "==" in ln and not ln.startswith("#")}
    assert pinned and pinned <= {p.lower() for p in pkgs}


def test_environment_allow_list():
    environ = {"CUDA_VISIBLE_DEVICES": "0,1", "HOME": "/root", "FAKE_API_KEY": "sk-zzzzzzzzzzzzzzzzzzzz",
               "MY_SETTING": "fast", "PYTHONHASHSEED": "0"}
    kept, refused = provenance.environment(["MY_SETTING", "FAKE_API_KEY"], environ)
    assert kept == {"CUDA_VISIBLE_DEVICES": "0,1", "PYTHONHASHSEED": "0", "MY_SETTING": "fast"}
    assert refused == ["FAKE_API_KEY"]


def test_command_python_and_system_info():
    assert provenance.command_python([sys.executable, "x.py"]) is None
    assert provenance.command_python(["bash", "x.sh"]) is None
    info = provenance.system_info()
    assert info["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert info["cpu_count"] == os.cpu_count() and isinstance(info["gpus"], list)


# ---------------------------------------------------------------------------- identity, reproduce, diff
def _tracked(store: Store, external: str, config: dict, packages: list[str], commit: str, seed: int) -> int:
    rec = RunRecord(source="track", external_id=external, experiment="ppo", env="CartPole-v1", seed=seed,
                    state="finished", tags=["t"], config=config)
    prov = records.Provenance(
        command=["python", "ppo.py", "--seed", str(seed)], cwd="/code/rl/scripts", started_at=1_700_000_000.0,
        git={"root": "/code/rl", "remote": "https://example.com/me/rl.git", "commit": commit, "branch": "main",
             "dirty": False, "diff_sha256": None},
        system={"python": {"version": "3.11.7", "implementation": "CPython"}, "hostname": "box", "platform": "Linux"},
        packages=packages, env={"CUDA_VISIBLE_DEVICES": "0"}, host="box", exit_code=0, duration=12.5)
    with store.transaction():
        run_id = store.upsert_run(rec)
        records.save_provenance(store, run_id, prov)
    return run_id


def uid_of(store: Store, run_id: int) -> str:
    return store.conn.execute("SELECT uid FROM runs WHERE id = ?", (run_id,)).fetchone()[0]


def test_attach_logdir_rekeys_and_adopts(tmp_path: Path):
    with Store(tmp_path / "s.db") as store:
        a = _tracked(store, "a" * 32, {"lr": 0.1}, ["numpy==2.0"], "c1", 1)
        uid = uid_of(store, a)
        assert records.attach_logdir(store, a, tmp_path / "runs" / "x") == a
        info = store.get_run(uid)
        assert (info.source, info.external_id) == ("local", str(tmp_path / "runs" / "x"))
        # a directory that is already a run (ingested earlier) is adopted, keeping the tracked uid
        store.write_run(RunRecord(source="local", external_id=str(tmp_path / "old"), name="old",
                                  config={"gamma": 0.9, "lr": 0.5},
                                  series={"r": Series(np.arange(3.0), np.ones(3))}))
        b = _tracked(store, "b" * 32, {"lr": 0.2}, ["numpy==2.0"], "c1", 2)
        buid = uid_of(store, b)
        kept = records.attach_logdir(store, b, tmp_path / "old")
        assert kept != b
        info = store.get_run(buid)
        assert info.id == kept and info.seed == 2 and info.config == {"gamma": 0.9, "lr": 0.2} and info.tags == ["t"]
        assert len(store.load_series(kept, "r")) == 3
        assert records.load_provenance(store, kept).packages == ["numpy==2.0"]
        assert records.load_provenance(store, b) is None


def test_reproduce_and_diff_texts(tmp_path: Path):
    with Store(tmp_path / "s.db") as store:
        a = _tracked(store, "a" * 32, {"lr": 0.1, "gamma": 0.99}, ["numpy==2.0.0", "Torch==2.1"], "c1", 1)
        b = _tracked(store, "b" * 32, {"lr": "0.3", "gamma": "0.99"}, ["numpy==2.1.0", "scipy==1.0"], "c2", 2)
        ua, ub = uid_of(store, a), uid_of(store, b)
        text = reproduce.reproduce_text(store, ua)
        assert "git clone https://example.com/me/rl.git rl\ncd rl\ngit checkout c1  # branch main\n" in text
        assert "export CUDA_VISIBLE_DEVICES=0\n" in text
        assert "cd scripts\npython ppo.py --seed 1\n" in text
        assert text.endswith("numpy==2.0.0\nTorch==2.1\n")
        assert reproduce.requirements_text(store, ua).splitlines()[2:] == ["numpy==2.0.0", "Torch==2.1"]
        d = reproduce.diff_runs(store, ua, ub)
        assert d["config"] == {"lr": [0.1, "0.3"]}  # "0.99" and 0.99 are the same value
        assert d["fields"] == {"seed": [1, 2]}
        assert d["git"] == {"commit": ["c1", "c2"]}
        assert d["command"] == ["python ppo.py --seed 1", "python ppo.py --seed 2"]
        assert d["packages"] == {"changed": {"numpy": ["2.0.0", "2.1.0"]}, "only_a": ["Torch==2.1"],
                                 "only_b": ["scipy==1.0"]}
        out = reproduce.format_diff(d)
        assert "config.lr: 0.1 -> 0.3" in out and "package numpy: 2.0.0 -> 2.1.0" in out
        assert "no differences" in reproduce.format_diff(reproduce.diff_runs(store, ua, ua))
        plain = store.write_run(RunRecord(source="local", external_id="/x", config={"lr": 0.1}))
        d2 = reproduce.diff_runs(store, ua, uid_of(store, plain))
        assert d2["tracked"] == [True, False] and "packages" not in d2
        with pytest.raises(SelectionError, match="not started with `openrlb track`"):
            reproduce.reproduce_text(store, uid_of(store, plain))
