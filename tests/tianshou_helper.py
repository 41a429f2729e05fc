"""Load Tianshou's published MuJoCo benchmark CSVs into RunRecords, independently of the ingest code.

Each `<Env>/<algo>/test_rew_10seeds.csv` is wide: `env_step`, the across-seed `rew` and
`rew:shaded`, then one `rew:seed_<i>_...` column per seed. Tests of plots and tables use this
small pandas reader so they do not depend on the CSV ingest reader being finished.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
from shared_data import SHARED_DATA

from openrlb_cli.model import RunRecord, Series
from openrlb_cli.store import Store

TIANSHOU = SHARED_DATA / "tianshou-mujoco"
KEY = "test/reward"
_SEED = re.compile(r"^rew:seed_(\d+)_")


def seed_columns(df: pd.DataFrame) -> dict[int, str]:
    out = {}
    for col in df.columns:
        m = _SEED.match(col)
        if m:
            out[int(m.group(1))] = col
    return out


def csv_path(env: str, algo: str) -> Path:
    return TIANSHOU / env / algo / "test_rew_10seeds.csv"


def records(env: str, algo: str, key: str = KEY) -> list[RunRecord]:
    df = pd.read_csv(csv_path(env, algo))
    steps = df["env_step"].to_numpy(dtype=float)
    return [
        RunRecord(
            source="local",
            external_id=f"tianshou/{env}/{algo}/seed{seed}",
            project="tianshou",
            experiment=algo,
            env=env,
            seed=seed,
            series={key: Series(steps, df[col].to_numpy(dtype=float))},
        )
        for seed, col in sorted(seed_columns(df).items())
    ]


def envs() -> list[str]:
    return sorted(p.name for p in TIANSHOU.iterdir() if p.is_dir())


def algos(env: str) -> list[str]:
    return sorted(p.name for p in (TIANSHOU / env).iterdir() if p.is_dir())


def load_into(store: Store, env_ids: list[str] | None = None, algo_ids: list[str] | None = None) -> int:
    """Write every (or the chosen) env × algo × seed run; returns the number of runs."""
    n = 0
    for env in env_ids or envs():
        for algo in algo_ids or algos(env):
            for rec in records(env, algo):
                store.write_run(rec)
                n += 1
    return n
