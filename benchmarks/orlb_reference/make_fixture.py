"""Run Open RL Benchmark 0.3.1's own `rlops` on synthetic runs and record what it computes.

Runs ONLY in a separate virtualenv with the reference implementation (never a dependency of
openrlb)::

    python3.11 -m venv ../venv-orlb
    ../venv-orlb/bin/pip install openrlbenchmark==0.3.1 'pandas<3'
    ../venv-orlb/bin/python benchmarks/orlb_reference/make_fixture.py tests/data/orlb_reference.json

(run it from a directory that is not site-packages: the `dataclasses` backport openrlbenchmark
pulls in must not shadow the standard library).

`python -m openrlbenchmark.rlops` is executed unmodified (`runpy`, as `__main__`) with its
command line in `sys.argv`; only its sources of data are replaced: `wandb.Api().runs(path,
filters)` returns synthetic runs matching the filters (W&B's `$and` of config equalities, tag
`$in`s), whose `history(samples, keys)` gives the rows holding every key, as W&B does. Recorders
wrap the functions rlops hands its numbers to (expt's line drawing, rliable's interval
estimates and profiles, the efficiency plots' x axes) without changing them. The fixture holds
the runs, the command lines and those numbers, plus the text of every table rlops wrote and the
names of every file, so tests need neither openrlbenchmark nor this script.
"""

from __future__ import annotations

import json
import os
import platform
import runpy
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("WANDB_MODE", "disabled")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

KEEP = np.unique(np.r_[0:10_000:89, 9_999])  # grid points of expt's 10,000 stored per curve


# ------------------------------------------------------------------------------ synthetic runs
def make_runs(envs: list[str], experiments: dict[str, dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """Runs of irregular length and step spacing; the metric is not logged on every row."""
    rng = np.random.default_rng(seed)
    runs = []
    t = 0
    for exp, spec in experiments.items():
        for e, env in enumerate(envs):
            for s in range(spec["seeds"][e]):
                n = int(rng.integers(40, 90))
                steps = np.cumsum(rng.integers(90, 130, size=n)) * spec.get("scale", 1)
                runtime = np.cumsum(rng.uniform(1.0, 9.0, size=n))
                level = spec["level"] * (1 + e) + s
                rows = []
                for i in range(n):
                    row: dict[str, Any] = {"_step": i, "_timestamp": 1.7e9 + t * 1000 + float(runtime[i]),
                                           "_runtime": float(runtime[i]), "global_step": int(steps[i])}
                    if i % spec.get("every", 2) == 0 or i == n - 1:
                        row["charts/episodic_return"] = float(level * np.log1p(i) + rng.normal(0, 2))
                    rows.append(row)
                runs.append({"name": f"{exp}-{env}-{s}", "config": {"exp_name": exp, "env_id": env, "seed": s},
                             "tags": spec.get("tags", []), "state": "finished", "user": "alice",
                             "created_at": f"2024-01-01T00:{t // 60:02d}:{t % 60:02d}", "rows": rows})
                t += 1
    extra = dict(runs[0])  # a running run and one with another tag: rlops leaves both out
    runs.append({**extra, "name": "still-running", "state": "running", "created_at": "2024-01-02T00:00:00"})
    runs.append({**extra, "name": "other-tag", "tags": ["v0"], "created_at": "2024-01-02T00:00:01",
                 "config": {**extra["config"], "seed": 99}})
    return runs


CASES = [
    {
        "name": "maxmin",
        "envs": ["CartPole-v1", "Acrobot-v1"],
        "experiments": {"ppo": {"seeds": [3, 3], "level": 10.0, "tags": ["v1"]},
                        "dqn": {"seeds": [2, 3], "level": 6.0, "every": 3},
                        "c51": {"seeds": [3, 2], "level": 8.0, "scale": 2}},
        "argv": ["--filters", "?we=openrlbenchmark&wpn=cleanrl&ceik=env_id&cen=exp_name&metric=charts/episodic_return",
                 "ppo?tag=v1&cl=CleanRL PPO", "dqn", "--filters",
                 "?we=openrlbenchmark&wpn=cleanrl&ceik=env_id&cen=exp_name&metric=charts/episodic_return",
                 "c51?cl=C51", "--env-ids", "CartPole-v1", "Acrobot-v1", "--metric-last-n-average-window", "7",
                 "--pc.rolling", "50", "--pc.ncols", "2", "--rliable", "--rc.nsubsamples", "15",
                 "--rc.score-normalization-method", "maxmin"],
        "seed": 1,
    },
    {
        "name": "atari",
        "envs": ["BreakoutNoFrameskip-v4", "PongNoFrameskip-v4"],
        "experiments": {"dqn_atari": {"seeds": [3, 3], "level": 4.0}, "c51_atari": {"seeds": [2, 2], "level": 3.0}},
        "argv": ["--filters", "?we=openrlbenchmark&wpn=baselines&ceik=env_id&cen=exp_name",
                 "dqn_atari?cl=DQN", "c51_atari?cl=C51", "--env-ids", "BreakoutNoFrameskip-v4",
                 "PongNoFrameskip-v4", "--pc.time-unit", "h", "--rliable", "--rc.score-normalization-method",
                 "atari", "--rc.sample-efficiency-and-walltime-efficiency-method", "IQM",
                 "--rc.normalized-score-threshold", "2.0"],
        "seed": 2,
    },
]


# ------------------------------------------------------------------------------ the fake W&B API
def _matches(run: dict[str, Any], flt: dict[str, Any]) -> bool:
    for clause in flt["$and"]:
        ((key, want),) = clause.items()
        if key == "tags":
            if not set(want["$in"]) & set(run["tags"]):
                return False
        elif key == "username":
            if run["user"] != want:
                return False
        elif key.startswith("config."):
            have = run["config"].get(key[len("config."):].removesuffix(".value"))
            if isinstance(want, dict) and "$in" in want:
                if have not in want["$in"]:
                    return False
            elif have != want:
                return False
    return True


class FakeRun:
    def __init__(self, data: dict[str, Any]):
        self.data = data
        self.name = data["name"]
        self.id = data["name"]
        self.state = data["state"]
        self.tags = data["tags"]
        self.config = data["config"]
        self.url = f"https://wandb.ai/fake/runs/{self.name}"

    def history(self, samples: int = 500, keys: list[str] | None = None, **_: Any) -> pd.DataFrame:
        rows = [r for r in self.data["rows"] if keys is None or all(k in r for k in keys)]
        assert len(rows) <= samples, "synthetic runs must fit in one sampled answer"
        cols = ["_step", *(keys or [])]
        return pd.DataFrame([{k: r[k] for k in cols} for r in rows])

    def __repr__(self) -> str:
        return f"<FakeRun {self.name}>"


def fake_api(runs: list[dict[str, Any]]) -> type:
    class Api:
        def __init__(self, *a: Any, **k: Any):
            pass

        def runs(self, path: str, filters: dict[str, Any] | None = None, **_: Any) -> list[FakeRun]:
            listed = sorted(runs, key=lambda r: r["created_at"])  # W&B's default order: +created_at
            return [FakeRun(r) for r in listed if _matches(r, filters or {"$and": []})]

    return Api


# ------------------------------------------------------------------------------ recorders
def _floats(a: Any) -> list[Any]:
    arr = np.asarray(a, dtype=np.float64)
    return [None if not np.isfinite(v) else float(v) for v in arr.ravel()]


RECORD: dict[str, Any] = {}  # the case being run; the recorders are installed once and write here


def install_recorders() -> None:
    import expt.plot
    from rliable import library as rly
    from rliable import plot_utils

    plotter = expt.plot.HypothesisPlotter
    original_do_plot = plotter._do_plot

    def do_plot(self, y, representative, err_range, *args, **kwargs):
        col = y[0]
        RECORD["curves"].append({
            "hypothesis": self._parent.name, "rolling": kwargs.get("rolling"),
            "grid": _floats(np.asarray(representative.index)[KEEP]),
            "mean": _floats(representative[col].to_numpy()[KEEP]),
            "lower": _floats(err_range[0][col].to_numpy()[KEEP]),
            "upper": _floats(err_range[1][col].to_numpy()[KEEP]),
            "n_grid": int(len(representative.index))})
        return original_do_plot(self, y, representative, err_range, *args, **kwargs)

    plotter._do_plot = do_plot

    original_estimates = rly.get_interval_estimates

    def get_interval_estimates(score_dict, func, reps, **kw):
        points, cis = original_estimates(score_dict, func, reps=reps, **kw)
        RECORD["interval_estimates"].append({
            "scores": {k: np.asarray(v).tolist() for k, v in score_dict.items()},
            "shape": {k: list(np.asarray(v).shape) for k, v in score_dict.items()},
            "points": {k: _floats(v) for k, v in points.items()}, "reps": reps})
        return points, cis

    rly.get_interval_estimates = get_interval_estimates

    original_profile = rly.create_performance_profile

    def create_performance_profile(score_dict, taus, use_score_distribution=True, **kw):
        dist, cis = original_profile(score_dict, taus, use_score_distribution=use_score_distribution, **kw)
        RECORD["profiles"].append({"kind": "run" if use_score_distribution else "average", "taus": _floats(taus),
                                   "points": {k: _floats(v) for k, v in dist.items()}})
        return dist, cis

    rly.create_performance_profile = create_performance_profile

    original_efficiency = plot_utils.plot_sample_efficiency_curve

    def plot_sample_efficiency_curve(frames, point_estimates, interval_estimates, algorithms, xlabel="", **kw):
        RECORD["efficiency_axes"].append({"algorithm": algorithms[0], "xlabel": xlabel, "x": _floats(frames),
                                          "ylabel": kw.get("ylabel")})
        return original_efficiency(frames, point_estimates, interval_estimates, algorithms, xlabel=xlabel, **kw)

    plot_utils.plot_sample_efficiency_curve = plot_sample_efficiency_curve


# ------------------------------------------------------------------------------ main
def run_case(case: dict[str, Any]) -> dict[str, Any]:
    import wandb

    runs = make_runs(case["envs"], case["experiments"], case["seed"])
    record: dict[str, Any] = {"curves": [], "interval_estimates": [], "profiles": [], "efficiency_axes": []}
    RECORD.clear()
    RECORD.update(record)
    wandb.Api = fake_api(runs)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "compare"
        sys.argv = ["rlops", *case["argv"], "--output-filename", str(out)]
        np.random.seed(0)
        runpy.run_module("openrlbenchmark.rlops", run_name="__main__", alter_sys=True)
        files = sorted(p.name for p in Path(tmp).iterdir())
        tables = {name: (Path(tmp) / name).read_text() for name in files if name.endswith((".md", ".csv"))}
    return {"name": case["name"], "argv": case["argv"], "runs": runs, "files": files, "tables": tables, **record}


def main() -> None:
    import importlib.metadata as md

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "tests/data/orlb_reference.json")
    install_recorders()
    cases = [run_case(case) for case in CASES]
    versions = {name: md.version(name) for name in ("openrlbenchmark", "expt", "rliable", "pandas", "numpy",
                                                    "scipy", "matplotlib")}
    doc = {"generator": "benchmarks/orlb_reference/make_fixture.py", "python": platform.python_version(),
           "versions": versions, "kept_grid_points": KEEP.tolist(), "cases": cases}
    target.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"wrote {target} ({target.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
