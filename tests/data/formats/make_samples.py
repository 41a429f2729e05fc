"""Write the small real-tool samples in tests/data/formats/ (a few KB each), with the tools' own writers.

They let a clone without ../shared run the format tests (tests/test_sample_formats.py). Each sample
is written by the real library, not by openrlb, and kept small; rerun to regenerate (outputs
differ in timestamps and run ids, so the tests read expectations from the files with independent
readers, never hard-coded numbers):

    python tests/data/formats/make_samples.py [--only sb3 cleanrl mlflow wandb]

Needs, beyond the test extra: stable-baselines3 and gymnasium (SB3), torch (CleanRL's
SummaryWriter); mlflow and wandb are in the test extra. Versions used are recorded in VERSIONS.txt.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def sb3(out: Path) -> None:
    """SB3 PPO on CartPole-v1: monitor.csv, progress.csv, progress.json and a TensorBoard event file."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.logger import configure

    run = out / "PPO_CartPole-v1_seed1"
    env = make_vec_env("CartPole-v1", n_envs=1, seed=1, monitor_dir=str(run))
    model = PPO("MlpPolicy", env, n_steps=256, batch_size=64, n_epochs=1, seed=1, verbose=0)
    model.set_logger(configure(str(run), ["csv", "json", "tensorboard"]))
    model.learn(total_timesteps=768)
    env.close()


def cleanrl(out: Path) -> None:
    """CleanRL's logging, as its scripts do it: runs/{env}__{exp}__{seed}__{time}, a hyperparameters
    text table, charts/episodic_return against global_step (torch's SummaryWriter)."""
    import numpy as np
    from torch.utils.tensorboard import SummaryWriter

    for seed in (1, 2):
        writer = SummaryWriter(str(out / "runs" / f"CartPole-v1__ppo__{seed}__1700000000"))
        args = {"exp_name": "ppo", "env_id": "CartPole-v1", "seed": seed, "learning_rate": 0.00025}
        table = "\n".join(f"|{k}|{v}|" for k, v in args.items())
        writer.add_text("hyperparameters", f"|param|value|\n|-|-|\n{table}")
        rng = np.random.default_rng(seed)
        step = 0
        for _ in range(40):
            length = int(rng.integers(10, 60))
            step += length
            writer.add_scalar("charts/episodic_return", float(length), step)
            writer.add_scalar("charts/episodic_length", length, step)
        writer.add_scalar("losses/value_loss", 0.5, step)
        writer.close()


def mlflow(out: Path) -> None:
    """An MLflow file store (mlruns/) with one experiment and two runs: params, tags, a metric history."""
    # MLflow 3 keeps the file store in maintenance mode: writing one needs this opt-in
    env = {**os.environ, "MLFLOW_TRACKING_URI": (out / "mlruns").as_uri(), "MLFLOW_ALLOW_FILE_STORE": "true"}
    code = """
import math, mlflow
mlflow.set_experiment("cartpole")
for seed in (1, 2):
    with mlflow.start_run(run_name=f"ppo-{seed}"):
        mlflow.log_params({"env_id": "CartPole-v1", "exp_name": "ppo", "seed": seed})
        mlflow.set_tag("team", "rl")
        for step in range(0, 2000, 100):
            mlflow.log_metric("episodic_return", 10 + seed + math.sqrt(step), step=step)
"""
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=out)


def wandb(out: Path) -> None:
    """A W&B offline run (wandb/offline-run-*/run-*.wandb), as `wandb.init(mode="offline")` writes it."""
    code = """
import wandb
run = wandb.init(project="samples", mode="offline", config={"env_id": "CartPole-v1", "seed": 1}, tags=["sample"])
for step in range(30):
    run.log({"global_step": step * 128, "charts/episodic_return": 10.0 + step})
run.finish()
"""
    env = {**os.environ, "WANDB_SILENT": "true", "WANDB_DIR": str(out)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=out)
    for extra in out.glob("wandb/*/logs"):  # the SDK's own debug logs: not part of the format
        shutil.rmtree(extra)
    for extra in [*out.glob("wandb/debug*.log"), out / "wandb" / "latest-run"]:  # logs; a symlink to the run
        extra.unlink()


MAKERS = {"sb3": sb3, "cleanrl": cleanrl, "mlflow": mlflow, "wandb": wandb}
PACKAGES = {"sb3": ["stable-baselines3", "gymnasium"], "cleanrl": ["torch"], "mlflow": ["mlflow"], "wandb": ["wandb"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="+", choices=sorted(MAKERS), default=sorted(MAKERS))
    args = ap.parse_args()
    versions = {}
    for name in args.only:
        out = HERE / name
        shutil.rmtree(out, ignore_errors=True)
        with tempfile.TemporaryDirectory() as tmp:  # written elsewhere: no path of this checkout inside
            MAKERS[name](Path(tmp))
            shutil.copytree(tmp, out)
        versions[name] = ", ".join(f"{p} {md.version(p)}" for p in PACKAGES[name])
    record = HERE / "VERSIONS.txt"
    lines = record.read_text().splitlines() if record.exists() else []
    old = dict(line.split(": ", 1) for line in lines if ": " in line)
    old.update(versions)
    record.write_text("".join(f"{k}: {v}\n" for k, v in sorted(old.items())))


if __name__ == "__main__":
    main()
